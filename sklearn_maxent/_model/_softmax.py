"""The softmax core: the maximum-entropy model's math on plain arrays.

Notation follows the project's seed note ("Softmax", Zhiliang Tian, 2016):
scores ``S = X W + b`` (one row per sample, one column per class),
probabilities ``P_k = exp(S_k) / sum_j exp(S_j)`` (equation 1), the Jacobian
``dP_i/dS_j = P_i (delta_ij - P_j)`` (equation 7) and the gradient of the
negative log-likelihood with respect to the scores, ``P - Y``: the model's
expectation minus the observed one, ``E_est - E_obs`` (equation 13).

Everything here is a pure function of its arguments (:class:`ThreadedCSR`
only keeps a transpose it makes once). Nothing validates input
(the estimator does that once, before any of this runs) and nothing knows of
scikit-learn. Every function keeps the dtype of its inputs, so float32 data is
computed in float32.

The work of a full-batch pass is compiled (:mod:`sklearn_maxent._kernels`)
and threaded on OpenMP's threads: the row-wise softmax parts, and for sparse
``X`` the products ``X @ W`` and ``X.T @ R`` (dense products are BLAS's).
The functions here only choose a kernel and shape its arguments; of the
package they import only the kernels.
"""

from functools import cache, cached_property

import numpy as np
from scipy import sparse
from threadpoolctl import ThreadpoolController

from .._kernels import (
    cross_entropy_residual,
    csr_dense_product,
    csr_transposed_product,
    curvature,
    dense_hessian_diagonal,
    dense_pass,
    dense_product,
    effective_n_threads,
    jacobian_product,
    softmax_rows,
)

# The dense passes deal their blocks of rows to this many chunks, each summed
# on its own and then all in order: a number fixed here, not by the thread count, so that
# results do not depend on it. 16 dynamic chunks keep 2 threads evenly busy.
DENSE_CHUNKS = 16
# Bytes per block of rows of those passes: a block of X stays in a core's L2 cache between its
# two products (benchmarks/results/CONSTANTS.md).
DENSE_BLOCK_BYTES = 128 * 1024


class ThreadedCSR:
    """A CSR matrix with a CSR copy of its transpose, for threaded ``X @ W`` and ``X.T @ R``.

    Pass it wherever the functions below take ``X``. The copy of ``X.T`` is made
    once, at the first product, and costs as much memory as ``X``
    (``nnz`` values and column indices); in exchange ``X.T @ R`` is threaded
    over the rows of ``X.T`` (features), and ``X @ W`` over blocks of ``X``'s rows
    reading ``X.T`` (:meth:`row_blocks`), with results that do not depend on the
    number of threads.

    Parameters
    ----------
    X : scipy sparse matrix of shape (n_samples, n_features)
    """

    def __init__(self, X):
        self.csr = sparse.csr_matrix(X)
        self._row_blocks = {}  # row_blocks' splits, by number of blocks

    @property
    def shape(self):
        return self.csr.shape

    @property
    def dtype(self):
        return self.csr.dtype

    @cached_property
    def transpose(self):
        """``X.T`` in canonical CSR format (sorted, no duplicate entries), made on first use.

        Duplicates are summed because the Hessian's diagonal squares entries.
        """
        transpose = self.csr.T.tocsr()
        transpose.sum_duplicates()
        return transpose

    def row_blocks(self, n_blocks):
        """Where ``n_blocks`` blocks of ``X``'s rows, of about equal entries, split each row of
        :attr:`transpose`: the ``(splits, row_bounds)`` of
        :func:`~sklearn_maxent._kernels.csr_transposed_product`.

        Made once for each number of blocks (the threads of a product), and small: ``n_blocks + 1``
        positions a feature.
        """
        blocks = self._row_blocks
        if n_blocks not in blocks:
            transpose = self.transpose
            indptr = transpose.indptr
            row_nnz = np.cumsum(np.diff(self.csr.indptr))
            inner = np.searchsorted(row_nnz, np.arange(1, n_blocks) * (self.csr.nnz / n_blocks), side="right")
            row_bounds = np.concatenate([[0], inner, [self.shape[0]]]).astype(indptr.dtype)
            block_of_entry = np.searchsorted(row_bounds[1:-1], transpose.indices, side="right")
            feature_of_entry = np.repeat(np.arange(self.shape[1]), np.diff(indptr))
            counts = np.bincount(
                feature_of_entry * n_blocks + block_of_entry, minlength=self.shape[1] * n_blocks
            )
            splits = np.empty((self.shape[1], n_blocks + 1), dtype=indptr.dtype)
            splits[:, 0] = indptr[:-1]
            np.cumsum(counts.reshape(-1, n_blocks), axis=1, out=splits[:, 1:])
            splits[:, 1:] += indptr[:-1, None]
            blocks[n_blocks] = splits, row_bounds
        return blocks[n_blocks]


def _csr_product(A, dense, squared=False, out=None):
    """``A @ dense`` (``A * A`` elementwise when ``squared``) for sparse ``A``, threaded over its rows.

    ``squared`` needs ``A`` without duplicate entries. Written into ``out`` where given (C-ordered,
    ``A``'s dtype), which is returned.
    """
    if A.dtype != dense.dtype or A.dtype not in (np.float32, np.float64):
        # Mixed or other dtypes: scipy's product and its type promotion.
        return written_into(out, np.asarray((A.multiply(A) if squared else A) @ dense))
    A = sparse.csr_matrix(A)
    indices, indptr = A.indices, A.indptr
    if indices.dtype != indptr.dtype:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    if out is None:
        out = np.empty((A.shape[0], dense.shape[1]), dtype=A.dtype)
    csr_dense_product(
        A.data,
        indices,
        indptr,
        np.ascontiguousarray(dense),
        squared,
        out,
        effective_n_threads(A.nnz * out.shape[1]),
    )
    return out


def _product(X, dense):
    """``X @ dense`` in a new C-contiguous array, threaded over rows (BLAS for other layouts)."""
    if _is_dense_rows(X, dense):
        # Blocks of rows on the OpenMP threads, BLAS on one thread per block: BLAS threads inside
        # them were far slower (benchmarks/results/CONSTANTS.md).
        out = np.empty((len(X), dense.shape[1]), X.dtype)
        with single_threaded_blas():
            threads = effective_n_threads(X.size * dense.shape[1])
            dense_product(X, np.ascontiguousarray(dense), out, _dense_block_rows(X), threads)
        return out
    if isinstance(X, ThreadedCSR):
        return _transposed_product(X, dense)
    if sparse.issparse(X):
        return _csr_product(X, dense)
    return np.ascontiguousarray(X @ dense)


def _transposed_product(X, dense):
    """``X @ dense`` for a :class:`ThreadedCSR` from its transpose, a block of rows a thread: it
    reads ``dense`` once, where a product over ``X``'s rows reads a row of it an entry, in random
    order (1.6 to 2 times as fast on text: benchmarks/results/CONSTANTS.md). The same sums in the
    same order."""
    transpose = X.transpose
    if transpose.dtype != dense.dtype or transpose.dtype not in (np.float32, np.float64):
        return _csr_product(X.csr, dense)
    out = np.empty((X.shape[0], dense.shape[1]), dtype=transpose.dtype)
    n_threads = effective_n_threads(transpose.nnz * out.shape[1])
    splits, row_bounds = X.row_blocks(n_threads)
    csr_transposed_product(
        transpose.data,
        transpose.indices.astype(splits.dtype, copy=False),
        splits,
        row_bounds,
        np.ascontiguousarray(dense),
        out,
        n_threads,
    )
    return out


def written_into(out, result):
    """``result``, copied into ``out`` where one is given (the ``out=`` of a product that has no
    kernel writing in place)."""
    if out is None:
        return result
    out[...] = result
    return out


def _transpose_product(X, dense, squared=False, block_rows=8192, out=None):
    """``X.T @ dense``, or ``(X * X).T @ dense`` (elementwise square) when ``squared``.

    Threaded for a :class:`ThreadedCSR`, written straight into ``out`` where given (C-ordered, of
    the product's dtype; it is returned); on one thread for other sparse
    matrices (scipy), whose transpose is not kept; BLAS for dense ``X``, whose
    rows are squared ``block_rows`` at a time to need no copy of ``X``.
    """
    if isinstance(X, ThreadedCSR):
        return _csr_product(X.transpose, dense, squared, out)
    if sparse.issparse(X):
        return written_into(out, np.asarray((X.multiply(X) if squared else X).T @ dense))
    if not squared:
        return written_into(out, X.T @ dense)
    total = np.zeros((X.shape[1], dense.shape[1]), dtype=np.result_type(X, dense))
    for start in range(0, X.shape[0], block_rows):
        block = X[start : start + block_rows]
        total += (block * block).T @ dense[start : start + block_rows]
    return written_into(out, total)


def log_softmax(scores):
    """Row-wise ``log P`` by log-sum-exp: finite for scores as large as 1e300.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    log_proba : ndarray of shape (n_samples, n_classes)
    """
    # Shifting by the row maximum makes the largest exponent exp(0) = 1, so
    # nothing overflows and at least one term of every sum is 1.
    shifted = scores - scores.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(scores):
    """Row-wise softmax, equation (1), shifted by the row maximum.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Rows are probability distributions.
    """
    dtype = scores.dtype if scores.dtype in (np.float32, np.float64) else np.float64
    proba = np.array(scores, dtype=dtype, order="C")
    softmax_rows(proba, np.zeros(proba.shape[1], dtype), False, proba, effective_n_threads(proba.size))
    return proba


def softmax_jacobian(proba):
    """Jacobian of the softmax, equation (7): ``J[..., i, j] = P_i (delta_ij - P_j)``.

    Parameters
    ----------
    proba : ndarray of shape (..., n_classes)

    Returns
    -------
    jacobian : ndarray of shape (..., n_classes, n_classes)
    """
    identity = np.eye(proba.shape[-1], dtype=proba.dtype)
    return proba[..., :, None] * (identity - proba[..., None, :])


def cross_entropy(scores, targets, sample_weight=None):
    """Weighted cross-entropy ``sum_i s_i * (-sum_k Y_ik log P_ik)``.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)
    targets : ndarray of shape (n_samples, n_classes)
        One-hot rows or any probability distributions (soft labels).
    sample_weight : ndarray of shape (n_samples,), default=None
        Unit weights when None.

    Returns
    -------
    loss : float
    """
    per_sample = -np.einsum("ik,ik->i", targets, log_softmax(scores))
    if sample_weight is None:
        return float(per_sample.sum())
    return float(np.vdot(per_sample, sample_weight))


def _cross_entropy_residual(free_scores, intercept, targets, sample_weight, reference_class):
    """Turn ``free_scores`` (C-contiguous) into the residual in place and return the loss."""
    dtype = free_scores.dtype
    losses = np.empty(len(free_scores))
    cross_entropy_residual(
        free_scores,
        np.ascontiguousarray(intercept, dtype=dtype),
        np.ascontiguousarray(targets, dtype=dtype),
        np.ascontiguousarray(sample_weight, dtype=dtype),
        reference_class,
        losses,
        effective_n_threads(free_scores.size),
    )
    return float(losses.sum())


def linear_scores(X, coef, intercept, reference_class, offset=None):
    """Scores ``S = X W + b (+ offset)`` of a linear model, for dense or sparse ``X``.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or ThreadedCSR of shape (n_samples, n_features)
    coef : ndarray or scipy sparse matrix of shape (n_features, n_free)
    intercept : ndarray of shape (n_free,)
    reference_class : bool
        When True the model has a first class whose score is fixed at 0 (the
        binary logistic model: ``n_free = 1`` column for two classes) and a
        zero column is put in front of the free scores.
    offset : ndarray of shape (n_samples, n_free) or None
        Added to the free scores.

    Returns
    -------
    scores : ndarray of shape (n_samples, n_free + reference_class)
    """
    if sparse.issparse(coef):  # sparsified weights; the scores are used dense
        scores = X @ coef
        scores = scores.toarray() if sparse.issparse(scores) else np.asarray(scores)
    else:
        scores = _product(X, coef)
    scores += intercept
    if offset is not None:
        scores += offset
    if reference_class:
        scores = np.hstack([np.zeros_like(scores[:, :1]), scores])
    return scores


def linear_proba(X, coef, intercept, reference_class, offset=None):
    """Probabilities ``softmax(linear_scores(X, coef, intercept, reference_class, offset))``.

    One compiled pass over the free scores ``X W``: the intercept, the
    reference class's column and the softmax together.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_free + reference_class)
    """
    scores = _with_offset(_product(X, coef), offset)
    proba = np.empty((len(scores), scores.shape[1] + 1), scores.dtype) if reference_class else scores
    intercept = np.ascontiguousarray(intercept, dtype=scores.dtype)
    softmax_rows(scores, intercept, reference_class, proba, effective_n_threads(proba.size))
    return proba


def _with_offset(free_scores, offset):
    """``free_scores`` (a fresh array) with ``offset`` added in place, if any."""
    if offset is not None:
        free_scores += offset
    return free_scores


def linear_loss_residual(X, targets, sample_weight, coef, intercept, reference_class, offset=None):
    """Weighted cross-entropy of a linear softmax model and its score gradient.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or ThreadedCSR of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples, n_classes)
    sample_weight : ndarray of shape (n_samples,)
    coef : ndarray of shape (n_features, n_free)
    intercept : ndarray of shape (n_free,)
    reference_class : bool
        See :func:`linear_scores`.
    offset : ndarray of shape (n_samples, n_free) or None
        Added to the free scores.

    Returns
    -------
    loss : float
        ``sum_i s_i CE_i``.
    residual : ndarray of shape (n_samples, n_free)
        ``s_i (P_i - Y_i)`` for the free classes: the gradient with respect
        to the scores, whose product with ``X^T`` is the gradient in ``W``.
    """
    # The free scores become the residual in place: no intercept pass, no
    # reference column, no copies.
    residual = _with_offset(_product(X, coef), offset)
    loss = _cross_entropy_residual(residual, intercept, targets, sample_weight, reference_class)
    return loss, residual


def linear_loss_gradient(X, targets, sample_weight, coef, intercept, reference_class, offset=None):
    """Weighted cross-entropy of a linear softmax model and its gradient.

    Parameters are those of :func:`linear_loss_residual`.

    Returns
    -------
    loss : float
        ``sum_i s_i CE_i``.
    grad_coef : ndarray of shape (n_features, n_free)
        ``X^T R`` with ``R = s (P - Y)``: E_est - E_obs of every feature.
    grad_intercept : ndarray of shape (n_free,)
        ``sum_i R_i``.
    """
    if _is_dense_rows(X, coef):
        return _dense_pass(X, coef, intercept, targets, sample_weight, reference_class, False, offset)
    loss, residual = linear_loss_residual(X, targets, sample_weight, coef, intercept, reference_class, offset)
    return loss, _transpose_product(X, residual), residual.sum(axis=0)


def single_threaded_blas():
    """A context in which BLAS runs on one thread, the OpenMP threads of the kernels on all.

    The dense passes call BLAS from every OpenMP thread, so BLAS must not add threads of its
    own. The optimizers hold this for a whole fit (``_optim._minimize``): switching OpenBLAS's
    thread count for every pass and back cost more than the passes on small data
    (``benchmarks/results/CONSTANTS.md``).
    """
    return _blas_threads().limit(limits=1, user_api="blas")


@cache
def _blas_threads():
    """A controller of the BLAS libraries loaded (made once: making one takes a millisecond)."""
    return ThreadpoolController()


def _is_dense_rows(X, other):
    """Whether the dense passes take ``X``: a C-ordered array in the dtype of ``other``."""
    return isinstance(X, np.ndarray) and X.flags.c_contiguous and X.dtype == other.dtype


def _dense_block_rows(X):
    """Rows per block of the dense passes (``DENSE_BLOCK_BYTES`` of ``X``)."""
    return max(1, DENSE_BLOCK_BYTES // (X.shape[1] * X.dtype.itemsize))


def _dense_pass(X, coef, shift, row_data, sample_weight, reference_class, hessian, offset=None):
    """One compiled pass over the rows of dense ``X``: the loss and gradient (at scores offset by
    ``offset``, if not None), or a Hessian product.

    Returns
    -------
    loss : float
        0 for a Hessian product.
    grad_coef : ndarray of shape (n_features, n_free)
    grad_intercept : ndarray of shape (n_free,)
    """
    dtype = X.dtype
    n_free = coef.shape[1]
    block_rows = _dense_block_rows(X)
    grad_chunks = np.zeros((DENSE_CHUNKS, X.shape[1], n_free), dtype)
    shift_chunks = np.zeros((DENSE_CHUNKS, n_free), dtype)
    losses = np.zeros(len(X))
    # The pass calls BLAS from every OpenMP thread, each call on one block: BLAS on one thread.
    with single_threaded_blas():
        dense_pass(
            X,
            np.ascontiguousarray(coef),
            np.ascontiguousarray(shift, dtype=dtype),
            np.empty((0, n_free), dtype) if offset is None else np.ascontiguousarray(offset, dtype=dtype),
            np.ascontiguousarray(row_data, dtype=dtype),
            np.ascontiguousarray(sample_weight, dtype=dtype),
            reference_class,
            hessian,
            losses,
            grad_chunks,
            shift_chunks,
            np.empty((DENSE_CHUNKS, block_rows, n_free), dtype),
            effective_n_threads(X.size * n_free),
        )
    return float(losses.sum()), grad_chunks.sum(axis=0), shift_chunks.sum(axis=0)


def linear_hessian_product(X, proba, sample_weight, coef_dir, intercept_dir, reference_class, out=None):
    """Hessian of the weighted cross-entropy of a linear softmax model times a direction.

    The Hessian with respect to the scores is the softmax Jacobian (the
    gradient ``P - Y`` differentiated once more), so the product is
    ``X^T (s * J (X V + v))`` for a direction ``(V, v)`` in parameter space.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or ThreadedCSR of shape (n_samples, n_features)
    proba : ndarray of shape (n_samples, n_classes)
        Probabilities at the point where the Hessian is taken.
    sample_weight : ndarray of shape (n_samples,)
    coef_dir : ndarray of shape (n_features, n_free)
    intercept_dir : ndarray of shape (n_free,)
    reference_class : bool
        See :func:`linear_scores`.
    out : ndarray of shape (n_features, n_free) or None
        Where to write ``hess_coef`` (C-ordered, ``coef_dir``'s dtype): a solver's own buffer,
        which a product over sparse ``X`` then fills without a temporary of the model's size.

    Returns
    -------
    hess_coef : ndarray of shape (n_features, n_free)
        ``out`` where given.
    hess_intercept : ndarray of shape (n_free,)
    """
    if _is_dense_rows(X, coef_dir):
        _, hess_coef, hess_intercept = _dense_pass(
            X, coef_dir, intercept_dir, proba, sample_weight, reference_class, hessian=True
        )
        return written_into(out, hess_coef), hess_intercept
    product = _product(X, coef_dir)
    dtype = product.dtype
    jacobian_product(
        np.ascontiguousarray(proba, dtype=dtype),
        np.ascontiguousarray(sample_weight, dtype=dtype),
        np.ascontiguousarray(intercept_dir, dtype=dtype),
        reference_class,
        product,
        effective_n_threads(product.size),
    )
    return _transpose_product(X, product, out=out), product.sum(axis=0)


def linear_hessian_diagonal(X, proba, sample_weight, reference_class, block_rows=8192):
    """Diagonal of the Hessian in :func:`linear_hessian_product`.

    The diagonal of the softmax Jacobian is ``P_k (1 - P_k)``, so the entry of
    weight ``(j, k)`` is ``sum_i s_i x_ij^2 P_ik (1 - P_ik)`` and that of
    intercept ``k`` is ``sum_i s_i P_ik (1 - P_ik)``. Dense rows are squared a
    block at a time, to need no copy of ``X``.

    Returns
    -------
    diag_coef : ndarray of shape (n_features, n_free)
    diag_intercept : ndarray of shape (n_free,)
    """
    if _is_dense_rows(X, proba):
        return _dense_hessian_diagonal(X, proba, sample_weight, reference_class)
    proba = np.ascontiguousarray(proba)
    curvatures = np.empty((proba.shape[0], proba.shape[1] - reference_class), dtype=proba.dtype)
    curvature(
        proba,
        np.ascontiguousarray(sample_weight, dtype=proba.dtype),
        reference_class,
        curvatures,
        effective_n_threads(curvatures.size),
    )
    diag_coef = _transpose_product(X, curvatures, squared=True, block_rows=block_rows)
    return diag_coef, curvatures.sum(axis=0)


def _dense_hessian_diagonal(X, proba, sample_weight, reference_class):
    """:func:`linear_hessian_diagonal` for C-ordered ``X``, in one compiled pass over its rows."""
    dtype = X.dtype
    n_free = proba.shape[1] - reference_class
    block_rows = _dense_block_rows(X)
    diag_chunks = np.zeros((DENSE_CHUNKS, X.shape[1], n_free), dtype)
    intercept_chunks = np.zeros((DENSE_CHUNKS, n_free), dtype)
    with single_threaded_blas():
        dense_hessian_diagonal(
            X,
            np.ascontiguousarray(proba),
            np.ascontiguousarray(sample_weight, dtype=dtype),
            reference_class,
            diag_chunks,
            intercept_chunks,
            np.empty((DENSE_CHUNKS, block_rows, n_free), dtype),
            np.empty((DENSE_CHUNKS, block_rows, X.shape[1]), dtype),
            effective_n_threads(X.size * n_free),
        )
    return diag_chunks.sum(axis=0), intercept_chunks.sum(axis=0)
