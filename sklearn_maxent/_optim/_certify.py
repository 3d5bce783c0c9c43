"""When a full-batch solver pays for the certificate's pass.

With an L2 penalty the certified gap of
:meth:`~sklearn_maxent._model._objective.Objective.certified_gap` is
``||grad_W J||^2 / (2 l2)`` (plus the intercept's share), relative to ``J``:
the gradient the solver already has says when checking can succeed, so the
extra pass is made only near the end. With an L1 part the gradient says
little about the gap (it is large where weights sit at zero), so every
iteration is checked, and so with bounds (the gradient need not vanish
at the optimum). With penalty factors the least L2 strength of any weight
bounds the gap's share of the gradient.
"""

import numpy as np

# Check once the gradient's share of the gap is within this factor of the tolerance.
CERTIFY_MARGIN = 10.0


def certifying_gradient_norm(penalty, value, gap_tol):
    """The gradient norm ``sqrt(2 l2 gap_tol J)`` at which the gradient's share of the gap is
    ``gap_tol`` (relative to ``J = value``); None where the gradient does not bound the gap."""
    if penalty.has_l1 or penalty.bounded or penalty.smallest_l2 == 0:
        return None
    return float(np.sqrt(2 * penalty.smallest_l2 * gap_tol * abs(value)))


def may_be_certified(penalty, gradient_norm2, value, gap_tol):
    """Whether the gap may be within ``gap_tol`` at a gradient of squared norm ``gradient_norm2``."""
    needed = certifying_gradient_norm(penalty, value, gap_tol)
    return needed is None or gradient_norm2 <= CERTIFY_MARGIN * needed**2
