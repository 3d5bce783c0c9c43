"""Full-batch L-BFGS-B, with the L1 part split into two bounded halves and the weights' bounds its own."""

import numpy as np
from scipy import optimize

from ._certify import may_be_certified
from ._monitor import SILENT
from ._newton import _largest_gradient
from ._state import Result


def lbfgs(
    objective, coef, intercept, *, max_iter, tol, gap_tol=None, newton_gap=None, monitor=SILENT, verbose=0
):
    """Full-batch L-BFGS-B on ``objective``, updating ``coef`` and ``intercept`` in place.

    The L1 part of the penalty is not differentiable at 0; it is handled
    exactly by splitting ``W = W+ - W-`` with ``W+, W- >= 0``, on which
    ``||W||_1 = sum(W+ + W-)`` is linear, and bounding both halves at 0. The
    optimum has exact zeros where both halves sit on their bound. Bounds on
    the weights are L-BFGS-B's own, on ``W`` or on the halves (:func:`_bounds`).

    Parameters
    ----------
    objective : Objective
    coef, intercept : ndarray
    max_iter : int
        Iterations at most.
    tol : float
        Stop when the largest entry of the projected gradient is below it.
    newton_gap : float or None
        Also stop (not converged) once the gradient's share of the certified gap,
        ``||grad_W J||^2 / (2 l2 |J|)`` (:mod:`~sklearn_maxent._optim._certify`), is at most
        this: near enough for Newton's steps, where only an L2 penalty says so.
    gap_tol : float or None
        Also stop, as converged, once the certified relative duality gap
        (:meth:`~sklearn_maxent._model._objective.Objective.certified_gap`) is at
        most this, checked after an iteration when the gradient says it may
        be (:func:`~sklearn_maxent._optim._certify.may_be_certified`).
    monitor : StepMonitor
        Told of each iteration (:mod:`~sklearn_maxent._optim._monitor`); the
        run stops, not converged unless certified, when it asks.
    verbose : int

    Returns
    -------
    Result
    """
    # A start within tol (where a SAGA phase ended): no L-BFGS-B setup, whose copies of the
    # model cost more than the pass (the gradient there is usually the objective's cached one).
    penalty = objective.penalty

    def near_newton(gradient_norm2, loss):
        if newton_gap is None or penalty.has_l1 or penalty.bounded or penalty.smallest_l2 == 0:
            return False
        return gradient_norm2 / (2 * penalty.smallest_l2) <= newton_gap * abs(loss)

    (loss, grad_coef, _), largest = _largest_gradient(objective, coef, intercept)
    if largest <= tol or near_newton(float(np.vdot(grad_coef, grad_coef)), loss):
        return Result(0, largest <= tol, [], np.nan)
    shape = coef.shape
    size = coef.size
    dtype = objective.dtype
    split = penalty.has_l1
    l1 = np.broadcast_to(penalty.l1_weights, shape).ravel() if split else 0.0
    fit_intercept = objective.fit_intercept
    curve = []
    # The last evaluation: L-BFGS-B's iterate is the last point its line search evaluated.
    last = {"theta": None, "gradient_norm2": np.inf}
    certificate = {"gap": np.nan, "certified": False}

    def unpack(theta):
        w = theta[:size] - theta[size : 2 * size] if split else theta[:size]
        b = theta[-shape[1] :] if fit_intercept else intercept
        return w.reshape(shape).astype(dtype, copy=False), np.asarray(b, dtype=dtype)

    def value_gradient(theta):
        monitor.begin("lbfgs-iter")
        w, b = unpack(theta)
        loss, grad_coef, grad_intercept = objective.smooth_value_gradient(w, b)
        parts = [grad_coef.ravel()]
        if split:
            loss += float(l1 @ theta[:size] + l1 @ theta[size : 2 * size])
            parts = [grad_coef.ravel() + l1, l1 - grad_coef.ravel()]
        if fit_intercept:
            parts.append(grad_intercept)
        last["theta"], last["gradient_norm2"] = theta, float(np.vdot(grad_coef, grad_coef))
        return loss, np.concatenate(parts).astype(np.float64, copy=False)

    def worth_certifying(theta, loss):
        if last["theta"] is None or not np.array_equal(theta, last["theta"]):
            return True
        return may_be_certified(objective.penalty, last["gradient_norm2"], loss, gap_tol)

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if gap_tol is not None and worth_certifying(intermediate_result.x, intermediate_result.fun):
            _, certificate["gap"] = objective.certified_gap(*unpack(intermediate_result.x))
            certificate["certified"] = certificate["gap"] <= gap_tol
            if verbose:
                print(f"-- L-BFGS iteration {len(curve)}, certified gap: {certificate['gap']:.3g}")
        stop = monitor.end(lambda: tuple(np.copy(part) for part in unpack(intermediate_result.x)))
        evaluated = last["theta"] is not None and np.array_equal(intermediate_result.x, last["theta"])
        handed_over = evaluated and near_newton(last["gradient_norm2"], intermediate_result.fun)
        if stop or certificate["certified"] or handed_over:
            raise StopIteration

    start = penalty.project(np.array(coef, dtype=np.float64))
    parts = [np.maximum(start, 0).ravel(), np.maximum(-start, 0).ravel()] if split else [start.ravel()]
    if fit_intercept:
        parts.append(intercept)
    theta0 = np.concatenate(parts).astype(np.float64)
    result = optimize.minimize(
        value_gradient,
        theta0,
        method="L-BFGS-B",
        jac=True,
        bounds=_bounds(penalty, shape, fit_intercept),
        callback=callback,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    monitor.abandon()  # evaluations after the last iteration
    w, b = unpack(result.x)
    coef[:] = w
    intercept[:] = b
    if verbose:
        print(f"-- L-BFGS: {result.nit} iterations, loss: {result.fun:.6g}, {result.message}")
    # status 0: a stopping rule held, which may be the loss changing by less
    # than its rounding error; minimize() lets newton() judge the gradient.
    converged = certificate["certified"] or result.status == 0
    return Result(result.nit, converged, curve, certificate["gap"] if certificate["certified"] else np.nan)


def _bounds(penalty, shape, fit_intercept):
    """L-BFGS-B's bounds on its variables (None where there are none).

    Without the L1 split, those of ``W``. With it, ``W+`` lies in
    ``[max(lower, 0), max(upper, 0)]`` and ``W-`` in
    ``[max(-upper, 0), max(-lower, 0)]``: every ``W = W+ - W-`` then lies in
    ``[lower, upper]``, and every such ``W`` has a split with one half 0.
    The intercept is free.
    """
    split = penalty.has_l1
    if not (split or penalty.bounded):
        return None
    lower = np.broadcast_to(-np.inf if penalty.lower is None else penalty.lower, shape).ravel()
    upper = np.broadcast_to(np.inf if penalty.upper is None else penalty.upper, shape).ravel()
    if split:
        lower, upper = (
            np.concatenate([np.maximum(lower, 0), np.maximum(-upper, 0)]),
            np.concatenate([np.maximum(upper, 0), np.maximum(-lower, 0)]),
        )
    n_free = shape[1] if fit_intercept else 0
    return optimize.Bounds(np.r_[lower, np.full(n_free, -np.inf)], np.r_[upper, np.full(n_free, np.inf)])
