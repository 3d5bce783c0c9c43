# Declarations the compiled kernels share: the fused float and sparse-index types, the epoch's contract (its
# settings and counters by name, with its step schedule and divergence test), and the one
# row cross-entropy of the softmax.

from libc.math cimport exp, isfinite, log, pow

ctypedef fused floating:
    float
    double

# scipy.sparse's index arrays: int32, or int64 for large matrices.
ctypedef fused index:
    int
    long long


# The epoch's settings and counters: float64 arrays on the Python side, read through these
# structs by name. The fields and their order are those of the records EpochSettings and
# EpochCounters of sklearn_maxent/_kernels/contract.py (tests/test_epoch_kernel.py checks).
cdef packed struct EpochSettings:
    double eta0
    double power_t
    double invscaling
    double max_step
    double l2
    double l1
    double fit_intercept
    double intercept_scale
    double reference_class
    double average_start
    double saga
    double step_batch
    double t0
    double average_power

cdef packed struct EpochCounters:
    double t
    double samples_seen
    double scale
    double cumulative_l1
    double scale_sum
    double count
    double reference
    double total


cdef inline bint diverged(double loss, double reference, double factor) noexcept nogil:
    """Whether ``loss`` shows a blown-up step: non-finite, or ``factor`` times the reference plus one nat."""
    return not isfinite(loss) or loss > factor * (reference + 1.0)


cdef inline double schedule_step(
    const EpochSettings* settings, double t, double rows, double samples_seen, bint adagrad
) noexcept nogil:
    """The schedule's step (before the cap ``max_step``) of step count ``t`` for ``rows`` rows
    after ``samples_seen``: EpochSettings.schedule_step of contract.py."""
    cdef double step = settings.eta0
    if settings.invscaling != 0:
        step = settings.eta0 / pow(t + 1.0, settings.power_t)
    if settings.t0 > 0:  # "optimal": eta0 is a row's step
        step = rows * settings.eta0 / (1.0 + samples_seen / settings.t0)
    elif rows < settings.step_batch and not adagrad:
        step *= rows / settings.step_batch
    return step


cdef inline double row_cross_entropy_residual(
    floating* row,
    const floating* intercept,
    const floating* target,
    double weight,
    Py_ssize_t n_free,
    bint reference_class,
) noexcept nogil:
    """Turn one row of free scores (plus ``intercept``, unless NULL) into ``s_i (P_i - Y_i)`` in
    place; return ``s_i CE_i``.

    ``target`` has the reference class's entry first when ``reference_class`` (whose score is
    0). Shifted by the row maximum, so nothing overflows; sums in double precision.
    """
    cdef double largest, shifted, norm = 0.0, observed = 0.0
    cdef Py_ssize_t k
    largest = row[0] if intercept == NULL else row[0] + intercept[0]
    for k in range(1, n_free):
        shifted = row[k] if intercept == NULL else row[k] + intercept[k]
        if shifted > largest:
            largest = shifted
    if reference_class:
        largest = max(largest, 0.0)
        norm = exp(-largest)
        observed = -target[0] * largest
        target = target + 1
    for k in range(n_free):
        shifted = (row[k] if intercept == NULL else row[k] + intercept[k]) - largest
        observed += target[k] * shifted
        row[k] = <floating>exp(shifted)
        norm += row[k]
    for k in range(n_free):
        row[k] = <floating>(weight * (row[k] / norm - target[k]))
    return weight * (log(norm) - observed)
