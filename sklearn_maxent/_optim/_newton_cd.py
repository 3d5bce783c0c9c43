"""Proximal Newton steps with coordinate descent inside, for the L1 and elastic-net penalty.

glmnet's and newGLMNET's scheme (Friedman, Hastie & Tibshirani 2010; Yuan, Ho & Lin 2012),
as scikit-learn's ``newton-cd``: at the current point the multinomial loss is replaced by
its second-order model (the exact softmax Hessian), the model plus the penalty is minimized
by coordinate descent over a working set of features (the compiled
:func:`~sklearn_maxent._kernels.dense_sweeps` / :func:`~sklearn_maxent._kernels.csc_sweeps`,
one feature's block of classes at a time: soft-thresholds, clips into the bounds, the
classes' common shift), the sweeps extrapolated every ``ANDERSON_DEPTH`` (Anderson, as in
skglm), and a backtracking line search on the true objective takes the step.
:class:`NewtonCDSolver` names the parts as :class:`~sklearn_maxent._optim._newton.NewtonSolver`
does; :func:`newton_cd` is the entry point of the solver chain.

The working set holds the features with a non-zero weight and those whose gradient breaks
the optimality conditions at zero (``max_k |G_jk| > l1_j``), the most violating first, at
most twice the non-zero features (and ``WORKING_SET_MIN`` at least) at a time: it grows as
celer's does, while features that meet the conditions at the current point stay out. Every
iteration rebuilds it from the full gradient, so a fit ends only where all features meet
them. The fit stops on the certified gap with the best dual point met so far (every dual
value is a lower bound of ``J*``): that of the current point, those of the probabilities
the step predicts, as they are and extrapolated over the last sweeps (celer's dual
extrapolation, :meth:`NewtonCDSolver.predicted_dual`), and, where the model says the current
point is near the optimum but these lag its estimate of the gap, or where the point's own
certificate is near ``gap_tol``, those of Newton steps on the support and signs of the step or
the point (:mod:`~sklearn_maxent._optim._support_newton`), which certify the current point
itself to about its true gap. The best point also screens
(:func:`~sklearn_maxent._model._duality.screened_features`, gap-safe): features proved zero
at the optimum leave the working set, the dual's constraints and its products for the rest
of the fit; the gradient pass stays whole (it is threaded, the solver's own products not).
Not where a bound keeps a weight from 0 (zero is then not the weight's optimum).
"""

import itertools

import numpy as np
from scipy import sparse

from .._kernels import csc_sweeps, dense_sweeps
from .._model._duality import relative_gap, screened_features
from .._model._softmax import cross_entropy, linear_scores, softmax
from ._monitor import SILENT
from ._newton import NewtonLoop, _largest_gradient
from ._state import Result
from ._support_newton import SupportProblem, support_newton

# Coordinate descent stops once a sweep's largest model decrease (curvature * step^2) is
# this share of the first sweep's ...
INNER_RTOL = 1e-3
# ... or after this many sweeps.
MAX_SWEEPS = 100
# Sweeps between two Anderson extrapolations of the inner iterates.
ANDERSON_DEPTH = 5
# The fewest features a working set grows to.
WORKING_SET_MIN = 100
# Inner iterates whose probabilities are extrapolated into a dual point, at most (celer's K).
DUAL_DEPTH = 5
# Near the optimum the certificate should be within this factor of the gap the model predicts,
# else Newton steps on the step's support look for a better dual point.
TRACKING = 2.0
# A point whose own certificate is above gap_tol by at most this factor tries Newton steps on its
# support before another inner solve.
ATTEMPT = 100.0
# A relative gap no dual value resolves: the rounding of its sums over the rows.
ROUNDING_GAP = 1e3 * np.finfo(np.float64).eps
# A Newton step moves no weight by more than this over its column's largest entry (a factor e^5 on
# an odds ratio): where a class's probabilities are near 0 on a column the model has next to no
# curvature there.
MAX_SCORE_STEP = 5.0
# Armijo's constant: the step must gain this share of the model's predicted decrease.
ARMIJO = 1e-4
MAX_HALVINGS = 30


class NewtonCDSolver(NewtonLoop):
    """Proximal Newton steps, coordinate descent inside, updating ``coef`` and ``intercept`` in place.

    Parameters
    ----------
    objective : Objective
        On NumPy or scipy.sparse data (its columns are read: CSR ``X`` is copied to CSC
        once, dense ``X`` to Fortran order).
    coef, intercept : ndarray
        Starting point, overwritten with every accepted step.
    tol : float
        Without a certificate (``gap_tol`` None), stop when the largest entry of the
        minimum-norm subgradient is below it.
    max_iter : int
        Newton steps at most.
    gap_tol : float or None
        Stop, as converged, once the certified relative duality gap is at most this.
    monitor : StepMonitor
    verbose : int

    Attributes
    ----------
    loss : float
        ``J`` at the current point (float64 arithmetic).
    n_iter : int
        Steps taken.
    loss_curve : list of float
    gap : float
        The last certified gap, with the best dual value so far; nan before any.
    best_dual : float
        The largest dual value met: a lower bound of ``J*``.
    n_sweeps : int
        Coordinate-descent sweeps made over all steps.
    screened : ndarray of bool of shape (n_features,)
        Features proved zero at the optimum (gap-safe screening, see the module).
    converged : bool
    """

    phase = "newton-cd-iter"

    def setup(self):
        """The data's columns, the penalty per weight, and ``J`` and its gradient at the start."""
        objective = self.objective
        penalty = objective.penalty
        n_features, n_free = objective.parameter_shape
        X = objective.X
        if sparse.issparse(X):
            X = sparse.csc_matrix(X)
            X.sum_duplicates()
            self.sweeps = _csc_sweeps(X)
        else:
            X = np.asfortranarray(X)
            self.sweeps = _dense_sweeps(X)
        self.columns = X
        factor = np.ones(n_features) if penalty.factor is None else penalty.factor.astype(np.float64)
        self.l1 = penalty.l1 * factor if penalty.has_l1 else np.zeros(n_features)
        self.l2 = penalty.l2 * factor
        with np.errstate(divide="ignore"):  # an all-zero column has no limit
            self.limits = MAX_SCORE_STEP / np.append(_largest_entries(X), 1.0)
        self.lower = _bound(penalty.lower, -np.inf, (n_features, n_free))
        self.upper = _bound(penalty.upper, np.inf, (n_features, n_free))
        self.row_weights = objective.row_weights.astype(np.float64)
        self.targets = objective.targets.astype(np.float64)
        self.column_norms = np.sqrt(_squared_column_sums(X, self.row_weights))
        # Zero is optimal below the threshold only where the bounds allow it; the margin covers
        # the rounding of X^T V in the data's dtype.
        self.screen_l1 = self.l1 * (1.0 - np.sqrt(np.finfo(objective.dtype).eps))
        self.screen_l1[((self.lower > 0) | (self.upper < 0)).any(axis=1)] = 0.0
        self.screened = np.zeros(n_features, dtype=bool)
        self.kept_columns = X
        self.best_correlations = None
        self.coef64 = self.coef.astype(np.float64)
        self.intercept64 = self.intercept.astype(np.float64)
        # A shift common to a feature's weights in all classes changes no probability: only
        # the penalty sets it, in one move per feature (a bound could forbid it).
        self.bounded = penalty.bounded
        self.shift_classes = not objective.reference_class and not penalty.bounded
        self.n_iter, self.n_sweeps, self.loss_curve = 0, 0, []
        self.gap, self.best_dual = np.nan, -np.inf
        self.converged = self.certified_here = False
        self._evaluate()

    def update_gradient_hessian(self):
        """The model at the current point: free probabilities, working set, room for its Hessian blocks."""
        reference = self.objective.reference_class
        self.proba = np.ascontiguousarray(self.scores_proba[:, reference:])
        self.working_set = self._working_set()
        n_free = self.proba.shape[1]
        self.blocks = np.empty((self.working_set.size, n_free, n_free))
        self.intercept_block = np.empty((n_free, n_free))

    def inner_solve(self):
        """Coordinate descent on the model plus the penalty: the step ``(D, d)`` and ``Z = X D + d``.

        Every ``ANDERSON_DEPTH`` sweeps the last iterates are extrapolated (Anderson, as skglm
        does on its working sets) and the extrapolation kept where the model is lower there:
        on correlated text columns plain sweeps gain a few percent each. Then the dual values
        of the probabilities the step predicts and of their extrapolation over the last
        ``DUAL_DEPTH`` sweeps (:meth:`predicted_dual`). Where the model puts the current point
        within ``gap_tol`` but the certificate is more than ``TRACKING`` times the gap the model
        predicts (:meth:`_lags`), Newton steps on the step's support look for a better dual
        point (:meth:`_certify_landing`): the step's own accuracy is enough there, but a dual
        point's error is first order in its residual's, and would cost further Newton steps
        to certify.
        """
        n_samples, n_free = self.proba.shape
        self.direction = np.zeros_like(self.coef64)
        self.intercept_direction = np.zeros(n_free)
        self.Z = np.zeros((n_samples, n_free))
        self.M = np.zeros(n_samples)
        _, first = self._sweep(False)
        self.n_sweeps += 1
        history = [self._inner_state()]
        scores = [history[0][2:]]
        for _ in range(MAX_SWEEPS - 1):
            if not first > 0:
                break
            _, largest = self._sweep(True)
            self.n_sweeps += 1
            scores = [*scores[-DUAL_DEPTH:], (self.Z.copy(), self.M.copy())]
            if largest <= INNER_RTOL * first:
                break
            history.append(self._inner_state())
            if len(history) > ANDERSON_DEPTH:
                if self._extrapolate(history):  # a jump: the iterates before it are another sequence
                    scores = [(self.Z.copy(), self.M.copy())]
                history = [self._inner_state()]
        self._predicted_duals(scores)
        self._certify_landing()
        self._certifies_here()

    def _certify_landing(self):
        """Newton steps on the step's support from where it lands (scores ``S + Z``, weights ``W + D``),
        where the model puts the current point within ``gap_tol`` but the certificate lags (:meth:`_lags`)."""
        if self.gap_tol is None:
            return
        predicted = self._model_gap()
        if predicted <= self.gap_tol and self._lags(predicted):
            landing = self.scores.copy()
            landing[:, self.objective.reference_class :] += self.Z
            self._certify_on_support(self.coef64 + self.direction, landing, predicted)

    def _certify_on_support(self, coef, scores, predicted):
        """Offer the dual points of Newton steps on the support and signs of ``coef`` (its ``scores``,
        :func:`support_newton`) until the certificate is within ``TRACKING`` times the gap estimate:
        the ``predicted`` gap, or the steps' own decrease from the current point where larger.

        They stop early where that estimate is above ``gap_tol``: no certificate is near.
        """
        problem = SupportProblem(
            self.columns, self.targets, self.row_weights, coef, self.l1, self.l2, self.lower, self.upper,
            self.objective.fit_intercept, self.objective.reference_class,
        )  # fmt: skip
        for stepped, value in support_newton(problem, scores):
            self._offer_expected(softmax(stepped))
            estimate = max(predicted, (self.loss - value) / self.loss)
            if estimate > self.gap_tol or not self._lags(estimate):
                return

    def _model_gap(self):
        """The relative decrease the model predicts from the current point: its estimate of the gap."""
        return -self._model_value(*self._inner_state()) / self.loss

    def _lags(self, estimate):
        """Whether the certificate is above ``TRACKING`` times the gap ``estimate`` (and rounding's)."""
        floor = max(TRACKING * estimate, ROUNDING_GAP)
        return relative_gap(self.loss, self.best_dual) > floor

    def _predicted_duals(self, scores):
        """Dual points of the step's predicted probabilities and of their extrapolation over ``scores``."""
        self.predicted_dual(self.Z, self.M)
        extrapolated = _extrapolated_scores(scores)
        if extrapolated is not None:
            self.predicted_dual(*extrapolated)

    def _certifies_here(self):
        """Whether the best dual value certifies the current point within ``gap_tol``."""
        gap = relative_gap(self.loss, self.best_dual)
        self.certified_here = self.gap_tol is not None and gap <= self.gap_tol
        return self.certified_here

    def _sweep(self, curvatures_known):
        """One sweep of the compiled kernel over the working set and the intercepts."""
        return self.sweeps(
            self.row_weights, self.proba, self.Z, self.M, self.grad, self.blocks, self.coef64,
            self.direction, self.l1, self.l2, self.lower, self.upper, self.limits, self.working_set,
            self.grad_intercept, self.intercept_block, self.intercept_direction,
            self.objective.fit_intercept, self.shift_classes, curvatures_known, 1, 0.0,
        )  # fmt: skip

    def _inner_state(self):
        """The step on the working set, the intercepts' step, ``Z`` and ``M``: copies."""
        return (
            self.direction[self.working_set],
            self.intercept_direction.copy(),
            self.Z.copy(),
            self.M.copy(),
        )

    def _extrapolate(self, history):
        """Replace the step by the Anderson extrapolation of ``history`` where the model is lower there.

        Returns whether it did.
        """
        if self.bounded:  # an extrapolation may leave the bounds
            return False
        flat = np.array([np.concatenate([state[0].ravel(), state[1]]) for state in history])
        weights = _extrapolation_weights(np.diff(flat, axis=0))
        if weights is None:
            return False
        candidate = [
            sum(c * state[part] for c, state in zip(weights, history[1:], strict=True)) for part in range(4)
        ]
        within_trust = (np.abs(candidate[0]) <= self.limits[self.working_set, None]).all()
        if within_trust and self._model_value(*candidate) < self._model_value(*history[-1]):
            self.direction[self.working_set] = candidate[0]
            self.intercept_direction[...] = candidate[1]
            self.Z[...] = candidate[2]
            self.M[...] = candidate[3]
            return True
        return False

    def _model_value(self, direction, intercept_direction, Z, M):
        """The model plus the penalty's change at a step on the working set (see :meth:`inner_solve`)."""
        ws = self.working_set
        coef = self.coef64[ws]
        curvature = self.row_weights @ ((self.proba * Z * Z).sum(axis=1) - M * M)
        return (
            float(np.vdot(self.grad[ws], direction) + intercept_direction @ self.grad_intercept)
            + 0.5 * float(curvature + self.l2[ws] @ np.square(direction).sum(axis=1))
            + float(self.l1[ws] @ (np.abs(coef + direction) - np.abs(coef)).sum(axis=1))
        )

    def predicted_dual(self, Z, M):
        """Raise the best dual value with the point built from the probabilities a step predicts.

        The model's probabilities after the step ``Z = X D + d``, ``P + P * (Z - M)`` (the
        softmax linearized), have the model's gradient as data gradient, which the inner solve
        made nearly optimal: the point's error is the linearization's, second order in the
        step, plus the inner solve's residual, first order, which is what limits it in
        practice. It takes one product ``X^T R`` over the features not screened. Skipped where
        the linearization leaves the simplex and no intercept balances it back.
        """
        if self.gap_tol is None:
            return
        reference = self.objective.reference_class
        expected = self.scores_proba.copy()
        expected[:, reference:] += self.proba * (Z - M[:, None])
        if reference:
            expected[:, 0] -= expected[:, 0] * M
        if not self.objective.fit_intercept and (expected < 0).any():
            return
        self._offer_expected(expected)

    def _offer_expected(self, expected):
        """Offer the dual point of rows ``expected``: one product ``X^T R`` over the features not screened."""
        reference = self.objective.reference_class
        residual = self.row_weights[:, None] * (expected[:, reference:] - self.targets[:, reference:])
        gradient = np.zeros_like(self.coef64)
        gradient[~self.screened] = self.kept_columns.T @ residual.astype(self.objective.dtype)
        self._offer_dual(expected, gradient)

    def _offer_dual(self, expected, gradient):
        """Keep the dual point of rows ``expected`` (data gradient ``gradient``) if it is the best yet."""
        dual, correlations = self.objective.dual_point_of(
            expected, gradient, self.targets, self.row_weights, self.screened
        )
        if dual > self.best_dual:
            self.best_dual, self.best_correlations = dual, correlations

    def line_search(self):
        """Move to the first step ``t (D, d)``, t = 1, 1/2, ..., gaining ``ARMIJO`` of the model's decrease.

        The predicted decrease (Tseng and Yun's) is ``<G, D> + <g, d>`` plus the change of the L1
        term; scores move along ``Z`` at no pass's cost. False where the model predicts no decrease
        or no step gains: the arithmetic's precision is reached. A point certified by its own
        model's dual stays: its step would go far below ``gap_tol`` and leave the certificate,
        that of the point before, orders of magnitude behind.
        """
        if self.certified_here:
            return True
        predicted = (
            float(np.vdot(self.grad, self.direction) + self.intercept_direction @ self.grad_intercept)
            + self._l1_value(self.coef64 + self.direction)
            - self._l1_value(self.coef64)
        )
        slack = 10 * np.finfo(np.float64).eps * abs(self.loss)  # the loss's own rounding
        if not predicted < -slack:
            return self._rounding_step()
        reference = self.objective.reference_class
        scores = self.scores.copy()
        t = 1.0
        for _ in range(MAX_HALVINGS):
            scores[:, reference:] = self.scores[:, reference:] + t * self.Z
            coef = self.coef64 + t * self.direction
            loss = cross_entropy(scores, self.targets, self.row_weights) + self._penalty_value(coef)
            if loss <= self.loss + ARMIJO * t * predicted + slack:
                self._move(t)
                return True
            t /= 2
        return False

    def _move(self, t):
        """Take the step ``t (D, d)``: one pass for the new point's gradient."""
        self.coef64 = self.coef64 + t * self.direction
        self.intercept64 = self.intercept64 + t * self.intercept_direction
        self.n_iter += 1
        self._evaluate()
        self.loss_curve.append(self.loss)

    def _rounding_step(self):
        """Within the loss's rounding: the whole step, if it lowers the subgradient.

        The loss can no longer judge a step there, but the gradient still can (as
        :class:`~sklearn_maxent._optim._newton.NewtonSolver` does): the step is undone unless the
        largest entry of the minimum-norm subgradient falls.
        """
        _, before = _largest_gradient(self.objective, self.coef, self.intercept)
        saved = self.coef64, self.intercept64, self.n_iter, list(self.loss_curve)
        self._move(1.0)
        _, after = _largest_gradient(self.objective, self.coef, self.intercept)
        if after < before:
            return True
        self.coef64, self.intercept64, self.n_iter, self.loss_curve = saved
        self._evaluate()
        return False

    def check_convergence(self):
        """Whether to stop: the gap certified within ``gap_tol`` (else the subgradient within ``tol``).

        A point whose own certificate is within ``ATTEMPT`` times ``gap_tol`` first offers the dual
        points of Newton steps on its support (:meth:`_certify_on_support`): where its true gap is
        already within ``gap_tol`` they certify it without another inner solve.
        """
        if self.gap_tol is None:
            _, criterion = _largest_gradient(self.objective, self.coef, self.intercept)
            self.converged = criterion <= self.tol
            return
        self._offer_dual(self.scores_proba, self.data_grad)
        if (
            not self.certified_here
            and self.gap_tol < relative_gap(self.loss, self.best_dual) <= ATTEMPT * self.gap_tol
        ):
            # Near: Newton steps on the point's support may certify it without another inner solve.
            self._certify_on_support(self.coef64, self.scores, 0.0)
        self.gap = relative_gap(self.loss, self.best_dual)
        if self.verbose:
            print(f"-- Newton-CD step {self.n_iter}, loss: {self.loss:.10g}, certified gap: {self.gap:.3g}")
        self.converged = self.gap <= self.gap_tol
        self._screen()

    def _screen(self):
        """Add the features the best dual point proves zero (gap-safe) to ``screened``."""
        if self.best_correlations is None:
            return
        proved = screened_features(
            self.best_correlations,
            self.screen_l1,
            self.column_norms,
            self.loss - self.best_dual,
            self.targets.shape[1],
        )
        if (proved & ~self.screened).any():
            self.screened |= proved
            self.kept_columns = self.columns[:, np.flatnonzero(~self.screened)]

    def finalize(self):
        """How the run ended.

        Returns
        -------
        Result
            ``converged`` when certified (or, without a certificate, within ``tol``);
            ``gap`` the last certified gap (nan without one).
        """
        if self.gap_tol is None and not self.converged:  # stopped by the line search: at precision?
            _, criterion = _largest_gradient(self.objective, self.coef, self.intercept)
            self.converged = criterion <= max(self.tol, np.sqrt(np.finfo(self.objective.dtype).eps))
        return Result(self.n_iter, bool(self.converged), self.loss_curve, self.gap)

    def _evaluate(self):
        """Scores, probabilities, ``J`` and the smooth part's gradient at ``coef64``, copied to ``coef``.

        Scores and gradient are made in the data's dtype (as the certificate's), the rest in float64.
        """
        objective = self.objective
        self.coef[...] = self.coef64
        self.intercept[...] = self.intercept64
        _, grad_coef, grad_intercept = objective.data_loss_gradient(self.coef, self.intercept)
        scores = linear_scores(
            objective.X, self.coef, self.intercept, objective.reference_class, objective.offset
        )
        self.scores = scores.astype(np.float64)
        self.scores_proba = softmax(self.scores)
        data_loss = cross_entropy(self.scores, self.targets, self.row_weights)
        self.loss = data_loss + self._penalty_value(self.coef64)
        self.data_grad = np.asarray(grad_coef, dtype=np.float64)
        self.grad = self.data_grad + self.l2[:, None] * self.coef64
        self.grad_intercept = np.asarray(grad_intercept, dtype=np.float64)

    def _working_set(self):
        """Features to sweep: the non-zero ones and the most violating unscreened others (see the module)."""
        nonzero = np.flatnonzero(self.coef64.any(axis=1))
        violation = np.abs(self.grad).max(axis=1) - self.l1
        violation[nonzero] = -np.inf
        violation[self.screened] = -np.inf
        candidates = np.flatnonzero(violation > 0)
        room = max(WORKING_SET_MIN, 2 * nonzero.size)
        if candidates.size > room:
            candidates = candidates[np.argsort(-violation[candidates], kind="stable")[:room]]
        return np.sort(np.concatenate([nonzero, candidates])).astype(np.int32)

    def _l1_value(self, coef):
        return float(self.l1 @ np.abs(coef).sum(axis=1))

    def _penalty_value(self, coef):
        return self._l1_value(coef) + 0.5 * float(self.l2 @ np.square(coef).sum(axis=1))


def _dense_sweeps(X):
    """The kernel on Fortran-ordered ``X``, as a function of the rest of its arguments."""
    return lambda *arguments: dense_sweeps(X, *arguments)


def _csc_sweeps(X):
    """The kernel on CSC ``X``'s arrays, as a function of the rest of its arguments."""
    return lambda *arguments: csc_sweeps(X.data, X.indices, X.indptr, *arguments)


def _extrapolated_scores(scores):
    """celer's dual extrapolation of the last inner iterates ``(Z, M)``, or None where it cannot be made.

    Once the signs settle, cyclic coordinate descent on the quadratic model is an affine
    iteration, so a combination of its last iterates, weights summing to one and chosen to
    cancel their differences (Massias, Gramfort and Salmon 2018), lands much nearer its
    limit than the last one does.
    """
    if len(scores) < 3:  # two differences at least
        return None
    weights = _extrapolation_weights(np.array([(b[0] - a[0]).ravel() for a, b in itertools.pairwise(scores)]))
    if weights is None:
        return None
    Z = sum(c * state[0] for c, state in zip(weights, scores[1:], strict=True))
    M = sum(c * state[1] for c, state in zip(weights, scores[1:], strict=True))
    return Z, M


def _squared_column_sums(X, row_weights):
    """``sum_i w_i x_ij^2`` for each column of CSC or dense ``X``, in float64."""
    if sparse.issparse(X):
        return np.asarray(X.multiply(X).T @ row_weights, dtype=np.float64).ravel()
    return np.square(X, dtype=np.float64).T @ row_weights


def _largest_entries(X):
    """Each column's largest ``|x_ij|`` (CSC or dense ``X``), in float64."""
    if sparse.issparse(X):
        return np.asarray(abs(X).max(axis=0).todense(), dtype=np.float64).ravel()
    return np.abs(X).max(axis=0, initial=0.0).astype(np.float64)


def _bound(bound, fill, shape):
    """A bound as a C-ordered float64 array of ``shape`` (``fill`` everywhere for None)."""
    if bound is None:
        return np.full(shape, fill)
    return np.ascontiguousarray(np.broadcast_to(bound, shape), dtype=np.float64)


def newton_cd(objective, coef, intercept, *, tol, max_iter, gap_tol=None, monitor=SILENT, verbose=0):
    """Proximal Newton steps with coordinate descent inside, in place: :class:`NewtonCDSolver`, solved.

    Parameters are those of :class:`NewtonCDSolver`.

    Returns
    -------
    Result
    """
    return NewtonCDSolver(
        objective,
        coef,
        intercept,
        tol=tol,
        max_iter=max_iter,
        gap_tol=gap_tol,
        monitor=monitor,
        verbose=verbose,
    ).solve()


def _extrapolation_weights(differences):
    """Anderson's weights on the last iterates from their ``differences`` (rows), summing to one;
    None where the system is singular or the weights are not finite."""
    try:
        weights = np.linalg.solve(differences @ differences.T, np.ones(len(differences)))
    except np.linalg.LinAlgError:
        return None
    if not (np.isfinite(weights).all() and weights.sum() != 0):
        return None
    return weights / weights.sum()
