"""The NumPy SGD and SAGA epochs the compiled kernel replaced, kept as its test reference.

``sklearn_maxent._kernels._epoch.run_epoch`` must compute what these compute,
on the same row order (``tests/test_epoch_kernel.py``). They are the package's
former ``_optim._epochs`` with what only they needed: minibatches with
compacted columns (``Objective.minibatch``), and the per-step methods of
``LazyCoef`` (gather, step, cumulative L1, the lazy average's bookkeeping).
Plain NumPy and scipy.sparse, step by step; slow, and written to be read.
Per-feature penalty factors and AdaGrad (issue 14) are eager here: every
weight row decays (and takes its L1 step, with AdaGrad) at every step, where
the kernel catches the untouched rows up later.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from sklearn_maxent._kernels import epoch as epoch_kernel
from sklearn_maxent._model._softmax import _cross_entropy_residual, linear_loss_gradient, linear_loss_residual
from sklearn_maxent._optim._epochs import _BACKOFF_FACTOR, _diverged
from sklearn_maxent._optim._lazy import IterateAverage, LazyCoef, _times
from sklearn_maxent._optim._steps import intercept_step_scale, max_step


@dataclass
class Minibatch:
    """Rows of the data, restricted to the features they use.

    ``X`` has one column per entry of ``features`` (all features, ``slice(None)``,
    for dense data). ``row_weights`` are scaled by ``n_samples / n_rows`` so that
    loss and gradient are unbiased estimates of the full ones. ``offset``: the
    rows' score offsets, or None.
    """

    X: object
    features: object
    targets: np.ndarray
    row_weights: np.ndarray
    offset: np.ndarray | None = None


def minibatch(objective, rows):
    """The :class:`Minibatch` of ``rows`` (sorted or not)."""
    row_weights = objective.row_weights[rows] * objective.dtype.type(objective.n_samples / len(rows))
    X = objective.X[rows]
    features = slice(None)
    if sparse.issparse(X):
        slots = vars(objective).setdefault("_reference_slots", np.zeros(X.shape[1], dtype=np.intp))
        X, features = _compact_columns(X, slots)
    offset = None if objective.offset is None else objective.offset[rows]
    return Minibatch(X, features, objective.targets[rows], row_weights, offset)


def _compact_columns(X, slots):
    """Renumber the columns of CSR ``X`` to the distinct features it uses, in O(nnz).

    ``slots`` is scratch space of one entry per feature (the former
    ``Objective._slots``), so that ``benchmarks/profile_epoch.py --reference``
    times the NumPy epochs as they ran.
    """
    positions = np.arange(X.nnz)
    # Each feature's slot ends up holding one of its positions (whichever
    # write lands last); that position stands for the feature.
    slots[X.indices] = positions
    representative = slots[X.indices]
    is_representative = representative == positions
    features = X.indices[is_representative]
    compact = (np.cumsum(is_representative) - 1)[representative]
    X = sparse.csr_matrix((X.data, compact, X.indptr), shape=(X.shape[0], features.size))
    return X, features


def minibatch_loss_gradient(objective, batch, coef_rows, intercept):
    """Loss and gradient estimates on a minibatch; ``coef_rows`` is ``W[batch.features]``."""
    if batch.offset is None:
        loss, grad_rows, grad_intercept = linear_loss_gradient(
            batch.X, batch.targets, batch.row_weights, coef_rows, intercept, objective.reference_class
        )
    else:
        loss, residual = _loss_residual(objective, batch, coef_rows, intercept)
        grad_rows, grad_intercept = np.asarray(batch.X.T @ residual), residual.sum(axis=0)
    if not objective.fit_intercept:
        grad_intercept[:] = 0
    return loss, grad_rows, grad_intercept


def minibatch_loss_residual(objective, batch, coef_rows, intercept):
    """Loss estimate and the rows' score gradients ``n w_i (P_i - Y_i)`` on a minibatch."""
    loss, residual = _loss_residual(objective, batch, coef_rows, intercept)
    residual *= objective.dtype.type(len(batch.row_weights))
    return loss, residual


def _loss_residual(objective, batch, coef_rows, intercept):
    """``linear_loss_residual`` of the minibatch, its score offsets added to the free scores."""
    if batch.offset is None:
        return linear_loss_residual(
            batch.X, batch.targets, batch.row_weights, coef_rows, intercept, objective.reference_class
        )
    scores = np.ascontiguousarray(batch.X @ coef_rows + batch.offset)
    loss = _cross_entropy_residual(
        scores, intercept, batch.targets, batch.row_weights, objective.reference_class
    )
    return loss, scores


class SteppedCoef(LazyCoef):
    """:class:`~sklearn_maxent._optim._lazy.LazyCoef` with its SGD steps done in NumPy.

    ``factor``: the per-row path's factors (the penalty's, or ones), None off it.
    """

    _MIN_SCALE = 1e-9
    factor = None

    def gather(self, rows):
        """``V[rows]``: a view of all of ``V`` for ``slice(None)`` (dense data), a copy otherwise."""
        if isinstance(rows, slice):
            return self.values[rows]
        return np.take(self.values, rows, axis=0)

    def coef_rows(self, values):
        """``W`` for rows of ``V`` from :meth:`gather`."""
        return values * values.dtype.type(self.scale)

    def step(self, rows, values, grad_rows, step, untouched_direction=None, average_weight=1.0):
        """One SGD step: the penalty on all of ``W``, the gradient on ``W[rows]``; writes ``values`` back.

        With an average the new iterate enters it with weight ``average_weight``.

        On the per-row path (``factor`` not None) every row decays by
        ``1 - step l2 f_j`` (the scale stays 1), eagerly: the rows not in
        ``rows`` too, which also take ``untouched_direction`` (SAGA's mean
        term; None: no direction) and their proximal L1 step, if any.
        """
        dtype = self.values.dtype.type
        factor = self.factor
        before = values.copy() if self.average is not None else None
        if factor is None:
            self.scale *= 1.0 - step * self.penalty.l2
        else:
            decay = (1.0 - step * self.penalty.l2 * factor[:, None]).astype(dtype)
            self._step_untouched(rows, decay, untouched_direction, step)
            values *= decay[rows]
        values -= dtype(step / self.scale) * grad_rows
        if self.penalty.has_l1 and self.proximal_l1:
            factor = 1.0 if factor is None else factor[rows, None]
            threshold = np.asarray(step * self.penalty.l1 * factor / self.scale).astype(dtype)
            values[:] = np.sign(values) * np.maximum(np.abs(values) - threshold, 0)
        elif self.penalty.has_l1:
            self.cumulative += step * self.penalty.l1
            self._charge_l1(rows, values)
        self._clip(rows, values)
        if not isinstance(rows, slice):
            self.values[rows] = values
        if self.average is not None:
            self.average.correction[rows] -= _times(self.average.scale_sum, values - before)
            self.average.scale_sum += average_weight * self.scale
            self.average.count += average_weight

    def _step_untouched(self, rows, decay, direction, step):
        """The rows of sparse data not in ``rows``: decayed, and moved along ``direction`` (not None)."""
        if isinstance(rows, slice):
            return
        untouched = np.ones(len(self.values), dtype=bool)
        untouched[rows] = False
        before = self.values[untouched]
        after = decay[untouched] * before
        if direction is not None:
            after -= self.values.dtype.type(step) * direction[untouched]
        if self.penalty.has_l1 and self.proximal_l1:
            threshold = (step * self.penalty.l1 * self.factor[untouched, None]).astype(after.dtype)
            after = np.sign(after) * np.maximum(np.abs(after) - threshold, 0)
        self.values[untouched] = after
        if self.average is not None:
            self.average.correction[untouched] -= _times(self.average.scale_sum, after - before)

    def touch(self, rows, values):
        """``values`` (gathered ``rows`` of sparse data) clipped into the bounds before their scores.

        The lazy scale may have moved them out of a box that excludes 0.
        The average's correction keeps the sum of the iterates.
        """
        before = values.copy()
        self._clip(rows, values)
        if self.average is not None:
            self.average.correction[rows] -= _times(self.average.scale_sum, values - before)

    def _clip(self, rows, values):
        """``values``, rows ``rows`` of ``V``, with ``W = scale V`` clipped into the bounds, in place."""
        penalty = self.penalty
        if penalty.bounded:
            lower = -np.inf if penalty.lower is None else penalty.lower[rows] / self.scale
            upper = np.inf if penalty.upper is None else penalty.upper[rows] / self.scale
            np.clip(values, lower, upper, out=values)

    @property
    def needs_fold(self):
        return self.scale < self._MIN_SCALE

    def _charge_l1(self, rows, values):
        dtype = self.values.dtype.type
        coef_rows = values * dtype(self.scale)
        applied = self.applied[rows]
        factor = self.factor
        cumulative = self.cumulative
        if factor is not None:
            cumulative = (cumulative * factor[rows, None]).astype(dtype)
        owed_down = np.maximum(coef_rows - (cumulative + applied), 0)
        owed_up = np.minimum(coef_rows + (cumulative - applied), 0)
        charged = np.where(coef_rows > 0, owed_down, np.where(coef_rows < 0, owed_up, 0))
        self.applied[rows] = applied + (charged - coef_rows)
        values[:] = charged / dtype(self.scale)


def _epoch_reference(previous, first_batch_loss, schedule):
    """The loss an epoch's steps are judged against; backs the step off when the previous steps blew up."""
    if previous is None:
        return first_batch_loss
    if _diverged(first_batch_loss, previous, 2.0):
        schedule.eta0 /= _BACKOFF_FACTOR
        return first_batch_loss
    return previous


def _batch_mean_loss(loss, batch):
    total_weight = float(batch.row_weights.sum())
    return loss / total_weight if total_weight > 0 else 0.0


def _finish_epoch(coef, intercept, state, lazy_coef, mean_loss, reference):
    lazy_coef.materialize()
    if _diverged(mean_loss, reference, 2.0) or not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        return None
    state.data_loss = mean_loss
    state.cumulative_l1, state.applied_l1 = lazy_coef.cumulative, lazy_coef.applied
    return mean_loss


def _stepped_coef(objective, coef, state):
    """The epoch's SteppedCoef: with bounds, proximal L1 steps, on sparse data on the per-row path
    (as the kernel)."""
    penalty = objective.penalty
    proximal = penalty.bounded and penalty.has_l1
    stepped = SteppedCoef(penalty, coef, state.cumulative_l1, state.applied_l1, proximal_l1=proximal)
    if penalty.factor is not None or (proximal and objective.is_sparse):
        stepped.factor = np.ones(len(coef)) if penalty.factor is None else penalty.factor
    return stepped


def sgd_epoch(objective, coef, intercept, state, batch_size, order):
    """One pass of minibatch SGD over ``order``, in place; the mean minibatch loss or None."""
    lazy_coef = _stepped_coef(objective, coef, state)
    largest_step = max_step(objective)
    intercept_scale = intercept_step_scale(objective)
    reference = state.data_loss
    total = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        if state.average_start is not None and state.samples_seen + len(rows) >= state.average_start:
            if state.average is None:
                state.average = IterateAverage.empty(coef, intercept)
            lazy_coef.average = state.average
        batch = minibatch(objective, rows)
        values = lazy_coef.gather(batch.features)
        if objective.is_sparse:
            lazy_coef.touch(batch.features, values)
        loss, grad_rows, grad_intercept = minibatch_loss_gradient(
            objective, batch, lazy_coef.coef_rows(values), intercept
        )
        batch_loss = _batch_mean_loss(loss, batch)
        if start == 0:
            reference = _epoch_reference(reference, batch_loss, state.schedule)
        if _diverged(batch_loss, reference, 100.0):
            return None
        step = min(state.schedule(state.t, len(rows), state.samples_seen), largest_step)
        state.t += 1
        weight = (state.samples_seen + len(rows)) ** state.schedule.average_power
        lazy_coef.step(batch.features, values, grad_rows, step, average_weight=weight)
        if lazy_coef.needs_fold:
            lazy_coef.materialize()
        if objective.fit_intercept:
            intercept -= intercept.dtype.type(step * intercept_scale) * grad_intercept
        if lazy_coef.average is not None:
            lazy_coef.average.intercept_sum += weight * intercept
        state.samples_seen += len(batch.row_weights)
        total += loss * len(batch.row_weights)
    return _finish_epoch(coef, intercept, state, lazy_coef, total / len(order), reference)


def saga_epoch(objective, coef, intercept, state, batch_size, order):
    """One pass of minibatch SAGA over ``order``, in place; returns what :func:`sgd_epoch` returns."""
    memory = state.memory
    n = objective.n_samples
    dtype = objective.dtype.type
    lazy_coef = _stepped_coef(objective, coef, state)
    largest_step = max_step(objective)
    intercept_scale = intercept_step_scale(objective)
    cumulative = np.zeros(-(-len(order) // batch_size) + 1)
    memory.caught_up[:] = 0
    # With per-feature factors the untouched rows step eagerly (SteppedCoef.step).
    lazy = objective.is_sparse and lazy_coef.factor is None

    def catch_up_all(t):
        if lazy:
            owed = (cumulative[t] - cumulative[memory.caught_up]).astype(coef.dtype)
            lazy_coef.values -= memory.average * owed[:, None]
            memory.caught_up[:] = t

    reference = state.data_loss
    total = 0.0
    for t, start in enumerate(range(0, len(order), batch_size), start=1):
        rows = order[start : start + batch_size]
        batch = minibatch(objective, rows)
        values = lazy_coef.gather(batch.features)
        if objective.is_sparse:
            average = np.take(memory.average, batch.features, axis=0)
            if lazy:
                owed = cumulative[t - 1] - cumulative[np.take(memory.caught_up, batch.features)]
                values -= average * owed.astype(coef.dtype)[:, None]
            lazy_coef.touch(batch.features, values)
        else:
            average = memory.average
        loss, residual = minibatch_loss_residual(objective, batch, lazy_coef.coef_rows(values), intercept)
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
        step = min(state.schedule(state.t, len(rows)), largest_step)
        state.t += 1
        lazy_coef.step(batch.features, values, direction, step, memory.average)
        cumulative[t] = cumulative[t - 1] + step / lazy_coef.scale
        if objective.is_sparse:
            memory.average[batch.features] = average
        if lazy:
            memory.caught_up[batch.features] = t
        if objective.fit_intercept:
            intercept_change = change.sum(axis=0)
            intercept -= dtype(step * intercept_scale) * (
                intercept_change / dtype(len(rows)) + memory.average_intercept
            )
            memory.average_intercept += intercept_change / dtype(n)
        total += loss * len(rows)
        if lazy_coef.needs_fold:
            catch_up_all(t)
            lazy_coef.materialize()
    catch_up_all(len(cumulative) - 1)
    return _finish_epoch(coef, intercept, state, lazy_coef, total / len(order), reference)


def adagrad_epoch(objective, coef, intercept, state, batch_size, order):
    """One pass of minibatch SGD with AdaGrad's per-row steps over ``order``, in place, eagerly.

    Every weight row steps at every step: by its own ``eta0 / sqrt(G_j + eps)``
    (capped), from its sum of squared gradients ``G_j``, the intercept's last.
    A row decays by ``1 - step_j l2 f_j`` and takes the L1 term's proximal
    step (soft-thresholding by ``step_j l1 f_j``) whether a minibatch touches
    it or not; only touched rows take a gradient step and are clipped into the
    bounds (on sparse data also before their scores), as in the kernel, which
    applies the untouched rows' steps lazily.
    """
    penalty = objective.penalty
    dtype = objective.dtype.type
    n_features = objective.parameter_shape[0]
    factor = np.ones(n_features) if penalty.factor is None else penalty.factor
    if state.adagrad_sums is None:
        state.adagrad_sums = np.zeros(n_features + 1)
    sums = state.adagrad_sums
    largest_step = max_step(objective)
    lazy_coef = LazyCoef(penalty, coef, proximal_l1=True)
    reference = state.data_loss
    total = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = minibatch(objective, rows)
        features = batch.features
        values = coef[features]
        if objective.is_sparse:
            _clip(penalty, features, values)
        loss, grad_rows, grad_intercept = minibatch_loss_gradient(objective, batch, values, intercept)
        batch_loss = _batch_mean_loss(loss, batch)
        if start == 0:
            reference = _epoch_reference(reference, batch_loss, state.schedule)
        if _diverged(batch_loss, reference, 100.0):
            return None
        eta0 = state.schedule.eta0
        state.t += 1
        sums[:-1][features] += np.square(grad_rows, dtype=np.float64).sum(axis=1)
        steps = np.minimum(eta0 / np.sqrt(sums[:-1] + epoch_kernel.ADAGRAD_EPSILON), largest_step)
        decay = (1.0 - steps * penalty.l2 * factor)[:, None].astype(dtype)
        threshold = (steps * penalty.l1 * factor)[:, None].astype(dtype)
        if objective.is_sparse:
            untouched = np.ones(n_features, dtype=bool)
            untouched[features] = False
            coef[untouched] = _soft_threshold(decay[untouched] * coef[untouched], threshold[untouched])
        values = decay[features] * values - steps[features, None].astype(dtype) * grad_rows
        values = _soft_threshold(values, threshold[features])
        _clip(penalty, features, values)
        coef[features] = values
        if objective.fit_intercept:
            sums[-1] += np.square(grad_intercept, dtype=np.float64).sum()
            intercept -= dtype(eta0 / np.sqrt(sums[-1] + epoch_kernel.ADAGRAD_EPSILON)) * grad_intercept
        state.samples_seen += len(rows)
        total += loss * len(rows)
    return _finish_epoch(coef, intercept, state, lazy_coef, total / len(order), reference)


def _soft_threshold(values, threshold):
    return np.sign(values) * np.maximum(np.abs(values) - threshold, 0)


def _clip(penalty, features, values):
    if penalty.bounded:
        lower = -np.inf if penalty.lower is None else penalty.lower[features]
        upper = np.inf if penalty.upper is None else penalty.upper[features]
        np.clip(values, lower, upper, out=values)
