"""Row-wise softmax work of a full-batch pass, compiled, and the whole pass on dense rows.

A pass over the data is ``S = X W`` (BLAS, or :mod:`._csr`), this row-wise
part, and ``X^T R`` (BLAS, or :mod:`._csr`). Done in NumPy the row-wise part
takes a dozen passes over ``n x K`` temporaries (intercept, reference column,
shift, exp, sum, log, divide, subtract, scale, slice); here it is one pass
over each row, threaded over rows with OpenMP. For dense C-ordered ``X``,
:func:`dense_pass` does the loss-and-gradient or Hessian-product pass whole
(:func:`dense_hessian_diagonal` the diagonal's, :func:`dense_product` ``X W``), a block of
rows at a time, calling BLAS (scipy's ``cython_blas``) on each block from
the OpenMP threads, so that ``X`` is read from memory once instead of twice.

Every kernel takes the free scores ``X W`` (``n_free`` columns) and adds the
intercept itself; with ``reference_class`` the model has a class 0 whose
score is fixed at 0 that is not stored (the binary logistic model), so
``targets`` and ``proba`` have ``n_free + 1`` columns and the outputs
``n_free``, the free classes only.

Determinism: every row is computed by one thread on its own, and sums over
rows are returned per row (``losses``) or per chunk of rows fixed by the
caller, for the caller to add in a fixed order, so results do not depend on
the number of threads.
"""

from cython.parallel cimport prange
from libc.math cimport exp
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

cimport openmp

from ._shared cimport floating, row_cross_entropy_residual


# Below this many entries a row-wise pass runs on one thread: waking the others costs more
# than the pass (a minibatch of 3 rows in check_estimator was several times slower on 2
# threads, and far slower when other processes kept the second core busy).
MIN_ENTRIES_PER_THREAD = 16384


def effective_n_threads(n_entries=None, min_entries=MIN_ENTRIES_PER_THREAD):
    """Threads an OpenMP region over ``n_entries`` values may use (all it may, when None), at
    least ``min_entries`` values each.

    As scikit-learn's ``_openmp_effective_n_threads``: ``omp_get_max_threads()``
    reflects both ``OMP_NUM_THREADS`` and ``threadpool_limits(user_api="openmp")``.
    """
    available = max(openmp.omp_get_max_threads(), 1)
    if n_entries is None:
        return available
    return int(max(1, min(available, n_entries // min_entries)))


cdef inline double row_maximum(
    const floating[:, ::1] scores, const floating[::1] intercept, Py_ssize_t i, bint reference_class
) noexcept nogil:
    """``max_k S_ik + b_k``, with the reference class's 0 among them."""
    cdef double largest = scores[i, 0] + intercept[0]
    cdef Py_ssize_t k
    for k in range(1, scores.shape[1]):
        if scores[i, k] + intercept[k] > largest:
            largest = scores[i, k] + intercept[k]
    if reference_class and largest < 0.0:
        largest = 0.0
    return largest


def cross_entropy_residual(
    floating[:, ::1] scores,
    const floating[::1] intercept,
    const floating[:, ::1] targets,
    const floating[::1] weights,
    bint reference_class,
    double[::1] losses,
    int n_threads,
):
    """Turn free scores ``S`` into ``s_i (P_i - Y_i)`` in place and write ``s_i CE_i`` into ``losses``.

    ``P_i = softmax(S_i + b)`` shifted by the row maximum ``m_i`` (nothing
    overflows), and ``CE_i = log sum_k exp(S_ik + b_k - m_i) - sum_k Y_ik
    (S_ik + b_k - m_i)``, which holds because the rows of ``Y`` sum to one.
    Sums run in double precision for float32 data too.
    """
    cdef Py_ssize_t i
    with nogil:
        for i in prange(scores.shape[0], num_threads=n_threads, schedule="static"):
            losses[i] = row_cross_entropy_residual(
                &scores[i, 0], &intercept[0], &targets[i, 0], weights[i], scores.shape[1], reference_class
            )


cdef inline void gemm(
    char* transpose_a, char* transpose_b, int m, int n, int k,
    const floating* a, int lda, const floating* b, int ldb, floating beta, floating* c, int ldc,
) noexcept nogil:
    """``C = op(A) op(B) + beta C`` by BLAS (column-major, as Fortran's)."""
    cdef floating one = 1.0
    if floating is double:
        dgemm(transpose_a, transpose_b, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &beta, c, &ldc)
    else:
        sgemm(transpose_a, transpose_b, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &beta, c, &ldc)


def dense_pass(
    const floating[:, ::1] X,
    const floating[:, ::1] coef,
    const floating[::1] shift,
    const floating[:, ::1] offset,
    const floating[:, ::1] row_data,
    const floating[::1] weights,
    bint reference_class,
    bint hessian,
    double[::1] losses,
    floating[:, :, ::1] grad_chunks,
    floating[:, ::1] shift_chunks,
    floating[:, :, ::1] scratch,
    int n_threads,
):
    """A whole full-batch pass on dense ``X``, reading each block of rows once.

    Rows go in blocks of ``scratch.shape[1]``: ``S_b = X_b W`` (BLAS), the
    row-wise step, ``G += X_b^T R_b`` (BLAS), while ``X_b`` is still in
    cache. The row-wise step is the residual of :func:`cross_entropy_residual`
    (``W`` the coefficients, ``shift`` the intercept, ``row_data`` the
    targets; ``losses`` receives ``s_i CE_i``), or with ``hessian`` the
    Jacobian product of :func:`jacobian_product` (``W`` and ``shift`` the
    direction, ``row_data`` the probabilities; ``losses`` is untouched).
    ``offset``, if it has rows, is added to the scores ``S_b`` (the gemm
    starts from it); a Hessian product takes none.

    Blocks are dealt to ``grad_chunks.shape[0]`` chunks of consecutive
    blocks, a number fixed by the caller; each chunk, on one thread, adds its
    ``X^T R`` into ``grad_chunks[c]`` and the column sums of ``R`` into
    ``shift_chunks[c]`` (both zeroed by the caller) in block order, and the
    caller sums the chunks in order: the result does not depend on the number
    of threads. BLAS must be limited to one thread around this call.
    """
    cdef Py_ssize_t n = X.shape[0], n_features = X.shape[1], n_free = coef.shape[1]
    cdef Py_ssize_t block_rows = scratch.shape[1], n_chunks = grad_chunks.shape[0]
    cdef Py_ssize_t n_blocks = (n + block_rows - 1) // block_rows
    cdef Py_ssize_t per_chunk = (n_blocks + n_chunks - 1) // n_chunks
    cdef Py_ssize_t chunk, block, start, rows, i, k
    cdef bint has_offset = offset.shape[0] > 0 and not hessian
    with nogil:
        for chunk in prange(n_chunks, num_threads=n_threads, schedule="dynamic", chunksize=1):
            for block in range(chunk * per_chunk, min((chunk + 1) * per_chunk, n_blocks)):
                start = block * block_rows
                rows = min(block_rows, n - start)
                if has_offset:
                    memcpy(&scratch[chunk, 0, 0], &offset[start, 0], rows * n_free * sizeof(floating))
                # Row-major S_b (rows x n_free) is column-major S_b^T = W^T X_b^T (+ the offset's).
                gemm(
                    "N", "N", n_free, rows, n_features, &coef[0, 0], n_free, &X[start, 0], n_features,
                    1.0 if has_offset else 0.0, &scratch[chunk, 0, 0], n_free,
                )
                for i in range(rows):
                    if hessian:
                        row_jacobian_product(
                            &scratch[chunk, i, 0], &shift[0], &row_data[start + i, 0], weights[start + i],
                            n_free, reference_class,
                        )
                    else:
                        losses[start + i] = row_cross_entropy_residual(
                            &scratch[chunk, i, 0], &shift[0], &row_data[start + i, 0], weights[start + i],
                            n_free, reference_class,
                        )
                    for k in range(n_free):
                        shift_chunks[chunk, k] += scratch[chunk, i, k]
                # Row-major G (n_features x n_free) is column-major G^T += R_b^T X_b.
                gemm(
                    "N", "T", n_free, n_features, rows, &scratch[chunk, 0, 0], n_free, &X[start, 0],
                    n_features, 1.0, &grad_chunks[chunk, 0, 0], n_free,
                )


def dense_hessian_diagonal(
    const floating[:, ::1] X,
    const floating[:, ::1] proba,
    const floating[::1] weights,
    bint reference_class,
    floating[:, :, ::1] diag_chunks,
    floating[:, ::1] intercept_chunks,
    floating[:, :, ::1] scratch,
    floating[:, :, ::1] squares,
    int n_threads,
):
    """The Hessian-diagonal pass on dense ``X``: ``(X * X)^T C`` and ``sum_i C_i``, by blocks of rows.

    ``C_ik = s_i P_ik (1 - P_ik)`` (:func:`curvature`) for a block goes into
    ``scratch``, the block's squared entries into ``squares``, and BLAS adds
    their product into the block's chunk, as in :func:`dense_pass` (same
    chunks, same order, BLAS on one thread around the call).
    """
    cdef Py_ssize_t n = X.shape[0], n_features = X.shape[1], n_free = scratch.shape[2]
    cdef Py_ssize_t block_rows = scratch.shape[1], n_chunks = diag_chunks.shape[0]
    cdef Py_ssize_t n_blocks = (n + block_rows - 1) // block_rows
    cdef Py_ssize_t per_chunk = (n_blocks + n_chunks - 1) // n_chunks
    cdef Py_ssize_t chunk, block, start, rows, i, j, k
    cdef double p
    with nogil:
        for chunk in prange(n_chunks, num_threads=n_threads, schedule="dynamic", chunksize=1):
            for block in range(chunk * per_chunk, min((chunk + 1) * per_chunk, n_blocks)):
                start = block * block_rows
                rows = min(block_rows, n - start)
                for i in range(rows):
                    for k in range(n_free):
                        p = proba[start + i, k + reference_class]
                        scratch[chunk, i, k] = <floating>(weights[start + i] * p * (1.0 - p))
                        intercept_chunks[chunk, k] += scratch[chunk, i, k]
                    for j in range(n_features):
                        squares[chunk, i, j] = X[start + i, j] * X[start + i, j]
                gemm(
                    "N", "T", n_free, n_features, rows, &scratch[chunk, 0, 0], n_free, &squares[chunk, 0, 0],
                    n_features, 1.0, &diag_chunks[chunk, 0, 0], n_free,
                )


def dense_product(
    const floating[:, ::1] X,
    const floating[:, ::1] coef,
    floating[:, ::1] out,
    Py_ssize_t block_rows,
    int n_threads,
):
    """``out = X W`` by BLAS on blocks of ``block_rows`` rows, the blocks threaded by OpenMP.

    Every row of ``out`` is one BLAS call's, whatever the thread count. BLAS
    must be limited to one thread around this call.
    """
    cdef Py_ssize_t n = X.shape[0], n_features = X.shape[1], n_free = coef.shape[1]
    cdef Py_ssize_t block, start, rows
    with nogil:
        for block in prange((n + block_rows - 1) // block_rows, num_threads=n_threads, schedule="static"):
            start = block * block_rows
            rows = min(block_rows, n - start)
            gemm(
                "N", "N", n_free, rows, n_features, &coef[0, 0], n_free, &X[start, 0], n_features,
                0.0, &out[start, 0], n_free,
            )


def softmax_rows(
    const floating[:, ::1] scores,
    const floating[::1] intercept,
    bint reference_class,
    floating[:, ::1] proba,
    int n_threads,
):
    """Write ``softmax(S_i + b)`` of every class (the reference one too) into ``proba``.

    ``proba`` may be ``scores`` itself when there is no reference class.
    """
    cdef Py_ssize_t n = scores.shape[0]
    cdef Py_ssize_t n_free = scores.shape[1]
    cdef Py_ssize_t i, k
    cdef double largest, norm
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            largest = row_maximum(scores, intercept, i, reference_class)
            norm = 0.0
            if reference_class:
                proba[i, 0] = <floating>exp(-largest)
                norm = proba[i, 0]
            for k in range(n_free):
                proba[i, k + reference_class] = <floating>exp(scores[i, k] + intercept[k] - largest)
                norm = norm + proba[i, k + reference_class]
            for k in range(n_free + reference_class):
                proba[i, k] = <floating>(proba[i, k] / norm)


cdef inline void row_jacobian_product(
    floating* row,
    const floating* intercept_dir,
    const floating* proba,
    double weight,
    Py_ssize_t n_free,
    bint reference_class,
) noexcept nogil:
    """Turn one row of free direction scores into ``s_i P_ik (d_ik - <P_i, d_i>)`` in place.

    ``proba`` has the reference class's entry first when ``reference_class``.
    """
    cdef double mean = 0.0
    cdef Py_ssize_t k
    proba = proba + reference_class
    for k in range(n_free):
        mean += proba[k] * (row[k] + intercept_dir[k])
    for k in range(n_free):
        row[k] = <floating>(weight * proba[k] * (row[k] + intercept_dir[k] - mean))


def jacobian_product(
    const floating[:, ::1] proba,
    const floating[::1] weights,
    const floating[::1] intercept_dir,
    bint reference_class,
    floating[:, ::1] direction,
    int n_threads,
):
    """Turn free direction scores ``D`` into ``s_i P_ik (d_ik - <P_i, d_i>)`` in place.

    ``d_i = D_i + v`` (the direction's intercept), with 0 for the reference
    class, so ``<P_i, d_i>`` runs over the free classes only: the softmax
    Jacobian of equation (7) applied row by row, restricted to the free
    classes.
    """
    cdef Py_ssize_t i
    with nogil:
        for i in prange(direction.shape[0], num_threads=n_threads, schedule="static"):
            row_jacobian_product(
                &direction[i, 0], &intercept_dir[0], &proba[i, 0], weights[i], direction.shape[1], reference_class
            )


def curvature(
    const floating[:, ::1] proba,
    const floating[::1] weights,
    bint reference_class,
    floating[:, ::1] out,
    int n_threads,
):
    """Write ``s_i P_ik (1 - P_ik)`` of the free classes, the diagonal of the Jacobian, into ``out``."""
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t n_free = out.shape[1]
    cdef Py_ssize_t i, k
    cdef double p
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(n_free):
                p = proba[i, k + reference_class]
                out[i, k] = <floating>(weights[i] * p * (1.0 - p))
