"""The optimum of the max-ent objective computed independently: scipy's L-BFGS-B on the formula.

``J(W, b) = (1/sum s) sum_i s_i CE(x_i W + b + offset_i)
+ sum_j f_j (l2/2 ||W_j||^2 + l1 ||W_j||_1)`` subject to ``lower <= W <= upper``,
written out in NumPy from the formula, not from the package's passes. The
L1 part is made smooth by the split ``W = P - N`` with ``P, N >= 0`` (each
bounded so that ``P - N`` stays within the bounds), where it is linear.
For small dense problems only.
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax


def scipy_optimum(X, targets, row_weights, alpha, l1_ratio, factor, lower, upper, offset, reference_class):
    """``(W, b)`` at the optimum of ``J`` (intercept fitted), to scipy's L-BFGS-B precision.

    ``factor`` of shape (n_features,) or None; ``lower``, ``upper`` of
    ``W``'s shape (n_features, n_free) or None; ``offset`` of shape
    (n_samples, n_free) or None.
    """
    X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    n_free = targets.shape[1] - reference_class
    shape = (n_features, n_free)
    weights = row_weights / row_weights.sum()
    factor = np.ones(n_features) if factor is None else factor
    l2 = alpha * (1 - l1_ratio) * factor[:, None] * np.ones(shape)
    l1 = alpha * l1_ratio * factor[:, None] * np.ones(shape)
    lower = np.full(shape, -np.inf) if lower is None else lower
    upper = np.full(shape, np.inf) if upper is None else upper
    offset = np.zeros((len(X), n_free)) if offset is None else offset
    size = n_features * n_free

    def objective(z):
        positive, negative = z[:size].reshape(shape), z[size : 2 * size].reshape(shape)
        intercept = z[2 * size :]
        coef = positive - negative
        free = X @ coef + intercept + offset
        scores = np.hstack([np.zeros((len(X), 1)), free]) if reference_class else free
        log_proba = log_softmax(scores, axis=1)
        residual = (weights[:, None] * (softmax(scores, axis=1) - targets))[:, reference_class:]
        value = -np.sum(weights[:, None] * targets * log_proba)
        value += np.sum(0.5 * l2 * coef**2 + l1 * (positive + negative))
        grad_coef = X.T @ residual + l2 * coef
        gradient = [(grad_coef + l1).ravel(), (-grad_coef + l1).ravel(), residual.sum(axis=0)]
        return value, np.concatenate(gradient)

    coef_bounds = np.concatenate(
        [
            np.stack([np.maximum(lower, 0), np.maximum(upper, 0)], axis=-1).reshape(-1, 2),
            np.stack([np.maximum(-upper, 0), np.maximum(-lower, 0)], axis=-1).reshape(-1, 2),
        ]
    )
    bounds = [(a, None if np.isinf(b) else b) for a, b in coef_bounds] + [(None, None)] * n_free
    start = np.zeros(2 * size + n_free)
    start[: 2 * size] = coef_bounds[:, 0]
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 100_000, "maxfun": 100_000, "ftol": 1e-16, "gtol": 1e-12, "maxcor": 30},
    )
    z = result.x
    return z[:size].reshape(shape) - z[size : 2 * size].reshape(shape), z[2 * size :]
