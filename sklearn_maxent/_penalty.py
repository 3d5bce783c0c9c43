"""The elastic-net penalty ``alpha * ((1 - l1_ratio)/2 ||W||^2 + l1_ratio ||W||_1)``.

The intercept is never penalized, so everything here acts on ``W`` alone.
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

    def shrink(self, coef, step):
        """Apply one step of size ``step`` of the penalty to ``coef``, in place.

        The L2 part is a gradient step, a multiplicative shrink; the L1 part
        its proximal operator, soft-thresholding, which sets weights to exact
        zeros instead of letting them oscillate around zero.
        """
        if self.l2 > 0:
            # A step beyond 1/l2 would flip signs; the shrink saturates at 0.
            coef *= max(0.0, 1.0 - step * self.l2)
        if self.has_l1:
            threshold = step * self.l1
            np.copysign(np.maximum(np.abs(coef) - threshold, 0.0), coef, out=coef)
