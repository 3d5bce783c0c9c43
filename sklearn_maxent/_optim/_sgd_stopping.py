"""When minibatch SGD / SAGA stops: the decision :func:`~._sgd.sgd` asks for after each epoch."""

import time

import numpy as np

from ._certify import may_be_certified

# Below this base step 'adaptive' gives up, as SGDClassifier does.
_MIN_ADAPTIVE_STEP = 1e-6
# SAGA's calibrated step is halved when its epoch loss swings up by more than _SAGA_SWING of
# it and the swing has not shrunk to _SAGA_DAMPING of the previous upswing: an oscillation
# that does not damp (a damped one converges: benchmarks/results/CONSTANTS.md). Bottou's
# calibration, made from zero weights where the softmax is flat, can pick such a step. It is
# also halved when the gradient SAGA's memory holds grows over an epoch (at a safe step SAGA
# contracts it; one too large hovers above the optimum). Not halved below 1 / (3 L_b), the step
# SAGA's theory asks for.
_SAGA_RISE = 1e-3
_SAGA_SWING = 0.1
_SAGA_DAMPING = 0.5
# A phase that stall_ratio ends goes on while its certificate's rate reaches tol within this
# many epochs: at tol=1e-3 on the docstring corpus (C = 1) the gap fell 0.0074, 0.0030, 0.0017
# in three epochs when the stall rule handed over to a Newton step that cost eight epochs.
REACH_EPOCHS = 3
SAGA_SAFE_FRACTION = 1.0 / 3.0
# The memory's gradient says nothing of hovering once it puts the relative gap within this many
# rounding errors of the loss.
_HOVER_FLOOR = 100.0


class EpochJudge:
    """The verdict on each epoch of :func:`~._sgd.sgd`, whose docstring states the rules.

    :meth:`measure` takes the epoch's loss, halves SAGA's own step on
    undamped swings or a growing gradient and checks the certificate when due; the caller's monitor
    then has its say; :meth:`should_stop` applies the stall rules. The
    parameters are :func:`~._sgd.sgd`'s; ``least_step`` is the least step
    a swing may halve SAGA's to (infinite: the user's, never halved).
    """

    def __init__(
        self,
        objective,
        state,
        *,
        tol,
        n_iter_no_change,
        stall_ratio,
        stall_patience,
        epoch_passes,
        certify_below,
        validation,
        variance_reduced,
        least_step,
        verbose,
    ):
        self.objective, self.state = objective, state
        self.tol, self.n_iter_no_change = tol, n_iter_no_change
        self.stall_ratio, self.stall_patience, self.epoch_passes = stall_ratio, stall_patience, epoch_passes
        self.certify_below, self.validation = certify_below, validation
        self.variance_reduced, self.least_step, self.verbose = variance_reduced, least_step, verbose
        self.certifiable = tol is not None and validation is None
        self.previous = np.inf
        self.last_rise = np.inf  # the relative size of SAGA's last upswing
        self.last_memory_gradient = np.inf  # its memory's gradient after the last epoch
        self.stalls = 0
        self.certified = self.stopped = self.checked = False
        self.checks = []  # (epoch, gap) of the certificate passes so far
        self.loss = self.value = self.gap = np.nan
        self.best = None  # with validation: the best-scoring epoch's model
        self.start_time = time.perf_counter()

    def measure(self, epoch, data_loss, coef, model):
        """Record the epoch's loss at ``coef``; halve SAGA's swinging step; certify ``model()`` when due."""
        state = self.state
        self.loss = data_loss + self.objective.penalty.value(coef)
        state.loss_curve.append(self.loss)
        gain = self.previous - self.loss
        memory_gradient = self._memory_gradient(coef)
        if self.variance_reduced:
            swinging = self._undamped_swing(-gain / self.previous if np.isfinite(self.previous) else 0.0)
            if self._hovering(memory_gradient) or swinging:
                self._halve_step("loss swings undamped" if swinging else "SAGA's gradient grew")
        self.gap = np.nan
        self.checked = (
            self.certifiable
            and (self.certify_below is None or gain < self.certify_below * abs(self.loss))
            and epoch >= self._next_check()
            and self._may_be_certified(memory_gradient)
        )
        if self.checked:
            self.value, self.gap = self.objective.certified_gap(*model())
            self.certified = self.gap <= self.tol
            self.checks.append((epoch, self.gap))
        if self.verbose:
            print(
                f"-- Epoch {epoch}, loss: {self.loss:.6g}, step: {state.schedule(state.t):.3g}, "
                + ("" if np.isnan(self.gap) else f"certified gap: {self.gap:.3g}, ")
                + f"time: {time.perf_counter() - self.start_time:.2f} s"
            )

    def should_stop(self, model):
        """Whether a stall rule ends the run after the measured epoch (``model()``: for validation)."""
        state, loss = self.state, self.loss
        if self.stall_ratio is not None:
            # Over two epochs: an alternating loss gains every other epoch, which must not reset the count.
            span = min(2, len(state.loss_curve) - 1)
            earlier = state.loss_curve[-1 - span] if span else np.inf
            slow = earlier - loss < span * self.stall_ratio * self.epoch_passes * abs(loss)
            self.stalls = self.stalls + 1 if slow else 0
        if self.stalls >= self.stall_patience and not self._tol_within_reach():
            self.stopped = True
            return True
        self.previous = loss
        if self.variance_reduced and self.certifiable and not self.checked:
            # certify_below skipped the pass: the epoch gained too much to be stalled.
            _stalled(state, True, self.n_iter_no_change)
            return False
        # Lower is better: the training loss (SAGA: the objective measured by the
        # certificate's pass), or minus the validation score.
        monitored, margin = loss, self.tol or 0.0
        if self.variance_reduced and self.checked:
            monitored, margin = self.value, 0.0
        if self.validation is not None:
            current = model()
            score = self.validation(*current)
            state.validation_scores.append(score)
            monitored = -score
        improved = monitored < state.best_monitored - margin
        if monitored < state.best_monitored:
            state.best_monitored = monitored
            if self.validation is not None:
                self.best = current
        if self.tol is not None and _stalled(state, improved, self.n_iter_no_change):
            self.stopped = True
            return True
        return False

    def converged(self, n_epochs):
        """Whether the run that ran ``n_epochs`` epochs ended converged."""
        ended_by_rule = self.stopped and (self.stall_ratio or self.validation)
        return bool(n_epochs > 0 and (self.certified or self.tol is None or ended_by_rule))

    def _epochs_to_tol(self):
        """Epochs the rate of the last two certificate passes needs to reach ``tol`` (inf: none)."""
        if len(self.checks) < 2:
            return np.inf
        (before, earlier_gap), (last, gap) = self.checks[-2:]
        if not (np.isfinite(gap) and gap > self.tol and gap < earlier_gap):
            return np.inf
        return np.log(gap / self.tol) / (np.log(earlier_gap / gap) / (last - before))

    def _tol_within_reach(self):
        """Whether the certificate's rate, measured in the last epochs, reaches ``tol`` within
        ``REACH_EPOCHS``: a stalling loss then does not end the phase (a loose tol is nearer
        than the next solver's first step). With one pass so far, whether its gap is within
        ``2 ** REACH_EPOCHS`` of ``tol``: the next epoch's pass then measures the rate (SAGA has
        at least halved the gap an epoch there)."""
        if not (self.checks and self.checks[-1][0] >= len(self.state.loss_curve) - 2):
            return False
        if len(self.checks) == 1:
            return self.checks[0][1] <= 2.0**REACH_EPOCHS * self.tol
        return self._epochs_to_tol() <= REACH_EPOCHS

    def _next_check(self):
        """The first epoch whose certificate pass may succeed, by the rate of the last two passes.

        The gap shrinks about geometrically near the optimum: half the epochs that rate needs
        to reach ``tol`` pass before the next check, but the spacing at most doubles from one
        check to the next (far from the optimum the rate says little).
        """
        if len(self.checks) < 2:
            return 0
        (before, _), (last, gap) = self.checks[-2:]
        most = 2 * (last - before)
        needed = self._epochs_to_tol()
        if not np.isfinite(needed):
            return last + (1 if not gap > self.tol else most)
        return last + int(min(max(1, needed / 2), most))

    def _memory_gradient(self, coef):
        """``||g||^2`` of the gradient SAGA's memory holds (the mean of the rows' stored gradients
        plus the penalty's), exact at the optimum and free of a pass; nan without SAGA's memory on
        the host, where no rule reads it."""
        memory = self.state.memory
        if not self.variance_reduced or memory is None or not isinstance(memory.average, np.ndarray):
            return np.nan
        gradient = self.objective.penalty.smooth_gradient(coef)
        gradient += memory.average
        return float(np.vdot(gradient, gradient))

    def _may_be_certified(self, memory_gradient):
        """Whether the gap may be within ``tol`` by the memory's gradient, as the full-batch solvers
        judge by theirs (:func:`~._certify.may_be_certified`): a certificate's pass costs more than
        an epoch. Only in a phase that ``stall_ratio`` ends (``"auto"``'s, whose next solver checks
        at once); under ``solver="saga"`` the certificate's passes also feed the stall rule, which
        must still see a SAGA stuck far from the optimum."""
        if self.stall_ratio is None or np.isnan(memory_gradient):
            return True
        return may_be_certified(self.objective.penalty, memory_gradient, self.loss, self.tol)

    def _undamped_swing(self, rise):
        """Whether the loss's ``rise`` (relative) is a swing that does not damp."""
        if rise <= _SAGA_RISE:
            return False
        undamped = rise > _SAGA_SWING and rise > _SAGA_DAMPING * self.last_rise
        self.last_rise = rise
        return undamped

    def _hovering(self, memory_gradient):
        """Whether the memory's gradient grew over the epoch, by more than ``_SAGA_SWING`` of it:
        SAGA at a safe step contracts it, one too large hovers above the optimum (on the text twin
        at C = 1, 0.5 % above it, for 1,000 epochs under ``solver="saga"``). Only where that
        gradient vanishes at the optimum (no L1 part, no bounds), and not once it puts the gap
        within ``tol`` or the rounding floor: there its changes are noise."""
        grew = memory_gradient > (1 + _SAGA_SWING) * self.last_memory_gradient
        self.last_memory_gradient = memory_gradient
        penalty = self.objective.penalty
        if not grew or penalty.has_l1 or penalty.bounded:
            return False
        floor = max(self.tol or 0.0, _HOVER_FLOOR * float(np.finfo(self.objective.dtype).eps))
        gap = memory_gradient / (2 * penalty.smallest_l2) if penalty.smallest_l2 > 0 else np.inf
        return gap > floor * abs(self.loss)

    def _halve_step(self, reason):
        """Halve SAGA's own step, not below ``least_step`` (the user's is never halved). The stall
        count starts again: the new step's progress is yet to be seen (on the text twin at C = 1 a
        loss that rose the epoch after a halving had handed over to a Newton step of 4 s)."""
        schedule = self.state.schedule
        if schedule.eta0 > self.least_step:
            schedule.eta0 = max(schedule.eta0 / 2.0, self.least_step)
            self.stalls = 0
            if self.verbose:
                print(f"-- {reason[0].upper() + reason[1:]}, step halved to {schedule.eta0:.3g}")


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
