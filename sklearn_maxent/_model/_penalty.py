"""The elastic-net penalty ``alpha * ((1 - l1_ratio)/2 ||W||^2 + l1_ratio ||W||_1)``.

The intercept is never penalized, so everything here acts on ``W`` alone:
:class:`ElasticNet` gives the penalty's value, gradient, conjugate and
canonical shift and keeps ``W`` within its bounds (:func:`clip_into`).
"""

from dataclasses import dataclass

import numpy as np
from scipy.linalg import get_blas_funcs

from .._kernels import cg, effective_n_threads


def squared_norm(array):
    """``sum(array ** 2)`` summed in float64: a float32 BLAS dot over a text model's 9 M weights
    is off by 3e-5 relative, which a certificate at 1e-6 cannot afford. By the CG kernel's
    threaded dot, without a float64 copy of the model (70 MB, paid after every SAGA epoch)."""
    if array.dtype == np.float64:
        return float(np.vdot(array, array))
    flat = np.ascontiguousarray(array).reshape(-1)
    return cg.dot(flat, flat, effective_n_threads(flat.size))


@dataclass(frozen=True, eq=False)
class ElasticNet:
    """Elastic-net penalty on the coefficients, per feature, within bounds.

    ``g(W) = sum_j f_j alpha ((1 - l1_ratio)/2 ||W_j||^2 + l1_ratio ||W_j||_1)``
    plus the indicator of ``lower <= W <= upper``, with ``W_j`` feature
    ``j``'s row of weights and ``f_j`` its penalty factor. Entry by entry it
    is ``l2_weights / 2 * W^2 + l1_weights * |W|``: :attr:`l2` and :attr:`l1`
    are the strengths a feature with factor 1 gets.

    Parameters
    ----------
    alpha : float
        Overall strength, >= 0.
    l1_ratio : float
        Share of the L1 term, in [0, 1].
    factor : ndarray of shape (n_features,) or None
        Non-negative penalty factors; None for all ones.
    lower, upper : ndarray of coef's shape (n_features, n_free) or None
        Bounds on the weights (``-inf`` / ``inf`` entries for none), with
        ``lower <= upper``; None for no bound on that side.
    """

    alpha: float
    l1_ratio: float
    factor: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    @property
    def l2(self):
        """Strength of the squared-L2 term at factor 1, ``alpha * (1 - l1_ratio)``."""
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def l1(self):
        """Strength of the L1 term at factor 1, ``alpha * l1_ratio``."""
        return self.alpha * self.l1_ratio

    @property
    def l2_weights(self):
        """Each weight's squared-L2 strength: ``l2``, or ``l2 * f_j`` as a column (n_features, 1)."""
        return self.l2 if self.factor is None else self.l2 * self.factor[:, None]

    @property
    def l1_weights(self):
        """Each weight's L1 strength: ``l1``, or ``l1 * f_j`` as a column (n_features, 1)."""
        return self.l1 if self.factor is None else self.l1 * self.factor[:, None]

    @property
    def smallest_l2(self):
        """The least squared-L2 strength of any weight: ``J``'s strong convexity in ``W``."""
        return self.l2 if self.factor is None else self.l2 * float(self.factor.min(initial=1.0))

    @property
    def largest_l2(self):
        """The largest squared-L2 strength of any weight: the penalty's share of ``J``'s curvature."""
        return self.l2 if self.factor is None else self.l2 * float(self.factor.max(initial=1.0))

    @property
    def has_l1(self):
        """Whether the penalty is non-smooth (has an L1 part)."""
        return self.l1 > 0 and (self.factor is None or bool(self.factor.any()))

    @property
    def bounded(self):
        """Whether any weight has a bound."""
        return self.lower is not None or self.upper is not None

    @property
    def quadratic(self):
        """Whether ``conjugate(c z) = c^2 conjugate(z)``: an L2 part alone, without bounds."""
        return not self.has_l1 and not self.bounded and self.smallest_l2 > 0

    @property
    def certifiable(self):
        """Whether a duality gap can certify a fit (:mod:`~sklearn_maxent._model._duality`).

        Not without a penalty, nor where some weights are unpenalized and
        unbounded (a zero factor): no dual point off the optimum is feasible
        there.
        """
        if self.alpha == 0:
            return False
        return self.factor is None or self.bounded or bool(self.factor.all())

    def on_features(self, features):
        """The penalty on the weight rows ``features`` (indices or a mask) only: their factors and bounds."""

        def rows(array):
            return None if array is None else array[features]

        return ElasticNet(self.alpha, self.l1_ratio, rows(self.factor), rows(self.lower), rows(self.upper))

    def own_minimizer(self, coef):
        """``coef`` (within the bounds) moved to a minimizer of the penalty alone, in place; returned.

        A penalized weight goes to 0 clipped into its bounds, the one minimizer
        of ``a w^2 / 2 + c |w|`` there; an unpenalized one (a zero factor, or
        ``alpha = 0``) minimizes it anywhere within them and stays.
        """
        strength = self.alpha if self.factor is None else self.alpha * self.factor[:, None]
        coef[np.broadcast_to(strength > 0, coef.shape)] = 0
        return self.project(coef)

    def projected_gradient(self, coef, gradient):
        """``gradient`` with the entries that push a weight out of its bound set to 0 (in place).

        At a lower bound a positive gradient (descent goes down) is blocked, at
        an upper one a negative gradient: the rest is zero exactly at a KKT
        point.
        """
        if self.lower is not None:
            gradient[(coef <= self.lower) & (gradient > 0)] = 0
        if self.upper is not None:
            gradient[(coef >= self.upper) & (gradient < 0)] = 0
        return gradient

    def at_bound(self, coef):
        """Where a weight sits on one of its bounds (all False without bounds)."""
        result = np.zeros(coef.shape, dtype=bool)
        if self.lower is not None:
            result |= coef <= self.lower
        if self.upper is not None:
            result |= coef >= self.upper
        return result

    def project(self, coef):
        """``coef`` clipped into the bounds, in place; returned."""
        return clip_into(coef, self.lower, self.upper)

    def value(self, coef):
        """Penalty of ``coef`` (the bounds' indicator not included: solvers stay within them)."""
        return self.smooth_value(coef) + self.l1_value(coef)

    def l1_value(self, coef):
        """The L1 part of the penalty: ``sum l1_weights * |coef|``."""
        if not self.has_l1:
            return 0.0
        absolute = np.abs(coef).sum(axis=1)
        return self.l1 * float(absolute.sum() if self.factor is None else self.factor @ absolute)

    def smooth_value(self, coef):
        """The squared-L2 part of the penalty: ``sum l2_weights / 2 * coef^2``."""
        if self.factor is None:
            return 0.5 * self.l2 * squared_norm(coef)
        return 0.5 * self.l2 * float(self.factor @ np.square(coef).sum(axis=1))

    def smooth_gradient(self, coef):
        """Gradient of the squared-L2 part: ``l2_weights * coef``."""
        return self.l2_weights * coef

    def add_smooth_gradient(self, coef, out):
        """``out += l2_weights * coef`` in place, without the temporary (a Hessian product's share)."""
        in_place = coef.flags.c_contiguous and out.flags.c_contiguous and coef.dtype == out.dtype
        if self.factor is None and in_place:
            axpy = get_blas_funcs("axpy", (out,))
            axpy(coef.ravel(), out.ravel(), a=self.l2)
        else:
            out += self.smooth_gradient(coef)

    def conjugate(self, dual):
        """The conjugate of the penalty with its bounds at ``dual`` (an array of ``coef``'s shape).

        ``sup_W <dual, W> - g(W)`` over the bounds, entry by entry: the
        maximizer of the concave ``z w - a w^2 / 2 - c |w|`` (``a``, ``c``
        the entry's L2 and L1 strengths) is ``soft_threshold(z, c) / a``
        clipped into the bounds; with ``a = 0`` it is the upper bound where
        ``z > c``, the lower one where ``z < -c``, and 0 (clipped) between.
        Infinite where that bound is infinite (see :meth:`feasible_scale`).
        """
        if not self.bounded and self.factor is None:
            if not self.has_l1 and self.l2 > 0:
                return float(np.vdot(dual, dual)) / (2.0 * self.l2)
            excess = np.maximum(np.abs(dual) - self.l1, 0.0)
            if self.l2 > 0:
                return float(np.vdot(excess, excess)) / (2.0 * self.l2)
            return 0.0 if not excess.any() else np.inf
        l2 = np.broadcast_to(self.l2_weights, dual.shape)
        l1 = np.broadcast_to(self.l1_weights, dual.shape)
        lower = -np.inf if self.lower is None else self.lower
        upper = np.inf if self.upper is None else self.upper
        excess = np.sign(dual) * np.maximum(np.abs(dual) - l1, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Without an L2 part: towards the bound in the excess's direction, 0 without any excess.
            towards_bound = np.where(excess > 0, np.inf, np.where(excess < 0, -np.inf, 0.0))
            unbounded = np.where(l2 > 0, excess / l2, towards_bound)
        best = np.clip(unbounded, lower, upper)
        if not np.isfinite(best).all():
            return np.inf
        return float(np.sum(dual * best - 0.5 * l2 * best * best - l1 * np.abs(best)))

    def feasible_scale(self, dual):
        """The largest ``c <= 1`` with ``conjugate(c * dual)`` finite.

        1 where every weight has an L2 part; else set by the weights without
        one whose bound in ``dual``'s direction is infinite: there ``|c z|``
        may not exceed their L1 strength (0 without any, where only
        ``z = 0`` is feasible).
        """
        if self.factor is None and not self.bounded:
            if self.l2 > 0:
                return 1.0
            largest = float(np.abs(dual).max(initial=0.0))
            return 1.0 if largest <= self.l1 else self.l1 / largest
        if self.smallest_l2 > 0:
            return 1.0
        l2 = np.broadcast_to(self.l2_weights, dual.shape)
        l1 = np.broadcast_to(self.l1_weights, dual.shape)
        open_up = True if self.upper is None else np.isposinf(self.upper)
        open_down = True if self.lower is None else np.isneginf(self.lower)
        limiting = (l2 == 0) & (((dual > 0) & open_up) | ((dual < 0) & open_down))
        if not limiting.any():
            return 1.0
        largest = np.abs(dual[limiting])
        with np.errstate(divide="ignore"):
            return float(min(1.0, np.min(l1[limiting] / largest)))

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

        With penalty factors this holds feature by feature. With bounds
        ``coef`` is returned as it is: a shift could leave them.

        Parameters
        ----------
        coef : ndarray of shape (n_features, n_classes)
            Weights of a model without a reference class.

        Returns
        -------
        ndarray of shape (n_features, n_classes)
        """
        if self.smallest_l2 > 0 or self.bounded:
            return coef
        shift = -coef.mean(axis=1, keepdims=True)
        l1 = np.broadcast_to(self.l1_weights, (coef.shape[0], 1))
        if self.has_l1:
            ordered = np.sort(coef, axis=1)
            n_classes = coef.shape[1]
            lower, upper = ordered[:, (n_classes - 1) // 2, None], ordered[:, n_classes // 2, None]
            shift = np.where(l1 > 0, np.clip(shift, -upper, -lower), shift)
            # Where 0 is outside the median interval (not at an optimum), a shift
            # within it would lower the L1 term, so J would change.
            keep = (lower > 0) | (upper < 0) | (coef == 0).any(axis=1, keepdims=True)
            shift[keep & (l1 > 0)] = 0
        shift[np.broadcast_to(self.l2_weights, (coef.shape[0], 1)) > 0] = 0
        return coef + shift


def clip_into(values, lower, upper):
    """``values`` clipped in place into ``[lower, upper]`` (float64 arrays or None), in its own dtype.

    A bound not representable in ``values``' dtype (0.02 in float32) is rounded inwards: rounded
    to nearest it could leave a float32 weight one unit in the last place outside it.
    """
    if lower is None and upper is None:
        return values
    dtype = values.dtype
    if lower is not None:
        rounded = lower.astype(dtype)
        lower = np.where(rounded < lower, np.nextafter(rounded, dtype.type(np.inf)), rounded)
    if upper is not None:
        rounded = upper.astype(dtype)
        upper = np.where(rounded > upper, np.nextafter(rounded, dtype.type(-np.inf)), rounded)
    return np.clip(values, lower, upper, out=values)
