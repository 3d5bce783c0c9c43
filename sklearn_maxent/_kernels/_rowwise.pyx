"""Row-wise softmax work of a full-batch pass, compiled: everything but the matrix products.

A pass over the data is ``S = X W + b`` (BLAS or scipy.sparse), this row-wise
part, and ``X^T R`` (BLAS or scipy.sparse). Done in NumPy the row-wise part
takes a dozen passes over ``n x K`` temporaries (shift, exp, sum, log,
divide, subtract, scale); here it is one pass over each row, in place,
threaded over rows with OpenMP.

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


# Below this many entries a row-wise pass runs on one thread: waking the others costs more
# than the pass (a minibatch of 3 rows in check_estimator was several times slower on 2
# threads, and far slower when other processes kept the second core busy).
MIN_ENTRIES_PER_THREAD = 16384


def effective_n_threads(n_entries=None):
    """Threads an OpenMP region over ``n_entries`` values may use (all it may, when None).

    As scikit-learn's ``_openmp_effective_n_threads``: ``omp_get_max_threads()``
    reflects both ``OMP_NUM_THREADS`` and ``threadpool_limits(user_api="openmp")``.
    """
    available = max(openmp.omp_get_max_threads(), 1)
    if n_entries is None:
        return available
    return int(max(1, min(available, n_entries // MIN_ENTRIES_PER_THREAD)))


def cross_entropy_residual(
    floating[:, ::1] scores,
    const floating[:, ::1] targets,
    const floating[::1] weights,
    double[::1] losses,
    int n_threads,
):
    """Turn ``scores`` into ``s_i (P_i - Y_i)`` in place and write ``s_i CE_i`` into ``losses``.

    ``P_i = softmax(S_i)`` shifted by the row maximum (nothing overflows), and
    ``CE_i = log sum_k exp(S_ik - m_i) - sum_k Y_ik (S_ik - m_i)``, which holds
    because the rows of ``Y`` sum to one. Sums run in double precision for
    float32 data too.
    """
    cdef Py_ssize_t n = scores.shape[0]
    cdef Py_ssize_t n_classes = scores.shape[1]
    cdef Py_ssize_t i, k
    cdef double largest, norm, observed, weight
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            largest = scores[i, 0]
            for k in range(1, n_classes):
                if scores[i, k] > largest:
                    largest = scores[i, k]
            norm = 0.0
            observed = 0.0
            for k in range(n_classes):
                observed = observed + targets[i, k] * (scores[i, k] - largest)
                scores[i, k] = <floating>exp(scores[i, k] - largest)
                norm = norm + scores[i, k]
            weight = weights[i]
            losses[i] = weight * (log(norm) - observed)
            for k in range(n_classes):
                scores[i, k] = <floating>(weight * (scores[i, k] / norm - targets[i, k]))
