"""The compiled full-batch passes against plain NumPy references and finite differences.

Every pass (loss and gradient, probabilities, Hessian product and diagonal)
is checked on dense data (C-ordered, which takes one fused pass, and
Fortran-ordered) and CSR data (scipy's, and :class:`ThreadedCSR` with its
kept transpose, including unsorted and duplicate column indices and empty
rows), in float32 and float64, for the binary model with a reference class
and the multiclass one, with sample weights and soft targets; and for giving
the same bits on one thread as on two.
"""

import numpy as np
import pytest
from scipy import sparse, special
from threadpoolctl import threadpool_limits

from sklearn_maxent._kernels import cg, csr_dense_product, csr_transposed_product, jacobian_product
from sklearn_maxent._model._softmax import (
    ThreadedCSR,
    linear_hessian_diagonal,
    linear_hessian_product,
    linear_loss_gradient,
    linear_proba,
    softmax,
    softmax_jacobian,
)

# "dense" (C-ordered) takes the fused dense pass, "dense_fortran" BLAS products around the row kernels.
LAYOUTS = ["dense", "dense_fortran", "csr", "threaded_csr"]


def awkward_csr(X_dense, rng):
    """``X_dense`` as CSR with shuffled column indices and some entries split in two duplicates."""
    rows, columns = np.nonzero(X_dense)
    values = X_dense[rows, columns]
    split = rng.random(values.size) < 0.3
    rows = np.concatenate([rows, rows[split]])
    columns = np.concatenate([columns, columns[split]])
    values = np.concatenate([values, values[split] * 0.25])
    values[: split.size][split] *= 0.75
    order = np.lexsort((rng.random(rows.size), rows))  # by row, in random column order
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X_dense.shape[0]))])
    X = sparse.csr_matrix((values[order], columns[order], indptr), shape=X_dense.shape)
    assert not X.has_sorted_indices
    return X


def problem(layout, dtype, reference_class, soft, n=700, d=300, seed=0):
    """Data in ``layout``, its dense float64 copy, targets, weights and a point ``(coef, intercept)``."""
    rng = np.random.default_rng(seed)
    n_classes = 2 if reference_class else 5
    X_dense = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.05)
    X_dense[::7] = 0  # empty rows
    X_dense = X_dense.astype(dtype)
    if soft:
        targets = rng.dirichlet(np.ones(n_classes), size=n)
    else:
        targets = np.eye(n_classes)[rng.integers(0, n_classes, n)]
    weights = rng.uniform(0.0, 2.0, n) / n
    n_free = n_classes - reference_class
    coef = rng.standard_normal((d, n_free))
    intercept = rng.standard_normal(n_free)
    X = {
        "dense": lambda: X_dense,
        "dense_fortran": lambda: np.asfortranarray(X_dense),
        "csr": lambda: awkward_csr(X_dense, rng),
        "threaded_csr": lambda: ThreadedCSR(awkward_csr(X_dense, rng)),
    }[layout]()
    cast = [array.astype(dtype) for array in (targets, weights, coef, intercept)]
    return X, X_dense.astype(np.float64), *cast


def reference_scores(X, coef, intercept, reference_class):
    scores = X @ coef.astype(np.float64) + intercept
    if reference_class:
        scores = np.hstack([np.zeros((len(scores), 1)), scores])
    return scores


def reference_loss_gradient(X, targets, weights, coef, intercept, reference_class):
    log_proba = special.log_softmax(reference_scores(X, coef, intercept, reference_class), axis=1)
    loss = -np.sum(weights[:, None] * targets * log_proba)
    residual = (weights[:, None] * (np.exp(log_proba) - targets))[:, reference_class:]
    return loss, X.T @ residual, residual.sum(axis=0)


def reference_hessian_product(X, proba, weights, coef_dir, intercept_dir, reference_class):
    direction = reference_scores(X, coef_dir, intercept_dir, reference_class)
    jacobian = proba * (direction - np.sum(proba * direction, axis=1, keepdims=True))
    product = (weights[:, None] * jacobian)[:, reference_class:]
    return X.T @ product, product.sum(axis=0)


def reference_hessian_diagonal(X, proba, weights, reference_class):
    curvature = (weights[:, None] * proba * (1 - proba))[:, reference_class:]
    return (X * X).T @ curvature, curvature.sum(axis=0)


def tolerance(dtype):
    return {"rtol": 2e-4, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-13}


def assert_dtype(dtype, *arrays):
    for array in arrays:
        assert array.dtype == dtype


CASES = [
    pytest.param(
        layout, dtype, reference_class, soft, id=f"{layout}-{dtype.__name__}-ref{reference_class}-soft{soft}"
    )
    for layout in LAYOUTS
    for dtype in (np.float32, np.float64)
    for reference_class in (False, True)
    for soft in (False, True)
]


@pytest.mark.parametrize(("layout", "dtype", "reference_class", "soft"), CASES)
def test_loss_gradient_matches_numpy_reference(layout, dtype, reference_class, soft):
    X, X_dense, targets, weights, coef, intercept = problem(layout, dtype, reference_class, soft)
    loss, grad_coef, grad_intercept = linear_loss_gradient(
        X, targets, weights, coef, intercept, reference_class
    )
    expected = reference_loss_gradient(X_dense, targets, weights, coef, intercept, reference_class)
    assert_dtype(dtype, grad_coef, grad_intercept)
    assert loss == pytest.approx(expected[0], rel=tolerance(dtype)["rtol"])
    np.testing.assert_allclose(grad_coef, expected[1], **tolerance(dtype))
    np.testing.assert_allclose(grad_intercept, expected[2], **tolerance(dtype))


@pytest.mark.parametrize(("layout", "dtype", "reference_class", "soft"), CASES)
def test_proba_and_hessian_match_numpy_reference(layout, dtype, reference_class, soft):
    X, X_dense, _, weights, coef, intercept = problem(layout, dtype, reference_class, soft)
    proba = linear_proba(X, coef, intercept, reference_class)
    expected_proba = special.softmax(reference_scores(X_dense, coef, intercept, reference_class), axis=1)
    assert_dtype(dtype, proba)
    np.testing.assert_allclose(proba, expected_proba, **tolerance(dtype))

    rng = np.random.default_rng(5)
    coef_dir = rng.standard_normal(coef.shape).astype(dtype)
    intercept_dir = rng.standard_normal(intercept.shape).astype(dtype)
    hess = linear_hessian_product(X, proba, weights, coef_dir, intercept_dir, reference_class)
    expected = reference_hessian_product(
        X_dense, expected_proba, weights, coef_dir, intercept_dir, reference_class
    )
    assert_dtype(dtype, *hess)
    np.testing.assert_allclose(hess[0], expected[0], **tolerance(dtype))
    np.testing.assert_allclose(hess[1], expected[1], **tolerance(dtype))
    out = np.full(coef_dir.shape, np.nan, dtype=dtype)  # a solver's buffer: every entry written
    into = linear_hessian_product(X, proba, weights, coef_dir, intercept_dir, reference_class, out)
    assert into[0] is out
    np.testing.assert_array_equal(out, hess[0])
    np.testing.assert_array_equal(into[1], hess[1])

    diag = linear_hessian_diagonal(X, proba, weights, reference_class)
    expected = reference_hessian_diagonal(X_dense, expected_proba, weights, reference_class)
    assert_dtype(dtype, *diag)
    np.testing.assert_allclose(diag[0], expected[0], **tolerance(dtype))
    np.testing.assert_allclose(diag[1], expected[1], **tolerance(dtype))


@pytest.mark.parametrize("reference_class", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_hessian_product_is_the_gradients_derivative(layout, reference_class):
    """Central differences of the compiled gradient along a direction give the compiled product."""
    X, _, targets, weights, coef, intercept = problem(layout, np.float64, reference_class, soft=True, d=40)
    rng = np.random.default_rng(6)
    coef_dir, intercept_dir = rng.standard_normal(coef.shape), rng.standard_normal(intercept.shape)
    h = 1e-5

    def gradient(t):
        return linear_loss_gradient(
            X, targets, weights, coef + t * coef_dir, intercept + t * intercept_dir, reference_class
        )[1:]

    (coef_plus, intercept_plus), (coef_minus, intercept_minus) = gradient(h), gradient(-h)
    proba = linear_proba(X, coef, intercept, reference_class)
    hess_coef, hess_intercept = linear_hessian_product(
        X, proba, weights, coef_dir, intercept_dir, reference_class
    )
    np.testing.assert_allclose(hess_coef, (coef_plus - coef_minus) / (2 * h), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(hess_intercept, (intercept_plus - intercept_minus) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize("reference_class", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradient_is_the_losss_derivative(layout, reference_class):
    X, _, targets, weights, coef, intercept = problem(layout, np.float64, reference_class, soft=True, d=40)
    _, grad_coef, grad_intercept = linear_loss_gradient(X, targets, weights, coef, intercept, reference_class)
    rng = np.random.default_rng(7)
    coef_dir, intercept_dir = rng.standard_normal(coef.shape), rng.standard_normal(intercept.shape)
    h = 1e-6

    def loss(t):
        return linear_loss_gradient(
            X, targets, weights, coef + t * coef_dir, intercept + t * intercept_dir, reference_class
        )[0]

    slope = (loss(h) - loss(-h)) / (2 * h)
    expected = np.vdot(grad_coef, coef_dir) + np.vdot(grad_intercept, intercept_dir)
    assert slope == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("layout", "dtype", "reference_class", "soft"), CASES)
def test_one_thread_and_two_give_the_same_bits(layout, dtype, reference_class, soft):
    X, _, targets, weights, coef, intercept = problem(layout, dtype, reference_class, soft)

    def passes():
        proba = linear_proba(X, coef, intercept, reference_class)
        return [
            *linear_loss_gradient(X, targets, weights, coef, intercept, reference_class),
            proba,
            *linear_hessian_product(X, proba, weights, 2 * coef, intercept, reference_class),
            *linear_hessian_diagonal(X, proba, weights, reference_class),
        ]

    with threadpool_limits(1, user_api="openmp"):
        one = passes()
    with threadpool_limits(2, user_api="openmp"):
        two = passes()
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_dense_product_matches_dense_product(dtype, index_dtype, squared):
    rng = np.random.default_rng(8)
    A_dense = (rng.standard_normal((300, 90)) * (rng.random((300, 90)) < 0.1)).astype(dtype)
    A_dense[5:40] = 0
    A = awkward_csr(A_dense, rng)
    if squared:  # squaring needs one entry per position
        A.sum_duplicates()
    dense = rng.standard_normal((90, 7)).astype(dtype)
    out = np.full((300, 7), np.nan, dtype=dtype)  # every entry must be written
    csr_dense_product(
        A.data, A.indices.astype(index_dtype), A.indptr.astype(index_dtype), dense, squared, out, 2
    )
    expected = (A.multiply(A) if squared else A).toarray().astype(np.float64) @ dense
    np.testing.assert_allclose(out, expected, **tolerance(dtype))


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_transposed_product_matches_dense_product_in_the_same_bits_for_any_blocks(dtype, index_dtype):
    """``A.T @ dense`` by blocks of the output's rows: the dense reference, and the bits of
    :func:`csr_dense_product` on ``A.T`` (the same sums in the same order) whatever the blocks."""
    rng = np.random.default_rng(11)
    A_dense = (rng.standard_normal((90, 300)) * (rng.random((90, 300)) < 0.1)).astype(dtype)
    A_dense[:, 5:40] = 0  # empty rows of A.T
    A = sparse.csr_matrix(A_dense)
    A_T = sparse.csr_matrix(A_dense.T)
    dense = rng.standard_normal((90, 7)).astype(dtype)
    by_rows = np.empty((300, 7), dtype=dtype)
    csr_dense_product(A_T.data, A_T.indices, A_T.indptr, dense, False, by_rows, 2)
    for row_bounds in ([0, 300], [0, 120, 300], [0, 1, 2, 299, 300], [0, 0, 150, 150, 300]):
        row_bounds = np.array(row_bounds, dtype=index_dtype)
        # Where each block's columns start in each row of A (its indices are sorted).
        splits = np.array(
            [np.searchsorted(A.indices[A.indptr[j] : A.indptr[j + 1]], row_bounds) for j in range(90)]
        )
        splits = (splits + A.indptr[:-1, None]).astype(index_dtype)
        out = np.full((300, 7), np.nan, dtype=dtype)  # every entry must be written
        csr_transposed_product(A.data, A.indices.astype(index_dtype), splits, row_bounds, dense, out, 2)
        np.testing.assert_allclose(out, A_dense.T.astype(np.float64) @ dense, **tolerance(dtype))
        np.testing.assert_array_equal(out, by_rows)


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 7])
def test_threaded_csr_row_blocks_split_every_row_of_the_transpose_by_blocks_of_rows(n_blocks):
    rng = np.random.default_rng(12)
    X = ThreadedCSR(awkward_csr(rng.standard_normal((40, 25)) * (rng.random((40, 25)) < 0.3), rng))
    splits, row_bounds = X.row_blocks(n_blocks)
    transpose = X.transpose
    assert row_bounds[0] == 0
    assert row_bounds[-1] == 40
    assert np.all(np.diff(row_bounds) >= 0)
    np.testing.assert_array_equal(splits[:, 0], transpose.indptr[:-1])
    np.testing.assert_array_equal(splits[:, -1], transpose.indptr[1:])
    for j in range(25):
        for b in range(n_blocks):
            rows = transpose.indices[splits[j, b] : splits[j, b + 1]]
            assert np.all((rows >= row_bounds[b]) & (rows < row_bounds[b + 1]))
    assert X.row_blocks(n_blocks)[0] is splits


@pytest.mark.parametrize("reference_class", [False, True])
def test_jacobian_product_is_equation_7_times_the_direction(reference_class):
    rng = np.random.default_rng(9)
    proba = softmax(rng.standard_normal((50, 4)))
    weights = rng.uniform(0.5, 2.0, 50)
    direction = rng.standard_normal((50, 4 - reference_class))
    intercept_dir = rng.standard_normal(4 - reference_class)
    full = direction + intercept_dir
    if reference_class:
        full = np.hstack([np.zeros((50, 1)), full])
    expected = weights[:, None] * np.einsum("nij,nj->ni", softmax_jacobian(proba), full)
    jacobian_product(proba, weights, intercept_dir, reference_class, direction, 2)
    np.testing.assert_allclose(direction, expected[:, reference_class:], rtol=1e-12, atol=1e-15)


def test_threaded_csr_keeps_one_canonical_transpose():
    rng = np.random.default_rng(10)
    X = ThreadedCSR(awkward_csr(rng.standard_normal((20, 10)) * (rng.random((20, 10)) < 0.3), rng))
    assert X.transpose is X.transpose
    assert X.transpose.has_canonical_format
    np.testing.assert_array_equal(X.transpose.toarray(), X.csr.toarray().T)


def test_conjugate_gradient_updates_match_numpy_and_do_not_depend_on_threads():
    """The fused CG passes against their NumPy statements, over several chunks and a partial one."""
    rng = np.random.default_rng(0)
    n = 3 * cg.CHUNK + 17
    direction, product, x, residual = (rng.standard_normal(n) for _ in range(4))
    inverse_diagonal = rng.uniform(0.1, 10.0, n)
    assert cg.dot(direction, product, 1) == pytest.approx(np.dot(direction, product), rel=1e-12)

    results = []
    for threads in (1, 2):
        new_x, new_residual, new_direction = x.copy(), residual.copy(), direction.copy()
        rho, squared = cg.advance(0.3, direction, product, new_x, new_residual, inverse_diagonal, threads)
        cg.next_direction(0.7, new_direction, new_residual, inverse_diagonal, threads)
        results.append((new_x, new_residual, new_direction, rho, squared, cg.dot(x, residual, threads)))

    expected_residual = residual - 0.3 * product
    np.testing.assert_allclose(results[0][0], x + 0.3 * direction, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(results[0][1], expected_residual, rtol=1e-15, atol=1e-15)
    expected_direction = inverse_diagonal * expected_residual + 0.7 * direction
    np.testing.assert_allclose(results[0][2], expected_direction, rtol=1e-14)
    assert results[0][3] == pytest.approx(np.sum(expected_residual**2 * inverse_diagonal), rel=1e-12)
    assert results[0][4] == pytest.approx(np.sum(expected_residual**2), rel=1e-12)
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one, two)
