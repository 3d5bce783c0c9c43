"""The softmax core against scipy.special, finite differences and the seed note's equations."""

import numpy as np
import pytest
from reference_softmax import cross_entropy_and_residual
from scipy import sparse, special

from sklearn_maxent._model._softmax import (
    cross_entropy,
    linear_hessian_diagonal,
    linear_hessian_product,
    linear_loss_gradient,
    linear_scores,
    log_softmax,
    softmax,
    softmax_jacobian,
)

RNG = np.random.default_rng(0)


def random_problem(n=7, d=5, k=4, dtype=np.float64, soft=False):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d)).astype(dtype)
    if soft:
        targets = rng.dirichlet(np.ones(k), size=n).astype(dtype)
    else:
        targets = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    weights = rng.uniform(0.5, 2.0, n).astype(dtype)
    return X, targets, weights


def central_difference(f, x, h=1e-6):
    """Gradient of scalar f at x by central differences, entry by entry."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3])
def test_softmax_and_log_softmax_match_scipy(scale):
    scores = RNG.standard_normal((20, 6)) * scale
    np.testing.assert_allclose(softmax(scores), special.softmax(scores, axis=1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_softmax(scores), special.log_softmax(scores, axis=1), rtol=1e-12)
    expected_lse = special.logsumexp(scores, axis=1)
    np.testing.assert_allclose((scores - log_softmax(scores))[:, 0], expected_lse, rtol=1e-12)


def test_extreme_scores_stay_finite():
    scores = np.array([[1e300, -1e300, 0.0], [-1e300, -1e300, -1e300], [1e300, 1e300, 1e300]])
    proba = softmax(scores)
    log_proba = log_softmax(scores)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, [[1, 0, 0], [1 / 3] * 3, [1 / 3] * 3])
    # log P of the losing class is -2e300: finite, where log(softmax) would be -inf.
    assert np.isfinite(log_proba).all()
    assert log_proba[0, 1] == pytest.approx(-2e300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    scores = RNG.standard_normal((5, 3)).astype(dtype)
    X, targets, weights = random_problem(dtype=dtype)
    assert softmax(scores).dtype == dtype
    assert log_softmax(scores).dtype == dtype
    assert softmax_jacobian(softmax(scores)).dtype == dtype
    coef = np.zeros((5, 4), dtype=dtype)
    _, grad_coef, grad_intercept = linear_loss_gradient(X, targets, weights, coef, np.zeros(4, dtype), False)
    assert grad_coef.dtype == dtype
    assert grad_intercept.dtype == dtype


def test_jacobian_matches_finite_differences():
    scores = RNG.standard_normal(5)
    numeric = np.stack([central_difference(lambda s, i=i: softmax(s[None])[0, i], scores) for i in range(5)])
    assert relative_error(softmax_jacobian(softmax(scores[None]))[0], numeric) < 1e-8


def test_jacobian_is_equation_7():
    proba = softmax(RNG.standard_normal((3, 4)))
    jac = softmax_jacobian(proba)
    for n in range(3):
        for i in range(4):
            for j in range(4):
                expected = proba[n, i] * (1.0 - proba[n, j]) if i == j else -proba[n, i] * proba[n, j]
                assert jac[n, i, j] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("soft", [False, True])
def test_equation_12_chain_rule_gives_p_minus_y(soft):
    """dJ/dS = J^T dJ/dP with dJ/dP = -Y/P (equation 11 negated) is exactly P - Y."""
    _, targets, _ = random_problem(soft=soft)
    scores = RNG.standard_normal(targets.shape)
    proba = softmax(scores)
    d_loss_d_proba = -targets / proba
    chained = np.einsum("nij,ni->nj", softmax_jacobian(proba), d_loss_d_proba)
    np.testing.assert_allclose(chained, proba - targets, rtol=1e-10, atol=1e-14)
    _, residual = cross_entropy_and_residual(scores, targets, np.ones(len(scores)))
    np.testing.assert_allclose(residual, proba - targets, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_matches_definition(soft):
    X, targets, weights = random_problem(soft=soft)
    scores = X @ RNG.standard_normal((X.shape[1], targets.shape[1]))
    expected = -np.sum(weights[:, None] * targets * np.log(special.softmax(scores, axis=1)))
    assert cross_entropy(scores, targets, weights) == pytest.approx(expected, rel=1e-12)
    loss, _ = cross_entropy_and_residual(scores, targets, weights)
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("reference_class", [False, True])
@pytest.mark.parametrize("as_sparse", [False, True])
def test_loss_gradient_matches_finite_differences(reference_class, as_sparse):
    k = 2 if reference_class else 4
    X, targets, weights = random_problem(k=k, soft=True)
    n_free = k - reference_class
    coef = RNG.standard_normal((X.shape[1], n_free))
    intercept = RNG.standard_normal(n_free)
    X_in = sparse.csr_matrix(X) if as_sparse else X

    def loss_of(c, b):
        return linear_loss_gradient(X, targets, weights, c, b, reference_class)[0]

    _, grad_coef, grad_intercept = linear_loss_gradient(
        X_in, targets, weights, coef, intercept, reference_class
    )
    assert relative_error(grad_coef, central_difference(lambda c: loss_of(c, intercept), coef)) < 1e-6
    numeric_intercept = central_difference(lambda b: loss_of(coef, b), intercept)
    assert relative_error(grad_intercept, numeric_intercept) < 1e-6


def test_gradient_is_x_transpose_p_minus_y():
    """dJ/dW = X^T (P - Y): the model's feature expectations minus the observed ones."""
    X, targets, weights = random_problem()
    coef = RNG.standard_normal((X.shape[1], 4))
    intercept = np.zeros(4)
    proba = special.softmax(X @ coef, axis=1)
    _, grad_coef, grad_intercept = linear_loss_gradient(X, targets, weights, coef, intercept, False)
    expected_model = X.T @ (weights[:, None] * proba)
    expected_observed = X.T @ (weights[:, None] * targets)
    np.testing.assert_allclose(grad_coef, expected_model - expected_observed, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_intercept, weights @ (proba - targets), rtol=1e-12, atol=1e-14)


def test_binary_reference_class_is_the_logistic_model():
    X = random_problem(k=2)[0]
    coef = RNG.standard_normal((X.shape[1], 1))
    intercept = RNG.standard_normal(1)
    scores = linear_scores(X, coef, intercept, reference_class=True)
    np.testing.assert_array_equal(scores[:, 0], 0.0)
    np.testing.assert_allclose(softmax(scores)[:, 1], special.expit((X @ coef + intercept)[:, 0]))


@pytest.mark.parametrize("reference_class", [False, True])
def test_hessian_product_matches_finite_differences_of_gradient(reference_class):
    k = 2 if reference_class else 3
    X, targets, weights = random_problem(k=k)
    n_free = k - reference_class
    coef = RNG.standard_normal((X.shape[1], n_free))
    intercept = RNG.standard_normal(n_free)
    coef_dir = RNG.standard_normal(coef.shape)
    intercept_dir = RNG.standard_normal(n_free)
    h = 1e-6

    def gradient(t):
        _, gc, gb = linear_loss_gradient(
            X, targets, weights, coef + t * coef_dir, intercept + t * intercept_dir, reference_class
        )
        return gc, gb

    (gc_plus, gb_plus), (gc_minus, gb_minus) = gradient(h), gradient(-h)
    proba = softmax(linear_scores(X, coef, intercept, reference_class))
    hess_coef, hess_intercept = linear_hessian_product(
        X, proba, weights, coef_dir, intercept_dir, reference_class
    )
    assert relative_error(hess_coef, (gc_plus - gc_minus) / (2 * h)) < 1e-6
    assert relative_error(hess_intercept, (gb_plus - gb_minus) / (2 * h)) < 1e-6


@pytest.mark.parametrize("reference_class", [False, True])
@pytest.mark.parametrize("as_sparse", [False, True])
def test_hessian_diagonal_matches_the_hessian_by_finite_differences(reference_class, as_sparse):
    """Each diagonal entry against a central difference of the gradient along that coordinate."""
    rng = np.random.default_rng(3)
    n, d, k = 30, 4, 3
    X = rng.standard_normal((n, d))
    targets = np.eye(k)[rng.integers(0, k, n)]
    weights = rng.uniform(0.5, 2.0, n)
    free = k - reference_class
    coef, intercept = rng.standard_normal((d, free)), rng.standard_normal(free)
    proba = special.softmax(linear_scores(X, coef, intercept, reference_class), axis=1)
    X_in = sparse.csr_matrix(X) if as_sparse else X
    diag_coef, diag_intercept = linear_hessian_diagonal(X_in, proba, weights, reference_class, block_rows=7)
    h = 1e-5
    for j in range(d + 1):
        for c in range(free):
            step_coef, step_intercept = np.zeros_like(coef), np.zeros_like(intercept)
            if j < d:
                step_coef[j, c] = h
            else:
                step_intercept[c] = h
            plus = linear_loss_gradient(
                X, targets, weights, coef + step_coef, intercept + step_intercept, reference_class
            )
            minus = linear_loss_gradient(
                X, targets, weights, coef - step_coef, intercept - step_intercept, reference_class
            )
            index = 1 if j < d else 2
            position = (j, c) if j < d else (c,)
            expected = (plus[index][position] - minus[index][position]) / (2 * h)
            actual = diag_coef[j, c] if j < d else diag_intercept[c]
            assert actual == pytest.approx(expected, rel=1e-6)
