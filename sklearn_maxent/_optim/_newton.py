"""Newton-CG steps, judged by the gradient near the optimum, to the precision of the arithmetic.

:class:`NewtonSolver` names the parts of an iteration as scikit-learn's
Newton solver for GLMs does (``sklearn/linear_model/_glm/_newton_solver.py``):
:meth:`~NewtonSolver.setup` evaluates the starting point,
:meth:`~NewtonSolver.update_gradient_hessian` builds the Newton system there,
:meth:`~NewtonSolver.inner_solve` solves it by conjugate gradients,
:meth:`~NewtonSolver.line_search` damps the step and moves,
:meth:`~NewtonSolver.check_convergence` decides whether to go on, and
:meth:`~NewtonSolver.finalize` reports; :meth:`~NewtonSolver.solve` runs
them. As scikit-learn's, the line search judges the loss far from the optimum;
where the loss's rounding error would hide a step's gain it judges the gradient's
norm instead, and no fallback solver follows a failed one: a step that lowers
no gradient means the arithmetic's precision is reached. :func:`newton` is the
entry point the solver chain (:mod:`~sklearn_maxent._optim._minimize`) calls.
"""

from functools import partial

import numpy as np

from ._certify import certifying_gradient_norm, may_be_certified
from ._cg import conjugate_gradients
from ._monitor import SILENT
from ._state import Result

# Newton goes on while its last step moved a weight by more than this times tol
# (1e-7 at tol=1e-10): found needed by check_sample_weight_equivalence (rtol 1e-7
# on probabilities) where the penalty, so the curvature, is small.
NEWTON_STEP_TOL_FACTOR = 1e3
# Conjugate gradients end a Newton step by Eisenstat and Walker's forcing term (choice 2), from
# FORCING_MAX: the far, damped steps of weakly penalized text need no precise solve. Where a
# solve to at least CG_RTOL brings the gradient within the certificate's reach, or where the
# step's predicted decrease puts J within NEAR_GAPS gap_tols of the optimum (after L-BFGS's
# hand-off, say), the step aims there instead (benchmarks/results/CONSTANTS.md).
FORCING_MAX = 0.5
CG_RTOL = 3e-2
NEAR_GAPS = 10.0
# The line search judges J while the decrease a Newton step promises is above this many times
# J's rounding unit (eps J), and the gradient's norm below: J's rounding is about 100 eps J.
LOSS_RESOLUTION = 1e6


def _minimum_norm_subgradient(objective, coef, intercept):
    """Gradient of ``J`` (the smallest subgradient where the L1 term has a kink), projected on the bounds.

    Its largest entry is zero exactly at the optimum (a KKT point, with
    bounds), which makes it the stopping criterion of :func:`lbfgs` and
    :func:`newton`.
    """
    loss, grad_coef, grad_intercept = objective.smooth_value_gradient(coef, intercept)
    penalty = objective.penalty
    if penalty.has_l1:
        l1 = penalty.l1_weights
        grad_coef = np.where(
            coef == 0,
            np.sign(grad_coef) * np.maximum(np.abs(grad_coef) - l1, 0),
            grad_coef + l1 * np.sign(coef),
        )
    if penalty.bounded:
        grad_coef = penalty.projected_gradient(coef, np.array(grad_coef))
    return loss + penalty.l1_value(coef), grad_coef, grad_intercept


def _largest_gradient(objective, coef, intercept):
    """``J``, its minimum-norm subgradient and the subgradient's largest entry."""
    loss, grad_coef, grad_intercept = _minimum_norm_subgradient(objective, coef, intercept)
    largest = max(np.abs(grad_coef).max(initial=0), np.abs(grad_intercept).max(initial=0))
    return (loss, grad_coef, grad_intercept), float(largest)


def norm(*arrays):
    """Euclidean norm of several arrays taken together."""
    return float(np.sqrt(sum(np.vdot(a, a) for a in arrays)))


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
    ``mu`` large, :meth:`NewtonSolver.line_search` found no lower gradient norm).
    """
    return float(np.abs(rhs / np.sqrt(diagonal)).max(initial=0.0)) * diagonal


def _largest(array):
    return float(np.abs(array).max(initial=0.0))


class NewtonLoop:
    """What the Newton-type solvers share: their parameters and the loop of their named steps.

    A subclass names the monitor's phase (``phase``) and defines the steps :meth:`solve`
    runs: ``setup``, ``check_convergence`` (sets ``converged``), ``update_gradient_hessian``,
    ``inner_solve``, ``line_search`` (False where no step helps: rounding error dominates)
    and ``finalize``, as scikit-learn's ``_newton_solver`` does.
    """

    phase = None

    def __init__(self, objective, coef, intercept, *, tol, max_iter, gap_tol=None, monitor=SILENT, verbose=0):
        self.objective = objective
        self.monitor = monitor
        self.coef = coef
        self.intercept = intercept
        self.tol = tol
        self.max_iter = max_iter
        self.gap_tol = gap_tol
        self.verbose = verbose

    def solve(self):
        """Steps until converged, out of steps, or at the arithmetic's precision.

        Returns
        -------
        Result
            See the subclass's ``finalize``.
        """
        self.setup()
        self.check_convergence()
        while not self.converged and self.n_iter < self.max_iter:
            self.monitor.begin(self.phase)
            self.update_gradient_hessian()
            self.inner_solve()
            if not self.line_search():
                self.monitor.abandon()
                break
            self.check_convergence()
            if self.monitor.end(lambda: (self.coef.copy(), self.intercept.copy())):
                break
        return self.finalize()


class NewtonSolver(NewtonLoop):
    """Newton-CG steps that trust the gradient near the optimum, updating ``coef`` and ``intercept`` in place.

    Near the optimum the objective's value changes by less than its rounding
    error, so a line search on it (as in L-BFGS) stops short; the gradient is
    still accurate there. Each step solves ``H d = -g`` by conjugate
    gradients with Hessian-vector products (the softmax Jacobian of equation
    7); the step is halved until it lowers the loss enough, or near the
    optimum the gradient's norm (:meth:`line_search`), and the
    iteration ends when no step does: at the precision the arithmetic allows.
    With an L1 part the step is taken within an orthant (as in OWL-QN): the
    L1 term is linear there, so Newton applies to the pseudo-gradient.

    Parameters
    ----------
    objective : Objective
    coef, intercept : ndarray
        Starting point, overwritten with every accepted step.
    tol : float
        Stop when the largest entry of the (minimum-norm sub)gradient is below
        it and the last step changed no parameter by more than
        ``NEWTON_STEP_TOL_FACTOR * tol``.
    max_iter : int
        Newton steps at most.
    gap_tol : float or None
        Also stop, as converged, once the certified relative duality gap
        (:meth:`~sklearn_maxent._model._objective.Objective.certified_gap`) is at
        most this; checked before the first step and after each, when the
        gradient says it may be (:func:`~sklearn_maxent._optim._certify.may_be_certified`).
    monitor : StepMonitor
        Told of each step (:mod:`~sklearn_maxent._optim._monitor`); the run
        stops, not converged unless certified, when it asks.
    verbose : int

    Attributes
    ----------
    loss : float
        ``J`` at the current point, L1 part included.
    grad_coef, grad_intercept : ndarray
        The minimum-norm subgradient of ``J`` there.
    criterion : float
        Its largest entry, compared with ``tol``.
    n_iter : int
        Steps taken.
    loss_curve : list of float
        ``J`` after every step.
    gap : float
        The last certified gap measured, nan before any.
    certified : bool
        Whether ``gap`` is within ``gap_tol``.
    converged : bool
        Whether :meth:`check_convergence` ended the iteration.
    """

    phase = "newton-iter"

    def __init__(self, objective, *args, **kwargs):
        super().__init__(objective, *args, **kwargs)
        # A gradient at the rounding floor cannot guide another step, however large the last one was.
        self.rounding_floor = 100 * float(np.finfo(objective.dtype).eps)

    def setup(self):
        """The loss and (minimum-norm sub)gradient at the starting point; nothing counted yet."""
        (self.loss, self.grad_coef, self.grad_intercept), self.criterion = _largest_gradient(
            self.objective, self.coef, self.intercept
        )
        self.loss_curve = []
        self.n_iter = 0
        # Largest change of a parameter in the last step. With little curvature
        # (a small penalty), a gradient within tol can still leave the weights
        # far from the optimum: a step that changes a weight by more than
        # NEWTON_STEP_TOL_FACTOR * tol shows that they were, so another step is
        # taken (cheap: Newton's convergence is quadratic there).
        self.last_change = 0.0
        self.last_forcing, self.last_gradient_norm = None, 0.0  # Eisenstat and Walker's memory
        self.gap = np.nan
        self.certified = self.converged = False

    def update_gradient_hessian(self):
        """The Newton system at the current point: one pass for the Hessian's product and diagonal.

        The gradient is known already, from :meth:`setup` or the step
        :meth:`line_search` accepted. Sets the orthant the step may move in,
        which weights are free, the Hessian-vector product, its diagonal (the
        preconditioner), the right-hand side ``-g`` and the damping.
        """
        objective, coef = self.objective, self.coef
        self.orthant, free = self._free_weights()
        self.hessian, diag_coef, diag_intercept = objective.hessian_product_and_diagonal(coef, self.intercept)
        # Jacobi preconditioner: on unscaled features the Hessian's diagonal
        # spans orders of magnitude, and plain CG then runs out of iterations.
        diag_coef, grad_coef = diag_coef.ravel(), self.grad_coef.ravel()
        if free is not None:
            diag_coef, grad_coef = np.where(free, diag_coef, 1.0), np.where(free, grad_coef, 0)
        # CG runs in the Hessian products' dtype: float32 ones make its solution no more precise.
        dtype = objective.hessian_dtype
        diagonal = np.concatenate([diag_coef, diag_intercept]).astype(dtype, copy=False)
        diagonal[~(diagonal > 0)] = 1.0
        rhs = np.concatenate([grad_coef, self._centered(self.grad_intercept)]).astype(dtype, copy=False)
        np.negative(rhs, out=rhs)
        # With an L2 part on every weight the Hessian is positive definite: no damping needed.
        self.damping = _damping(rhs, diagonal) if objective.penalty.smallest_l2 == 0 else None
        self.inverse_diagonal, self.rhs, self.free = np.reciprocal(diagonal, out=diagonal), rhs, free

    def _free_weights(self):
        """The orthant each weight may move in (None without L1), and which weights are free (None: all).

        The orthant is OWL-QN's choice: a weight's own sign, or for a weight at
        zero whose gradient beats the L1 term, against that gradient; weights
        at zero with no such pull stay fixed.
        """
        coef, grad_coef, penalty = self.coef, self.grad_coef, self.objective.penalty
        orthant, free = None, None
        if penalty.has_l1:
            orthant = np.sign(coef)
            released = (coef == 0) & (grad_coef != 0)
            orthant[released] = -np.sign(grad_coef[released])
            free = (orthant != 0).ravel()
        if penalty.bounded:
            # Projected Newton: a weight on a bound whose projected gradient is 0 (pushed
            # outwards) stays there; one pulled inwards is free.
            pinned = (penalty.at_bound(coef) & (grad_coef == 0)).ravel()
            free = ~pinned if free is None else free & ~pinned
        return orthant, None if free is None or free.all() else free

    def inner_solve(self):
        """The Newton direction: preconditioned conjugate gradients on the system, to the forcing term."""
        n_parameters = self.coef.size + self.coef.shape[1]
        forcing, reach = self._forcing_term()
        refine = partial(self._near_rtol, forcing=forcing, reach=reach) if 0 < reach < forcing else None
        self.direction = conjugate_gradients(
            self._matvec,
            self.rhs,
            self.inverse_diagonal,
            rtol=forcing,
            maxiter=min(10 * n_parameters, 500),
            refine=refine,
        )

    def _near_rtol(self, direction, forcing, reach):
        """``reach`` where the model's predicted decrease along ``direction`` (half ``-g^T d`` for a
        conjugate gradients iterate) puts ``J`` within ``NEAR_GAPS`` gap_tols of the optimum, else
        ``forcing``: near the optimum the quadratic model holds, and one precise step certifies."""
        decrease = 0.5 * float(np.vdot(self.rhs, direction))
        return reach if decrease <= NEAR_GAPS * self.gap_tol * abs(self.loss) else forcing

    def line_search(self, max_halvings=20):
        """Move to the first step ``t * direction``, t = 1, 1/2, 1/4, ..., that passes an Armijo test.

        Far from the optimum the test is on ``J``: a step is kept when it lowers
        ``J`` by at least ``1e-4`` of the decrease its slope ``g^T d`` promises
        (a test on the gradient's norm alone accepted steps that raised ``J`` by
        3 % on weakly penalized text, and the next steps had to undo them).
        Once that promise is within ``LOSS_RESOLUTION`` of ``J``'s rounding, and
        always with an L1 part or bounds, the test is on the gradient: along an
        exact Newton direction ``||g||^2`` has slope ``-2 ||g||^2``, and a step
        is kept when it lowers ``||g||^2`` by at least ``1e-4`` of that slope
        times ``t``. Where no step passes, rounding error dominates: nothing
        moves and False is returned. With an L1 part, weights that leave their
        orthant are set to 0; with bounds, the step is projected on them.
        """
        coef, intercept = self.coef, self.intercept
        size = coef.size
        dtype = coef.dtype
        coef_step = self.direction[:size].reshape(coef.shape).astype(dtype)
        intercept_step = self.direction[size:].astype(dtype)
        gradient_norm = norm(self.grad_coef, self.grad_intercept)
        slope = float(np.vdot(coef_step, self.grad_coef)) + float(
            np.vdot(intercept_step, self.grad_intercept)
        )
        resolution = LOSS_RESOLUTION * np.finfo(dtype).eps * abs(self.loss)
        by_loss = self.objective.penalty.quadratic and -slope > resolution
        t = 1.0
        for _ in range(max_halvings):
            new_coef = coef + dtype.type(t) * coef_step
            if self.objective.penalty.has_l1:
                new_coef[np.sign(new_coef) != self.orthant] = 0
            self.objective.penalty.project(new_coef)
            new_intercept = intercept + dtype.type(t) * intercept_step
            new_gradient, new_criterion = _largest_gradient(self.objective, new_coef, new_intercept)
            if by_loss:
                passed = new_gradient[0] <= self.loss + 1e-4 * t * slope
            else:
                passed = norm(*new_gradient[1:]) ** 2 <= (1.0 - 2e-4 * t) * gradient_norm**2
            if passed:
                self._move(new_coef, new_intercept, new_gradient, new_criterion)
                return True
            t /= 2
        return False

    def check_convergence(self):
        """Whether to stop: the gap certified within ``gap_tol``, or the gradient within ``tol``."""
        self.certified = self._certify()
        self.converged = self.certified or not self._more_needed()

    def finalize(self):
        """How the run ended.

        Returns
        -------
        Result
            ``converged`` also when the gradient could not be lowered further
            and is within ``sqrt(eps)`` of the data's dtype; ``gap`` the
            certified gap when it was within ``gap_tol``, else nan.
        """
        precise = self.criterion <= max(self.tol, np.sqrt(np.finfo(self.objective.dtype).eps))
        converged = self.certified or precise
        return Result(self.n_iter, bool(converged), self.loss_curve, self.gap if self.certified else np.nan)

    def _centered(self, intercept_part):
        """Without a reference class, a shift common to all intercepts changes nothing: the
        Hessian is singular along it, and the rounding residue of the gradient along it is
        removed (exactly zero in exact arithmetic), or CG spends its iterations chasing it."""
        if self.objective.reference_class:
            return intercept_part
        return intercept_part - intercept_part.mean()

    def _matvec(self, vector, out):
        """The damped Hessian of the free weights and intercepts times ``vector``, into ``out``.

        Both vectors are of the Hessian products' dtype, as conjugate gradients run in it.
        """
        size, free = self.coef.size, self.free
        step = vector[:size] if free is None else np.where(free, vector[:size], 0)
        # The product writes straight into CG's buffer: no temporary of the model's size.
        _, hess_intercept = self.hessian(
            step.reshape(self.coef.shape), vector[size:], out[:size].reshape(self.coef.shape)
        )
        if free is not None:
            out[:size] *= free
        out[size:] = self._centered(hess_intercept)
        if self.damping is not None:
            out[:size] += self.damping[:size] * step
            out[size:] += self.damping[size:] * vector[size:]

    def _forcing_term(self):
        """The relative residual at which conjugate gradients end a Newton step, and the one that
        brings the gradient within the certificate's reach (0 where none does).

        Eisenstat & Walker's choice 2, ``0.9 (||g|| / ||g_prev||)^2`` capped at ``FORCING_MAX``
        (where it starts), and not below ``0.9 eta_prev^2`` while that is above 0.1, solves
        the far steps, whose gradient falls slowly, loosely and the last ones ever more
        precisely (superlinear). But a step only needs to bring the gradient within reach of
        the certificate: with an L2 penalty that is a gradient norm of
        ``sqrt(2 l2 gap_tol J)``, ``l2`` the least of any weight (see
        :mod:`~sklearn_maxent._optim._certify`), and the gradient after an inexact step is
        about the residual, so CG may stop at a quarter of that relative to the gradient
        now. Where that is at least ``CG_RTOL`` the step aims at the certificate directly
        (:meth:`inner_solve` also does nearer the optimum; benchmarks/results/CONSTANTS.md).
        """
        gradient_norm = norm(self.grad_coef, self.grad_intercept)
        forcing = FORCING_MAX
        if self.last_forcing is not None and self.last_gradient_norm > 0:
            forcing = 0.9 * (gradient_norm / self.last_gradient_norm) ** 2
            if 0.9 * self.last_forcing**2 > 0.1:
                forcing = max(forcing, 0.9 * self.last_forcing**2)
            forcing = min(forcing, FORCING_MAX)
        self.last_forcing, self.last_gradient_norm = forcing, gradient_norm
        reach = min(0.1, self._certificate_reach(gradient_norm))
        return (reach if reach >= CG_RTOL else max(forcing, reach)), reach

    def _certificate_reach(self, gradient_norm):
        """The relative residual at which a step puts the gradient within the certificate's reach
        (0 where no L2 certificate applies)."""
        if self.gap_tol is None or gradient_norm == 0:
            return 0.0
        needed = certifying_gradient_norm(self.objective.penalty, self.loss, self.gap_tol)
        if needed is None:
            return 0.0
        return 0.25 * needed / gradient_norm

    def _move(self, new_coef, new_intercept, gradient, criterion):
        """Take the step the line search accepted: the new point, its gradient, the change made."""
        self.n_iter += 1
        self.loss, self.grad_coef, self.grad_intercept = gradient
        self.criterion = criterion
        intercept_change = new_intercept - self.intercept
        if not self.objective.reference_class:
            # A shift common to all classes' intercepts changes no probability.
            intercept_change -= intercept_change.mean()
        self.last_change = max(_largest(new_coef - self.coef), _largest(intercept_change))
        self.coef[:], self.intercept[:] = new_coef, new_intercept
        self.loss_curve.append(self.loss)
        if self.verbose:
            print(
                f"-- Newton step {self.n_iter}, loss: {self.loss:.10g},"
                f" largest gradient: {self.criterion:.3g}, largest change: {self.last_change:.3g}"
            )

    def _more_needed(self):
        """Whether the gradient, or the size of the last step, asks for another step."""
        far = self.last_change > NEWTON_STEP_TOL_FACTOR * self.tol and self.criterion > self.rounding_floor
        return self.criterion > self.tol or far

    def _certify(self):
        """Whether the certified gap is within ``gap_tol``; its pass is paid only when it may be."""
        if self.gap_tol is None or not may_be_certified(
            self.objective.penalty, float(np.vdot(self.grad_coef, self.grad_coef)), self.loss, self.gap_tol
        ):
            return False
        _, self.gap = self.objective.certified_gap(self.coef, self.intercept)
        if self.verbose:
            print(f"-- Newton step {self.n_iter}, certified gap: {self.gap:.3g}")
        return self.gap <= self.gap_tol


def newton(objective, coef, intercept, *, tol, max_iter, gap_tol=None, monitor=SILENT, verbose=0):
    """Newton-CG steps that trust the gradient near the optimum, in place: :class:`NewtonSolver`, solved.

    Parameters are those of :class:`NewtonSolver`.

    Returns
    -------
    Result
        ``converged`` also when the gradient could not be lowered further
        and is within ``sqrt(eps)`` of the data's dtype.
    """
    return NewtonSolver(
        objective,
        coef,
        intercept,
        tol=tol,
        max_iter=max_iter,
        gap_tol=gap_tol,
        monitor=monitor,
        verbose=verbose,
    ).solve()
