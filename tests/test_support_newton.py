"""Newton-CG on an L1 fit's support (``_optim._support_newton``), whose probabilities certify the fit.

Checked against the optimality conditions written out in NumPy on the support, scipy's L-BFGS-B
optimum of the written-out objective (``reference_optimum``) and a brute-force dual value: the
entropy of the rows shifted to the targets' mean and mixed towards the targets, less the
elastic net's conjugate, written out here and maximized over a grid of mixtures.
"""

import numpy as np
import pytest
from reference_optimum import scipy_optimum
from scipy import sparse
from scipy.special import softmax, xlogy
from test_newton_cd import dense_problem
from text_like import text_like

from sklearn_maxent._optim._support_newton import SupportProblem, support_newton

KEPT = 1e-6  # a reference weight above this is on the support


def cases():
    """``(name, X, y, l1_ratio)``: dense, binary (a reference class), sparse text, elastic net."""
    X3, y3 = dense_problem(n_classes=3, n_samples=150, n_features=10)
    X2, y2 = dense_problem(n_classes=2, n_samples=100, n_features=10, seed=1)
    Xt, yt = text_like(150, n_words=300, n_classes=4, seed=0)
    return [
        ("dense", X3, y3, 1.0),
        ("binary", X2, y2, 1.0),
        ("sparse", Xt, yt, 1.0),
        ("elastic net", X3, y3, 0.5),
    ]


def setting(X, y, l1_ratio):
    """The scipy optimum at a third of the largest useful alpha, and a start near it on its support.

    Returns ``(problem, start_scores, reference_coef, arrays)`` with ``arrays`` the written-out
    data: ``X`` (dense), targets, weights, ``l1``, ``l2``, the reference class and ``J*`` (scipy's).
    """
    classes = np.unique(y)
    targets = np.eye(classes.size)[np.searchsorted(classes, y)]
    reference = int(classes.size == 2)
    weights = np.full(len(y), 1.0 / len(y))
    dense = np.asarray(X.todense()) if sparse.issparse(X) else X
    mean_gradient = dense.T @ (weights[:, None] * (targets.mean(axis=0) - targets))
    alpha = np.abs(mean_gradient).max() / l1_ratio / 3
    coef, intercept = scipy_optimum(dense, targets, weights, alpha, l1_ratio, *[None] * 4, reference)
    coef[np.abs(coef) <= KEPT] = 0.0
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    optimum = objective(dense, targets, weights, coef, intercept, l1, l2, reference)
    rng = np.random.default_rng(0)
    start = coef * (1 + 0.1 * rng.uniform(-1, 1, coef.shape))  # same support and signs
    start_intercept = intercept + 0.1 * rng.normal(size=intercept.shape)
    n_features = dense.shape[1]
    problem = SupportProblem(
        sparse.csc_matrix(X) if sparse.issparse(X) else np.asfortranarray(X),
        targets,
        weights,
        start,
        np.full(n_features, l1),
        np.full(n_features, l2),
        np.full(start.shape, -np.inf),
        np.full(start.shape, np.inf),
        True,
        reference,
    )
    arrays = (dense, targets, weights, l1, l2, reference, optimum)
    return problem, scores_of(dense, start, start_intercept, reference), coef, arrays


def scores_of(X, coef, intercept, reference):
    free = X @ coef + intercept
    return np.hstack([np.zeros((len(X), 1)), free]) if reference else free


def objective(X, targets, weights, coef, intercept, l1, l2, reference):
    log_proba = np.log(softmax(scores_of(X, coef, intercept, reference), axis=1))
    penalty = l1 * np.abs(coef).sum() + 0.5 * l2 * np.sum(coef**2)
    return -np.sum(weights[:, None] * targets * log_proba) + penalty


def brute_force_dual(scores, arrays):
    """The best dual value over a grid of mixtures ``c Q + (1 - c) Y`` of the shifted rows ``Q``, the
    largest ``c`` inside the L1 ball among them."""
    X, targets, weights, l1, l2, reference, _ = arrays
    proba = softmax(scores, axis=1)
    shifted = proba - (weights @ proba - weights @ targets)  # the targets' weighted mean
    assert (shifted >= 0).all()
    correlations = (X.T @ (weights[:, None] * (shifted - targets)))[:, reference:]
    values, largest = [], min(1.0, l1 / np.abs(correlations).max())
    for c in [*np.linspace(0.5, 1.0, 501), largest]:
        rows = c * shifted + (1 - c) * targets
        excess = np.maximum(np.abs(c * correlations) - l1, 0.0)
        excess[np.isclose(np.abs(c * correlations), l1, rtol=1e-14, atol=0)] = 0.0  # ``largest``'s rounding
        if l2 > 0:
            price = np.sum(excess**2) / (2 * l2)
        elif excess.any():
            continue  # outside the L1 ball: no dual value
        else:
            price = 0.0
        values.append(-np.sum(weights[:, None] * xlogy(rows, rows)) - price)
    return max(values)


@pytest.mark.parametrize("case", cases(), ids=lambda case: case[0])
def test_dual_point_certifies_the_scipy_optimum(case):
    _, X, y, l1_ratio = case
    problem, start, _, arrays = setting(X, y, l1_ratio)
    optimum = arrays[-1]
    steps = list(support_newton(problem, start))
    assert steps
    dual = brute_force_dual(steps[-1][0], arrays)
    assert dual <= optimum + 1e-12 * optimum  # weak duality: scipy's J is above J*
    assert optimum - dual <= 1e-8 * optimum
    # Power: the start's own dual point is far from certifying it.
    assert optimum - brute_force_dual(start, arrays) > 1e3 * (optimum - dual)


@pytest.mark.parametrize("case", [c for c in cases() if c[3] == 1.0], ids=lambda case: case[0])
def test_steps_meet_the_optimality_conditions_on_the_support(case):
    """``X_j^T w (P - Y)_k = -l1 sign(W_jk)`` on the support, and the intercepts' gradient 0."""
    _, X, y, l1_ratio = case
    problem, start, coef, arrays = setting(X, y, l1_ratio)
    dense, targets, weights, l1, _, reference, _ = arrays
    scores, value = list(support_newton(problem, start))[-1]
    residual = (weights[:, None] * (softmax(scores, axis=1) - targets))[:, reference:]
    gradient = dense.T @ residual
    support = coef != 0
    assert np.abs(gradient[support] + l1 * np.sign(coef[support])).max() <= 1e-8 * l1
    assert np.abs(residual.sum(axis=0)).max() <= 1e-8 * l1
    assert value <= arrays[-1] * (1 + 1e-12)  # the restricted objective at the support's optimum
