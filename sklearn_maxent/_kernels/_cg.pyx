"""Conjugate gradients' vector updates, fused and threaded, for Newton systems of millions of unknowns.

An iteration of preconditioned CG around its Hessian product is a dozen
passes over its vectors in NumPy and BLAS (two updates, a scaling, three
dot products, a combination), each on one thread; with 200,000 features x 46
classes (73 MB a vector) they cost half as much as the product itself
(benchmarks/results/CONSTANTS.md). Here they are three passes, threaded.

Determinism: every sum is taken over fixed chunks of ``CHUNK`` entries, one
thread each, and the chunks' sums are added in order, so results do not
depend on the number of threads. The vectors may be float32 (a Newton system whose
Hessian products are float32: its solution is no more precise than they are);
the sums are float64.
"""

from cython.parallel cimport prange

import numpy as np

from ._shared cimport floating

# Entries a thread sums at a time: large enough to amortize the scheduling, small enough to
# balance two threads over a vector of a few hundred thousand entries.
cdef enum:
    CHUNK_ENTRIES = 32768
CHUNK = CHUNK_ENTRIES


cdef inline Py_ssize_t n_chunks(Py_ssize_t n) noexcept nogil:
    return (n + CHUNK_ENTRIES - 1) // CHUNK_ENTRIES


def dot(const floating[::1] a, const floating[::1] b, int n_threads):
    """``a . b``, summed over fixed chunks (the same for any ``n_threads``)."""
    cdef Py_ssize_t n = a.shape[0], chunk, i, start, stop
    cdef double[::1] sums = np.zeros(n_chunks(n))
    cdef double total
    with nogil:
        for chunk in prange(n_chunks(n), num_threads=n_threads, schedule="static"):
            start = chunk * CHUNK_ENTRIES
            stop = min(start + CHUNK_ENTRIES, n)
            total = 0
            for i in range(start, stop):
                total = total + <double>a[i] * b[i]
            sums[chunk] = total
    return float(np.sum(sums))


def advance(
    double step,
    const floating[::1] direction,
    const floating[::1] product,
    floating[::1] x,
    floating[::1] residual,
    const floating[::1] inverse_diagonal,
    int n_threads,
):
    """One CG step in one pass: ``x += step d``, ``r -= step A d``.

    Returns
    -------
    rho : float
        ``r . M^-1 r`` at the new residual, ``M^-1`` the diagonal preconditioner.
    squared_residual : float
        ``r . r``.
    """
    cdef Py_ssize_t n = x.shape[0], chunk, i, start, stop
    cdef double[:, ::1] sums = np.zeros((n_chunks(n), 2))
    cdef double rho, squared
    cdef floating r
    with nogil:
        for chunk in prange(n_chunks(n), num_threads=n_threads, schedule="static"):
            start = chunk * CHUNK_ENTRIES
            stop = min(start + CHUNK_ENTRIES, n)
            rho = 0
            squared = 0
            for i in range(start, stop):
                x[i] += <floating>step * direction[i]
                r = residual[i] - <floating>step * product[i]
                residual[i] = r
                rho = rho + <double>r * r * inverse_diagonal[i]
                squared = squared + <double>r * r
            sums[chunk, 0] = rho
            sums[chunk, 1] = squared
    totals = np.sum(sums, axis=0)
    return float(totals[0]), float(totals[1])


def next_direction(
    double beta,
    floating[::1] direction,
    const floating[::1] residual,
    const floating[::1] inverse_diagonal,
    int n_threads,
):
    """The next search direction in place: ``d = M^-1 r + beta d``."""
    cdef Py_ssize_t i, n = direction.shape[0]
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            direction[i] = inverse_diagonal[i] * residual[i] + <floating>beta * direction[i]
