"""SGD's lazily kept state: the penalty steps' scale and cumulative L1, and the iterate average.

:class:`LazyCoef` keeps ``W`` as ``scale * V`` with the cumulative L1 penalty,
and :class:`IterateAverage` the mean of the iterates through the same scale,
so that a minibatch's steps cost only the rows it touches: what keeps sparse
training at the cost of its non-zeros. The compiled epoch takes the steps;
these carry their state between epochs (the average, in ``SGDState``, also
between ``partial_fit`` calls).
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class IterateAverage:
    """The running (weighted) mean of SGD's iterates (averaged SGD), kept lazily.

    With ``W = scale * V`` the sum of the iterates is ``correction + scale_sum * V``:
    a step that changes rows of ``V`` by ``delta`` subtracts
    ``scale_sum * delta`` from those rows of ``correction`` (Xu, 2011, "Towards
    optimal one pass large scale learning with averaged stochastic gradient
    descent"), so averaging costs the touched rows only. ``correction`` nearly
    cancels ``scale_sum * V``, so it is kept in float64 whatever the data's
    dtype, and a fold of the scale moves the whole sum into it. With weights
    ``c_t`` the sum is of ``c_t W_t``, ``scale_sum`` of ``c_t scale_t``, and
    ``count`` the sum of the weights.
    """

    correction: np.ndarray
    intercept_sum: np.ndarray
    scale_sum: float = 0.0
    count: float = 0.0

    @classmethod
    def empty(cls, coef, intercept):
        return cls(np.zeros(coef.shape), np.zeros(intercept.shape))

    def mean(self, values, intercept, out=None):
        """The averaged ``W`` (into ``out``, by default a new array) and intercept, given the current
        ``V`` (with scale folded in)."""
        out = np.empty_like(values) if out is None else out
        if self.count == 0:
            out[...] = values
            return out, intercept.copy()
        for rows in _blocks(len(values)):
            out[rows] = (self.correction[rows] + _times(self.scale_sum, values[rows])) / self.count
        return out, (self.intercept_sum / self.count).astype(intercept.dtype)


class LazyCoef:
    """SGD's view of ``W`` in which a penalty step costs only the touched rows.

    The steps themselves are taken by the compiled epoch
    (:func:`sklearn_maxent._kernels.epoch.run_epoch`); this holds the state
    they carry between epochs and folds it back into ``W``.

    ``W = scale * V``: the L2 step ``W <- (1 - eta * l2) W`` multiplies the
    scalar ``scale`` instead of every weight. The L1 step follows the
    cumulative penalty of Tsuruoka, Tsujii & Ananiadou (2009, "Stochastic
    gradient descent training for L1-regularized log-linear models with
    cumulative penalty"): ``cumulative`` is the L1 penalty every weight could
    have received so far, ``applied[j]`` what weight ``j`` did receive; a
    weight is charged the difference (clipped at zero) when a minibatch
    touches it. On dense data every row is touched at every step.

    With per-feature penalty factors (or AdaGrad's per-row steps) the scale
    stays 1: each row decays at its own rate, when touched (see the kernel's
    docstring), and ``f_j`` times ``cumulative`` is weight ``j``'s L1 due
    (AdaGrad: a proximal L1 step per row instead).

    Parameters
    ----------
    penalty : ElasticNet
    coef : ndarray of shape (n_features, n_free)
        Becomes ``V``, updated in place; :meth:`materialize` makes it ``W``
        again.
    cumulative : float
        L1 penalty accumulated by earlier epochs.
    applied : ndarray of shape (n_features, n_free) or None
        L1 penalty received by each weight in earlier epochs; None to start
        from zero. Updated in place.
    average : IterateAverage or None
        The average the steps keep up to date, if any.
    proximal_l1 : bool
        The L1 steps are proximal steps (AdaGrad's, and with bounds), which
        need no ``cumulative`` or ``applied``.
    """

    def __init__(self, penalty, coef, cumulative=0.0, applied=None, average=None, proximal_l1=False):
        self.penalty = penalty
        self.proximal_l1 = proximal_l1
        self.average = average
        self.values = coef
        self.scale = 1.0
        self.cumulative = cumulative
        if penalty.has_l1 and applied is None and not proximal_l1:
            applied = np.zeros_like(coef)
        self.applied = applied

    def materialize(self):
        """Fold the scale into the values, which then hold ``W`` within the bounds; return them.

        The steps keep the weights they touch within the bounds, but the lazy
        L2 scale moves the others towards 0, which may leave a box that
        excludes 0; the projection here makes ``W`` feasible, as the duality
        certificate needs.
        """
        if self.scale != 1.0:
            if self.average is not None:
                # Move the whole sum of iterates into the correction, so that it
                # holds for the new V with a scale_sum of 0.
                _add_scaled(self.average.correction, self.average.scale_sum, self.values)
                self.average.scale_sum = 0.0
            self.values *= self.values.dtype.type(self.scale)
            self.scale = 1.0
        if self.penalty.bounded:
            before = self.values.copy() if self.average is not None else None
            self.penalty.project(self.values)
            if self.average is not None:  # the sum of the iterates stays what it was
                self.average.correction -= _times(self.average.scale_sum, self.values - before)
        return self.values


def _add_scaled(target, factor, values):
    """``target += factor * values``, a block of rows at a time."""
    for rows in _blocks(len(target)):
        target[rows] += _times(factor, values[rows])


def _times(factor, values):
    """``factor * values`` in float64 (the iterate average's sums), whatever ``values``' dtype."""
    return np.multiply(values, factor, dtype=np.float64)


def _blocks(n_rows, block_rows=4096):
    """Slices of ``block_rows`` rows, so that their temporaries stay in cache: one the size of a
    text model cost more than a ``partial_fit`` chunk's steps (benchmarks/results/CONSTANTS.md)."""
    return [slice(start, start + block_rows) for start in range(0, n_rows, block_rows)]
