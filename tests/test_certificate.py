"""The certified gap: an upper bound of the true relative gap, reached by every solver.

The true gap ``(J - J*) / J*`` is measured against an optimum computed here,
independently of the package: the objective written with ``scipy.special``
and minimized by ``scipy.optimize`` (L-BFGS-B, the L1 part split into two
bounded halves) far past the tolerances tested.
"""

import math
import warnings

import numpy as np
import pytest
from reference_duality import balanced_expectations
from scipy import optimize, sparse
from scipy.special import log_softmax, logsumexp
from sklearn.datasets import load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._model._duality import entropy, primal_dual, relative_gap
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet


def objective(coef, intercept, X, Y, s, alpha, l1_ratio):
    """J of coef_ (n_free, n_features) and intercept_, as the user guide defines it; Y: a column per class."""
    scores = np.asarray(X @ coef.T) + intercept
    if coef.shape[0] == 1:  # the binary model: class 0's score is 0
        scores = np.hstack([np.zeros_like(scores), scores])
    loss = -(s * (Y * log_softmax(scores, axis=1)).sum(axis=1)).sum() / s.sum()
    return loss + alpha * ((1 - l1_ratio) / 2 * (coef**2).sum() + l1_ratio * np.abs(coef).sum())


def optimum(X, Y, s, alpha, l1_ratio, fit_intercept=True):
    """J* by scipy's L-BFGS-B on split weights W = U - V, U, V >= 0 (smooth; the L1 part linear)."""
    n_features, n_classes = X.shape[1], Y.shape[1]
    n_free = 1 if n_classes == 2 else n_classes
    size = n_free * n_features
    w = s / s.sum()

    def fun(theta):
        coef = (theta[:size] - theta[size : 2 * size]).reshape(n_free, n_features)
        intercept = theta[2 * size :] if fit_intercept else np.zeros(n_free)
        scores = np.asarray(X @ coef.T) + intercept
        full = np.hstack([np.zeros((len(Y), 1)), scores]) if n_free == 1 else scores
        proba = np.exp(full - logsumexp(full, axis=1, keepdims=True))
        residual = (w[:, None] * (proba - Y))[:, -n_free:]
        value = (w * (logsumexp(full, axis=1) - (Y * full).sum(axis=1))).sum()
        value += alpha * ((1 - l1_ratio) / 2 * (coef**2).sum() + l1_ratio * theta[: 2 * size].sum())
        grad = np.asarray(X.T @ residual).T + alpha * (1 - l1_ratio) * coef
        parts = [grad.ravel() + alpha * l1_ratio, -grad.ravel() + alpha * l1_ratio]
        if fit_intercept:
            parts.append(residual.sum(axis=0))
        return value, np.concatenate(parts)

    theta = np.zeros(2 * size + (n_free if fit_intercept else 0))
    bounds = [(0, None)] * (2 * size) + [(None, None)] * (len(theta) - 2 * size)
    result = optimize.minimize(
        fun,
        theta,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 100_000, "gtol": 1e-13, "ftol": 0},
    )
    return result.fun


def wine(n_classes=3):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, (y if n_classes == 3 else (y > 0).astype(int))


PROBLEMS = {
    "dense": {"alpha": 1e-2},
    "sparse": {"alpha": 1e-2, "as_sparse": True},
    "weighted": {"alpha": 1e-2, "weighted": True},
    "elastic-net": {"alpha": 1e-2, "l1_ratio": 0.5},
    "pure-l1": {"alpha": 1e-2, "l1_ratio": 1.0},
    "soft-labels": {"alpha": 1e-2, "soft": True},
    "binary": {"alpha": 1e-3, "n_classes": 2},
    "no-intercept": {"alpha": 1e-2, "fit_intercept": False},
}


def problem(
    alpha, l1_ratio=0.0, as_sparse=False, weighted=False, soft=False, n_classes=3, fit_intercept=True
):
    """X, the y to fit, Y (one column per class), effective weights, the estimator's params, sample_weight."""
    X, y = wine(n_classes)
    if as_sparse:
        X[np.abs(X) < 0.7] = 0
        X = sparse.csr_matrix(X)
    rng = np.random.RandomState(0)
    Y = np.eye(n_classes)[y]
    if soft:
        Y = 0.7 * Y + 0.3 * rng.dirichlet(np.ones(n_classes), len(y))
    params = {"alpha": alpha, "l1_ratio": l1_ratio, "fit_intercept": fit_intercept}
    sample_weight = np.ones(len(y))
    s = sample_weight
    if weighted:
        sample_weight = rng.uniform(0.2, 3, len(y))
        params["class_weight"] = {0: 2.0, 1: 0.5, 2: 1.0}
        s = sample_weight * np.array([2.0, 0.5, 1.0])[y]
    return X, (Y if soft else y), Y, s, params, sample_weight


@pytest.mark.parametrize("name", PROBLEMS)
def test_certified_gap_bounds_the_true_gap_along_the_path(name):
    X, target, Y, s, params, sample_weight = problem(**PROBLEMS[name])
    j_star = optimum(X, Y, s, params["alpha"], params["l1_ratio"], params["fit_intercept"])
    bounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for max_iter in (1, 2, 4, 8, 16, 32, 64):
            model = MaxEntClassifier(solver="lbfgs", max_iter=max_iter, tol=1e-12, **params)
            model.fit(X, target, sample_weight=sample_weight)
            true_gap = (
                objective(model.coef_, model.intercept_, X, Y, s, params["alpha"], params["l1_ratio"])
                - j_star
            ) / j_star
            # j_star is itself within ~1e-13 of the optimum.
            assert model.duality_gap_ >= true_gap - 1e-12, max_iter
            bounds.append(model.duality_gap_)
    assert bounds[-1] < 1e-8  # and the bound closes as the solver converges


def test_dual_at_the_optimum_equals_the_primal():
    """Strong duality: at the optimum Q = P is dual-optimal and D(P) = J*; the max-ent dual is the entropy."""
    X, y = wine()
    Y = np.eye(3)[y]
    w = np.full(len(y), 1 / len(y))
    model = MaxEntClassifier(alpha=1e-2, tol=1e-12).fit(X, y)
    coef = model.coef_.T
    scores = X @ coef + model.intercept_
    primal, dual = primal_dual(X, scores, Y, w, ElasticNet(1e-2, 0.0), coef, True, False)
    assert dual == pytest.approx(primal, rel=1e-10)
    # ... and it is the entropy of the model's probabilities less alpha/2 ||W||^2 (E_est - E_obs = -alpha W):
    proba = np.exp(log_softmax(scores, axis=1))
    assert dual == pytest.approx(w @ entropy(proba) - 1e-2 / 2 * (coef**2).sum(), rel=1e-10)


def test_without_intercept_the_l2_gap_is_the_gradient_norm_bound():
    """No intercept, L2: J - D(P) = ||grad_W J||^2 / (2 l2) exactly, the strong-convexity bound."""
    X, y = wine()
    Y = np.eye(3)[y]
    w = np.full(len(y), 1 / len(y))
    coef = np.random.RandomState(0).normal(scale=0.1, size=(13, 3))
    scores = X @ coef
    l2 = 0.05
    primal, dual = primal_dual(X, scores, Y, w, ElasticNet(l2, 0.0), coef, False, False)
    proba = np.exp(log_softmax(scores, axis=1))
    gradient = X.T @ (w[:, None] * (proba - Y)) + l2 * coef
    # The dual point P itself: D(P) = sum_i w_i H(P_i) - ||X^T V||^2 / (2 l2), V = w (P - Y).
    at_proba = w @ entropy(proba) - (np.linalg.norm(X.T @ (w[:, None] * (proba - Y))) ** 2) / (2 * l2)
    assert primal - at_proba == pytest.approx((gradient**2).sum() / (2 * l2), rel=1e-9)
    # The certificate takes the best point of the segment from Y to P: never worse.
    assert dual >= at_proba - 1e-12


def test_a_weak_l2_part_far_from_the_optimum_still_gets_a_finite_valid_certificate():
    """D(P) < 0 there (no bound at all from P); the best point of the segment from Y to P gives one."""
    X, y = wine()
    Y = np.eye(3)[y]
    w = np.full(len(y), 1 / len(y))
    l2 = 1e-4
    coef = np.random.RandomState(0).normal(scale=0.3, size=(13, 3))
    scores = X @ coef
    primal, dual = primal_dual(X, scores, Y, w, ElasticNet(l2, 0.0), coef, False, False)
    proba = np.exp(log_softmax(scores, axis=1))
    at_proba = w @ entropy(proba) - (np.linalg.norm(X.T @ (w[:, None] * (proba - Y))) ** 2) / (2 * l2)
    assert at_proba < 0
    assert dual > 0

    # Weak duality against the optimum found independently (scipy's L-BFGS on the written-out J).
    def value_grad(flat):
        W = flat.reshape(13, 3)
        S = X @ W
        P = np.exp(log_softmax(S, axis=1))
        value = -(w @ (log_softmax(S, axis=1) * Y).sum(axis=1)) + l2 / 2 * (W**2).sum()
        return value, (X.T @ (w[:, None] * (P - Y)) + l2 * W).ravel()

    optimum = optimize.minimize(value_grad, np.zeros(39), jac=True, method="L-BFGS-B", tol=1e-14)
    assert dual <= optimum.fun + 1e-9
    assert np.isfinite(relative_gap(primal, dual))


def test_balanced_expectations_are_distributions_with_the_observed_mean():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(4) * 0.3, 500)  # many tiny probabilities
    targets = np.eye(4)[rng.randint(0, 4, 500)]
    w = rng.uniform(0.1, 1, 500)
    w /= w.sum()
    Q = balanced_expectations(proba, targets, w)
    assert (Q >= 0).all()
    np.testing.assert_allclose(Q.sum(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(w @ Q, w @ targets, atol=1e-12)


ALPHA = 1e-3


@pytest.fixture(scope="module", params=[False, True], ids=["dense", "sparse"])
def larger_problem(request):
    """20,000 x 20, 5 classes: a pass is no longer negligible, so fits stop at tol, not at precision."""
    X, y = make_classification(20_000, 20, n_informative=10, n_classes=5, random_state=0)
    X = StandardScaler().fit_transform(X)
    if request.param:
        X[np.abs(X) < 1] = 0
        X = sparse.csr_matrix(X)
    return X, y, optimum(X, np.eye(5)[y], np.ones(len(y)), ALPHA, 0.0)


@pytest.mark.parametrize("solver", ["auto", "lbfgs", "saga"])
def test_every_solver_stops_within_tol_as_certified(larger_problem, solver):
    X, y, j_star = larger_problem
    model = MaxEntClassifier(alpha=ALPHA, solver=solver, tol=1e-6, random_state=0, max_iter=200).fit(X, y)
    assert model.duality_gap_ <= 1e-6
    value = objective(model.coef_, model.intercept_, X, np.eye(5)[y], np.ones(len(y)), ALPHA, 0.0)
    assert (value - j_star) / j_star <= model.duality_gap_ + 1e-12


def test_plain_sgd_certifies_or_warns_with_a_true_bound(larger_problem):
    """Plain SGD's noise floor is far above 1e-6: it may stall first, and then says so."""
    X, y, j_star = larger_problem
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = MaxEntClassifier(alpha=ALPHA, solver="sgd", tol=1e-2, random_state=0, max_iter=200).fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert model.duality_gap_ <= 1e-2 or warned
    value = objective(model.coef_, model.intercept_, X, np.eye(5)[y], np.ones(len(y)), ALPHA, 0.0)
    assert (value - j_star) / j_star <= model.duality_gap_ + 1e-12


def test_max_iter_warning_names_the_certified_gap():
    X, y = make_classification(20_000, 20, n_informative=10, n_classes=5, random_state=0)
    with pytest.warns(
        ConvergenceWarning, match=r"certified relative gap \(J - J\*\) / J\* of [0-9.e+-]+, above tol"
    ):
        model = MaxEntClassifier(solver="lbfgs", max_iter=10).fit(StandardScaler().fit_transform(X), y)
    assert model.duality_gap_ > 1e-6


def test_no_penalty_has_no_certificate():
    X, y = wine()
    assert np.isnan(MaxEntClassifier(alpha=0.0).fit(X, y).duality_gap_)


def test_verbose_prints_the_certified_gap(capsys):
    X, y = wine()
    MaxEntClassifier(alpha=1e-2, verbose=1).fit(X, y)
    assert "Certified relative gap" in capsys.readouterr().out


# Issue 15, defect 1: SAGA stopped by its mixed epoch loss far from the optimum on sparse input.
def test_saga_on_sparse_input_reaches_the_optimum():
    X, y = make_classification(n_samples=100, n_features=5, random_state=42)
    X[X < 0] = 0
    kw = {"alpha": 1 / 100, "solver": "saga", "tol": 1e-14, "max_iter": 10_000, "random_state": 42}
    reference = LogisticRegression(C=1.0, tol=1e-14, max_iter=10_000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 1e-14 is at the arithmetic's floor
        model = MaxEntClassifier(**kw).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-6)


def test_saga_on_four_dense_rows_reaches_the_optimum():
    X = np.random.RandomState(0).normal(size=(4, 2))
    y = [0, 0, 1, 1]
    reference = LogisticRegression(C=1.0, tol=1e-14, max_iter=10_000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MaxEntClassifier(alpha=1 / 4, solver="saga", tol=1e-14, max_iter=10_000, random_state=0).fit(
            X, y
        )
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-6)


@pytest.mark.parametrize("name", PROBLEMS)
def test_objective_takes_the_dual_from_the_gradient_as_the_direct_formula_does(name):
    """Objective.certified_gap gets X^T V from the gradient and two moments; primal_dual multiplies."""
    X, target, Y, s, params, sample_weight = problem(**PROBLEMS[name])
    binary = Y.shape[1] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MaxEntClassifier(solver="lbfgs", max_iter=8, **params).fit(
            X, target, sample_weight=sample_weight
        )
    coef, intercept = model.coef_.T, model.intercept_
    penalty = ElasticNet(params["alpha"], params["l1_ratio"])
    scores = np.asarray(X @ coef) + intercept
    if binary:
        scores = np.hstack([np.zeros((len(Y), 1)), scores])
    primal, dual = primal_dual(X, scores, Y, s / s.sum(), penalty, coef, params["fit_intercept"], binary)
    value, gap = Objective(X, Y, s, penalty, params["fit_intercept"], binary).certified_gap(coef, intercept)
    assert value == pytest.approx(primal, rel=1e-12)
    assert np.isfinite(gap)
    assert gap == pytest.approx(relative_gap(primal, dual), rel=1e-8)


@pytest.mark.parametrize("solver", ["auto", "lbfgs"])
def test_tol_none_runs_the_full_batch_methods_to_precision(larger_problem, solver):
    X, y, j_star = larger_problem
    model = MaxEntClassifier(alpha=ALPHA, solver=solver, tol=None, random_state=0).fit(X, y)
    value = objective(model.coef_, model.intercept_, X, np.eye(5)[y], np.ones(len(y)), ALPHA, 0.0)
    assert (value - j_star) / j_star < 1e-10
    assert model.duality_gap_ < 1e-8


def test_the_penalty_of_float32_weights_is_summed_in_float64():
    """On a text model's scale (here 2M weights) a float32 dot is off by about 1e-5 relative,
    far more than a certificate at 1e-6 allows; the penalty matches the float64 sum."""
    rng = np.random.default_rng(0)
    coef = (3 * rng.standard_normal((40_000, 50))).astype(np.float32)
    exact = 0.5 * 0.1 * math.fsum(np.square(coef.astype(np.float64)).ravel())
    assert ElasticNet(0.1, 0.0).value(coef) == pytest.approx(exact, rel=1e-12)
