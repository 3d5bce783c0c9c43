"""The epoch kernel's contract on the Python side: its settings and counters by name.

:func:`~sklearn_maxent._kernels.epoch.run_epoch` takes them as float64 arrays
(``np.array(record, dtype=np.float64)``) and reads them through the packed
structs of the same names in ``_shared.pxd``, whose fields are these, in this
order. The step schedule and the divergence test here are the kernel's
(``schedule_step`` and ``diverged`` there), for the epoch's array API port and
the driver, which must decide as the kernel does.
"""

from typing import NamedTuple

import numpy as np


class EpochSettings(NamedTuple):
    """What an epoch knows of its schedule, penalty and model (flags as 0/1).

    ``average_start``: -1 without averaging; ``step_batch``: the minibatch
    size ``eta0`` is for; ``t0``: positive for the ``"optimal"`` schedule,
    whose ``eta0`` is a row's step; ``average_power``: an averaged iterate
    weighs ``samples_seen ** average_power``. See ``run_epoch``.
    """

    eta0: float
    power_t: float
    invscaling: float
    max_step: float
    l2: float
    l1: float
    fit_intercept: float
    intercept_scale: float
    reference_class: float
    average_start: float
    saga: float
    step_batch: float
    t0: float
    average_power: float

    def schedule_step(self, t, rows, samples_seen, adagrad=False):
        """:func:`schedule_step` with these settings."""
        return schedule_step(
            self.eta0, t, rows, samples_seen, self.power_t, self.invscaling, self.t0, self.step_batch, adagrad
        )

    def step(self, t, rows, samples_seen):
        """:meth:`schedule_step` capped at ``max_step``: the step taken."""
        return min(self.schedule_step(t, rows, samples_seen), self.max_step)


class EpochCounters(NamedTuple):
    """What an epoch reads and updates: in and out but ``total`` (out only).

    ``scale``: ``W = scale V``; ``scale_sum``, ``count``: the iterate
    average's; ``reference``: the loss the first minibatch is judged
    against (NaN: its own); ``total``: the minibatch losses times their
    sizes, summed.
    """

    t: float
    samples_seen: float
    scale: float
    cumulative_l1: float
    scale_sum: float
    count: float
    reference: float
    total: float = 0.0


def schedule_step(eta0, t, rows, samples_seen, power_t, invscaling, t0, step_batch, adagrad=False):
    """The step of step count ``t`` for a minibatch of ``rows`` rows after ``samples_seen``
    samples, before any cap: ``eta0``, or ``eta0 / (t + 1) ** power_t`` with ``invscaling``,
    times ``rows / step_batch`` for a minibatch shorter than ``step_batch`` (not with AdaGrad,
    whose steps are normalized); with ``t0 > 0`` (``"optimal"``, ``eta0`` a row's step)
    ``rows * eta0 / (1 + samples_seen / t0)``."""
    step = eta0 / (t + 1.0) ** power_t if invscaling else eta0
    if t0 > 0:
        return rows * eta0 / (1.0 + samples_seen / t0)
    if rows < step_batch and not adagrad:
        step *= rows / step_batch
    return step


def diverged(loss, reference, factor):
    """Whether ``loss`` (any shape) shows a blown-up step: non-finite, or ``factor`` times the
    reference plus one nat (the nat for losses near zero)."""
    loss = np.asarray(loss)
    return ~np.isfinite(loss) | (loss > factor * (reference + 1.0))
