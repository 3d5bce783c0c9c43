"""Newton-CG on an L1 fit's support, its signs fixed: scores whose probabilities certify the fit.

A dual point built from a point's probabilities is scaled into the L1 ball (the largest
``|X_j^T V_k|`` brought down to its feature's threshold), so its value falls short of ``J*``
by an amount linear in the point's largest violation of the optimality conditions, while the
point's own gap is quadratic in it: near the optimum the certificate lags the true gap by
orders of magnitude. On a fixed support with fixed signs the L1 term is linear and the problem
smooth, so Newton's steps converge fast there; a few of them, reading only the support's
columns, bring the violation on the support down by orders of magnitude (celer's and glmnet's
final solve on the active set). Their probabilities make the dual point; the fit keeps its own
point, whatever the restricted steps did: any probabilities give a valid bound.
"""

import numpy as np
from scipy import sparse

from .._model._softmax import (
    ThreadedCSR,
    _product,
    _transpose_product,
    cross_entropy,
    linear_hessian_diagonal,
    linear_hessian_product,
    softmax,
)
from ._cg import conjugate_gradients

# Newton steps on the support at most: each cuts the gradient about 1 / SUPPORT_CG_RTOL times.
SUPPORT_STEPS = 5
# Conjugate gradients stop at this relative residual, at most SUPPORT_CG_MAXITER iterations.
SUPPORT_CG_RTOL = 1e-3
SUPPORT_CG_MAXITER = 300
# Armijo's constant and the halvings a step may take, as the solver's own line search.
ARMIJO = 1e-4
MAX_HALVINGS = 30


class SupportProblem:
    """The objective restricted to the non-zero weights strictly inside their bounds, signs fixed.

    Parameters
    ----------
    columns : ndarray or sparse matrix of shape (n_samples, n_features)
        Dense (any order) or CSC: its support's columns are copied, in rows.
    targets : ndarray of shape (n_samples, n_classes), float64
    row_weights : ndarray of shape (n_samples,), float64
    coef : ndarray of shape (n_features, n_free), float64
        The point the support and signs are read from.
    l1, l2 : ndarray of shape (n_features,)
    lower, upper : ndarray of shape (n_features, n_free)
    fit_intercept, reference_class : bool
    """

    def __init__(
        self, columns, targets, row_weights, coef, l1, l2, lower, upper, fit_intercept, reference_class
    ):
        entries = (coef != 0) & (coef > lower) & (coef < upper)  # a weight at a bound stays there
        self.features = np.flatnonzero(entries.any(axis=1))
        self.mask = entries[self.features].astype(np.float64)
        support = columns[:, self.features]
        self.X = ThreadedCSR(support) if sparse.issparse(support) else np.ascontiguousarray(support)
        self.coef = coef[self.features]
        self.slopes = l1[self.features, None] * np.sign(self.coef) * self.mask
        self.l2 = l2[self.features, None] * self.mask
        self.lower, self.upper = lower[self.features], upper[self.features]
        self.targets, self.row_weights = targets, row_weights
        self.fit_intercept, self.reference_class = fit_intercept, reference_class

    def value(self, scores, coef):
        """``J`` at ``coef`` with these scores, the L1 term linear in the fixed signs."""
        penalty = float(np.vdot(self.slopes, coef)) + 0.5 * float(np.vdot(self.l2, coef * coef))
        return cross_entropy(scores, self.targets, self.row_weights) + penalty

    def gradient(self, proba, coef):
        """The gradient on the support and the intercepts', as one vector (zero off the support)."""
        residual = self.row_weights[:, None] * (proba - self.targets)[:, self.reference_class :]
        data = _transpose_product(self.X, residual.astype(self.X.dtype))
        grad = (data + self.slopes + self.l2 * coef) * self.mask
        return np.concatenate([grad.ravel(), self._intercept_part(residual.sum(axis=0))])

    def hessian(self, proba):
        """``(matvec, inverse_diagonal)`` of the Hessian at ``proba`` for :func:`conjugate_gradients`."""
        size, dtype, reference = self.mask.size, self.X.dtype, self.reference_class
        row_weights = self.row_weights.astype(dtype)
        proba = proba.astype(dtype)

        def matvec(vector, out):
            step = vector[:size].reshape(self.mask.shape) * self.mask
            hess_coef, hess_intercept = linear_hessian_product(
                self.X, proba, row_weights, step.astype(dtype), vector[size:].astype(dtype), reference
            )
            out[:size] = ((hess_coef + self.l2 * step) * self.mask).ravel()
            out[size:] = self._intercept_part(hess_intercept)

        diag_coef, diag_intercept = linear_hessian_diagonal(self.X, proba, row_weights, self.reference_class)
        diagonal = np.concatenate([((diag_coef + self.l2) * self.mask).ravel(), diag_intercept])
        with np.errstate(divide="ignore"):
            inverse = np.where(diagonal > 0, 1.0 / diagonal, 0.0)
        if not self.fit_intercept:
            inverse[size:] = 0.0
        return matvec, inverse

    def _intercept_part(self, intercept_part):
        """Zero without an intercept; centred without a reference class (a common shift changes nothing)."""
        if not self.fit_intercept:
            return np.zeros_like(intercept_part, dtype=np.float64)
        if self.reference_class:
            return intercept_part.astype(np.float64)
        return (intercept_part - intercept_part.mean()).astype(np.float64)

    def within_bounds(self, coef):
        """Whether the support's weights ``coef`` are within their bounds."""
        return bool(((coef >= self.lower) & (coef <= self.upper)).all())


def support_newton(problem, scores):
    """Up to ``SUPPORT_STEPS`` Newton-CG steps of ``problem`` from ``scores``.

    Yields
    ------
    scores : ndarray of shape (n_samples, n_classes)
        After each step, float64.
    value : float
        The restricted objective there (``J`` where no sign has changed).

    The steps end after one that finds no descent (:func:`_damped_step`), or where the caller
    stops asking (its dual point good enough).
    """
    coef, scores = problem.coef.copy(), scores.copy()
    value = problem.value(scores, coef)
    for _ in range(SUPPORT_STEPS):
        proba = softmax(scores)
        gradient = problem.gradient(proba, coef)
        matvec, inverse = problem.hessian(proba)
        step = conjugate_gradients(matvec, -gradient, inverse, SUPPORT_CG_RTOL, SUPPORT_CG_MAXITER)
        moved = _damped_step(problem, coef, scores, value, step, float(gradient @ step))
        if moved is None:
            return
        coef, scores, value = moved
        yield scores, value


def _damped_step(problem, coef, scores, value, step, predicted):
    """``(coef, scores, value)`` after ``t * step``, ``t = 1, 1/2, ...``, the first within the bounds that
    gains ``ARMIJO`` of the ``predicted`` decrease (up to the loss's rounding); None if none does."""
    if not predicted < 0:
        return None
    # Within the loss's rounding the full step passes: the loss cannot judge it, the gradient gains.
    slack = 10 * np.finfo(np.float64).eps * abs(value)
    direction = step[: coef.size].reshape(coef.shape) * problem.mask
    change = _product(problem.X, direction.astype(problem.X.dtype)) + step[coef.size :]
    t = 1.0
    for _ in range(MAX_HALVINGS):
        trial_coef, trial_scores = coef + t * direction, scores.copy()
        trial_scores[:, problem.reference_class :] += t * change
        if problem.within_bounds(trial_coef):
            trial_value = problem.value(trial_scores, trial_coef)
            if trial_value <= value + ARMIJO * t * predicted + slack:
                return trial_coef, trial_scores, trial_value
        t /= 2
    return None
