"""Row-wise softmax work of a full-batch pass, compiled: everything but the matrix products.

A pass over the data is ``S = X W`` (BLAS, or :mod:`._csr`), this row-wise
part, and ``X^T R`` (BLAS, or :mod:`._csr`). Done in NumPy the row-wise part
takes a dozen passes over ``n x K`` temporaries (intercept, reference column,
shift, exp, sum, log, divide, subtract, scale, slice); here it is one pass
over each row, threaded over rows with OpenMP.

Every kernel takes the free scores ``X W`` (``n_free`` columns) and adds the
intercept itself; with ``reference_class`` the model has a class 0 whose
score is fixed at 0 that is not stored (the binary logistic model), so
``targets`` and ``proba`` have ``n_free + 1`` columns and the outputs
``n_free``, the free classes only.

Determinism: every row is computed by one thread on its own, and sums over
rows are returned per row (``losses``) for the caller to add in a fixed
order, so results do not depend on the number of threads.
"""

from cython.parallel cimport prange
from libc.math cimport exp, log

cimport openmp

ctypedef fused floating:
    float
    double


def effective_n_threads():
    """Threads an OpenMP region may use: ``OMP_NUM_THREADS`` and threadpoolctl limits respected.

    As scikit-learn's ``_openmp_effective_n_threads``: ``omp_get_max_threads()``
    reflects both the environment and ``threadpool_limits(user_api="openmp")``.
    """
    return max(openmp.omp_get_max_threads(), 1)


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
    cdef Py_ssize_t n = scores.shape[0]
    cdef Py_ssize_t n_free = scores.shape[1]
    cdef Py_ssize_t i, k
    cdef double largest, shifted, norm, observed, weight
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            largest = row_maximum(scores, intercept, i, reference_class)
            norm = 0.0
            observed = 0.0
            if reference_class:
                norm = exp(-largest)
                observed = -targets[i, 0] * largest
            for k in range(n_free):
                shifted = scores[i, k] + intercept[k] - largest
                observed = observed + targets[i, k + reference_class] * shifted
                scores[i, k] = <floating>exp(shifted)
                norm = norm + scores[i, k]
            weight = weights[i]
            losses[i] = weight * (log(norm) - observed)
            for k in range(n_free):
                scores[i, k] = <floating>(weight * (scores[i, k] / norm - targets[i, k + reference_class]))


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
    cdef Py_ssize_t n = direction.shape[0]
    cdef Py_ssize_t n_free = direction.shape[1]
    cdef Py_ssize_t i, k
    cdef double mean, weight
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            mean = 0.0
            for k in range(n_free):
                mean = mean + proba[i, k + reference_class] * (direction[i, k] + intercept_dir[k])
            weight = weights[i]
            for k in range(n_free):
                direction[i, k] = <floating>(
                    weight * proba[i, k + reference_class] * (direction[i, k] + intercept_dir[k] - mean)
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
