"""The block coordinate-descent sweep of ``sklearn_maxent._kernels._coordinate`` in plain NumPy.

``dense_sweeps`` and ``csc_sweeps`` must compute what :func:`sweep` computes, on the same
feature order (``tests/test_newton_cd.py``): per feature, the model's slopes for all its
classes from a pass over its column (and, on the first sweep, its block of the Hessian),
cyclic coordinate descent over the classes on that block with a soft-threshold, a clip and
a limit on the move,
the best common shift of the classes, and the update of ``Z`` and ``M``; then the
intercepts, a column of ones. Written to be read, with dense columns and NumPy sums.
"""

import numpy as np

MAX_BLOCK_CYCLES = 4
BLOCK_RTOL = 1e-8
TIE = 1e-12


def coordinate_minimum(value, curvature, slope, l1, lower, upper):
    """``argmin_v slope (v - value) + curvature / 2 (v - value)^2 + l1 |v|`` on ``[lower, upper]``."""
    z = curvature * value - slope
    v = np.sign(z) * max(abs(z) - l1, 0.0) / curvature
    return min(max(v, lower), upper)


def shift_cost(values, shift, l1, l2):
    moved = values + shift
    return float(np.sum(0.5 * l2 * moved**2 + l1 * np.abs(moved)))


def best_shift(values, l1, l2):
    """The common shift minimizing :func:`shift_cost`: 0 where 0 is optimal, else the first best candidate.

    Without L2, the point of the minimizing interval (``-c`` in the median interval) closest
    to the centring ``-mean(values)``.
    """
    if l2 == 0:
        if l1 == 0:
            return 0.0
        ordered = np.sort(values)
        n = len(values)
        return min(max(-values.mean(), -ordered[n // 2]), -ordered[(n - 1) // 2])
    slope = l2 * values.sum()
    left = slope + l1 * np.sum(np.where(values > 0, 1.0, -1.0))
    right = slope + l1 * np.sum(np.where(values >= 0, 1.0, -1.0))
    if left <= 0 <= right:
        return 0.0
    best, best_cost = 0.0, shift_cost(values, 0.0, l1, l2)
    for candidate in -values:
        cost = shift_cost(values, candidate, l1, l2)
        if cost < best_cost - TIE * best_cost:
            best, best_cost = candidate, cost
        signs = np.sum(np.where(values + candidate >= 0, 1.0, -1.0))
        stationary = -(values.sum() + l1 * signs / l2) / len(values)
        cost = shift_cost(values, stationary, l1, l2)
        if cost < best_cost - TIE * best_cost:
            best, best_cost = stationary, cost
    return best


def solve_block(block, slopes, values, l1, l2, lower, upper, limit, shift_classes):
    """The feature's steps: coordinate descent over its classes on the block model."""
    steps = np.zeros(len(values))
    first = 0.0
    for cycle in range(MAX_BLOCK_CYCLES):
        change = 0.0
        for k in range(len(values)):
            curvature = block[k, k] + l2
            if not curvature > 0:
                continue
            slope = slopes[k] + l2 * steps[k] + block[k] @ steps
            value = values[k] + steps[k]
            step = coordinate_minimum(value, curvature, slope, l1, lower[k], upper[k]) - value
            step = min(max(step, -limit), limit)
            steps[k] += step
            change = max(change, curvature * step * step)
        if shift_classes:
            shift = best_shift(values + steps, l1, l2)
            steps += min(max(shift, np.max(lower - values - steps)), np.min(upper - values - steps))
        if cycle == 0:
            first = change
        if change <= BLOCK_RTOL * first:
            break
    return steps


def visit(
    column, row_weights, proba, Z, M, fixed, block, values, l1, l2, lower, upper, limit, shift_classes, fresh
):
    """One feature's move (see the module); ``block`` is written when ``fresh``. Returns the steps."""
    weighted = row_weights * column
    slopes = fixed + (weighted[:, None] * proba * (Z - M[:, None])).sum(axis=0)
    if fresh:
        curvature = weighted * column
        block[...] = np.diag(curvature @ proba) - (curvature[:, None] * proba).T @ proba
    steps = solve_block(block, slopes, values, l1, l2, lower, upper, limit, shift_classes)
    Z += np.outer(column, steps)
    M += column * (proba @ steps)
    return steps


def sweep(
    X,
    row_weights,
    proba,
    Z,
    M,
    grad,
    blocks,
    coef,
    direction,
    l1,
    l2,
    lower,
    upper,
    limits,
    features,
    grad_intercept,
    intercept_block,
    intercept_direction,
    fit_intercept,
    shift_classes,
    fresh,
):
    """One sweep over ``features`` (dense ``X``) and the intercepts, in place, as the kernel's."""
    for f, j in enumerate(features):
        values = coef[j] + direction[j]
        fixed = grad[j] + l2[j] * direction[j]
        trust_lower = np.maximum(lower[j], coef[j] - limits[j])  # the trust region around coef
        trust_upper = np.minimum(upper[j], coef[j] + limits[j])
        direction[j] += visit(
            X[:, j], row_weights, proba, Z, M, fixed, blocks[f], values, l1[j], l2[j], trust_lower,
            trust_upper, limits[j], shift_classes, fresh,
        )  # fmt: skip
    if fit_intercept:
        n_free = proba.shape[1]
        infinite = np.full(n_free, np.inf)
        intercept_direction += visit(
            np.ones(len(X)), row_weights, proba, Z, M, grad_intercept, intercept_block, np.zeros(n_free),
            0.0, 0.0, -infinite, infinite, limits[-1], False, fresh,
        )  # fmt: skip
