"""Sparse times dense products of a full-batch pass, threaded over the sparse matrix's rows.

scipy.sparse's ``X @ W`` and ``X.T @ R`` run on one thread. Here ``X @ W`` is
threaded over the rows of CSR ``X``, and ``X.T @ R`` over the rows of a CSR
copy of ``X.T`` that the caller keeps: every output row is then one thread's
sum over one sparse row, in the row's stored order, so results do not depend
on the number of threads.
"""

from cython.parallel cimport prange

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define SKLEARN_MAXENT_PREFETCH(address) __builtin_prefetch(address)
    #else
    #define SKLEARN_MAXENT_PREFETCH(address) ((void)0)
    #endif
    """
    void prefetch "SKLEARN_MAXENT_PREFETCH"(const void* address) nogil

from ._shared cimport floating, index


def csr_dense_product(
    const floating[::1] data,
    const index[::1] indices,
    const index[::1] indptr,
    const floating[:, ::1] dense,
    bint squared,
    floating[:, ::1] out,
    int n_threads,
):
    """Write ``A @ dense`` into ``out`` for the CSR matrix ``A = (data, indices, indptr)``.

    With ``squared`` the entries of ``A`` are squared first (``A * A``
    elementwise), as the Hessian's diagonal needs, without a copy of ``A``;
    then ``A`` must have no duplicate entries. Otherwise duplicate and
    unsorted column indices are summed as scipy sums them.
    """
    cdef Py_ssize_t n_rows = out.shape[0]
    cdef Py_ssize_t n_columns = out.shape[1]
    cdef Py_ssize_t row, k
    cdef index position, column, end
    cdef floating value
    with nogil:
        # Rows are of very unequal length for X.T: on the text benchmark (50,000 x 2**17,
        # Zipf vocabulary) the median feature has 3 entries, the largest 49,700, and the 64
        # most frequent hold 29% of all. Dynamic chunks of 64 rows balance the threads.
        for row in prange(n_rows, num_threads=n_threads, schedule="dynamic", chunksize=64):
            for k in range(n_columns):
                out[row, k] = 0
            end = indptr[row + 1]
            for position in range(indptr[row], end):
                # The dense row an entry needs is a cache miss (W read in random order):
                # asking for it 8 entries ahead pays (benchmarks/results/CONSTANTS.md).
                if position + 8 < end:
                    prefetch(&dense[indices[position + 8], 0])
                column = indices[position]
                value = data[position]
                if squared:
                    value = value * value
                for k in range(n_columns):
                    out[row, k] += value * dense[column, k]
