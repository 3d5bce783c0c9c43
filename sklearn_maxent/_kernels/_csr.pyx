"""Sparse times dense products of a full-batch pass, threaded over the sparse matrix's rows.

scipy.sparse's ``X @ W`` and ``X.T @ R`` run on one thread. Here ``X.T @ R`` is
threaded over the rows of a CSR copy of ``X.T`` that the caller keeps, and
``X @ W`` over blocks of ``X``'s rows, from that same copy (or over the rows of CSR
``X``): every output row is then one thread's sum in the order of the column
indices, so results do not depend on the number of threads.
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


def csr_transposed_product(
    const floating[::1] data,
    const index[::1] indices,
    const index[:, ::1] splits,
    const index[::1] row_bounds,
    const floating[:, ::1] dense,
    floating[:, ::1] out,
    int n_threads,
):
    """Write ``A.T @ dense`` into ``out`` for the CSR matrix ``A = (data, indices, indptr)``
    with sorted, unique column indices, from blocks of ``out``'s rows.

    Block ``b`` is rows ``row_bounds[b]`` to ``row_bounds[b + 1]`` of ``out``; row ``j`` of
    ``A`` holds its entries in those columns at positions ``splits[j, b]`` to
    ``splits[j, b + 1]`` (so ``splits[j, 0]`` and ``splits[j, -1]`` are ``indptr[j]`` and
    ``indptr[j + 1]``). A thread takes a block and reads ``dense`` in order, adding into its
    block of ``out``, which stays in cache: ``X @ W`` from ``X.T`` this way reads ``W``
    once instead of a row per entry of ``X``. Every row of ``out`` is summed over ``A``'s rows
    in order, as :func:`csr_dense_product` on ``A.T`` sums it: the results are the same, and
    do not depend on the blocks.
    """
    cdef Py_ssize_t n_blocks = row_bounds.shape[0] - 1
    cdef Py_ssize_t n_columns = out.shape[1]
    cdef Py_ssize_t block, row, k
    cdef index position, column, end
    cdef floating value
    with nogil:
        for block in prange(n_blocks, num_threads=n_threads, schedule="dynamic", chunksize=1):
            for column in range(row_bounds[block], row_bounds[block + 1]):
                for k in range(n_columns):
                    out[column, k] = 0
            for row in range(splits.shape[0]):
                end = splits[row, block + 1]
                for position in range(splits[row, block], end):
                    column = indices[position]
                    value = data[position]
                    for k in range(n_columns):
                        out[column, k] += value * dense[row, k]
