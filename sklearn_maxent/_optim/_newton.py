"""Newton-CG steps judged by the gradient alone, to the precision of the arithmetic."""

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from ._certify import may_be_certified
from ._state import Result

# Newton goes on while its last step moved a weight by more than this times tol
# (1e-7 at tol=1e-10): found needed by check_sample_weight_equivalence (rtol 1e-7
# on probabilities) where the penalty, so the curvature, is small.
NEWTON_STEP_TOL_FACTOR = 1e3
# Relative residual at which conjugate gradients stop in a Newton step, at most.
CG_RTOL = 1e-4


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


def _forcing_term(penalty, criterion, gradient_norm, value, gap_tol):
    """The relative residual at which conjugate gradients end a Newton step.

    A forcing term that shrinks with the gradient, ``sqrt(gradient)`` as in
    Eisenstat & Walker, keeps the last steps superlinear, where a fixed 1e-4
    would make them linear. But a step only needs to bring the gradient
    within reach of the certificate: with an L2 penalty that is a gradient
    norm of ``sqrt(2 l2 gap_tol J)`` (see :mod:`~sklearn_maxent._optim._certify`),
    and the gradient after an inexact step is about the residual, so CG may
    stop at a quarter of that relative to the gradient now. On a 100,000 x
    100, 10-class fit this cut the last step's CG iterations from 14 to 7.
    """
    forcing = min(CG_RTOL, np.sqrt(criterion))
    if gap_tol is None or penalty.has_l1 or penalty.l2 == 0 or gradient_norm == 0:
        return forcing
    needed = np.sqrt(2 * penalty.l2 * gap_tol * abs(value))
    return max(forcing, min(0.1, 0.25 * needed / gradient_norm))


def _damping(rhs, diagonal):
    """The Levenberg-Marquardt term ``mu * D`` added to the Hessian of a Newton step, as a vector.

    Used only where the penalty has no L2 part, where the Hessian is only
    positive semi-definite: linearly dependent columns (and, for more than two classes, a
    shift common to all classes) leave directions of zero curvature, along
    which the L1 pseudo-gradient or the rounding residue of the gradient need
    not vanish. Conjugate gradients then diverge, or break down on a zero
    curvature ``p^T H p`` (0/0). Solving ``(H + mu D) d = -g`` instead, with
    ``D`` the Hessian's diagonal and ``mu = max_i |g_i| / sqrt(D_i)``
    (dimensionless, so unchanged by a scaling of the features; the largest
    entry rather than the norm, which grows with the number of weights and
    would slow the steps of large sparse problems), bounds the step in every
    direction and leaves the fixed points (``g = 0``) unchanged; as ``mu``
    shrinks with the gradient, convergence stays quadratic (Li, Fukushima,
    Qi & Yamashita, 2004, "Regularized Newton methods for convex minimization
    problems with singular solutions"). The damped diagonal is ``(1 + mu) D``,
    so the Jacobi preconditioner ``D`` stays as good. It is not used where the
    Hessian is positive definite: there it would only slow the steps (on
    nearly separable data, whose saturated probabilities make ``D`` tiny and
    ``mu`` large, :func:`_damped_step` found no lower gradient norm).
    """
    return float(np.abs(rhs / np.sqrt(diagonal)).max(initial=0.0)) * diagonal


def _largest(array):
    return float(np.abs(array).max(initial=0.0))


def newton(objective, coef, intercept, *, tol, max_iter, gap_tol=None, verbose=0):
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
    gap_tol : float or None
        Also stop, as converged, once the certified relative duality gap
        (:meth:`~sklearn_maxent._objective.Objective.certified_gap`) is at
        most this; checked before the first step and after each, when the
        gradient says it may be (:func:`~sklearn_maxent._optim._certify.may_be_certified`).
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

    gap = np.nan

    def certified():
        nonlocal gap
        if gap_tol is None or not may_be_certified(
            objective.penalty, float(np.vdot(grad_coef, grad_coef)), loss, gap_tol
        ):
            return False
        _, gap = objective.certified_gap(coef, intercept)
        if verbose:
            print(f"-- Newton step {n_iter}, certified gap: {gap:.3g}")
        return gap <= gap_tol

    done = certified()
    while not done and more_needed() and n_iter < max_iter:
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
        rhs = -np.concatenate([np.where(free, grad_coef.ravel(), 0), centered(grad_intercept)])
        # With an L2 part the Hessian is at least l2 * I: positive definite, no damping needed.
        damping = _damping(rhs, diagonal) if objective.penalty.l2 == 0 else 0.0

        def matvec(vector, hessian=hessian, free=free, damping=damping):
            step = np.where(free, vector[:size], 0).reshape(coef.shape).astype(dtype)
            hess_coef, hess_intercept = hessian(step, vector[size:].astype(dtype))
            product = np.concatenate([np.where(free, hess_coef.ravel(), 0), centered(hess_intercept)])
            return product + damping * np.concatenate([np.where(free, vector[:size], 0), vector[size:]])

        operator = LinearOperator((size + n_free,) * 2, matvec=matvec, dtype=np.float64)
        direction, _ = cg(
            operator,
            rhs.astype(np.float64),
            M=LinearOperator(operator.shape, matvec=lambda vector, diagonal=diagonal: vector / diagonal),
            rtol=_forcing_term(objective.penalty, criterion, norm(grad_coef, grad_intercept), loss, gap_tol),
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
        done = certified()
    converged = done or criterion <= max(tol, np.sqrt(np.finfo(dtype).eps))
    return Result(n_iter, bool(converged), curve, gap if done else np.nan)
