"""The minibatch SGD / SAGA driver: its schedule's start, the epoch loop and the back-off.

What stops the loop is :class:`~._sgd_stopping.EpochJudge`'s decision.
"""

from functools import partial

import numpy as np

from ._epochs import _BACKOFF_FACTOR, _diverged, _saga_epoch, _sgd_epoch
from ._monitor import SILENT
from ._sgd_stopping import SAGA_SAFE_FRACTION, EpochJudge
from ._state import Result, SAGAMemory, SGDState, StepSchedule
from ._steps import ADAGRAD_ETA0, default_step, optimal_eta0, optimal_t0

# A step that blows the loss up is backed off (_epochs._BACKOFF_FACTOR) at most
# this many times in one call (from 1e8 down to 1e-2).
_MAX_BACK_OFFS = 10


def sgd(
    objective,
    coef,
    intercept,
    state,
    *,
    batch_size,
    max_iter,
    tol,
    n_iter_no_change,
    shuffle,
    rng,
    stall_ratio=None,
    stall_patience=1,
    epoch_passes=1.0,
    certify_below=None,
    validation=None,
    variance_reduced=False,
    rescore=False,
    monitor=SILENT,
    verbose=0,
):
    """Minibatch SGD (or SAGA) on ``objective``, updating ``coef`` and ``intercept`` in place.

    With ``tol`` not None the run stops when one of these holds after an epoch:

    * **certified**: the model's relative duality gap
      (:meth:`~sklearn_maxent._model._objective.Objective.certified_gap`, one pass)
      is at most ``tol``. Not checked with ``validation``, nor before the epoch at which
      the last two passes' rate says it may succeed (half the epochs that rate needs, at
      most twice the last spacing), nor, with ``stall_ratio``, while the gradient SAGA's
      memory holds says it cannot (:func:`~._certify.may_be_certified`).
    * **stalled**: ``n_iter_no_change`` epochs in a row without improvement,
      as in ``SGDClassifier``. Plain SGD judges its epoch loss (improved:
      below the best minus ``tol``); SAGA the objective ``J`` measured by
      the certificate's pass (improved: below the best), since its epoch
      loss mixes the data loss before the epoch's steps with the penalty
      after them and an early oscillation can set a best it never beats
      again, and an epoch that skips the pass (``certify_below``) gained too
      much to count as stalled; with ``validation`` the held-out score
      (improved: above the best plus ``tol``). The ``"adaptive"`` schedule then divides the step
      by 5 and goes on, until the step is below 1e-6.

    An epoch whose step blows the loss up (see :func:`_sgd_epoch`) is undone
    and retried with a step ten times smaller; so is, with ``rescore``, an
    epoch that leaves its own rows far worse than it found them.

    Parameters
    ----------
    objective : Objective or DeviceObjective
        A device objective's epochs run on its device
        (:mod:`sklearn_maxent._optim._device_epochs`); the parameters and ``state``
        stay NumPy arrays on the host either way.
    coef, intercept : ndarray
        Starting point, overwritten with the result; with ``state.iterate``
        (averaged SGD going on) that is the starting point, and they are not
        read.
    state : SGDState
        Step count, schedule and stopping bookkeeping, updated.
    batch_size : int
    max_iter : int
        Epochs at most.
    tol : float or None
        None disables both stopping rules: exactly ``max_iter`` epochs.
    n_iter_no_change : int
    shuffle : bool
    rng : numpy.random.RandomState
    stall_ratio : float or None
        If given, also stop (as converged) once ``stall_patience`` epochs in a
        row each lower the loss by less than this fraction of it per full
        pass's cost (``epoch_passes``), measured over two epochs (a loss
        that alternates gains every other epoch; a halving of SAGA's own step starts the count
        again): the hand-over point of the ``"auto"`` solver, to a method that pays about a pass an
        iteration.
    stall_patience : int
    epoch_passes : float
        What an epoch costs in full passes (loss and gradient) of the data.
    certify_below : float or None
        If given, pay for the certificate's pass only after epochs that
        lowered the loss by less than this fraction of it (a run that still
        gains more per epoch is far from ``tol``); None: after every epoch.
    validation : callable or None
        ``validation(coef, intercept) -> score`` (higher is better) on
        held-out data: early stopping. The weights of the best-scoring epoch
        are the result; the scores are appended to
        ``state.validation_scores``.
    variance_reduced : bool
        Run SAGA epochs (:func:`_saga_epoch`) instead of plain SGD ones.
    rescore : bool
        Score the rows again after each epoch (one more pass) and undo the
        epoch where their loss is diverged (twice, plus one nat) from their
        mean loss as its steps reached them: its last minibatches can wreck
        the model with nothing left in the epoch to show it. ``partial_fit``'s
        guard, whose epoch is a chunk of a stream, and whose result is used
        before the next chunk could tell.
    monitor : StepMonitor
        Told of each epoch (:mod:`~sklearn_maxent._optim._monitor`); the run
        stops, not converged unless certified, when it asks.
    verbose : int

    Returns
    -------
    Result
        ``gap`` is the certified gap of the returned model when the last
        epoch checked it, else nan.
    """
    result_coef, result_intercept = coef, intercept
    if state.iterate is not None:
        # SGD goes on from its last iterate (only ever replaced), in arrays of its own that become
        # the next iterate; the caller's receive the average.
        coef, intercept = state.iterate[0].copy(), state.iterate[1].copy()
    least_step = _start_schedule(objective, coef, intercept, state, batch_size, rng, variance_reduced)
    run_epoch, phase = _sgd_epoch, "sgd-epoch"
    if variance_reduced:
        phase = "saga-epoch"
        run_epoch = _saga_epoch
        state.memory = SAGAMemory.empty(objective)
    judge = EpochJudge(
        objective,
        state,
        tol=tol,
        n_iter_no_change=n_iter_no_change,
        stall_ratio=stall_ratio,
        stall_patience=stall_patience,
        epoch_passes=epoch_passes,
        certify_below=certify_below,
        validation=validation,
        variance_reduced=variance_reduced,
        least_step=least_step,
        verbose=verbose,
    )
    order = np.arange(objective.n_samples)
    epoch = back_offs = 0
    while epoch < max_iter and back_offs <= _MAX_BACK_OFFS:
        monitor.begin(phase)
        if shuffle:
            rng.shuffle(order)
        # A first epoch from the iterate (only ever replaced, never changed) is undone from it.
        start = state.iterate if epoch == 0 and state.iterate is not None else (coef.copy(), intercept.copy())
        # The epoch changes its state's arrays in place: those of a copy, taken over if it succeeds.
        working = state.epoch_copy()
        data_loss = run_epoch(objective, coef, intercept, working, batch_size, order)
        if rescore and data_loss is not None and _left_worse(objective, coef, intercept, data_loss):
            data_loss = None
        if data_loss is None:
            coef[:], intercept[:] = start
            if variance_reduced:
                state.memory = SAGAMemory.empty(objective)
            state.schedule.eta0 /= _BACKOFF_FACTOR
            back_offs += 1
            if verbose:
                print(f"-- Loss diverged, step backed off to {state.schedule.eta0:.3g}")
            continue
        vars(state).update(vars(working))
        epoch += 1
        model = partial(_model, state, coef, intercept, objective.penalty)
        judge.measure(epoch, data_loss, coef, model)
        if monitor.end(model) or judge.certified or judge.should_stop(model):
            break
    monitor.abandon()  # an epoch retried past _MAX_BACK_OFFS
    state.memory = None  # a cache for this data only
    if state.average is not None:
        own = coef is not result_coef
        state.iterate = (coef, intercept) if own else (coef.copy(), intercept.copy())
    gap = judge.gap
    if judge.best is not None:
        result_coef[:], result_intercept[:] = judge.best
        gap = np.nan
    elif validation is None and state.average is not None:  # without averaging the model is coef
        _, result_intercept[:] = _model(state, *state.iterate, objective.penalty, out=result_coef)
    return Result(epoch, judge.converged(epoch), state.loss_curve, gap)


def _start_schedule(objective, coef, intercept, state, batch_size, rng, variance_reduced):
    """Set what the schedule still lacks (its first step, the minibatch size it is for, ``t0``)
    from the data; return the least step SAGA's swings may halve it to (infinite: never)."""
    schedule = state.schedule
    if schedule.kind in ("adagrad", "optimal") and variance_reduced:
        raise ValueError(f"learning_rate={schedule.kind!r} steps plain SGD, not SAGA.")
    # Only a step of our own choosing is halved when SAGA's loss rises; the user's is kept.
    least_step = np.inf
    if schedule.eta0 is None and schedule.kind == "adagrad":
        schedule.eta0 = ADAGRAD_ETA0
    elif schedule.eta0 is None and schedule.kind == "optimal":
        schedule.eta0 = optimal_eta0(objective)
    elif schedule.eta0 is None:
        base = default_step(objective, batch_size, rng)
        schedule.eta0 = calibrated_step(objective, coef, intercept, batch_size, rng, base)
        least_step = SAGA_SAFE_FRACTION * base
    if schedule.batch_size is None:
        schedule.batch_size = min(batch_size, objective.n_samples)
    if schedule.kind == "optimal" and schedule.t0 is None:
        schedule.t0 = optimal_t0(objective.penalty, schedule.eta0)
    return least_step


def _left_worse(objective, coef, intercept, data_loss):
    """Whether the rows' loss at ``coef``, ``intercept`` is diverged from ``data_loss``, their mean loss
    as an epoch's steps reached them (see ``rescore``)."""
    return _diverged(objective.data_loss(coef, intercept), data_loss, 2.0)


def _model(state, coef, intercept, penalty, out=None):
    """The weights SGD offers as its model: the iterate, or with averaging the average (into ``out``).

    The average is projected into the penalty's bounds: it includes
    untouched weights that the lazy L2 scale moved out of a box that
    excludes 0 (see :meth:`~sklearn_maxent._optim._lazy.LazyCoef.materialize`).
    """
    if state.average is None:
        return coef.copy(), intercept.copy()
    mean_coef, mean_intercept = state.average.mean(coef, intercept, out)
    return penalty.project(mean_coef), mean_intercept


def calibrated_step(objective, coef, intercept, batch_size, rng, base, n_batches=20, max_factor=64):
    """The best of ``base * 2**k`` on a subsample, ``base`` the :func:`default_step`: Bottou's recipe.

    ``1 / L_b`` is safe but pessimistic: the softmax Hessian's eigenvalues
    reach 1/2 only where two classes share the probability, and with many
    classes most of the data is far from that. So, as in Bottou (2012,
    "Stochastic gradient descent tricks", section 5.2), one SGD pass over
    ``n_batches`` random minibatches is tried from ``coef``, ``intercept``
    with steps 1, 2, 4, ... ``max_factor`` times ``1 / L_b``, and the step
    whose pass ends at the lowest loss is kept; the trials stop at the first
    step that does worse than the one before. A step that proves too large
    later is still backed off by :func:`sgd`.
    """
    n_rows = min(objective.n_samples, n_batches * batch_size)
    sample = objective.subset(np.sort(rng.choice(objective.n_samples, n_rows, replace=False)))
    order = np.arange(n_rows)
    rng.shuffle(order)
    best_loss, best_step = np.inf, base
    factor = 1
    while factor <= max_factor:
        trial_coef, trial_intercept = coef.copy(), intercept.copy()
        state = SGDState(StepSchedule("constant", base * factor))
        if _sgd_epoch(sample, trial_coef, trial_intercept, state, batch_size, order) is None:
            break
        loss = sample.value(trial_coef, trial_intercept)
        if not loss < best_loss:
            break
        best_loss, best_step = loss, base * factor
        factor *= 2
    return best_step
