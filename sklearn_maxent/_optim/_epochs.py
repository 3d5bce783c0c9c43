"""One epoch of minibatch SGD or SAGA: the inner loop under :func:`~sklearn_maxent._optim._sgd.sgd`.

An epoch function runs one pass over a given row order, updating the
weights in place, and returns the epoch's mean minibatch loss, or None when
its steps blew the loss up (the driver then undoes the epoch and backs the
step off). It decides nothing else: stopping and schedules are the driver's.
"""

import numpy as np

from .._penalty import IterateAverage, LazyWeights
from ._steps import intercept_step_scale, max_step

# A step that blows the loss up is divided by this before the epoch is retried ...
_BACKOFF_FACTOR = 10.0


def _diverged(loss, reference, factor):
    """Whether ``loss`` shows the step blew up: non-finite, or ``factor`` times the reference and more."""
    return not np.isfinite(loss) or loss > factor * (reference + 1.0)


def _epoch_reference(previous, first_batch_loss, schedule):
    """The loss an epoch's steps are judged against (see :func:`_sgd_epoch`).

    The first minibatch's loss comes before any step of the epoch. When it is
    already far above the previous epoch's, the last steps of the previous
    epoch (or ``partial_fit`` call) blew the loss up: they cannot be undone
    any more, so the step is made ten times smaller from now on, and the
    epoch is judged from where it starts (judging it by the previous epoch
    would reject every retry and stall training).
    """
    if previous is None:
        return first_batch_loss
    if _diverged(first_batch_loss, previous, 2.0):
        schedule.eta0 /= _BACKOFF_FACTOR
        return first_batch_loss
    return previous


def _batch_mean_loss(loss, batch):
    """A minibatch's loss estimate as the weighted mean cross-entropy of its own rows.

    The estimate is scaled for the whole data; a minibatch of heavy rows
    (class weights) would look like a blow-up next to the epoch's mean.
    """
    total_weight = float(batch.weights.sum())
    return loss / total_weight if total_weight > 0 else 0.0


def _finish_epoch(coef, intercept, state, weights, mean_loss, reference):
    """Fold the lazy weights, judge the epoch, and keep its penalty state; see :func:`_sgd_epoch`."""
    weights.materialize()
    if _diverged(mean_loss, reference, 2.0) or not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        return None
    state.data_loss = mean_loss
    state.cumulative_l1, state.applied_l1 = weights.cumulative, weights.applied
    return mean_loss


def _sgd_epoch(objective, coef, intercept, state, batch_size, order):
    """One pass over ``order`` in minibatches, updating ``coef`` and ``intercept`` in place.

    Each step costs the minibatch's non-zeros times the number of classes:
    only the weight rows of the features it uses are read and written, and
    the penalty is applied lazily (:class:`~sklearn_maxent._penalty.LazyWeights`).

    Returns the mean of the minibatch losses, each taken before its step (an
    estimate of the epoch's data loss that costs no extra pass), or None if
    the step blew the loss up: compared with the previous epoch's mean loss
    (or the first minibatch's: :func:`_epoch_reference`), any minibatch's
    mean loss at 100 times it, or the epoch's at twice it (plus one nat, for
    losses near zero). Steps are capped by :func:`max_step`.
    """
    weights = LazyWeights(objective.penalty, coef, state.cumulative_l1, state.applied_l1)
    largest_step = max_step(objective)
    intercept_scale = intercept_step_scale(objective)
    reference = state.data_loss
    total = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        # As SGDClassifier's ``average``: the iterate after the step that brings the
        # samples seen to average_start is the first one averaged.
        if state.average_start is not None and state.samples_seen + len(rows) >= state.average_start:
            if state.average is None:
                state.average = IterateAverage.empty(coef, intercept)
            weights.average = state.average
        batch = objective.minibatch(rows)
        values = weights.gather(batch.features)
        loss, grad_rows, grad_intercept = objective.minibatch_loss_gradient(
            batch, weights.weights(values), intercept
        )
        batch_loss = _batch_mean_loss(loss, batch)
        if start == 0:
            reference = _epoch_reference(reference, batch_loss, state.schedule)
        if _diverged(batch_loss, reference, 100.0):
            return None
        step = min(state.schedule(state.t), largest_step)
        state.t += 1
        weights.step(batch.features, values, grad_rows, step)
        if weights.needs_fold:
            weights.materialize()
        if objective.fit_intercept:
            intercept -= intercept.dtype.type(step * intercept_scale) * grad_intercept
        if weights.average is not None:
            weights.average.intercept_sum += intercept
        state.samples_seen += len(batch.weights)
        total += loss * len(batch.weights)
    return _finish_epoch(coef, intercept, state, weights, total / len(order), reference)


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
    memory = state.memory
    n = objective.n_samples
    dtype = objective.dtype.type
    weights = LazyWeights(objective.penalty, coef, state.cumulative_l1, state.applied_l1)
    largest_step = max_step(objective)
    intercept_scale = intercept_step_scale(objective)
    # cumulative[t]: sum of step / scale over the epoch's first t steps; a row
    # caught up at step s owes average * (cumulative[t] - cumulative[s]).
    cumulative = np.zeros(-(-len(order) // batch_size) + 1)
    memory.caught_up[:] = 0

    # Dense data touch every row at every step: nothing is ever owed.
    lazy = objective.is_sparse

    def catch_up_all(t):
        if lazy:
            owed = (cumulative[t] - cumulative[memory.caught_up]).astype(coef.dtype)
            weights.values -= memory.average * owed[:, None]
            memory.caught_up[:] = t

    reference = state.data_loss
    total = 0.0
    for t, start in enumerate(range(0, len(order), batch_size), start=1):
        rows = order[start : start + batch_size]
        batch = objective.minibatch(rows)
        values = weights.gather(batch.features)
        if lazy:
            average = np.take(memory.average, batch.features, axis=0)
            owed = cumulative[t - 1] - cumulative[np.take(memory.caught_up, batch.features)]
            values -= average * owed.astype(coef.dtype)[:, None]
        else:
            average = memory.average
        loss, residual = objective.minibatch_loss_residual(batch, weights.weights(values), intercept)
        batch_loss = _batch_mean_loss(loss, batch)
        if start == 0:
            reference = _epoch_reference(reference, batch_loss, state.schedule)
        if _diverged(batch_loss, reference, 100.0):
            return None
        change = residual - memory.residuals[rows]
        memory.residuals[rows] = residual
        grad_change = np.asarray(batch.X.T @ change)
        direction = grad_change / dtype(len(rows)) + average
        average += grad_change / dtype(n)
        step = min(state.schedule(state.t), largest_step)
        state.t += 1
        weights.step(batch.features, values, direction, step)
        cumulative[t] = cumulative[t - 1] + step / weights.scale
        if lazy:
            memory.average[batch.features] = average
            memory.caught_up[batch.features] = t
        if objective.fit_intercept:
            intercept_change = change.sum(axis=0)
            intercept -= dtype(step * intercept_scale) * (
                intercept_change / dtype(len(rows)) + memory.average_intercept
            )
            memory.average_intercept += intercept_change / dtype(n)
        total += loss * len(rows)
        if weights.needs_fold:
            catch_up_all(t)
            weights.materialize()
    catch_up_all(len(cumulative) - 1)
    return _finish_epoch(coef, intercept, state, weights, total / len(order), reference)
