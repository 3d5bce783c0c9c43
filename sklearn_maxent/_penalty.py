"""The elastic-net penalty ``alpha * ((1 - l1_ratio)/2 ||W||^2 + l1_ratio ||W||_1)``.

The intercept is never penalized, so everything here acts on ``W`` alone.
:class:`LazyCoef` holds the state with which SGD's penalty steps cost
only the rows a minibatch touches, which is what keeps sparse training at the
cost of its non-zeros.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ElasticNet:
    """Elastic-net penalty on the coefficients.

    Parameters
    ----------
    alpha : float
        Overall strength, >= 0.
    l1_ratio : float
        Share of the L1 term, in [0, 1].
    """

    alpha: float
    l1_ratio: float

    @property
    def l2(self):
        """Strength of the squared-L2 term, ``alpha * (1 - l1_ratio)``."""
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def l1(self):
        """Strength of the L1 term, ``alpha * l1_ratio``."""
        return self.alpha * self.l1_ratio

    @property
    def has_l1(self):
        """Whether the penalty is non-smooth (has an L1 part)."""
        return self.l1 > 0

    def value(self, coef):
        """Penalty of ``coef``."""
        total = 0.5 * self.l2 * float(np.vdot(coef, coef))
        if self.has_l1:
            total += self.l1 * float(np.abs(coef).sum())
        return total

    def conjugate(self, dual):
        """The penalty's convex conjugate at ``dual`` (an array of ``coef``'s shape).

        ``sup_W <dual, W> - penalty(W)`` is, entry by entry,
        ``max(|z| - l1, 0)^2 / (2 l2)``: the L1 part soft-thresholds ``z``
        and the L2 part turns the rest into a quadratic. Without an L2 part
        it is 0 where ``|z| <= l1`` and infinite elsewhere (see
        :meth:`feasible_scale`).
        """
        if not self.has_l1 and self.l2 > 0:
            return float(np.vdot(dual, dual)) / (2.0 * self.l2)
        excess = np.maximum(np.abs(dual) - self.l1, 0.0)
        if self.l2 > 0:
            return float(np.vdot(excess, excess)) / (2.0 * self.l2)
        return 0.0 if not excess.any() else np.inf

    def feasible_scale(self, dual):
        """The largest ``c <= 1`` with ``conjugate(c * dual)`` finite.

        1 with an L2 part, else ``l1 / max|dual|`` (at most 1); 0 without
        any penalty, where only ``dual = 0`` is feasible.
        """
        if self.l2 > 0:
            return 1.0
        largest = float(np.abs(dual).max(initial=0.0))
        return 1.0 if largest <= self.l1 else self.l1 / largest

    def canonical_shift(self, coef):
        """``coef`` moved, along the shifts that leave the penalty unchanged, to a canonical point.

        Adding ``c_j`` to the weights of feature ``j`` in every class leaves
        every softmax probability, so the data loss, unchanged; the penalty
        decides which shifts leave ``J`` unchanged:

        * with an L2 part, none: the optimum is unique, ``coef`` is returned;
        * with no penalty, all: the centred point (weights of each feature
          summing to 0 over the classes) is returned, as
          ``LogisticRegression`` does;
        * with a pure L1 penalty, those keeping ``-c_j`` in the median
          interval of the feature's weights, which ``sum_k |w_jk + c_j|``
          is smallest on: a single point for an odd number of classes (no
          shift), a segment for an even one. The point of it closest to the
          centred one is returned (the limit of the elastic net as its L2
          part vanishes), except that features with a weight of exactly 0
          are left as they are, so no zero is lost.

        Parameters
        ----------
        coef : ndarray of shape (n_features, n_classes)
            Weights of a model without a reference class.

        Returns
        -------
        ndarray of shape (n_features, n_classes)
        """
        if self.l2 > 0:
            return coef
        shift = -coef.mean(axis=1, keepdims=True)
        if self.has_l1:
            ordered = np.sort(coef, axis=1)
            n_classes = coef.shape[1]
            lower, upper = ordered[:, (n_classes - 1) // 2, None], ordered[:, n_classes // 2, None]
            shift = np.clip(shift, -upper, -lower)
            # Where 0 is outside the median interval (not at an optimum), a shift
            # within it would lower the L1 term, so J would change.
            keep = (lower > 0) | (upper < 0) | (coef == 0).any(axis=1, keepdims=True)
            shift[keep] = 0
        return coef + shift


@dataclass
class IterateAverage:
    """The running mean of SGD's iterates ``W_1 .. W_count`` (averaged SGD), kept lazily.

    With ``W = scale * V`` the sum of the iterates is ``offset + scale_sum * V``:
    a step that changes rows of ``V`` by ``delta`` subtracts
    ``scale_sum * delta`` from those rows of ``offset`` (Xu, 2011, "Towards
    optimal one pass large scale learning with averaged stochastic gradient
    descent"), so averaging costs the touched rows only. ``offset`` nearly
    cancels ``scale_sum * V``, so it is kept in float64 whatever the data's
    dtype, and a fold of the scale moves the whole sum into it.
    """

    offset: np.ndarray
    intercept_sum: np.ndarray
    scale_sum: float = 0.0
    count: int = 0

    @classmethod
    def empty(cls, coef, intercept):
        return cls(np.zeros(coef.shape), np.zeros(intercept.shape))

    def mean(self, values, intercept):
        """The averaged ``W`` and intercept, given the current ``V`` (with scale folded in)."""
        if self.count == 0:
            return values.copy(), intercept.copy()
        mean_coef = (self.offset + self.scale_sum * values) / self.count
        mean_intercept = self.intercept_sum / self.count
        return mean_coef.astype(values.dtype), mean_intercept.astype(intercept.dtype)


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
    """

    def __init__(self, penalty, coef, cumulative=0.0, applied=None, average=None):
        self.penalty = penalty
        self.average = average
        self.values = coef
        self.scale = 1.0
        self.cumulative = cumulative
        if penalty.has_l1 and applied is None:
            applied = np.zeros_like(coef)
        self.applied = applied

    def materialize(self):
        """Fold the scale into the values, which then hold ``W``; return them."""
        if self.scale != 1.0:
            if self.average is not None:
                # Move the whole sum of iterates into the offset, so that it
                # holds for the new V with a scale_sum of 0.
                self.average.offset += self.average.scale_sum * self.values
                self.average.scale_sum = 0.0
            self.values *= self.values.dtype.type(self.scale)
            self.scale = 1.0
        return self.values
