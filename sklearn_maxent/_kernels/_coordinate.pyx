"""Block coordinate descent on the quadratic model of a proximal Newton step (newGLMNET).

At the current point the model of the data loss in a step ``(D, d)`` of the weights and
intercepts is ``<G, D> + <g, d> + 1/2 sum_i w_i (sum_k P_ik z_ik^2 - (sum_k P_ik z_ik)^2)``
with ``z_i = x_i D + d`` the step's change of row ``i``'s free scores and ``P`` the
probabilities of the free classes: the exact softmax Hessian, cross-class terms included.
:func:`dense_sweeps` and :func:`csc_sweeps` minimize it plus the elastic net of ``W + D``
within the bounds one feature at a time over a working set: a pass over the feature's
column gives the model's slopes for all its classes (and once per step its block of the
Hessian), the feature's small problem is solved by cyclic coordinate descent over its
classes (a soft-threshold and a clip each) without the data, and a second pass moves
``Z = X D + d`` and ``M_i = sum_k P_ik Z_ik``. Without a reference class each cycle ends by
the shift of all the feature's weights that the penalty prefers (:func:`solve_block`). The
intercepts are a column of ones. Columns are those of Fortran-ordered dense ``X`` or of
CSC ``X``; everything model-sized is float64, ``X`` float32 or float64. One thread, no GIL.
"""

import numpy as np

from libc.math cimport INFINITY

from ._shared cimport floating, index


cdef inline double coordinate_minimum(
    double value, double curvature, double slope, double l1, double lower, double upper
) noexcept nogil:
    """``argmin_v slope (v - value) + curvature / 2 (v - value)^2 + l1 |v|`` on ``[lower, upper]``."""
    cdef double z = curvature * value - slope
    cdef double v = 0.0
    if z > l1:
        v = (z - l1) / curvature
    elif z < -l1:
        v = (z + l1) / curvature
    # The 1-d problem is convex: its minimum on the interval is the clipped unconstrained one.
    if v < lower:
        v = lower
    if v > upper:
        v = upper
    return v


cdef inline double shift_slope(
    const double* values, Py_ssize_t n, double shift, double l1, double l2, int side
) noexcept nogil:
    """The one-sided slope (``side`` -1: left, 1: right) of :func:`shift_cost` at ``shift``."""
    cdef double slope = 0.0, v
    cdef Py_ssize_t k
    for k in range(n):
        v = values[k] + shift
        slope += l2 * v
        if v > 0 or (v == 0 and side > 0):
            slope += l1
        else:
            slope -= l1
    return slope


cdef inline double shift_cost(const double* values, Py_ssize_t n, double shift, double l1, double l2) noexcept nogil:
    """``sum_k l2 / 2 (u_k + c)^2 + l1 |u_k + c|``: the penalty of a feature's weights shifted by ``c``."""
    cdef double cost = 0.0, v
    cdef Py_ssize_t k
    for k in range(n):
        v = values[k] + shift
        cost += 0.5 * l2 * v * v + l1 * (v if v > 0 else -v)
    return cost


cdef double centred_median_shift(double* values, Py_ssize_t n) noexcept nogil:
    """Without L2: of the shifts ``c`` minimizing ``sum_k |u_k + c|`` (``-c`` in the median interval
    of ``u``), the one closest to the centring ``-mean(u)``; sorts ``values`` in place.

    An odd ``n`` has one, putting the median weight at 0; for an even ``n`` the loss and the
    penalty are flat over the interval, and the centred end is the limit of the elastic net's
    unique shift as its L2 part vanishes (``ElasticNet.canonical_shift``'s choice).
    """
    cdef double total = 0.0, value, shift
    cdef Py_ssize_t k, m
    for k in range(n):
        total += values[k]
    for k in range(1, n):  # insertion sort: n is the number of classes
        value = values[k]
        m = k - 1
        while m >= 0 and values[m] > value:
            values[m + 1] = values[m]
            m -= 1
        values[m + 1] = value
    shift = -total / n
    return min(max(shift, -values[n // 2]), -values[(n - 1) // 2])


cdef double best_shift(double* values, Py_ssize_t n, double l1, double l2) noexcept nogil:
    """The ``c`` minimizing :func:`shift_cost`, 0 where 0 is optimal already; may reorder ``values``.

    Without L2 see :func:`centred_median_shift`. With it the minimum is unique, at a kink
    ``-u_k`` or where the slope vanishes between two kinks (fixed signs there): the
    candidates are scanned, ``O(n^2)`` for ``n`` classes; one must gain more than rounding to
    replace the one before, so that near-ties go to the first whatever the summation order.
    """
    cdef double best = 0.0, best_cost, candidate, cost, signs, total = 0.0
    cdef Py_ssize_t k, m
    if l2 == 0:
        return 0.0 if l1 == 0 else centred_median_shift(values, n)
    if shift_slope(values, n, 0.0, l1, l2, -1) <= 0 <= shift_slope(values, n, 0.0, l1, l2, 1):
        return 0.0
    best_cost = shift_cost(values, n, 0.0, l1, l2)
    for k in range(n):
        total += values[k]
    for k in range(n):
        candidate = -values[k]
        cost = shift_cost(values, n, candidate, l1, l2)
        if cost < best_cost - TIE * best_cost:
            best, best_cost = candidate, cost
        # the stationary point with the signs just right of this kink
        signs = 0.0
        for m in range(n):
            signs += 1.0 if values[m] + candidate >= 0 else -1.0
        candidate = -(total + l1 * signs / l2) / n
        cost = shift_cost(values, n, candidate, l1, l2)
        if cost < best_cost - TIE * best_cost:
            best, best_cost = candidate, cost
    return best


# A feature's block problem (no data pass) is cycled at most this often, and until a cycle's
# largest curvature * step^2 is this share of the first's.
cdef int MAX_BLOCK_CYCLES = 4
cdef double BLOCK_RTOL = 1e-8
# Relative gain a shift needs over the best one before (best_shift).
cdef double TIE = 1e-12


cdef double solve_block(
    const double* block,
    const double* slopes,
    const double* values,
    double* steps,
    Py_ssize_t n_free,
    double l1,
    double l2,
    const double* lower,
    const double* upper,
    double limit,
    bint shift_classes,
    double* work,
) noexcept nogil:
    """Minimize ``<s, t> + t^T (B + l2 I) t / 2 + l1 |u + t|_1`` over one feature's steps ``t``.

    ``B`` (``n_free`` x ``n_free``) is the feature's block of the data Hessian, ``s`` the
    model's slopes at ``t = 0`` and ``u`` the weights before: cyclic coordinate descent over
    the classes, each cycle ended by the best common shift (with ``shift_classes``: ``B``
    has no curvature along it, so the classes alone crawl along it, and the shift is kept within
    ``[lower, upper]`` too). A move of one weight is at most ``limit``: where a class's
    probabilities are near 0 on the column the model has next to no curvature, and would send the
    weight (and the scores) off by orders of magnitude. Returns the largest ``curvature * step^2``
    of the result's entries.
    """
    cdef Py_ssize_t k, m, cycle
    cdef double slope, curvature, value, new_value, step, change, first = 0.0, largest = 0.0, shift
    cdef double lowest_shift, highest_shift
    for k in range(n_free):
        steps[k] = 0.0
    for cycle in range(MAX_BLOCK_CYCLES):
        change = 0.0
        for k in range(n_free):
            curvature = block[k * n_free + k] + l2
            if not curvature > 0:  # an all-zero column (or saturated probabilities): no model
                continue
            slope = slopes[k] + l2 * steps[k]
            for m in range(n_free):
                slope += block[k * n_free + m] * steps[m]
            value = values[k] + steps[k]
            new_value = coordinate_minimum(value, curvature, slope, l1, lower[k], upper[k])
            step = min(max(new_value - value, -limit), limit)  # the model is convex: a shorter step gains too
            steps[k] += step
            if curvature * step * step > change:
                change = curvature * step * step
        if shift_classes:
            lowest_shift, highest_shift = -INFINITY, INFINITY
            for k in range(n_free):
                work[k] = values[k] + steps[k]
                lowest_shift = max(lowest_shift, lower[k] - work[k])
                highest_shift = min(highest_shift, upper[k] - work[k])
            shift = min(max(best_shift(work, n_free, l1, l2), lowest_shift), highest_shift)
            for k in range(n_free):
                steps[k] += shift
        if cycle == 0:
            first = change
        if change <= BLOCK_RTOL * first:
            break
    for k in range(n_free):
        curvature = block[k * n_free + k] + l2
        if curvature * steps[k] * steps[k] > largest:
            largest = curvature * steps[k] * steps[k]
    return largest


cdef double visit(
    const floating* data,
    const index* indices,
    bint contiguous,
    bint ones,
    Py_ssize_t start,
    Py_ssize_t end,
    Py_ssize_t n_free,
    const double* row_weights,
    const double* proba,
    double* Z,
    double* M,
    const double* grad,
    double* block,
    const double* values,
    double l1,
    double l2,
    const double* lower,
    const double* upper,
    double limit,
    bint shift_classes,
    bint fresh,
    double* slopes,
    double* steps,
    double* work,
) noexcept nogil:
    """One feature's (or with ``ones``, the intercepts') move: slopes, block solve, update.

    ``grad`` is the slopes' part known without the data, ``G + l2 D`` for the feature's
    weights (``G`` for the intercepts). A pass over the column adds ``X_j^T w (P * (Z - M))`` for
    all classes at once (and with ``fresh`` the block ``X_j^T w x_j (diag P - P P^T)``); the
    block problem is solved without the data; a second pass moves ``Z`` and ``M``.
    ``steps`` holds the move; returns its largest ``curvature * step^2``.
    """
    cdef Py_ssize_t k, m, i, position
    cdef double x, weighted, curvature, moved, largest
    cdef const double* p
    for k in range(n_free):
        slopes[k] = grad[k]
    if fresh:
        for k in range(n_free * n_free):
            block[k] = 0.0
    for position in range(start, end):
        i = position - start if contiguous else indices[position]
        x = 1.0 if ones else data[position]
        weighted = row_weights[i] * x
        p = proba + i * n_free
        for k in range(n_free):
            slopes[k] += weighted * p[k] * (Z[i * n_free + k] - M[i])
        if fresh:
            curvature = weighted * x
            for k in range(n_free):
                block[k * n_free + k] += curvature * p[k]
                for m in range(n_free):
                    block[k * n_free + m] -= curvature * p[k] * p[m]
    largest = solve_block(block, slopes, values, steps, n_free, l1, l2, lower, upper, limit, shift_classes, work)
    for position in range(start, end):
        i = position - start if contiguous else indices[position]
        x = 1.0 if ones else data[position]
        p = proba + i * n_free
        moved = 0.0
        for k in range(n_free):
            Z[i * n_free + k] += steps[k] * x
            moved += p[k] * steps[k] * x
        M[i] += moved
    return largest


cdef double sweeps(
    const floating* data,
    const index* indices,
    const index* indptr,
    bint dense,
    Py_ssize_t n_rows,
    Py_ssize_t n_free,
    const double* row_weights,
    const double* proba,
    double* Z,
    double* M,
    const double* grad,
    double* blocks,
    const double* coef,
    double* direction,
    const double* l1,
    const double* l2,
    const double* lower,
    const double* upper,
    const double* limits,
    double intercept_limit,
    const int* features,
    Py_ssize_t n_features,
    const double* grad_intercept,
    double* intercept_block,
    double* intercept_direction,
    bint fit_intercept,
    bint shift_classes,
    bint curvatures_known,
    int max_sweeps,
    double tol,
    int* n_sweeps,
    double* buffers,
) noexcept nogil:
    """Sweeps until the largest ``curvature * step^2`` of one is within ``tol``; returns that largest.

    Each weight stays within ``limits[j]`` of ``coef`` (and within its bounds) over all the sweeps:
    a trust region, without which a weight whose class is near certain on the column's few
    rows (no curvature) ran off to where its probability rounds to 1 and never came back.
    ``buffers`` has room for ``9 * n_free`` values.
    """
    cdef int sweep
    cdef Py_ssize_t f, j, k, start, end
    cdef double largest = 0.0, moved
    cdef bint fresh
    cdef double* slopes = buffers
    cdef double* steps = buffers + n_free
    cdef double* values = buffers + 2 * n_free
    cdef double* fixed = buffers + 3 * n_free
    cdef double* work = buffers + 4 * n_free
    cdef double* below = buffers + 5 * n_free
    cdef double* above = buffers + 6 * n_free
    cdef double* trust_lower = buffers + 7 * n_free
    cdef double* trust_upper = buffers + 8 * n_free
    for k in range(n_free):
        below[k] = -INFINITY
        above[k] = INFINITY
    for sweep in range(max_sweeps):
        n_sweeps[0] = sweep + 1
        fresh = sweep == 0 and not curvatures_known  # curvatures of the current point: made once
        largest = 0.0
        for f in range(n_features):
            j = features[f]
            if dense:
                start = j * n_rows
                end = start + n_rows
            else:
                start = indptr[j]
                end = indptr[j + 1]
            for k in range(n_free):
                values[k] = coef[j * n_free + k] + direction[j * n_free + k]
                fixed[k] = grad[j * n_free + k] + l2[j] * direction[j * n_free + k]
                trust_lower[k] = max(lower[j * n_free + k], coef[j * n_free + k] - limits[j])
                trust_upper[k] = min(upper[j * n_free + k], coef[j * n_free + k] + limits[j])
            moved = visit(
                data, indices, dense, False, start, end, n_free, row_weights, proba, Z, M, fixed,
                blocks + f * n_free * n_free, values, l1[j], l2[j], trust_lower, trust_upper,
                limits[j], shift_classes, fresh, slopes, steps, work,
            )
            for k in range(n_free):
                direction[j * n_free + k] += steps[k]
            largest = max(largest, moved)
        if fit_intercept:  # a column of ones, unpenalized and unbounded
            for k in range(n_free):
                values[k] = 0.0
            moved = visit(
                data, indices, True, True, 0, n_rows, n_free, row_weights, proba, Z, M, grad_intercept,
                intercept_block, values, 0.0, 0.0, below, above, intercept_limit, False, fresh, slopes,
                steps, work,
            )
            for k in range(n_free):
                intercept_direction[k] += steps[k]
            largest = max(largest, moved)
        if largest <= tol:
            break
    return largest


def dense_sweeps(
    const floating[::1, :] X,
    const double[::1] row_weights,
    const double[:, ::1] proba,
    double[:, ::1] Z,
    double[::1] M,
    const double[:, ::1] grad,
    double[:, :, ::1] blocks,
    const double[:, ::1] coef,
    double[:, ::1] direction,
    const double[::1] l1,
    const double[::1] l2,
    const double[:, ::1] lower,
    const double[:, ::1] upper,
    const double[::1] limits,
    const int[::1] features,
    const double[::1] grad_intercept,
    double[:, ::1] intercept_block,
    double[::1] intercept_direction,
    bint fit_intercept,
    bint shift_classes,
    bint curvatures_known,
    int max_sweeps,
    double tol,
):
    """Cyclic coordinate descent on the proximal Newton model (see the module), in place.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), Fortran-ordered
        float32 or float64 (:func:`csc_sweeps` takes CSC ``X``'s arrays instead).
    row_weights : ndarray of shape (n_samples,)
    proba : ndarray of shape (n_samples, n_free)
        The free classes' probabilities at the current point.
    Z : ndarray of shape (n_samples, n_free)
        ``X D + d`` for the current step (zeros for a zero step); updated.
    M : ndarray of shape (n_samples,)
        ``sum_k P_ik Z_ik``; updated.
    grad : ndarray of shape (n_features, n_free)
        Gradient of the smooth part (data and L2) at the current point.
    blocks : ndarray of shape (n_working, n_free, n_free)
        Each working feature's block of the data Hessian at the current point, in the
        working set's order: written by the first sweep unless ``curvatures_known``.
    coef, direction : ndarray of shape (n_features, n_free)
        The current weights and the step ``D``; ``direction`` is updated.
    l1, l2 : ndarray of shape (n_features,)
        Each feature's L1 and squared-L2 strengths.
    lower, upper : ndarray of shape (n_features, n_free)
        Bounds on the weights (``-inf``, ``inf`` for none).
    limits : ndarray of shape (n_features + 1,)
        The largest move of one of a feature's weights in one coordinate step and from ``coef``
        over the sweeps, the intercepts' last (their move in one step only) (:func:`solve_block`).
    features : ndarray of int32
        The working set, swept in this order.
    grad_intercept : ndarray of shape (n_free,)
        The intercepts' gradient, when ``fit_intercept``.
    intercept_block : ndarray of shape (n_free, n_free)
        The intercepts' block of the Hessian, written as ``blocks`` are.
    intercept_direction : ndarray of shape (n_free,)
        The intercepts' step ``d``; updated.
    fit_intercept : bool
    shift_classes : bool
        End each cycle of a feature's block problem with the best common shift of its
        weights (:func:`solve_block`): for models without a reference class, and without bounds.
    curvatures_known : bool
        Whether ``blocks`` and ``intercept_block`` hold the working set's curvatures already (a call continuing
        another on the same model).
    max_sweeps : int
    tol : float
        Stop after a sweep whose largest ``curvature * step^2`` is at most this.

    Returns
    -------
    n_sweeps : int
    largest : float
        The last sweep's largest ``curvature * step^2``.
    """
    cdef double largest
    cdef int n_sweeps = 0
    cdef double[::1] buffers = np.empty(9 * Z.shape[1])
    with nogil:
        largest = sweeps(
            &X[0, 0], <int*>NULL, <int*>NULL, True, X.shape[0], Z.shape[1], &row_weights[0], &proba[0, 0],
            &Z[0, 0], &M[0], &grad[0, 0], &blocks[0, 0, 0], &coef[0, 0], &direction[0, 0], &l1[0], &l2[0],
            &lower[0, 0], &upper[0, 0], &limits[0], limits[limits.shape[0] - 1], &features[0], features.shape[0],
            &grad_intercept[0],
            &intercept_block[0, 0], &intercept_direction[0], fit_intercept, shift_classes,
            curvatures_known, max_sweeps, tol, &n_sweeps, &buffers[0],
        )
    return n_sweeps, largest


def csc_sweeps(
    const floating[::1] data,
    const index[::1] indices,
    const index[::1] indptr,
    const double[::1] row_weights,
    const double[:, ::1] proba,
    double[:, ::1] Z,
    double[::1] M,
    const double[:, ::1] grad,
    double[:, :, ::1] blocks,
    const double[:, ::1] coef,
    double[:, ::1] direction,
    const double[::1] l1,
    const double[::1] l2,
    const double[:, ::1] lower,
    const double[:, ::1] upper,
    const double[::1] limits,
    const int[::1] features,
    const double[::1] grad_intercept,
    double[:, ::1] intercept_block,
    double[::1] intercept_direction,
    bint fit_intercept,
    bint shift_classes,
    bint curvatures_known,
    int max_sweeps,
    double tol,
):
    """:func:`dense_sweeps` on CSC ``X = (data, indices, indptr)`` (float32 or float64 data)."""
    cdef double largest
    cdef int n_sweeps = 0
    cdef double[::1] buffers = np.empty(9 * Z.shape[1])
    with nogil:
        largest = sweeps(
            &data[0], &indices[0], &indptr[0], False, Z.shape[0], Z.shape[1], &row_weights[0], &proba[0, 0],
            &Z[0, 0], &M[0], &grad[0, 0], &blocks[0, 0, 0], &coef[0, 0], &direction[0, 0], &l1[0], &l2[0],
            &lower[0, 0], &upper[0, 0], &limits[0], limits[limits.shape[0] - 1], &features[0], features.shape[0],
            &grad_intercept[0],
            &intercept_block[0, 0], &intercept_direction[0], fit_intercept, shift_classes,
            curvatures_known, max_sweeps, tol, &n_sweeps, &buffers[0],
        )
    return n_sweeps, largest
