"""One epoch of minibatch SGD or SAGA: the inner loop under :func:`~sklearn_maxent._optim._sgd.sgd`.

An epoch function runs one pass over a given row order, updating the
weights in place, and returns the epoch's mean minibatch loss, or None when
its steps blew the loss up (the driver then undoes the epoch and backs the
step off). The pass is one call of the compiled kernel
(:func:`sklearn_maxent._kernels.epoch.run_epoch`), or for the dense arrays
of another namespace of a :class:`~sklearn_maxent._array_api._device.DeviceObjective`
of its array API port (:func:`sklearn_maxent._optim._device_epochs.run_epoch`),
which reports what it saw as a status code; what follows from it (the
step's back-off, the epoch's verdict) is decided here. Stopping and
schedules are the driver's.
"""

import numpy as np
from scipy import sparse

from .._array_api._device import DeviceObjective
from .._kernels import effective_n_threads
from .._kernels import epoch as kernel
from .._kernels.contract import EpochCounters, EpochSettings, diverged
from . import _device_epochs
from ._lazy import IterateAverage, LazyCoef
from ._steps import intercept_step_scale, max_step

# A step that blows the loss up is divided by this before the epoch is retried ...
_BACKOFF_FACTOR = 10.0


def _diverged(loss, reference, factor):
    """Whether ``loss`` shows the step blew up, as the kernel judges it (``contract.diverged``)."""
    return bool(diverged(loss, reference, factor))


def all_finite(array):
    """Whether every entry of ``array`` is finite, from its sum: one read, no mask (a sum that
    overflows belongs to a blown-up model too)."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.sum(array)))


def _finish_epoch(coef, intercept, state, lazy_coef, mean_loss, reference):
    """Fold the lazy ``coef``, judge the epoch, and keep its penalty state; see :func:`_sgd_epoch`."""
    lazy_coef.materialize()
    if _diverged(mean_loss, reference, 2.0) or not (all_finite(coef) and all_finite(intercept)):
        return None
    state.data_loss = mean_loss
    state.cumulative_l1, state.applied_l1 = lazy_coef.cumulative, lazy_coef.applied
    return mean_loss


def _sgd_epoch(objective, coef, intercept, state, batch_size, order):
    """One pass over ``order`` in minibatches, updating ``coef`` and ``intercept`` in place.

    Each step costs the minibatch's non-zeros times the number of classes:
    only the weight rows of the features it uses are read and written, and
    the penalty is applied lazily (:class:`~sklearn_maxent._optim._lazy.LazyCoef`).
    With ``state.average_start`` the iterates are averaged from the step that
    brings the samples seen to it, as ``SGDClassifier`` does.

    Returns the mean of the minibatch losses, each taken before its step (an
    estimate of the epoch's data loss that costs no extra pass), or None if
    the step blew the loss up: compared with the previous epoch's mean loss
    (or the first minibatch's), any minibatch's mean loss at 100 times it, or
    the epoch's at twice it (plus one nat, for losses near zero). Steps are
    capped by :func:`~sklearn_maxent._optim._steps.max_step`.
    """
    average = None
    if state.average_start is not None and state.samples_seen + len(order) >= state.average_start:
        if state.average is None:
            state.average = IterateAverage.empty(coef, intercept)
        average = state.average
    return _run_epoch(objective, coef, intercept, state, batch_size, order, average, None)


def _saga_epoch(objective, coef, intercept, state, batch_size, order):
    """One pass of minibatch SAGA (Defazio, Bach & Lacoste-Julien, 2014) over ``order``, in place.

    The direction is the minibatch's gradient minus its rows' stored
    gradients plus the mean of all stored ones: unbiased, and its variance
    vanishes at the optimum, so a constant step converges. Unlike a plain
    minibatch mean, it gives a feature that is rare in the data its whole
    mean gradient at every step. The mean term is applied to untouched
    weight rows lazily, by cumulative step sums, so a step still costs the
    minibatch's non-zeros. Returns what :func:`_sgd_epoch` returns.
    """
    return _run_epoch(objective, coef, intercept, state, batch_size, order, None, state.memory)


def _run_epoch(objective, coef, intercept, state, batch_size, order, average, memory):
    """The kernel's pass with ``average`` (IterateAverage or None) and ``memory`` (SAGAMemory or None)."""
    if not coef.flags.c_contiguous:
        # The kernel updates C-ordered weight rows in place; the estimator passes such.
        row_major = np.ascontiguousarray(coef)
        loss = _run_epoch(objective, row_major, intercept, state, batch_size, order, average, memory)
        coef[...] = row_major
        return loss
    proximal_l1 = _proximal_l1(objective, state)
    lazy_coef = LazyCoef(objective.penalty, coef, state.cumulative_l1, state.applied_l1, average, proximal_l1)
    reference = state.data_loss
    while True:
        counters = EpochCounters(
            t=state.t,
            samples_seen=state.samples_seen,
            scale=1.0,
            cumulative_l1=lazy_coef.cumulative,
            scale_sum=0.0 if average is None else average.scale_sum,
            count=0.0 if average is None else average.count,
            reference=np.nan if reference is None else reference,
        )
        scalars = np.array(counters, dtype=np.float64)
        settings = _settings(objective, state, average is not None, memory is not None)
        status = _pass(
            objective,
            state,
            order,
            batch_size,
            coef,
            intercept,
            lazy_coef.applied,
            scalars,
            settings,
            average,
            memory,
        )
        if status != kernel.STALE_REFERENCE:
            break
        # The first minibatch's loss is already far above the previous epoch's:
        # the last steps of the previous epoch (or partial_fit call) blew the
        # loss up. They cannot be undone any more, so the step is made ten
        # times smaller from now on, and the epoch is judged from where it
        # starts (judging it by the previous epoch would reject every retry).
        state.schedule.eta0 /= _BACKOFF_FACTOR
        reference = None
    if status == kernel.DIVERGED:
        return None
    counters = EpochCounters(*scalars.tolist())
    state.t, state.samples_seen = int(counters.t), int(counters.samples_seen)
    lazy_coef.scale, lazy_coef.cumulative = counters.scale, counters.cumulative_l1
    if average is not None:
        average.scale_sum, average.count = counters.scale_sum, counters.count
    return _finish_epoch(coef, intercept, state, lazy_coef, counters.total / len(order), counters.reference)


def _pass(objective, state, order, batch_size, coef, intercept, applied, scalars, settings, average, memory):
    """One epoch's call: of the compiled kernel, or of its port for a DeviceObjective; its status.

    The port knows neither AdaGrad nor what a DeviceObjective never has (offsets, penalty
    factors, bounds): the estimator keeps those on the host.
    """
    adagrad_sums = _adagrad_sums(objective, state)
    if isinstance(objective, DeviceObjective):
        if adagrad_sums is not None:
            raise ValueError("AdaGrad's steps run on the host only.")
        return _device_epochs.run_epoch(
            objective.X,
            objective.targets,
            objective.row_weights,
            order,
            batch_size,
            coef,
            intercept,
            applied,
            scalars,
            settings,
            None if average is None else (average.correction, average.intercept_sum),
            None if memory is None else (memory.residuals, memory.average, memory.average_intercept),
        )
    per_row = _per_row(objective, state)
    return kernel.run_epoch(
        *_kernel_data(objective),
        np.ascontiguousarray(order, dtype=np.intp),
        batch_size,
        coef,
        intercept,
        _or_empty(applied, coef.dtype, 2),
        scalars,
        settings,
        _factor_array(objective, per_row),
        _or_empty(adagrad_sums, np.float64, 1),
        *_bounds_arrays(objective.penalty, coef.shape),
        *_average_arrays(average),
        *_memory_arrays(memory, coef.dtype, _last_touched(objective, memory, per_row)),
        _n_threads(objective, batch_size),
    )


def _n_threads(objective, batch_size):
    """The kernel's threads: one on dense data (a dense minibatch's time is BLAS's products, on
    BLAS's threads) and for sparse minibatches too small to pay for another thread."""
    X = objective.X
    if not sparse.issparse(X):
        return 1
    entries = X.nnz * min(batch_size, X.shape[0]) // max(X.shape[0], 1) * objective.parameter_shape[1]
    return effective_n_threads(entries, kernel.MIN_ENTRIES_PER_THREAD)


def _kernel_data(objective):
    """``X`` as the kernel reads it (CSR's arrays, or a dense C-order buffer), targets, row weights, offset.

    No offset is an empty one, of shape (0, n_free).
    """
    X = objective.X
    if sparse.issparse(X):
        arrays = X.data, X.indices, X.indptr, True
    else:
        # A copy only for Fortran-ordered data; the estimator passes on what the user gave.
        empty = np.empty(0, dtype=np.int32)
        arrays = np.ascontiguousarray(X).reshape(-1), empty, empty, False
    dtype = objective.dtype
    targets = np.ascontiguousarray(objective.targets, dtype=dtype)
    offset = objective.offset
    offset = np.empty((0, objective.parameter_shape[1]), dtype) if offset is None else offset
    return (
        *arrays,
        targets,
        np.ascontiguousarray(objective.row_weights, dtype=dtype),
        np.ascontiguousarray(offset, dtype=dtype),
    )


def _settings(objective, state, averaging, saga):
    """What the kernel needs to know of the schedule, the penalty and the model, as float64."""
    schedule = state.schedule
    penalty = objective.penalty
    settings = EpochSettings(
        eta0=schedule.eta0,
        power_t=schedule.power_t,
        invscaling=schedule.kind == "invscaling",
        max_step=max_step(objective),
        l2=penalty.l2,
        l1=penalty.l1,
        fit_intercept=objective.fit_intercept,
        intercept_scale=intercept_step_scale(objective),
        reference_class=objective.reference_class,
        average_start=state.average_start if averaging else -1,
        saga=saga,
        step_batch=schedule.batch_size or 0,
        t0=schedule.t0 or 0.0,
        average_power=schedule.average_power,
    )
    return np.array(settings, dtype=np.float64)


def _or_empty(array, dtype, ndim):
    """``array``, or an empty one of ``dtype`` where the kernel expects none."""
    return array if array is not None else np.empty((0,) * ndim, dtype=dtype)


def _proximal_l1(objective, state):
    """Whether the kernel takes the L1 term as a proximal step per row, not the cumulative charge.

    With AdaGrad, and with bounds (the kernel's ``run_epoch`` says why): the kernel decides
    the same from its arguments.
    """
    penalty = objective.penalty
    return state.schedule.kind == "adagrad" or (penalty.bounded and penalty.has_l1)


def _per_row(objective, state):
    """Whether the kernel decays each weight row on its own (scale 1): with penalty factors, with
    AdaGrad, and where proximal L1 steps must be caught up on sparse data."""
    if objective.penalty.factor is not None or state.schedule.kind == "adagrad":
        return True
    return _proximal_l1(objective, state) and objective.is_sparse


def _adagrad_sums(objective, state):
    """AdaGrad's sums of squared gradients (``state.adagrad_sums``, created as zeros), or None without it."""
    if state.schedule.kind != "adagrad":
        return None
    if state.adagrad_sums is None:
        state.adagrad_sums = np.zeros(objective.parameter_shape[0] + 1)
    return state.adagrad_sums


def _factor_array(objective, per_row):
    """The penalty's per-feature factors as the kernel reads them, float64: ones for the per-row
    path where there are none (``per_row``), else empty."""
    factor = objective.penalty.factor
    if factor is None:
        return np.ones(objective.parameter_shape[0]) if per_row else np.empty(0)
    return np.ascontiguousarray(factor, dtype=np.float64)


def _last_touched(objective, memory, per_row):
    """Each weight row's last step, for the kernel's catch-up: SAGA's, or plain SGD's on the per-row path.

    None where nothing is caught up (SGD off that path, or on dense data).
    """
    if memory is not None:
        return memory.caught_up
    if per_row and objective.is_sparse:
        return np.zeros(objective.parameter_shape[0], dtype=np.intp)
    return None


def _bounds_arrays(penalty, shape):
    """The penalty's bounds as the kernel reads them: float64 of ``shape``, or both empty without bounds."""
    if not penalty.bounded:
        return np.empty((0, shape[1])), np.empty((0, shape[1]))
    return tuple(
        np.ascontiguousarray(np.broadcast_to(default if bound is None else bound, shape), dtype=np.float64)
        for bound, default in ((penalty.lower, -np.inf), (penalty.upper, np.inf))
    )


def _average_arrays(average):
    if average is None:
        return np.empty((0, 0)), np.empty(0)
    return average.correction, average.intercept_sum


def _memory_arrays(memory, dtype, last_touched):
    """SAGA's memory as the kernel reads it (empty for SGD), with ``last_touched`` zeroed as ``caught_up``."""
    if last_touched is None:
        last_touched = np.empty(0, dtype=np.intp)
    last_touched[:] = 0
    if memory is None:
        empty_rows = np.empty((0, 0), dtype=dtype)
        return empty_rows, empty_rows, np.empty(0, dtype=dtype), last_touched
    return memory.residuals, memory.average, memory.average_intercept, last_touched
