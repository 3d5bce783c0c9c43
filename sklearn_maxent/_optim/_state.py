"""What the optimizers carry between calls: step schedules, SGD state, results.

Plain data, shared by every solver module of :mod:`sklearn_maxent._optim`.
"""

from copy import deepcopy
from dataclasses import dataclass, field, replace

import numpy as np

from .._kernels.contract import schedule_step
from ._lazy import IterateAverage

# With the "optimal" schedule the iterate after s samples weighs s ** OPTIMAL_AVERAGE_POWER in
# the average: polynomial-decay averaging (Shamir & Zhang, 2013), which forgets the early, large
# steps that a plain mean keeps.
OPTIMAL_AVERAGE_POWER = 4.0


@dataclass
class StepSchedule:
    """Step size of minibatch SGD as a function of the step count ``t``.

    ``"constant"``: ``eta0``; ``"invscaling"``: ``eta0 / (t + 1) ** power_t``;
    ``"adaptive"``: ``eta0``, divided by 5 by :func:`sgd` whenever the loss
    stops improving; ``"adagrad"``: per weight row ``eta0 / sqrt(G_j + eps)``,
    ``G_j`` the row's sum of squared gradients (``SGDState.adagrad_sums``),
    plain SGD only; ``"optimal"``: ``rows * eta0 / (1 + seen / t0)`` for a
    minibatch of ``rows`` rows after ``seen`` samples, ``eta0`` being a row's
    step (``SGDClassifier``'s ``1 / (alpha (seen + t0))`` per row where
    ``t0 = 1 / (alpha eta0)``, set by :func:`sgd` on first use), plain SGD
    only. ``eta0`` is lowered when a step makes the loss blow up; None means
    :func:`calibrated_step`, derived from the data on first use (for
    ``"adagrad"``, :data:`~._steps.ADAGRAD_ETA0`; for ``"optimal"``,
    :func:`~._steps.optimal_eta0`). ``batch_size`` is the minibatch size
    ``eta0`` is for, set by :func:`sgd` on first use: a shorter minibatch (an
    epoch's last, a small ``partial_fit`` chunk) takes its share
    ``rows / batch_size`` of the step (AdaGrad's and ``"optimal"``'s steps
    are their own). An average of the iterates weighs the iterate after
    ``s`` samples by ``s ** average_power``: all alike (power 0), but for
    ``"optimal"`` (:data:`OPTIMAL_AVERAGE_POWER`).
    """

    kind: str
    eta0: float
    power_t: float = 0.5
    batch_size: int | None = None
    t0: float | None = None

    @property
    def average_power(self):
        return OPTIMAL_AVERAGE_POWER if self.kind == "optimal" else 0.0

    def __call__(self, t, rows=None, seen=0):
        """The step at step count ``t`` for ``rows`` rows (None: a full minibatch, or one row for
        ``"optimal"``) after ``seen`` samples: the kernel's schedule (``contract.schedule_step``)."""
        optimal = self.kind == "optimal"
        return schedule_step(
            self.eta0,
            t,
            (1 if optimal else 0) if rows is None else rows,
            seen,
            self.power_t,
            self.kind == "invscaling",
            self.t0 if optimal else 0.0,
            0 if rows is None or self.batch_size is None else self.batch_size,
            self.kind == "adagrad",
        )


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
    # AdaGrad's sums of squared gradients per weight row, the intercept's last (float64):
    # kept across epochs and partial_fit calls.
    adagrad_sums: np.ndarray | None = None

    def copy(self):
        """A copy that shares the arrays, with a schedule and lists of its own.

        :func:`~._sgd.sgd` runs each epoch on an :meth:`epoch_copy` and takes
        its arrays over when the epoch succeeds, so it never changes a state's
        arrays in place: a caller that must keep its state (``partial_fit``,
        whose failed call leaves the model as it was) needs no copy of them,
        which are as large as the model.
        """
        return replace(
            self,
            schedule=replace(self.schedule),
            loss_curve=list(self.loss_curve),
            validation_scores=list(self.validation_scores),
        )

    def epoch_copy(self):
        """A copy whose arrays an epoch may change in place, but for ``iterate`` (only ever replaced)
        and SAGA's ``memory`` (a cache, started afresh when an epoch is undone)."""
        copied = deepcopy(replace(self, iterate=None, memory=None))
        copied.iterate, copied.memory = self.iterate, self.memory
        return copied


@dataclass
class Result:
    """How a run of an optimizer ended.

    ``gap`` is the certified relative duality gap of the result
    (:meth:`~sklearn_maxent._model._objective.Objective.certified_gap`) when the
    run measured it there, else nan.
    """

    n_iter: int
    converged: bool
    loss_curve: list
    gap: float = np.nan


@dataclass
class SAGAMemory:
    """SAGA's table of per-row gradients, stored as score residuals.

    ``residuals[i]`` is row ``i``'s last score gradient ``n w_i (P_i - Y_i)``,
    so ``mean_i x_i residuals[i]`` (``average``, ``average_intercept``) is the
    mean of the stored gradients. ``caught_up[j]`` is the step up to which
    weight row ``j`` has received the ``average`` term, applied just in time
    when a minibatch touches the row, as in scikit-learn's SAG (sparse data
    only). For a device objective all but ``caught_up`` are on its device.
    """

    residuals: np.ndarray
    average: np.ndarray
    average_intercept: np.ndarray
    caught_up: np.ndarray

    @classmethod
    def empty(cls, objective):
        """Zeros where ``objective``'s data live: NumPy, or a device objective's ``zeros``."""
        n_features, n_free = objective.parameter_shape
        zeros = getattr(objective, "zeros", lambda shape: np.zeros(shape, dtype=objective.dtype))
        return cls(
            zeros((objective.n_samples, n_free)),
            zeros((n_features, n_free)),
            zeros(n_free),
            np.zeros(n_features, dtype=np.intp),
        )
