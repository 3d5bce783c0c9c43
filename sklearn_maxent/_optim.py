"""Optimizers for :class:`~sklearn_maxent._objective.Objective`.

Three methods on the same ``E_est - E_obs`` gradient:

* :func:`sgd` - minibatch stochastic gradient descent, plain or
  variance-reduced (SAGA): cheap epochs that make fast early progress on
  large data, and (plain) the only choice for streams (``partial_fit``),
  where the full data is never seen at once.
* :func:`lbfgs` - full-batch L-BFGS(-B): converges fast to a moderate
  gradient where SGD's noise would stall it.
* :func:`newton` - Newton-CG steps judged by the gradient alone: from there
  to the precision of the arithmetic, past the point where the loss stops
  changing in floating point.

:func:`minimize` chains them (the estimator's ``solver="auto"``). Nothing
here knows of scikit-learn; the caller owns validation, encoding and
warnings.
"""

import copy
import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, sparse
from scipy.sparse.linalg import LinearOperator, cg

from ._penalty import IterateAverage, LazyWeights

# Below this base step 'adaptive' gives up, as SGDClassifier does.
_MIN_ADAPTIVE_STEP = 1e-6
# A step that blows the loss up is divided by this before the epoch is retried ...
_BACKOFF_FACTOR = 10.0
# ... at most this many times in one call (from 1e8 down to 1e-2).
_MAX_BACK_OFFS = 10
# The "auto" solver hands over from SGD to L-BFGS once an epoch lowers the
# loss by less than this fraction ...
AUTO_STALL_RATIO = 1e-2
# ... on sparse data, 1e-3 in two epochs running: there L-BFGS is slow (on
# the benchmark's text set it was 14 % above the optimum after 13 iterations)
# while SAGA still gains 0.1-0.4 % an epoch, and one noisy SAGA epoch (a loss
# up 3.6 % at epoch 3 there) must not end the phase.
AUTO_STALL_RATIO_SPARSE = 1e-3
AUTO_STALL_PATIENCE_SPARSE = 2
# ... and starts with SGD only when the data make this many minibatches:
# on fewer, an L-BFGS iteration costs less than an SGD epoch's overhead.
AUTO_MIN_BATCHES = 10
# Largest gradient entry at which L-BFGS hands over to Newton steps: measured
# on digits and a 50,000 x 100 problem (tol=1e-10), handing over here took
# 32 and 79 passes, against 155 and 194 for L-BFGS all the way.
NEWTON_HANDOFF = 1e-4
# Newton goes on while its last step moved a weight by more than this times tol
# (1e-7 at tol=1e-10): found needed by check_sample_weight_equivalence (rtol 1e-7
# on probabilities) where the penalty, so the curvature, is small.
NEWTON_STEP_TOL_FACTOR = 1e3
# Relative residual at which conjugate gradients stop in a Newton step, at most.
CG_RTOL = 1e-4
# Step of the intercept relative to the weights' on sparse data (see intercept_step_scale).
SPARSE_INTERCEPT_STEP = 0.01


def curvature_bound(X, fit_intercept, batch_size, l2, max_squared_norm, top_eigenvalue):
    """Smoothness constant of a minibatch cross-entropy gradient.

    The Hessian of the softmax cross-entropy with respect to the scores,
    ``diag(P) - P P^T``, has eigenvalues at most 1/2, so one sample's loss is
    ``L_i = (||x_i||^2 + fit_intercept) / 2``-smooth and the full loss
    ``L = top_eigenvalue(X^T X / n) / 2``-smooth. For minibatches of ``b``
    samples drawn without replacement the expected smoothness interpolates
    between the two (Gower et al., 2019, "SGD: general analysis and improved
    rates", Proposition 3.8):
    ``L_b = (n - b) / (b (n - 1)) * L_max + n (b - 1) / (b (n - 1)) * L``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Only its number of rows is used.
    fit_intercept : bool
    batch_size : int
    l2 : float
        Strength of the L2 penalty, added to the bound.
    max_squared_norm : float
        ``max_i ||x_i||^2``.
    top_eigenvalue : float
        Largest eigenvalue of ``X^T X / n`` (with the intercept column).

    Returns
    -------
    float
    """
    n = X.shape[0]
    l_max = 0.5 * (max_squared_norm + fit_intercept)
    l_full = 0.5 * top_eigenvalue
    if n <= 1:
        return l_max + l2
    b = min(batch_size, n)
    return (n - b) / (b * (n - 1)) * l_max + n * (b - 1) / (b * (n - 1)) * l_full + l2


def top_eigenvalue(X, intercept_scale, rng, n_rows=2_000, n_power_iter=20):
    """Estimate the largest eigenvalue of ``X^T X / n`` by power iteration.

    A random subsample of ``n_rows`` rows keeps it a small fraction of an
    epoch; the intercept enters as a column of ``sqrt(intercept_scale)``
    (0: no intercept; see :func:`intercept_step_scale`).
    """
    if X.shape[0] > n_rows:
        X = X[np.sort(rng.randint(0, X.shape[0], n_rows))]
    has_intercept = intercept_scale > 0
    column = np.sqrt(intercept_scale)
    v = rng.standard_normal(X.shape[1] + has_intercept)
    eigenvalue = 0.0
    for _ in range(n_power_iter):
        v /= np.linalg.norm(v)
        Xv = X @ v[: X.shape[1]]
        if has_intercept:
            Xv = Xv + column * v[-1]
        w = np.concatenate([X.T @ Xv, [column * Xv.sum()]]) if has_intercept else X.T @ Xv
        eigenvalue = float(np.vdot(v, w)) / X.shape[0]
        v = w
    return eigenvalue


def intercept_step_scale(objective):
    """The intercept's step, relative to the weights' (0 without an intercept).

    On sparse data every step moves the intercept, while a feature moves only
    in the few minibatches that contain it; at the weights' step the
    intercept's noise then swamps what the rare features learn. As
    ``SGDClassifier`` does (its ``SPARSE_INTERCEPT_DECAY``), the intercept
    takes steps 100 times smaller there. Any fixed positive scale leaves the
    optimum unchanged (it is a diagonal preconditioner).
    """
    if not objective.fit_intercept:
        return 0.0
    return SPARSE_INTERCEPT_STEP if objective.is_sparse else 1.0


def default_step(objective, batch_size, rng):
    """``1 / L_b`` for minibatches of ``batch_size``: a step that needs no tuning.

    A row of normalized weight ``w_i`` counts ``n w_i`` times in a minibatch
    estimate, so its curvature bound is scaled by that, and the full-data
    bound by the largest such factor.
    """
    X = objective.X
    row_norms = (
        np.asarray(X.multiply(X).sum(axis=1)).ravel() if sparse.issparse(X) else np.einsum("ij,ij->i", X, X)
    )
    row_scale = objective.weights * objective.n_samples
    intercept_scale = intercept_step_scale(objective)
    bound = curvature_bound(
        X,
        False,
        batch_size,
        objective.penalty.l2,
        float(np.max(row_scale * (row_norms + intercept_scale))),
        float(row_scale.max()) * top_eigenvalue(X, intercept_scale, rng),
    )
    return 1.0 / bound


def calibrated_step(objective, coef, intercept, batch_size, rng, n_batches=20, max_factor=64):
    """The best of ``default_step * 2**k`` on a subsample: Bottou's recipe for ``eta0``.

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
    base = default_step(objective, batch_size, rng)
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


@dataclass
class StepSchedule:
    """Step size of minibatch SGD as a function of the step count ``t``.

    ``"constant"``: ``eta0``; ``"invscaling"``: ``eta0 / (t + 1) ** power_t``;
    ``"adaptive"``: ``eta0``, divided by 5 by :func:`sgd` whenever the loss
    stops improving. ``eta0`` is lowered when a step makes the loss blow up;
    None means :func:`calibrated_step`, derived from the data on first use.
    """

    kind: str
    eta0: float
    power_t: float = 0.5

    def __call__(self, t):
        if self.kind == "invscaling":
            return self.eta0 / (t + 1.0) ** self.power_t
        return self.eta0


@dataclass
class SGDState:
    """What minibatch SGD carries from one call to the next (``partial_fit``)."""

    schedule: StepSchedule
    t: int = 0
    data_loss: float | None = None
    cumulative_l1: float = 0.0
    applied_l1: np.ndarray | None = None
    best_monitored: float = np.inf
    no_improvement: int = 0
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    # Averaged SGD: averaging starts once this many samples were seen (None: off).
    average_start: int | None = None
    samples_seen: int = 0
    average: IterateAverage | None = None
    # With averaging the model is the average; SGD goes on from the last iterate.
    iterate: tuple | None = None
    # SAGA's per-row gradients, for the data of one fit.
    memory: "SAGAMemory | None" = None


@dataclass
class Result:
    """How a run of an optimizer ended."""

    n_iter: int
    converged: bool
    loss_curve: list


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


def max_step(objective):
    """The largest step SGD takes: ``1 / (2 l2)``, where the L2 shrink alone halves the weights.

    Beyond ``2 / l2`` the penalty term by itself diverges; the cap keeps the
    lazy L2 scale positive.
    """
    return 0.5 / objective.penalty.l2 if objective.penalty.l2 > 0 else np.inf


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
        if state.average_start is not None and state.samples_seen >= state.average_start:
            if state.average is None:
                state.average = IterateAverage.empty(coef, intercept)
            weights.average = state.average
        batch = objective.minibatch(order[start : start + batch_size])
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


@dataclass
class SAGAMemory:
    """SAGA's table of per-row gradients, stored as score residuals.

    ``residuals[i]`` is row ``i``'s last score gradient ``n w_i (P_i - Y_i)``,
    so ``mean_i x_i residuals[i]`` (``average``, ``average_intercept``) is the
    mean of the stored gradients. ``caught_up[j]`` is the step up to which
    weight row ``j`` has received the ``average`` term, applied just in time
    when a minibatch touches the row, as in scikit-learn's SAG.
    """

    residuals: np.ndarray
    average: np.ndarray
    average_intercept: np.ndarray
    caught_up: np.ndarray

    @classmethod
    def empty(cls, objective):
        n_features, n_free = objective.parameter_shape
        dtype = objective.dtype
        return cls(
            np.zeros((objective.n_samples, n_free), dtype=dtype),
            np.zeros((n_features, n_free), dtype=dtype),
            np.zeros(n_free, dtype=dtype),
            np.zeros(n_features, dtype=np.intp),
        )


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
    validation=None,
    variance_reduced=False,
    verbose=0,
):
    """Minibatch SGD (or SAGA) on ``objective``, updating ``coef`` and ``intercept`` in place.

    An epoch counts as no improvement when its loss is above
    ``best_loss - tol`` (with ``validation``: when its validation score is
    below ``best_score + tol``); after ``n_iter_no_change`` such epochs the
    run stops (or, for the ``"adaptive"`` schedule, the step is divided by 5
    until it is below 1e-6). An epoch whose step blows the loss up (see
    :func:`_sgd_epoch`) is undone and retried with a step ten times smaller.

    Parameters
    ----------
    objective : Objective
    coef, intercept : ndarray
        Starting point, overwritten with the result.
    state : SGDState
        Step count, schedule and stopping bookkeeping, updated.
    batch_size : int
    max_iter : int
        Epochs at most.
    tol : float or None
        None disables stopping on the loss: exactly ``max_iter`` epochs.
    n_iter_no_change : int
    shuffle : bool
    rng : numpy.random.RandomState
    stall_ratio : float or None
        If given, also stop (as converged) once ``stall_patience`` epochs in a
        row each lower the loss by less than this fraction of it: the
        hand-over point of the ``"auto"`` solver.
    stall_patience : int
    validation : callable or None
        ``validation(coef, intercept) -> score`` (higher is better) on
        held-out data: early stopping. The weights of the best-scoring epoch
        are the result; the scores are appended to
        ``state.validation_scores``.
    variance_reduced : bool
        Run SAGA epochs (:func:`_saga_epoch`) instead of plain SGD ones.
    verbose : int

    Returns
    -------
    Result
    """
    if state.iterate is not None:
        coef[:], intercept[:] = state.iterate
    if state.schedule.eta0 is None:
        state.schedule.eta0 = calibrated_step(objective, coef, intercept, batch_size, rng)
    run_epoch = _sgd_epoch
    if variance_reduced:
        run_epoch = _saga_epoch
        state.memory = SAGAMemory.empty(objective)
    order = np.arange(objective.n_samples)
    start_time = time.perf_counter()
    previous = np.inf
    stalls = 0
    stopped = False
    best = None
    epoch = back_offs = 0
    while epoch < max_iter and back_offs <= _MAX_BACK_OFFS:
        if shuffle:
            rng.shuffle(order)
        # SAGA's memory is a cache of gradients: a back-off starts it afresh
        # instead of keeping a copy of it.
        saved = coef.copy(), intercept.copy(), copy.deepcopy(dataclasses.replace(state, memory=None))
        data_loss = run_epoch(objective, coef, intercept, state, batch_size, order)
        if data_loss is None:
            coef[:], intercept[:] = saved[:2]
            vars(state).update(vars(saved[2]))
            if variance_reduced:
                state.memory = SAGAMemory.empty(objective)
            state.schedule.eta0 /= _BACKOFF_FACTOR
            back_offs += 1
            if verbose:
                print(f"-- Loss diverged, step backed off to {state.schedule.eta0:.3g}")
            continue
        epoch += 1
        loss = data_loss + objective.penalty.value(coef)
        state.loss_curve.append(loss)
        if verbose:
            print(
                f"-- Epoch {epoch}, loss: {loss:.6g}, step: {state.schedule(state.t):.3g}, "
                f"time: {time.perf_counter() - start_time:.2f} s"
            )
        stalls = stalls + 1 if stall_ratio is not None and previous - loss < stall_ratio * abs(loss) else 0
        if stalls >= stall_patience:
            stopped = True
            break
        previous = loss
        # Lower is better: the training loss, or minus the validation score.
        monitored = loss
        if validation is not None:
            model = _model(state, coef, intercept)
            score = validation(*model)
            state.validation_scores.append(score)
            monitored = -score
        improved = monitored < state.best_monitored - (tol or 0.0)
        if monitored < state.best_monitored:
            state.best_monitored = monitored
            if validation is not None:
                best = model
        if tol is not None and _stalled(state, improved, n_iter_no_change):
            stopped = True
            break
    state.memory = None  # a cache for this data only
    if state.average is not None:
        state.iterate = coef.copy(), intercept.copy()
    if best is not None:
        coef[:], intercept[:] = best
    elif validation is None:
        coef[:], intercept[:] = _model(state, coef, intercept)
    converged = epoch > 0 and (stopped or tol is None)
    return Result(epoch, converged, state.loss_curve)


def _model(state, coef, intercept):
    """The weights SGD offers as its model: the iterate, or with averaging the average."""
    if state.average is None:
        return coef.copy(), intercept.copy()
    return state.average.mean(coef, intercept)


def _stalled(state, improved, n_iter_no_change):
    """SGDClassifier's stopping rule; True when SGD should stop."""
    state.no_improvement = 0 if improved else state.no_improvement + 1
    if state.no_improvement < n_iter_no_change:
        return False
    state.no_improvement = 0
    if state.schedule.kind != "adaptive":
        return True
    state.schedule.eta0 /= 5.0
    return state.schedule.eta0 < _MIN_ADAPTIVE_STEP


def lbfgs(objective, coef, intercept, *, max_iter, tol, verbose=0):
    """Full-batch L-BFGS-B on ``objective``, updating ``coef`` and ``intercept`` in place.

    The L1 part of the penalty is not differentiable at 0; it is handled
    exactly by splitting ``W = W+ - W-`` with ``W+, W- >= 0``, on which
    ``||W||_1 = sum(W+ + W-)`` is linear, and bounding both halves at 0. The
    optimum has exact zeros where both halves sit on their bound.

    Parameters
    ----------
    objective : Objective
    coef, intercept : ndarray
    max_iter : int
        Iterations at most.
    tol : float
        Stop when the largest entry of the projected gradient is below it.
    verbose : int

    Returns
    -------
    Result
    """
    shape = coef.shape
    size = coef.size
    dtype = objective.dtype
    l1 = objective.penalty.l1
    split = objective.penalty.has_l1
    fit_intercept = objective.fit_intercept
    curve = []

    def unpack(theta):
        w = theta[:size] - theta[size : 2 * size] if split else theta[:size]
        b = theta[-shape[1] :] if fit_intercept else intercept
        return w.reshape(shape).astype(dtype, copy=False), np.asarray(b, dtype=dtype)

    def value_gradient(theta):
        w, b = unpack(theta)
        loss, grad_coef, grad_intercept = objective.smooth_value_gradient(w, b)
        parts = [grad_coef.ravel()]
        if split:
            loss += l1 * float(theta[: 2 * size].sum())
            parts = [grad_coef.ravel() + l1, l1 - grad_coef.ravel()]
        if fit_intercept:
            parts.append(grad_intercept)
        return loss, np.concatenate(parts).astype(np.float64, copy=False)

    parts = [np.maximum(coef, 0).ravel(), np.maximum(-coef, 0).ravel()] if split else [coef.ravel()]
    if fit_intercept:
        parts.append(intercept)
    theta0 = np.concatenate(parts).astype(np.float64)
    bounds = None
    if split:
        bounds = [(0, None)] * (2 * size) + [(None, None)] * (shape[1] if fit_intercept else 0)
    result = optimize.minimize(
        value_gradient,
        theta0,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        callback=lambda intermediate_result: curve.append(float(intermediate_result.fun)),
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    w, b = unpack(result.x)
    coef[:] = w
    intercept[:] = b
    if verbose:
        print(f"-- L-BFGS: {result.nit} iterations, loss: {result.fun:.6g}, {result.message}")
    # status 0: a stopping rule held, which may be the loss changing by less
    # than its rounding error; minimize() lets newton() judge the gradient.
    return Result(result.nit, result.status == 0, curve)


def _minimum_norm_subgradient(objective, coef, intercept):
    """Gradient of ``J`` (the smallest subgradient where the L1 term has a kink).

    Its largest entry is zero exactly at the optimum, which makes it the
    stopping criterion of :func:`lbfgs` and :func:`newton`.
    """
    loss, grad_coef, grad_intercept = objective.smooth_value_gradient(coef, intercept)
    l1 = objective.penalty.l1
    if l1 > 0:
        at_zero = coef == 0
        grad_coef = np.where(
            at_zero,
            np.sign(grad_coef) * np.maximum(np.abs(grad_coef) - l1, 0),
            grad_coef + l1 * np.sign(coef),
        )
    return loss + objective.penalty.l1 * float(np.abs(coef).sum()), grad_coef, grad_intercept


def _largest_gradient(objective, coef, intercept):
    """``J``, its minimum-norm subgradient and the subgradient's largest entry."""
    loss, grad_coef, grad_intercept = _minimum_norm_subgradient(objective, coef, intercept)
    largest = max(np.abs(grad_coef).max(initial=0), np.abs(grad_intercept).max(initial=0))
    return (loss, grad_coef, grad_intercept), float(largest)


def norm(*arrays):
    """Euclidean norm of several arrays taken together."""
    return float(np.sqrt(sum(np.vdot(a, a) for a in arrays)))


def _damped_step(objective, coef, intercept, direction, orthant, gradient_norm, max_halvings=20):
    """The first of the steps ``t * direction``, t = 1, 1/2, 1/4, ..., that lowers ``||gradient||`` enough.

    Along an exact Newton direction the squared gradient norm has slope
    ``-2 ||g||^2``; a step is kept when it lowers ``||g||^2`` by at least
    ``1e-4`` of that slope times ``t`` (an Armijo condition on the gradient
    norm). Where no step does, rounding error dominates and None is returned.
    With an L1 part, weights that leave their ``orthant`` are set to 0.
    """
    size = coef.size
    dtype = coef.dtype
    coef_step = direction[:size].reshape(coef.shape).astype(dtype)
    intercept_step = direction[size:].astype(dtype)
    t = 1.0
    for _ in range(max_halvings):
        new_coef = coef + dtype.type(t) * coef_step
        if objective.penalty.has_l1:
            new_coef[np.sign(new_coef) != orthant] = 0
        new_intercept = intercept + dtype.type(t) * intercept_step
        new_gradient, new_criterion = _largest_gradient(objective, new_coef, new_intercept)
        if norm(*new_gradient[1:]) ** 2 <= (1.0 - 2e-4 * t) * gradient_norm**2:
            return new_coef, new_intercept, new_gradient, new_criterion
        t /= 2
    return None


def _largest(array):
    return float(np.abs(array).max(initial=0.0))


def newton(objective, coef, intercept, *, tol, max_iter, verbose=0):
    """Newton-CG steps that trust the gradient alone, updating in place.

    Near the optimum the objective's value changes by less than its rounding
    error, so a line search on it (as in L-BFGS) stops short; the gradient is
    still accurate there. Each step solves ``H d = -g`` by conjugate
    gradients with Hessian-vector products (the softmax Jacobian of equation
    7); the step is halved until it lowers the gradient's norm, and the
    iteration ends when no step does: at the precision the arithmetic allows.
    With an L1 part the step is taken within an orthant (as in OWL-QN): the
    L1 term is linear there, so Newton applies to the pseudo-gradient.

    Parameters
    ----------
    objective : Objective
    coef, intercept : ndarray
    tol : float
        Stop when the largest entry of the (minimum-norm sub)gradient is below
        it and the last step changed no parameter by more than
        ``NEWTON_STEP_TOL_FACTOR * tol``.
    max_iter : int
        Newton steps at most.
    verbose : int

    Returns
    -------
    Result
        ``converged`` also when the gradient could not be lowered further
        and is within ``sqrt(eps)`` of the data's dtype.
    """
    size = coef.size
    n_free = coef.shape[1]
    dtype = objective.dtype
    (loss, grad_coef, grad_intercept), criterion = _largest_gradient(objective, coef, intercept)
    curve = []
    n_iter = 0
    # Largest change of a parameter in the last step. With little curvature
    # (a small penalty), a gradient within tol can still leave the weights
    # far from the optimum: a step that changes a weight by more than
    # NEWTON_STEP_TOL_FACTOR * tol shows that they were, so another step is
    # taken (cheap: Newton's convergence is quadratic there).
    last_change = 0.0

    def centered(intercept_part):
        """Without a reference class, a shift common to all intercepts changes nothing: the
        Hessian is singular along it, and the rounding residue of the gradient along it is
        removed (exactly zero in exact arithmetic), or CG spends its iterations chasing it."""
        if objective.reference_class:
            return intercept_part
        return intercept_part - intercept_part.mean()

    # A gradient at the rounding floor cannot guide another step, however large the last one was.
    rounding_floor = 100 * float(np.finfo(dtype).eps)

    def more_needed():
        far = last_change > NEWTON_STEP_TOL_FACTOR * tol and criterion > rounding_floor
        return criterion > tol or far

    while more_needed() and n_iter < max_iter:
        # The orthant each weight may move in (OWL-QN's choice): its own sign,
        # or for a weight at zero whose gradient beats the L1 term, against
        # that gradient. Weights at zero with no such pull stay fixed.
        orthant = np.sign(coef)
        if objective.penalty.has_l1:
            released = (coef == 0) & (grad_coef != 0)
            orthant[released] = -np.sign(grad_coef[released])
            free = (orthant != 0).ravel()
        else:
            free = np.ones(size, dtype=bool)
        hessian, diag_coef, diag_intercept = objective.hessian_product_and_diagonal(coef, intercept)
        # Jacobi preconditioner: on unscaled features the Hessian's diagonal
        # spans orders of magnitude, and plain CG then runs out of iterations.
        diagonal = np.concatenate([np.where(free, diag_coef.ravel(), 1.0), diag_intercept]).astype(np.float64)
        diagonal[~(diagonal > 0)] = 1.0

        def matvec(vector, hessian=hessian, free=free):
            step = np.where(free, vector[:size], 0).reshape(coef.shape).astype(dtype)
            hess_coef, hess_intercept = hessian(step, vector[size:].astype(dtype))
            return np.concatenate([np.where(free, hess_coef.ravel(), 0), centered(hess_intercept)])

        operator = LinearOperator((size + n_free,) * 2, matvec=matvec, dtype=np.float64)
        rhs = -np.concatenate([np.where(free, grad_coef.ravel(), 0), centered(grad_intercept)])
        # A forcing term that shrinks with the gradient, sqrt(gradient) as in
        # Eisenstat & Walker, keeps the last steps superlinear, where a fixed
        # 1e-4 would make them linear.
        direction, _ = cg(
            operator,
            rhs.astype(np.float64),
            M=LinearOperator(operator.shape, matvec=lambda vector, diagonal=diagonal: vector / diagonal),
            rtol=min(CG_RTOL, np.sqrt(criterion)),
            maxiter=min(10 * (size + n_free), 500),
        )
        accepted = _damped_step(
            objective, coef, intercept, direction, orthant, norm(grad_coef, grad_intercept)
        )
        if accepted is None:
            break
        n_iter += 1
        new_coef, new_intercept, (loss, grad_coef, grad_intercept), criterion = accepted
        intercept_change = new_intercept - intercept
        if not objective.reference_class:
            # A shift common to all classes' intercepts changes no probability.
            intercept_change -= intercept_change.mean()
        last_change = max(_largest(new_coef - coef), _largest(intercept_change))
        coef[:], intercept[:] = new_coef, new_intercept
        curve.append(loss)
        if verbose:
            print(
                f"-- Newton step {n_iter}, loss: {loss:.10g}, largest gradient: {criterion:.3g},"
                f" largest change: {last_change:.3g}"
            )
    converged = criterion <= max(tol, np.sqrt(np.finfo(dtype).eps))
    return Result(n_iter, converged, curve)


def minimize(
    objective,
    coef,
    intercept,
    state,
    *,
    solver,
    batch_size,
    max_iter,
    tol,
    n_iter_no_change,
    shuffle,
    rng,
    validation=None,
    verbose=0,
):
    """Run a solver on ``objective`` from ``coef``, ``intercept``, in place.

    ``"sgd"`` and ``"saga"`` run :func:`sgd` (SAGA: variance-reduced) with
    its loss-based stopping rule, or with ``validation`` early stopping.
    ``"lbfgs"`` runs :func:`lbfgs` to a gradient of ``NEWTON_HANDOFF`` and
    :func:`newton` from there to ``tol``. ``"auto"`` first runs SAGA epochs
    while each lowers the loss by at least ``AUTO_STALL_RATIO`` (when the
    data make at least ``AUTO_MIN_BATCHES`` minibatches), then does as
    ``"lbfgs"``. All share the budget of ``max_iter`` iterations.

    Returns
    -------
    Result
    """
    sgd_options = {
        "batch_size": batch_size,
        "n_iter_no_change": n_iter_no_change,
        "shuffle": shuffle,
        "rng": rng,
        "verbose": verbose,
    }
    if solver in ("sgd", "saga"):
        return sgd(
            objective,
            coef,
            intercept,
            state,
            max_iter=max_iter,
            tol=tol,
            validation=validation,
            variance_reduced=solver == "saga",
            **sgd_options,
        )
    n_iter, curve = 0, []
    if solver == "auto" and objective.n_samples >= AUTO_MIN_BATCHES * batch_size:
        result = sgd(
            objective,
            coef,
            intercept,
            state,
            max_iter=max_iter,
            tol=None,
            stall_ratio=AUTO_STALL_RATIO_SPARSE if objective.is_sparse else AUTO_STALL_RATIO,
            stall_patience=AUTO_STALL_PATIENCE_SPARSE if objective.is_sparse else 1,
            variance_reduced=True,
            **sgd_options,
        )
        n_iter, curve = result.n_iter, list(result.loss_curve)
    # Below about 100 rounding errors a gradient entry is noise (float32: 1.2e-5).
    tol = max(0.0 if tol is None else tol, 100 * float(np.finfo(objective.dtype).eps))
    if n_iter >= max_iter:
        return Result(n_iter, False, curve)
    # L-BFGS is the cheaper way down to a moderate gradient; from there
    # Newton's quadratic convergence reaches a tight tol in a few steps.
    lbfgs_tol = max(tol, NEWTON_HANDOFF)
    result = lbfgs(objective, coef, intercept, max_iter=max_iter - n_iter, tol=lbfgs_tol, verbose=verbose)
    n_iter, curve, converged = n_iter + result.n_iter, curve + result.loss_curve, False
    # newton() first measures the gradient: with it already within tol it
    # takes no step, so that one pass decides for both methods.
    if n_iter < max_iter:
        result = newton(objective, coef, intercept, max_iter=max_iter - n_iter, tol=tol, verbose=verbose)
        n_iter, curve, converged = n_iter + result.n_iter, curve + result.loss_curve, result.converged
    return Result(n_iter, converged, curve)
