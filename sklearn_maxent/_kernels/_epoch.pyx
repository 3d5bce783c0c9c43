"""One epoch of minibatch SGD or SAGA, compiled: the inner loop under ``sklearn_maxent._optim._epochs``.

:func:`run_epoch` makes one pass over a given row order, in place, without
the GIL, and returns a status code; every decision (stopping, schedules,
back-off, messages) stays in Python above it, as scipy's L-BFGS-B leaves
them to its caller. It reads rows of ``X`` where they are (a dense row is a
slice of ``X``'s buffer, a sparse one a slice of CSR's arrays): no minibatch
is ever copied.

The arithmetic is that of the NumPy reference epochs
(``tests/reference_epochs.py``), in the same order where it matters:
softmax cross-entropy of the scores ``x_i W + b + offset_i`` with
row weights ``w_i n / b``; ``W = scale V``
with the L2 shrink on ``scale`` and a fold into ``V`` below 1e-9; Tsuruoka's
cumulative L1 charged when a row is touched; projection into the bounds
(clipping) of the weights a step changes; the iterate average
``correction + scale_sum V`` (float64); SAGA's residual table, mean gradient and,
on sparse data, just-in-time catch-up of weight rows by cumulative step sums.
Where rows decay at their own rates (penalty factors, AdaGrad, L1 within
bounds; below) the reference steps every row eagerly and the kernel catches
untouched rows up lazily: equal to rounding at a constant step, and to first
order in the steps' spread otherwise.

Per-feature penalty factors ``f_j``. The uniform scale cannot decay rows at
different rates, so with factors the scale stays 1 and each row decays by
its own ``1 - step l2 f_j``, explicitly, in the step that touches it (on
dense data every row, at every step: the same cost as the step). On sparse
data a row owes the steps it missed; :func:`catch_up_decay` pays them in
closed form when a minibatch next touches it (``c^k`` for ``k`` missed steps
of one size, SAGA's mean term as a geometric sum, the missed iterates in the
average likewise), so a step still costs the minibatch's non-zeros. That is
exact for a constant step, which is what keeps SAGA's fixed point at the
optimum (its constant-step iteration converges to the exact optimum, to a
certified gap of 1e-12 in ``tests/test_optim.py``); a row's missed steps of a
changing size (``"invscaling"``) are taken at their mean, exact to first
order in their spread (1e-8 to 5e-8 relative on the test problems). Keeping
the uniform scale with ``scale^f_j`` per row would have been first-order
only for every schedule, constant steps included. The L1 charge of row ``j``
is ``f_j`` times the cumulative L1. Without factors none of this runs: the
arithmetic is unchanged to the bit.

AdaGrad (``learning_rate="adagrad"``, plain SGD) runs on the same per-row
decay: each row's step is its own, from the sum of its squared gradients,
constant while the row is untouched, so its catch-up is exact; the L1 term is
then a proximal step per row (soft-thresholding, caught up in closed form
too) rather than the cumulative charge, whose one global sum of steps no
longer fits per-row steps. With bounds the L1 term is a proximal step too
(on sparse data on the per-row path): see ``run_epoch``'s ``lower, upper``.

Fused types (``floating``: float/double; ``index_t``: CSR's int32/int64
indices) rather than a Tempita template as scikit-learn's ``_sag_fast.pyx.tp``:
there are no cdef classes or dtype-suffixed names here, which is what
Tempita is for, and one source keeps float32 and float64 identical by
construction.

A dense minibatch's products are two BLAS calls (``scipy.linalg.cython_blas``
gemm): ``S = scale X_b V`` and ``G += X_b^T R``. Its rows, scattered in a
shuffled order, are first copied into one contiguous block (or read in place
when the order visits them consecutively), so each row is read once from
memory and the two products read the block from cache
(``benchmarks/results/CONSTANTS.md``). A sparse row's products are plain loops over its non-zeros. What a
row reads at random places (its features, targets, weight, stored residual;
a minibatch's scattered weight rows) is prefetched a few rows ahead.

Threads (``run_epoch``'s ``n_threads``): a minibatch's phases run on OpenMP threads, forked and
joined per phase: the catch-up of its weight rows and the step (split by weight rows), the rows'
scores, residuals and losses (split by rows), and the gradient rows (split by weight rows: each
thread walks all the minibatch's rows, in order, adding to its own gradient rows only). What is
serial stays on one thread: marking the minibatch's features, the sums over its rows (the loss,
the intercept's gradient, in row order), SAGA's stored residuals, the schedule. Each row and each
weight row is computed whole, by one thread, in the one-thread order: the results are bitwise
those of one thread (``tests/test_epoch_threads.py``), so the number of threads may change from
one minibatch to the next; it does, to one thread where a timed probe finds that faster.

Layering: the bottom layer. Only ``sklearn_maxent._optim._epochs`` calls
this; it imports nothing of the package.
"""

from cython.parallel cimport prange
from openmp cimport omp_get_wtime
from libc.math cimport ceil, exp, expm1, fabs, log, log1p, pow, sqrt
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define SKLEARN_MAXENT_PREFETCH(address) __builtin_prefetch(address)
    #else
    #define SKLEARN_MAXENT_PREFETCH(address) ((void)0)
    #endif
    """
    void prefetch "SKLEARN_MAXENT_PREFETCH"(const void* address) noexcept nogil

import numpy as np

from ._shared cimport (
    EpochCounters,
    EpochSettings,
    diverged,
    floating,
    row_cross_entropy_residual,
    schedule_step,
)

ctypedef fused index_t:
    int
    long long

# Status codes of run_epoch (as Python ints: OK, DIVERGED, STALE_REFERENCE).
cdef enum:
    # The epoch ran.
    STATUS_OK = 0
    # A minibatch's mean loss was non-finite or above 100 times the reference (plus one nat).
    STATUS_DIVERGED = 1
    # The first minibatch's loss was already above twice the reference: the previous
    # steps blew the loss up. Nothing was changed; the caller decides what to do.
    STATUS_STALE_REFERENCE = 2

OK, DIVERGED, STALE_REFERENCE = STATUS_OK, STATUS_DIVERGED, STATUS_STALE_REFERENCE

# Rows (of X, targets, weights) are asked for this many rows ahead of use: in a shuffled
# order, or a minibatch's scattered features, the hardware cannot guess them.
cdef Py_ssize_t PREFETCH_AHEAD = 4

# A minibatch of fewer entries (its non-zeros times the free classes) per thread runs on fewer
# threads: each minibatch forks and joins them four times (benchmarks/results/CONSTANTS.md).
MIN_ENTRIES_PER_THREAD = 400_000

# The threads of a minibatch, chosen by timing: every PROBE_PERIOD minibatches (up to
# MAX_PROBE_PERIOD while one thread wins), PROBE_BATCHES run on all the threads and as many on one,
# in turns, and the rest on whichever took less time per non-zero; a minibatch on all the threads
# PROBE_SLOWDOWN times slower than their probe calls the next probe at once. A second thread pays only
# while a second core is free: with other processes on the cores each fork and join waits on the
# scheduler (benchmarks/results/CONSTANTS.md).
cdef Py_ssize_t PROBE_PERIOD = 48
cdef Py_ssize_t MAX_PROBE_PERIOD = 8 * PROBE_PERIOD
cdef Py_ssize_t PROBE_BATCHES = 1
cdef double PROBE_SLOWDOWN = 2.0

# Below this the L2 scale is folded into V, before V's entries lose precision.
cdef double MIN_SCALE = 1e-9

# AdaGrad's step of a weight row is eta0 / sqrt(G_j + ADAGRAD_EPS), G_j its sum of squared
# gradients: the epsilon only keeps a row without any gradient yet finite (its step is capped).
cdef double ADAGRAD_EPS = 1e-8
ADAGRAD_EPSILON = ADAGRAD_EPS  # for Python (the tests' reference)

# What an epoch does, fixed for the whole epoch: what the threads' phases read (see run_epoch).
cdef struct EpochPlan:
    bint saga
    bint adagrad
    bint per_feature
    # Weight rows owe the steps they missed: SAGA's mean term, per-feature L2 decay.
    bint lazy
    bint bounded
    bint has_l1
    # The L1 term as a proximal step (soft-thresholding) instead of Tsuruoka's cumulative charge.
    bint proximal_l1
    bint cumulative_l1_charge
    bint has_average
    double eta0
    double max_step
    double l2
    double l1
    double n_samples


cdef inline floating charge_l1(
    floating value, floating* applied, floating cumulative, floating scale
) noexcept nogil:
    """Tsuruoka's cumulative L1 penalty on one entry of ``V``; returns the new entry."""
    cdef floating weight = value * scale
    cdef floating charged = 0
    if weight > 0:
        charged = weight - (cumulative + applied[0])
        if charged < 0:
            charged = 0
    elif weight < 0:
        charged = weight + (cumulative - applied[0])
        if charged > 0:
            charged = 0
    applied[0] = applied[0] + (charged - weight)
    return charged / scale


cdef inline void prefetch_row(const floating* x, Py_ssize_t n) noexcept nogil:
    """Ask for the cache lines of ``x[:n]`` ahead of use."""
    cdef Py_ssize_t p = 0
    while p < n:
        prefetch(x + p)
        p += 64 // sizeof(floating)  # entries per 64-byte cache line
    prefetch(x + n - 1)  # the last line, when x is not aligned to one


cdef void sparse_row_scores(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    Py_ssize_t row,
    floating[:, ::1] coef,
    floating[::1] intercept,
    floating scale,
    floating* scores,
) noexcept nogil:
    """``scores[k] = scale * x_row . V[:, k] + intercept[k]`` for the free classes, ``x_row`` sparse."""
    cdef int n_free = coef.shape[1]
    cdef Py_ssize_t p, k
    cdef floating x
    cdef const floating* values
    for k in range(n_free):
        scores[k] = 0
    for p in range(indptr[row], indptr[row + 1]):
        if p + PREFETCH_AHEAD < indptr[row + 1]:
            prefetch_row(&coef[indices[p + PREFETCH_AHEAD], 0], n_free)  # the row's weight rows are scattered
        x = data[p]
        values = &coef[indices[p], 0]
        for k in range(n_free):
            scores[k] += x * values[k]
    for k in range(n_free):
        scores[k] = scores[k] * scale + intercept[k]


cdef void gradient_block(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    const Py_ssize_t* rows,
    Py_ssize_t n_rows,
    const floating* residuals,
    Py_ssize_t stride,
    const Py_ssize_t[::1] slot,
    Py_ssize_t first,
    Py_ssize_t last,
    floating[:, ::1] grad,
) noexcept nogil:
    """``grad[slot[j]] += x_i[j] * residual_i`` over the rows' non-zeros whose slot is in ``[first, last)``.

    ``residual_i`` is ``residuals[i * stride:]``. Each thread walks all the rows, in order, and adds
    to its own gradient rows only: every gradient row gets the same additions in the same order on
    any number of threads.
    """
    cdef Py_ssize_t i, p, s, k, row
    cdef Py_ssize_t n_free = grad.shape[1]
    cdef floating x
    cdef floating* target
    cdef const floating* residual
    for i in range(n_rows):
        row = rows[i]
        residual = residuals + i * stride
        for p in range(indptr[row], indptr[row + 1]):
            s = slot[indices[p]]
            if s < first or s >= last:
                continue
            x = data[p]
            target = &grad[s, 0]
            for k in range(n_free):
                target[k] += x * residual[k]


cdef inline void gemm(
    char* transpose_a, char* transpose_b, int m, int n, int k, floating alpha,
    const floating* a, int lda, const floating* b, int ldb, floating beta, floating* c, int ldc,
) noexcept nogil:
    """``C = alpha op(A) op(B) + beta C`` by BLAS (column-major, as Fortran's)."""
    if floating is double:
        dgemm(transpose_a, transpose_b, &m, &n, &k, &alpha, <double*>a, &lda, <double*>b, &ldb, &beta, c, &ldc)
    else:
        sgemm(transpose_a, transpose_b, &m, &n, &k, &alpha, <float*>a, &lda, <float*>b, &ldb, &beta, c, &ldc)


cdef const floating* dense_block(
    const floating[::1] data, const Py_ssize_t* rows, Py_ssize_t n_rows, Py_ssize_t n_features, floating* buffer
) noexcept nogil:
    """The rows ``rows`` of dense ``X`` as one C-ordered block: in place if consecutive, else copied to ``buffer``."""
    cdef Py_ssize_t i
    for i in range(1, n_rows):
        if rows[i] != rows[0] + i:
            break
    else:
        return &data[rows[0] * n_features]
    for i in range(n_rows):
        if i + PREFETCH_AHEAD < n_rows:
            prefetch_row(&data[rows[i + PREFETCH_AHEAD] * n_features], n_features)
        memcpy(buffer + i * n_features, &data[rows[i] * n_features], n_features * sizeof(floating))
    return buffer


cdef inline void saga_direction(floating* grad, floating* mean, Py_ssize_t n_free, floating b, floating n) noexcept nogil:
    """The gradient change over ``b`` plus the old mean becomes the direction; the mean moves."""
    cdef Py_ssize_t k
    cdef floating change
    for k in range(n_free):
        change = grad[k]
        grad[k] = change / b + mean[k]
        mean[k] += change / n


cdef inline void step_row(floating* values, const floating* direction, Py_ssize_t n_free, floating step) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(n_free):
        values[k] = values[k] - step * direction[k]


cdef inline floating soft_threshold(floating value, double threshold) noexcept nogil:
    """``value`` moved towards 0 by ``threshold``, stopping at 0: the L1 term's proximal step."""
    if value > threshold:
        return <floating>(value - threshold)
    if value < -threshold:
        return <floating>(value + threshold)
    return 0


cdef inline double adagrad_step(double squared_sum, double eta0, double max_step) noexcept nogil:
    """AdaGrad's step of a weight row whose squared gradients sum to ``squared_sum``, capped at ``max_step``."""
    cdef double step = eta0 / sqrt(squared_sum + ADAGRAD_EPS)
    return step if step < max_step else max_step


cdef inline double squared_norm(const floating* values, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    cdef double total = 0.0
    for k in range(n):
        total += <double>values[k] * values[k]
    return total


cdef inline floating clipped(floating value, double lower, double upper, double scale) noexcept nogil:
    """The entry ``value`` of ``V`` with ``scale * value`` clipped into ``[lower, upper]`` (``scale > 0``)."""
    if value < lower / scale:
        return <floating>(lower / scale)
    if value > upper / scale:
        return <floating>(upper / scale)
    return value


cdef inline void clip_row(
    floating* values,
    const double* lower,
    const double* upper,
    Py_ssize_t n_free,
    double scale,
    double* correction,
    double scale_sum,
) noexcept nogil:
    """A row of ``V`` clipped into the bounds; the average's correction (not NULL) keeps the sum of iterates."""
    cdef Py_ssize_t k
    cdef floating before
    for k in range(n_free):
        before = values[k]
        values[k] = clipped(before, lower[k], upper[k], scale)
        if correction != NULL:
            correction[k] -= scale_sum * (values[k] - before)


cdef inline void penalized_step_row(
    floating* values,
    const floating* direction,
    Py_ssize_t n_free,
    floating decay,
    floating step,
    floating* applied,
    floating cumulative,
    floating threshold,
    double scale,
    const double* lower,
    const double* upper,
    double* correction,
    double scale_sum,
) noexcept nogil:
    """:func:`step_row` after an explicit L2 decay of the row (1: none, as with the lazy scale), then
    the L1 charge (``applied`` not NULL) or AdaGrad's proximal L1 step (soft-thresholding by
    ``threshold`` > 0), the projection into the bounds (``lower``, ``upper`` not NULL) and the
    average's correction (not NULL).

    The soft-thresholding then the clip is the exact proximal step of the L1 term within a box,
    entry by entry (one-dimensional: the constrained minimizer of a convex function is its
    unconstrained one clipped); bounded fits take it rather than the charge (see ``run_epoch``).
    """
    cdef Py_ssize_t k
    cdef floating before, value
    for k in range(n_free):
        before = values[k]
        value = decay * before - step * direction[k]
        if applied != NULL:
            value = charge_l1(value, &applied[k], cumulative, <floating>scale)
        if threshold > 0:
            value = soft_threshold(value, threshold)
        if lower != NULL:
            value = clipped(value, lower[k], upper[k], scale)
        values[k] = value
        if correction != NULL:
            correction[k] -= scale_sum * (value - before)


cdef void fold_scale(
    floating[:, ::1] coef, double scale, bint averaging, double[:, ::1] correction, double scale_sum
) noexcept nogil:
    """``V <- scale V``; with averaging, the sum of iterates moves into ``correction`` first."""
    cdef Py_ssize_t j, k
    for j in range(coef.shape[0]):
        for k in range(coef.shape[1]):
            if averaging:
                correction[j, k] += scale_sum * coef[j, k]
            coef[j, k] *= <floating>scale


cdef void catch_up_decay(
    Py_ssize_t feature,
    Py_ssize_t to_step,
    double steps,
    double l2_weight,
    double l1_weight,
    floating[:, ::1] coef,
    bint saga,
    floating[:, ::1] saga_average,
    Py_ssize_t[::1] caught_up,
    double* correction,
    double count,
    Py_ssize_t averaged_from,
    const double[::1] average_weights,
) noexcept nogil:
    """A weight row brought to step ``to_step`` under per-feature L2 decay: the steps it missed at once.

    Each missed step ``s`` was ``w <- (1 - eta_s a) w - eta_s m`` (``a = l2_weight``; SAGA's
    mean-gradient term ``m``, constant while the row is untouched; ``m = 0`` for SGD). Over
    ``k`` steps of one step size ``eta`` that is ``w <- c^k w - (1 - c^k) / a * m`` with
    ``c = 1 - eta a``: exact for a constant step (as within an epoch of every schedule but
    ``"invscaling"``), so SAGA keeps its optimum as a fixed point. A changing step is taken at
    its mean over the missed steps (``steps`` is their sum): exact to first order in the
    steps' spread. ``c^k`` and ``1 - c^k`` come from ``log1p`` and ``expm1``, which keep their
    precision where ``k eta a`` is tiny. Proximal L1 steps (``l1_weight`` > 0: AdaGrad's, and
    with bounds; soft-thresholding by ``eta l1_weight`` after each step) shrink ``|w|`` over
    them by ``l1_weight (1 - c^k) / a``, the same geometric sum, stopping at 0, where ``m = 0``;
    with SAGA's ``m`` the path may cross 0, and :func:`proximal_catch_up` follows it: exact too.

    With averaging (``correction`` not NULL; scale 1, so ``count`` is the average's scale sum)
    the missed averaged iterates (those from step ``averaged_from`` on: ``c^i w``, or with L1
    :func:`shrunk_iterates_sum`'s) enter the sum of iterates, which counted ``w`` for them, and
    the correction keeps it as ``V`` moves. The iterates' weights (``average_weights``, the
    epoch's cumulative weights by step: 1 each, or the ``"optimal"`` schedule's growing ones)
    are taken at their mean over the missed steps: exact for equal weights.
    """
    cdef Py_ssize_t last = caught_up[feature]
    cdef Py_ssize_t k = to_step - last
    cdef Py_ssize_t n_free = coef.shape[1]
    cdef Py_ssize_t averaged = 0, i
    cdef double eta, log_c = 0.0, decay = 1.0, geometric = steps, missed = 0.0, value, iterates
    cdef double weight_sum = 0.0, mean_weight = 0.0
    cdef floating before
    if k <= 0:
        return
    caught_up[feature] = to_step
    if steps == 0 or (l2_weight == 0 and l1_weight == 0 and not saga):
        return
    eta = steps / k
    if l2_weight > 0:
        log_c = log1p(-eta * l2_weight)
        decay = exp(k * log_c)
        geometric = -expm1(k * log_c) / l2_weight  # sum over the missed steps of eta c^i
    if correction != NULL:
        averaged = to_step - max(last + 1, averaged_from) + 1
        if averaged > 0:
            weight_sum = average_weights[to_step] - average_weights[to_step - averaged]
            mean_weight = weight_sum / averaged
        if averaged > 0 and l2_weight > 0:  # sum of c^i for i = k - averaged + 1 .. k, less the `averaged` w
            missed = (
                mean_weight * exp((k - averaged + 1) * log_c) * -expm1(averaged * log_c) / (eta * l2_weight)
                - weight_sum
            )
    for i in range(n_free):
        before = coef[feature, i]
        if saga and l1_weight > 0:
            value = proximal_catch_up(before, k, eta, l2_weight, l1_weight, saga_average[feature, i], log_c)
        else:
            value = decay * before
            if saga:
                value -= geometric * saga_average[feature, i]
            if l1_weight > 0:
                value = soft_threshold(value, l1_weight * geometric)
        coef[feature, i] = <floating>value
        if correction != NULL and l1_weight > 0 and averaged > 0:
            iterates = shrunk_iterates_sum(before, k - averaged + 1, k, eta, l2_weight, l1_weight, log_c)
            correction[i] += mean_weight * iterates - weight_sum * before - count * (coef[feature, i] - before)
        elif correction != NULL:
            correction[i] += missed * before - count * (coef[feature, i] - before)


cdef inline double linear_steps(double u, double n, double eta, double a, double mu, double log_c) noexcept nogil:
    """``n`` steps of ``u <- c u - eta mu`` (``c = 1 - eta a``, ``log_c = log(c)``) in closed form."""
    if a > 0:
        return exp(n * log_c) * u - mu * -expm1(n * log_c) / a
    return u - n * eta * mu


cdef inline double steps_to_zero(double u, double eta, double a, double mu, double log_c) noexcept nogil:
    """The first ``n >= 1`` at which :func:`linear_steps` from ``u > 0`` is at most 0 (``mu > 0``)."""
    cdef double n
    if a > 0:
        n = ceil(log((mu / a) / (u + mu / a)) / log_c)
    else:
        n = ceil(u / (eta * mu))
    return n if n >= 1 else 1


cdef double proximal_catch_up(
    double w, Py_ssize_t k, double eta, double a, double lam, double m, double log_c
) noexcept nogil:
    """``k`` steps of ``w <- soft_threshold(c w - eta m, eta lam)`` (``c = 1 - eta a``), exactly.

    SAGA's missed steps with a proximal L1 step: while ``w`` keeps its sign ``s`` the map is
    linear, ``|w| <- c |w| - eta (s m + lam)``, and :func:`linear_steps` takes them at once;
    where ``|w|`` would reach 0 the one step that crosses is taken as it is, and the new sign's
    regime follows. ``w`` changes sign at most twice (from one side to 0, or through 0 to the
    other side, whose regime then pulls it away from 0 or back to 0 for good), so the loop ends.
    """
    cdef double u, mu, n, s
    cdef int _crossings
    for _crossings in range(4):
        if k <= 0:
            return w
        if w == 0:
            if fabs(m) <= lam:
                return 0.0
            w = soft_threshold(-eta * m, eta * lam)
            k -= 1
            continue
        s = 1.0 if w > 0 else -1.0
        u = fabs(w)
        mu = s * m + lam
        if mu <= 0:  # pulled away from 0: the regime lasts
            return s * linear_steps(u, k, eta, a, mu, log_c)
        n = steps_to_zero(u, eta, a, mu, log_c)
        if n > k:
            return s * linear_steps(u, k, eta, a, mu, log_c)
        u = linear_steps(u, n - 1, eta, a, mu, log_c)
        w = soft_threshold((1.0 - eta * a) * s * u - eta * m, eta * lam)  # the step that crosses
        k -= <Py_ssize_t>n
    return w


cdef double shrunk_iterates_sum(
    double w, Py_ssize_t first, Py_ssize_t last, double eta, double a, double lam, double log_c
) noexcept nogil:
    """The sum of the iterates ``first .. last`` (1-based) of ``w <- soft_threshold(c w, eta lam)``.

    Plain SGD's missed steps with a proximal L1 step, for the iterate average: ``|w|`` follows
    :func:`linear_steps` with ``mu = lam`` until it reaches 0, where it stays.
    """
    cdef double u = fabs(w), s = 1.0 if w > 0 else -1.0, n, count, total
    if u == 0 or last < first:
        return 0.0
    n = steps_to_zero(u, eta, a, lam, log_c)  # iterates from n on are 0
    if n - 1 < last:
        last = <Py_ssize_t>(n - 1)
    if last < first:
        return 0.0
    count = last - first + 1
    if a > 0:  # sum of c^i (u + lam / a) - lam / a
        total = (u + lam / a) * exp(first * log_c) * -expm1(count * log_c) / (eta * a) - count * lam / a
    else:  # sum of u - i eta lam
        total = count * u - eta * lam * (first + last) * count / 2.0
    return s * total


cdef Py_ssize_t largest_minibatch_nnz(
    const index_t[::1] indptr, const Py_ssize_t[::1] order, Py_ssize_t batch_size
) noexcept nogil:
    """The most non-zeros of any minibatch of ``batch_size`` consecutive rows of ``order``."""
    cdef Py_ssize_t i, row, nnz = 0, largest = 0
    for i in range(order.shape[0]):
        if i % batch_size == 0:
            nnz = 0
        row = order[i]
        nnz += indptr[row + 1] - indptr[row]
        if nnz > largest:
            largest = nnz
    return largest


cdef inline double missed_steps(
    Py_ssize_t feature,
    Py_ssize_t to_step,
    const double[::1] cumulative,
    const Py_ssize_t[::1] caught_up,
    const double[::1] adagrad_sums,
    double eta0,
    double max_step,
) noexcept nogil:
    """The sum of the steps a weight row missed up to ``to_step``: by the epoch's cumulative
    steps, or with AdaGrad (``adagrad_sums`` not empty) the row's own step, unchanged while it
    is untouched."""
    if adagrad_sums.shape[0] > 0:
        return (to_step - caught_up[feature]) * adagrad_step(adagrad_sums[feature], eta0, max_step)
    return cumulative[to_step] - cumulative[caught_up[feature]]


cdef struct ThreadProbe:
    # Seconds and work (non-zeros; rows on dense data) of the probe's minibatches on all the
    # threads [0] and on one [1]; the probe's first minibatch, the minibatches to the next probe,
    # and the threads chosen.
    double seconds[2]
    double work[2]
    Py_ssize_t start
    Py_ssize_t period
    int chosen


cdef void start_probes(ThreadProbe* probe) noexcept nogil:
    """The first probe at minibatch 2; the first runs on one thread, untimed (the threads, asleep
    after the Python between epochs, cost a loaded machine a wait at each join)."""
    probe.start = 2 - PROBE_PERIOD
    probe.period = PROBE_PERIOD
    probe.chosen = 1


cdef int probe_threads(ThreadProbe* probe, Py_ssize_t batch, int n_threads) noexcept nogil:
    """The threads of minibatch ``batch`` (from 1): all and one in turns (a probe), or the faster.

    Where one thread was faster the next probe waits twice as long (up to ``MAX_PROBE_PERIOD``):
    a busy machine pays for fewer probes.
    """
    cdef Py_ssize_t position
    cdef bint faster
    if n_threads == 1:
        return 1
    if batch == probe.start + probe.period:
        probe.start = batch
        probe.seconds[0] = probe.seconds[1] = probe.work[0] = probe.work[1] = 0.0
    position = batch - probe.start
    if position < 2 * PROBE_BATCHES:
        return n_threads if position % 2 == 0 else 1
    if position == 2 * PROBE_BATCHES:
        faster = probe.seconds[0] * probe.work[1] <= probe.seconds[1] * probe.work[0]
        probe.chosen = n_threads if faster else 1
        probe.period = PROBE_PERIOD if faster else min(2 * probe.period, MAX_PROBE_PERIOD)
    return probe.chosen


cdef void probe_record(
    ThreadProbe* probe, Py_ssize_t batch, int team, double seconds, double work
) noexcept nogil:
    """Minibatch ``batch`` took ``seconds`` for ``work`` on ``team`` threads: kept if it was a probe's;
    if it ran on several threads ``PROBE_SLOWDOWN`` times slower than their probe, the next probes
    at once (the cores got busy)."""
    cdef Py_ssize_t position = batch - probe.start
    if position < 2 * PROBE_BATCHES:
        probe.seconds[position % 2] += seconds
        probe.work[position % 2] += work
    elif team > 1 and seconds * probe.work[0] > PROBE_SLOWDOWN * probe.seconds[0] * work:
        probe.period = batch + 1 - probe.start


cdef void split(const Py_ssize_t* weights, Py_ssize_t n, int n_threads, Py_ssize_t[::1] bounds) noexcept nogil:
    """Thread ``t``'s share of items ``0 .. n`` is ``bounds[t] .. bounds[t + 1]``: contiguous, of about
    equal total ``weights`` (equal counts if NULL)."""
    cdef Py_ssize_t i, t = 1, total = 0, so_far = 0
    bounds[0] = 0
    if weights == NULL:
        for t in range(1, n_threads + 1):
            bounds[t] = n * t // n_threads
        return
    for i in range(n):
        total += weights[i]
    for i in range(n):
        while t < n_threads and so_far * n_threads >= total * t:
            bounds[t] = i
            t += 1
        so_far += weights[i]
    while t <= n_threads:
        bounds[t] = n
        t += 1


cdef Py_ssize_t mark_features(
    const index_t[::1] indices,
    const index_t[::1] indptr,
    const Py_ssize_t* rows,
    Py_ssize_t n_rows,
    Py_ssize_t batch,
    Py_ssize_t[::1] mark,
    Py_ssize_t[::1] slot,
    Py_ssize_t[::1] features,
    Py_ssize_t[::1] occurrences,
    Py_ssize_t[::1] row_nnz,
) noexcept nogil:
    """The minibatch's distinct features in order of first use, ``features[:n]``; returns ``n``.

    ``slot[j]`` is feature ``j``'s index in ``features``, ``mark[j]`` becomes ``batch``; the counts
    of each feature (``occurrences``) and each row's non-zeros (``row_nnz``) split the work between
    the threads.
    """
    cdef Py_ssize_t i, p, j, ahead, row, n_touched = 0
    for i in range(n_rows):
        row = rows[i]
        row_nnz[i] = indptr[row + 1] - indptr[row]
        for p in range(indptr[row], indptr[row + 1]):
            j = indices[p]
            if p + PREFETCH_AHEAD < indptr[row + 1]:
                ahead = indices[p + PREFETCH_AHEAD]
                prefetch(&mark[ahead])
                prefetch(&slot[ahead])
            if mark[j] != batch:
                mark[j] = batch
                slot[j] = n_touched
                features[n_touched] = j
                occurrences[n_touched] = 0
                n_touched += 1
            occurrences[slot[j]] += 1
    return n_touched


cdef void catch_up_rows(
    Py_ssize_t first,
    Py_ssize_t last,
    const Py_ssize_t* features,
    Py_ssize_t to_step,
    bint clip,
    double scale,
    double scale_sum,
    Py_ssize_t averaged_from,
    const EpochPlan* plan,
    floating[:, ::1] coef,
    floating[:, ::1] saga_average,
    Py_ssize_t[::1] caught_up,
    const double[::1] cumulative,
    const double[::1] average_weights,
    const double[::1] factor,
    const double[::1] adagrad_sums,
    double[:, ::1] correction,
    const double[:, ::1] lower,
    const double[:, ::1] upper,
) noexcept nogil:
    """Weight rows ``features[first:last]`` (rows ``first:last`` if NULL) brought to step ``to_step``.

    The steps they missed (``plan.lazy``): SAGA's mean term, or on the per-row path
    :func:`catch_up_decay`; then with ``clip`` the bounds. Each row on its own: any split of the
    rows between threads gives the same result.
    """
    cdef Py_ssize_t f, j, k, ahead
    cdef Py_ssize_t n_free = coef.shape[1]
    cdef floating amount
    for f in range(first, last):
        j = f if features == NULL else features[f]
        if features != NULL and f + PREFETCH_AHEAD < last:
            # A minibatch's weight rows are scattered: the hardware cannot guess them.
            ahead = features[f + PREFETCH_AHEAD]
            prefetch_row(&coef[ahead, 0], n_free)
            if plan.lazy:
                prefetch(&caught_up[ahead])
            if plan.lazy and plan.saga:
                prefetch_row(&saga_average[ahead, 0], n_free)
        if plan.lazy and plan.per_feature:
            catch_up_decay(
                j, to_step, missed_steps(j, to_step, cumulative, caught_up, adagrad_sums, plan.eta0, plan.max_step),
                plan.l2 * factor[j], plan.l1 * factor[j] if plan.proximal_l1 else 0.0, coef, plan.saga,
                saga_average, caught_up, &correction[j, 0] if plan.has_average else NULL, scale_sum,
                averaged_from, average_weights,
            )
        elif plan.lazy:
            amount = <floating>(cumulative[to_step] - cumulative[caught_up[j]])
            for k in range(n_free):
                coef[j, k] -= saga_average[j, k] * amount
            caught_up[j] = to_step
        if clip:
            clip_row(&coef[j, 0], &lower[j, 0], &upper[j, 0], n_free, scale,
                     &correction[j, 0] if plan.has_average else NULL, scale_sum)


cdef void scores_block(
    Py_ssize_t first,
    Py_ssize_t last,
    const Py_ssize_t* rows,
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    bint is_sparse,
    floating[:, ::1] coef,
    floating[::1] intercept,
    floating scale,
    const floating[:, ::1] offset,
    const floating[:, ::1] targets,
    const floating[::1] sample_weights,
    floating row_scale,
    const floating[:, ::1] residuals,
    floating[:, ::1] scores,
    Py_ssize_t rc,
    double[::1] losses,
) noexcept nogil:
    """Minibatch rows ``first:last``: their free scores (sparse rows'; dense rows' are given, but for
    the intercept) become ``w_i (P_i - Y_i)``, the rows weighted by ``row_scale``, and ``losses[i]``
    their weighted losses. Each row on its own: any split of the rows gives the same result."""
    cdef Py_ssize_t i, k, row, ahead
    cdef Py_ssize_t n_free = coef.shape[1], n_classes = targets.shape[1]
    cdef bint has_offset = offset.shape[0] > 0
    for i in range(first, last):
        row = rows[i]
        if i + PREFETCH_AHEAD < last:
            # What a row reads at random places: its targets, weight and stored
            # residual (SAGA) (measured: a third of the dense epoch went to
            # these cache misses, and to its features', before dense_block).
            ahead = rows[i + PREFETCH_AHEAD]
            prefetch_row(&targets[ahead, 0], n_classes)
            prefetch(&sample_weights[ahead])
            if has_offset:
                prefetch_row(&offset[ahead, 0], n_free)
            if residuals.shape[0] > 0:
                prefetch_row(&residuals[ahead, 0], n_free)
        if is_sparse:
            sparse_row_scores(data, indices, indptr, row, coef, intercept, scale, &scores[i, rc])
        else:
            for k in range(n_free):
                scores[i, rc + k] += intercept[k]
        if has_offset:
            for k in range(n_free):
                scores[i, rc + k] += offset[row, k]
        losses[i] = row_cross_entropy_residual(&scores[i, rc], NULL, &targets[row, 0],
                                               sample_weights[row] * row_scale, n_free, rc)


cdef void step_block(
    Py_ssize_t first,
    Py_ssize_t last,
    const Py_ssize_t* features,
    Py_ssize_t batch,
    double step,
    double base_step,
    double scale,
    double scale_sum,
    double cumulative_l1,
    bint averaging,
    floating b,
    const EpochPlan* plan,
    floating[:, ::1] grad,
    floating[:, ::1] coef,
    floating[:, ::1] saga_average,
    floating[:, ::1] applied,
    Py_ssize_t[::1] caught_up,
    const double[::1] factor,
    double[::1] adagrad_sums,
    double[:, ::1] correction,
    const double[:, ::1] lower,
    const double[:, ::1] upper,
) noexcept nogil:
    """The step of the minibatch's weight rows ``features[first:last]`` (gradient rows ``first:last``,
    zeroed after): SAGA's direction, the gradient and L1 on ``V = W / scale``, the bounds and the
    average's correction. Each row on its own: any split of the rows gives the same result."""
    cdef Py_ssize_t f, j, ahead
    cdef Py_ssize_t n_free = coef.shape[1]
    cdef floating step_over_scale = <floating>(step / scale)
    cdef floating l1_so_far = <floating>cumulative_l1
    cdef floating n_ = <floating>plan.n_samples
    cdef floating decay = 1, threshold = 0
    cdef double row_step
    for f in range(first, last):
        j = features[f]
        if f + PREFETCH_AHEAD < last:
            # The batch's weight rows no longer fit in cache (measured: a quarter of
            # the sparse epoch waited on them here).
            ahead = features[f + PREFETCH_AHEAD]
            prefetch_row(&coef[ahead, 0], n_free)
            if plan.saga:
                prefetch_row(&saga_average[ahead, 0], n_free)
            if plan.cumulative_l1_charge:
                prefetch_row(&applied[ahead, 0], n_free)
            if averaging:
                prefetch_row(&correction[ahead, 0], n_free)
        if plan.saga:
            saga_direction(&grad[f, 0], &saga_average[j, 0], n_free, b, n_)
        if plan.adagrad:
            adagrad_sums[j] += squared_norm(&grad[f, 0], n_free)
            row_step = adagrad_step(adagrad_sums[j], base_step, plan.max_step)
            step_over_scale = <floating>row_step
            decay = <floating>(1.0 - row_step * plan.l2 * factor[j])
            threshold = <floating>(row_step * plan.l1 * factor[j])
        elif plan.per_feature:
            decay = <floating>(1.0 - step * plan.l2 * factor[j])
            l1_so_far = <floating>(cumulative_l1 * factor[j])
            if plan.proximal_l1:
                threshold = <floating>(step * plan.l1 * factor[j])
        elif plan.proximal_l1:
            threshold = <floating>(step * plan.l1 / scale)  # in V's units
        if plan.has_l1 or averaging or plan.bounded or plan.per_feature:
            penalized_step_row(
                &coef[j, 0], &grad[f, 0], n_free, decay, step_over_scale,
                &applied[j, 0] if plan.cumulative_l1_charge else NULL, l1_so_far, threshold, scale,
                &lower[j, 0] if plan.bounded else NULL, &upper[j, 0] if plan.bounded else NULL,
                &correction[j, 0] if averaging else NULL, scale_sum,
            )
        else:
            step_row(&coef[j, 0], &grad[f, 0], n_free, step_over_scale)
        memset(&grad[f, 0], 0, n_free * sizeof(floating))
        if plan.lazy:
            caught_up[j] = batch


def run_epoch(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    bint is_sparse,
    const floating[:, ::1] targets,
    const floating[::1] sample_weights,
    const floating[:, ::1] offset,
    const Py_ssize_t[::1] order,
    Py_ssize_t batch_size,
    floating[:, ::1] coef,
    floating[::1] intercept,
    floating[:, ::1] applied,
    double[::1] scalars,
    const double[::1] settings,
    const double[::1] factor,
    double[::1] adagrad_sums,
    const double[:, ::1] lower,
    const double[:, ::1] upper,
    double[:, ::1] correction,
    double[::1] intercept_sum,
    floating[:, ::1] residuals,
    floating[:, ::1] saga_average,
    floating[::1] saga_average_intercept,
    Py_ssize_t[::1] caught_up,
    int n_threads,
):
    """One epoch of minibatch SGD (or SAGA) over ``order``, updating everything in place.

    Parameters
    ----------
    data, indices, indptr : ndarray
        CSR's arrays, or for dense C-contiguous ``X`` its flat buffer (and
        empty ``indices``, ``indptr``).
    is_sparse : bool
    targets : ndarray of shape (n_samples, n_classes)
    sample_weights : ndarray of shape (n_samples,)
        Normalized to sum to one.
    offset : ndarray of shape (n_samples, n_free)
        Added to each row's free scores (shape (0, n_free) for none).
    order : ndarray of shape (n_rows,), intp
    batch_size : int
    coef : ndarray of shape (n_features, n_free)
        ``V`` (``W = scale V``), updated.
    intercept : ndarray of shape (n_free,)
    applied : ndarray of shape (n_features, n_free)
        L1 penalty each weight received (shape (0, 0) without L1).
    scalars : ndarray of shape (8,), float64
        In and out: ``t``, ``samples_seen``, ``scale``, ``cumulative_l1``,
        ``scale_sum``, ``count``, ``reference`` (NaN: the first minibatch's
        loss), and out only: the sum of minibatch losses times their sizes.
    settings : ndarray of shape (14,), float64
        ``eta0``, ``power_t``, ``invscaling`` (0/1), ``max_step``, ``l2``,
        ``l1``, ``fit_intercept`` (0/1), ``intercept_scale``,
        ``reference_class`` (0/1), ``average_start`` (-1: no averaging),
        ``saga`` (0/1), ``step_batch``: the minibatch size ``eta0`` is for; a
        minibatch of ``b < step_batch`` rows steps by ``b / step_batch`` of the
        schedule's step, so that each row moves the model as much as in a full
        minibatch (``1 / L_b <= (step_batch / b) / L_step_batch``: safe wherever
        the full minibatch's step is; not with AdaGrad, which normalizes its
        steps itself), and ``t0``: positive for the ``"optimal"`` schedule
        (``inf`` without a penalty), whose ``eta0`` is a row's, so that a
        minibatch of ``b`` rows steps by ``b eta0 / (1 + samples_seen / t0)``
        (``step_batch`` unused); 0 otherwise; ``average_power``: the weight of
        an averaged iterate is ``samples_seen ** average_power`` after its
        step (0: the plain mean).
    factor : ndarray of shape (n_features,), float64
        Per-feature penalty factors ``f_j`` (shape (0,) for none): feature
        ``j``'s L2 strength is ``l2 f_j`` and its L1 charge ``f_j`` times the
        cumulative L1. The scale then stays 1 and each weight row decays
        explicitly, by ``1 - step l2 f_j`` at a step that touches it (every
        step on dense data) and on sparse data by :func:`catch_up_decay`
        for the steps it missed, when a minibatch next touches it; ``caught_up``
        (all zeros) keeps its last step, for SGD as for SAGA.
    adagrad_sums : ndarray of shape (n_features + 1,), float64
        AdaGrad (shape (0,) for none; needs ``factor``, all ones for
        none): each weight row's sum of squared minibatch gradients, the
        intercept's last, updated. A touched row's step is then ``eta0 /
        sqrt(G_j + ADAGRAD_EPS)`` (capped at ``max_step``), the
        intercept's likewise (without ``intercept_scale``: the per-row
        normalization is what that scale stands in for); an untouched row
        keeps its step, which its catch-up uses. The L1 term is a proximal
        step per row (Duchi, Hazan & Singer, 2011), not the cumulative
        charge, so ``applied`` is empty. Not with SAGA (the estimator
        does not average it either).
    lower, upper : ndarray of shape (n_features, n_free), float64
        Bounds on ``W`` (``-inf``, ``inf`` entries for none; both of shape
        (0, n_free) without bounds). ``V`` is clipped against them divided
        by ``scale``: every weight a step changes, after the step; on sparse
        data every weight a minibatch touches, before its scores (the lazy
        L2 scale moves untouched weights towards 0, which may leave a box
        that excludes 0); all weights when the scale is folded. With bounds
        the L1 term is a proximal step (soft-thresholding by ``step l1
        f_j``) rather than the cumulative charge: the charge's ledger counts
        the penalty a clip to a bound at 0 made moot, and the budget it
        leaves held such weights at 0 long after they should have moved
        (``benchmarks/results/CONSTANTS.md``).
        On sparse data that needs the per-row path (``factor``, all ones
        for none), whose catch-up takes the missed proximal steps exactly
        (:func:`proximal_catch_up`).
    correction, intercept_sum : ndarray, float64
        The iterate average (shape (0, 0) and (0,) without averaging).
    residuals, saga_average, saga_average_intercept, caught_up : ndarray
        SAGA's memory (empty for SGD; ``caught_up`` also for SGD with
        ``factor``); ``caught_up`` must be all zeros.
    n_threads : int
        The most OpenMP threads of a minibatch's phases: the rows' scores and
        residuals (split by rows), the gradient rows (split by features:
        each thread walks the minibatch's rows in order and adds to its own
        gradient rows only), the catch-up and the step (split by features).
        Every configuration runs on them. Each row and each weight row is
        computed whole by one thread, in the one-thread order, and sums
        over rows (the loss, the intercept's gradient) run on one thread in
        row order: the results are bitwise the same on any number of
        threads. So the number can change between minibatches: of every
        ``PROBE_PERIOD`` (48; up to 8 times that while one thread wins),
        the first ``PROBE_BATCHES`` (1) runs on ``n_threads`` and as many on
        one, in turns, and the rest on whichever took less time per
        non-zero (a second thread loses when other processes keep the
        cores busy); a minibatch on ``n_threads`` twice as slow as their
        probe calls the next probe at once. A dense minibatch's products are BLAS's, on its
        threads.

    Returns
    -------
    status : int
        ``OK``, ``DIVERGED`` or ``STALE_REFERENCE``.
    """
    cdef Py_ssize_t n_rows = order.shape[0]
    cdef Py_ssize_t n_samples = targets.shape[0]
    cdef Py_ssize_t n_classes = targets.shape[1]
    cdef Py_ssize_t n_features = coef.shape[0]
    cdef Py_ssize_t n_free = coef.shape[1]
    cdef Py_ssize_t n_batches = (n_rows + batch_size - 1) // batch_size
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scores = np.zeros((min(batch_size, n_rows), n_classes), dtype=dtype)
    # A dense minibatch's rows, contiguous (see dense_block).
    cdef floating[::1] block = np.zeros(0 if is_sparse else min(batch_size, n_rows) * n_features, dtype=dtype)
    cdef const floating* rows_block = NULL
    # The minibatch's gradient rows, in the order of `features`, the distinct features of
    # its rows (all features on dense data); `slot[j]` is feature j's row in `grad` and
    # `mark[j]` the last minibatch that used it. Compact rows stay in cache: scattering into
    # an n_features x n_free array instead made the sparse SAGA epoch 1.5 times slower
    # (measured on 25,000 x 2**17 text data, 12 classes). On sparse data a minibatch has at
    # most as many features as non-zeros: a small chunk then never allocates (nor pages in)
    # a gradient the size of the model.
    cdef Py_ssize_t grad_rows = n_features
    if is_sparse:
        grad_rows = min(n_features, largest_minibatch_nnz(indptr, order, batch_size))
    cdef floating[:, ::1] grad = np.zeros((grad_rows, n_free), dtype=dtype)
    cdef floating[::1] grad_intercept = np.zeros(n_free, dtype=dtype)
    cdef Py_ssize_t[::1] features = np.arange(grad_rows, dtype=np.intp)
    cdef Py_ssize_t[::1] slot = np.arange(n_features, dtype=np.intp)
    cdef Py_ssize_t[::1] mark = np.zeros(n_features, dtype=np.intp)
    # What splits a minibatch's work between the threads: its features' counts, its rows'
    # non-zeros, and the threads' shares of the phase at hand.
    cdef Py_ssize_t[::1] occurrences = np.zeros(grad_rows, dtype=np.intp)
    cdef Py_ssize_t[::1] row_nnz = np.zeros(min(batch_size, n_rows), dtype=np.intp)
    cdef Py_ssize_t[::1] bounds = np.zeros(max(n_threads, 1) + 1, dtype=np.intp)
    cdef double[::1] losses = np.zeros(min(batch_size, n_rows))
    # cumulative[t]: sum of step / scale over the epoch's first t steps; a row
    # caught up at step s owes saga_average * (cumulative[t] - cumulative[s]).
    cdef double[::1] cumulative = np.zeros(n_batches + 1)
    # average_weights[t]: the weights of the epoch's averaged iterates up to step t, summed.
    cdef double[::1] average_weights = np.zeros(n_batches + 1)

    if n_threads < 1:
        raise ValueError(f"n_threads: at least 1 expected, got {n_threads}.")
    if settings.shape[0] * sizeof(double) != sizeof(EpochSettings):
        raise ValueError(f"settings: {sizeof(EpochSettings) // sizeof(double)} values expected (EpochSettings).")
    if scalars.shape[0] * sizeof(double) != sizeof(EpochCounters):
        raise ValueError(f"scalars: {sizeof(EpochCounters) // sizeof(double)} values expected (EpochCounters).")
    cdef const EpochSettings* setting = <const EpochSettings*>&settings[0]
    cdef EpochCounters* counters = <EpochCounters*>&scalars[0]
    cdef double max_step = setting.max_step
    cdef double l2 = setting.l2, l1 = setting.l1
    cdef bint fit_intercept = setting.fit_intercept != 0
    cdef double intercept_scale = setting.intercept_scale
    cdef Py_ssize_t rc = <Py_ssize_t>setting.reference_class
    cdef double average_start = setting.average_start
    cdef double average_power = setting.average_power
    cdef EpochPlan plan
    plan.saga = setting.saga != 0
    plan.adagrad = adagrad_sums.shape[0] > 0
    plan.per_feature = factor.shape[0] > 0
    plan.lazy = is_sparse and (plan.saga or plan.per_feature)
    plan.bounded = lower.shape[0] > 0
    plan.has_l1 = l1 > 0
    # With AdaGrad, and with bounds (see `lower, upper`).
    plan.proximal_l1 = plan.adagrad or (plan.bounded and l1 > 0)
    plan.cumulative_l1_charge = l1 > 0 and not plan.proximal_l1
    plan.has_average = correction.shape[0] > 0
    plan.eta0, plan.max_step, plan.l2, plan.l1 = setting.eta0, max_step, l2, l1
    plan.n_samples = n_samples
    cdef bint saga = plan.saga, lazy = plan.lazy, bounded = plan.bounded

    cdef double t = counters.t, samples_seen = counters.samples_seen, scale = counters.scale
    cdef double cumulative_l1 = counters.cumulative_l1, scale_sum = counters.scale_sum, count = counters.count
    cdef double reference = counters.reference
    cdef double total = 0.0

    cdef Py_ssize_t batch, start, stop, b, i, j, k, row, n_touched, thread
    cdef int team = n_threads
    cdef ThreadProbe probe
    cdef double started, work
    cdef const Py_ssize_t* rows
    cdef double loss, weight_sum, batch_loss, step, base_step
    cdef floating row_scale, stored
    cdef floating b_, n_, intercept_step
    cdef double average_weight = 0.0
    cdef bint averaging
    # The epoch's first averaged step (none yet: past the last).
    cdef Py_ssize_t averaged_from = n_batches + 1
    cdef int status = STATUS_OK
    start_probes(&probe)

    if is_sparse and plan.proximal_l1 and not plan.per_feature:
        raise ValueError("Proximal L1 steps on sparse data need the per-row path: pass factor.")

    with nogil:
        for batch in range(1, n_batches + 1):
            start = (batch - 1) * batch_size
            stop = min(start + batch_size, n_rows)
            b = stop - start
            b_ = <floating>b
            n_ = <floating>n_samples
            rows = &order[start]
            team = probe_threads(&probe, batch, n_threads)
            started = omp_get_wtime()

            # The rows' features (every feature on dense data), caught up on SAGA's mean term.
            n_touched = n_features
            if is_sparse:
                n_touched = mark_features(indices, indptr, rows, b, batch, mark, slot, features, occurrences, row_nnz)
                if lazy or bounded:
                    split(NULL, n_touched, team, bounds)
                    for thread in prange(team, num_threads=team, schedule="static", chunksize=1):
                        catch_up_rows(
                            bounds[thread], bounds[thread + 1], &features[0], batch - 1, bounded, scale,
                            scale_sum, averaged_from, &plan, coef, saga_average, caught_up, cumulative,
                            average_weights, factor, adagrad_sums, correction, lower, upper,
                        )

            # Scores, then losses and residuals w_i (P_i - Y_i), the rows weighted by n / b.
            if not is_sparse:
                rows_block = dense_block(data, rows, b, n_features, &block[0])
                gemm(b"N", b"N", n_free, b, n_features, <floating>scale, &coef[0, 0], n_free,
                     rows_block, n_features, 0, &scores[0, rc], n_classes)
            row_scale = <floating>(n_samples / <double>b)
            split(&row_nnz[0] if is_sparse else NULL, b, team, bounds)
            for thread in prange(team, num_threads=team, schedule="static", chunksize=1):
                scores_block(
                    bounds[thread], bounds[thread + 1], rows, data, indices, indptr, is_sparse, coef, intercept,
                    <floating>scale, offset, targets, sample_weights, row_scale, residuals, scores, rc, losses,
                )
            # Summed in row order, whatever the threads: the loss is the same on any number.
            loss = 0.0
            weight_sum = 0.0
            work = 0.0
            for i in range(b):
                weight_sum += sample_weights[rows[i]] * row_scale
                loss += losses[i]
                work += row_nnz[i] if is_sparse else 1
            batch_loss = loss / weight_sum if weight_sum > 0 else 0.0
            if batch == 1:
                if reference != reference:  # NaN: none given
                    reference = batch_loss
                elif diverged(batch_loss, reference, 2.0):
                    status = STATUS_STALE_REFERENCE
                    break
            if diverged(batch_loss, reference, 100.0):
                status = STATUS_DIVERGED
                break

            # The gradient rows: X_b^T R (SGD), or X_b^T (R - R_stored) (SAGA, which stores R).
            for k in range(n_free):
                grad_intercept[k] = 0
            for i in range(b):
                row = rows[i]
                if saga:
                    for k in range(n_free):
                        stored = scores[i, rc + k] * b_
                        scores[i, rc + k] = stored - residuals[row, k]
                        residuals[row, k] = stored
                for k in range(n_free):
                    grad_intercept[k] += scores[i, rc + k]
            if is_sparse:
                # Each thread its own gradient rows, of about equal non-zeros.
                split(&occurrences[0], n_touched, team, bounds)
                for thread in prange(team, num_threads=team, schedule="static", chunksize=1):
                    gradient_block(data, indices, indptr, rows, b, &scores[0, rc], n_classes, slot,
                                   bounds[thread], bounds[thread + 1], grad)
            else:
                gemm(b"N", b"T", n_free, n_features, b, 1, &scores[0, rc], n_classes,
                     rows_block, n_features, 1, &grad[0, 0], n_free)

            # The step: L2 on the scale, the gradient and L1 on the touched rows.
            base_step = schedule_step(setting, t, b, samples_seen, plan.adagrad)
            step = base_step if base_step < max_step else max_step
            t += 1
            if not plan.per_feature:
                scale *= 1.0 - step * l2
            if plan.cumulative_l1_charge:
                cumulative_l1 += step * l1
            # As SGDClassifier: the iterate after the step that brings the samples seen
            # to average_start is the first averaged.
            averaging = average_start >= 0 and samples_seen + b >= average_start
            if averaging and averaged_from > batch:
                averaged_from = batch
            split(NULL, n_touched, team, bounds)
            for thread in prange(team, num_threads=team, schedule="static", chunksize=1):
                step_block(
                    bounds[thread], bounds[thread + 1], &features[0], batch, step, base_step, scale, scale_sum,
                    cumulative_l1, averaging, b_, &plan, grad, coef, saga_average, applied, caught_up, factor,
                    adagrad_sums, correction, lower, upper,
                )
            if averaging:
                average_weight = pow(samples_seen + b, average_power)
                scale_sum += average_weight * scale
                count += average_weight
            average_weights[batch] = average_weights[batch - 1] + (average_weight if averaging else 0.0)
            cumulative[batch] = cumulative[batch - 1] + step / scale

            if fit_intercept:
                intercept_step = <floating>(step * intercept_scale)
                if plan.adagrad:
                    adagrad_sums[n_features] += squared_norm(&grad_intercept[0], n_free)
                    intercept_step = <floating>(base_step / sqrt(adagrad_sums[n_features] + ADAGRAD_EPS))
                for k in range(n_free):
                    if saga:
                        intercept[k] -= intercept_step * (grad_intercept[k] / b_ + saga_average_intercept[k])
                        saga_average_intercept[k] += grad_intercept[k] / n_
                    else:
                        intercept[k] -= intercept_step * grad_intercept[k]
            if averaging:
                for k in range(n_free):
                    intercept_sum[k] += average_weight * intercept[k]
            if not saga:  # the count only serves averaging, which SAGA does not do
                samples_seen += b
            total += loss * b
            probe_record(&probe, batch, team, omp_get_wtime() - started, work)

            if scale < MIN_SCALE:
                if lazy:
                    catch_up_rows(0, n_features, NULL, batch, False, scale, scale_sum, averaged_from, &plan, coef,
                                  saga_average, caught_up, cumulative, average_weights, factor, adagrad_sums,
                                  correction, lower, upper)
                fold_scale(coef, scale, averaging, correction, scale_sum)
                scale = 1.0
                if averaging:
                    scale_sum = 0.0
                if bounded:  # as LazyCoef.materialize (the sum of iterates is all in correction now)
                    for j in range(n_features):
                        clip_row(&coef[j, 0], &lower[j, 0], &upper[j, 0], n_free, 1.0, NULL, 0.0)
        if lazy and status == STATUS_OK:
            split(NULL, n_features, team, bounds)
            for thread in prange(team, num_threads=team, schedule="static", chunksize=1):
                catch_up_rows(
                    bounds[thread], bounds[thread + 1], NULL, n_batches, False, scale, scale_sum, averaged_from,
                    &plan, coef, saga_average, caught_up, cumulative, average_weights, factor, adagrad_sums,
                    correction, lower, upper,
                )

    counters.t, counters.samples_seen, counters.scale, counters.cumulative_l1 = t, samples_seen, scale, cumulative_l1
    counters.scale_sum, counters.count, counters.reference, counters.total = scale_sum, count, reference, total
    return status


def contract_layout():
    """The fields of the structs EpochSettings and EpochCounters, each by its index in the float64
    array the struct reads, in memory order: what contract.py's records must match."""
    cdef double[::1] index = np.arange(max(sizeof(EpochSettings), sizeof(EpochCounters)) // sizeof(double),
                                       dtype=np.float64)
    return (<EpochSettings*>&index[0])[0], (<EpochCounters*>&index[0])[0]
