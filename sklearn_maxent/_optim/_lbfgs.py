"""Full-batch L-BFGS-B, with the L1 part split into two bounded halves."""

import numpy as np
from scipy import optimize

from ._state import Result


def lbfgs(objective, coef, intercept, *, max_iter, tol, verbose=0):
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

    def unpack(theta):
        w = theta[:size] - theta[size : 2 * size] if split else theta[:size]
        b = theta[-shape[1] :] if fit_intercept else intercept
        return w.reshape(shape).astype(dtype, copy=False), np.asarray(b, dtype=dtype)

    def value_gradient(theta):
        w, b = unpack(theta)
        loss, grad_coef, grad_intercept = objective.smooth_value_gradient(w, b)
        parts = [grad_coef.ravel()]
        if split:
            loss += l1 * float(theta[: 2 * size].sum())
            parts = [grad_coef.ravel() + l1, l1 - grad_coef.ravel()]
        if fit_intercept:
            parts.append(grad_intercept)
        return loss, np.concatenate(parts).astype(np.float64, copy=False)

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
        callback=lambda intermediate_result: curve.append(float(intermediate_result.fun)),
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    w, b = unpack(result.x)
    coef[:] = w
    intercept[:] = b
    if verbose:
        print(f"-- L-BFGS: {result.nit} iterations, loss: {result.fun:.6g}, {result.message}")
    # status 0: a stopping rule held, which may be the loss changing by less
    # than its rounding error; minimize() lets newton() judge the gradient.
    return Result(result.nit, result.status == 0, curve)
