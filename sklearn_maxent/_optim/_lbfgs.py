"""Full-batch L-BFGS-B, with the L1 part split into two bounded halves."""

import numpy as np
from scipy import optimize

from ._certify import may_be_certified
from ._monitor import SILENT
from ._state import Result


def lbfgs(objective, coef, intercept, *, max_iter, tol, gap_tol=None, monitor=SILENT, verbose=0):
    """Full-batch L-BFGS-B on ``objective``, updating ``coef`` and ``intercept`` in place.

    The L1 part of the penalty is not differentiable at 0; it is handled
    exactly by splitting ``W = W+ - W-`` with ``W+, W- >= 0``, on which
    ``||W||_1 = sum(W+ + W-)`` is linear, and bounding both halves at 0. The
    optimum has exact zeros where both halves sit on their bound.

    Parameters
    ----------
    objective : Objective
    coef, intercept : ndarray
    max_iter : int
        Iterations at most.
    tol : float
        Stop when the largest entry of the projected gradient is below it.
    gap_tol : float or None
        Also stop, as converged, once the certified relative duality gap
        (:meth:`~sklearn_maxent._objective.Objective.certified_gap`) is at
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
    shape = coef.shape
    size = coef.size
    dtype = objective.dtype
    l1 = objective.penalty.l1
    split = objective.penalty.has_l1
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
            loss += l1 * float(theta[: 2 * size].sum())
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
        if stop or certificate["certified"]:
            raise StopIteration

    parts = [np.maximum(coef, 0).ravel(), np.maximum(-coef, 0).ravel()] if split else [coef.ravel()]
    if fit_intercept:
        parts.append(intercept)
    theta0 = np.concatenate(parts).astype(np.float64)
    bounds = None
    if split:
        bounds = [(0, None)] * (2 * size) + [(None, None)] * (shape[1] if fit_intercept else 0)
    result = optimize.minimize(
        value_gradient,
        theta0,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
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
