"""solver="newton-cd" (issue 21): proximal Newton with compiled block coordinate descent inside.

Checked against independent references: the optimality (KKT) conditions written out in
NumPy, scipy's L-BFGS-B on the written-out objective (``reference_optimum``),
LogisticRegression(solver="saga") at the matching penalty, and the compiled sweep against
its NumPy twin (``reference_coordinate``).
"""

import warnings

import numpy as np
import pytest
from reference_coordinate import sweep as reference_sweep
from reference_optimum import scipy_optimum
from scipy import sparse
from scipy.special import log_softmax, softmax
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from text_like import text_like

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._kernels import csc_sweeps, dense_sweeps


def free_parameters(clf):
    """``(W, b)`` with a column per free class: the binary model's single column, else all."""
    return clf.coef_.T.astype(np.float64), clf.intercept_.astype(np.float64)


def scores_of(clf, X):
    coef, intercept = free_parameters(clf)
    free = np.asarray(X @ coef) + intercept
    return np.hstack([np.zeros((free.shape[0], 1)), free]) if coef.shape[1] == 1 else free


def objective(clf, X, y, alpha, l1_ratio, sample_weight=None, factor=None):
    """``J`` written out: weighted mean cross-entropy plus the elastic net (intercept free)."""
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    labels = np.searchsorted(clf.classes_, y)
    log_proba = log_softmax(scores_of(clf, X), axis=1)[np.arange(len(y)), labels]
    coef, _ = free_parameters(clf)
    factor = np.ones(coef.shape[0]) if factor is None else factor
    penalty = factor @ (l1_ratio * np.abs(coef) + 0.5 * (1 - l1_ratio) * coef**2).sum(axis=1)
    return -(weights @ log_proba) / weights.sum() + alpha * penalty


def kkt_violation(clf, X, y, alpha, l1_ratio, sample_weight=None, factor=None, fit_intercept=True):
    """The largest violation of the optimality conditions, relative to the L1 strength.

    Stationarity with the right sign where a weight is non-zero (``G = -l1 sign(W)``),
    ``|G| <= l1`` where it is zero, and a zero gradient for the intercepts, with
    ``G = X^T w (P - Y) + l2 W`` written out here.
    """
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    weights = weights / weights.sum()
    labels = np.searchsorted(clf.classes_, y)
    targets = np.eye(len(clf.classes_))[labels]
    residual = weights[:, None] * (softmax(scores_of(clf, X), axis=1) - targets)
    coef, _ = free_parameters(clf)
    residual = residual[:, -coef.shape[1] :]
    factor = np.ones(coef.shape[0]) if factor is None else factor
    l1 = alpha * l1_ratio * factor[:, None]
    grad = np.asarray(X.T @ residual) + alpha * (1 - l1_ratio) * factor[:, None] * coef
    violation = np.where(coef != 0, np.abs(grad + l1 * np.sign(coef)), np.maximum(np.abs(grad) - l1, 0))
    intercept = np.abs(residual.sum(axis=0)).max() if fit_intercept else 0.0
    return max(violation.max(), intercept) / (alpha * l1_ratio)


def fit(X, y, alpha, l1_ratio, **params):
    params = {"tol": 1e-12, "max_iter": 200} | params
    sample_weight = params.pop("sample_weight", None)
    return MaxEntClassifier(alpha=alpha, l1_ratio=l1_ratio, solver="newton-cd", **params).fit(
        X, y, sample_weight=sample_weight
    )


def dense_problem(n_classes=3, n_samples=120, n_features=12, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=6,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3, 7])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("container", ["dense", "csr"])
def test_kkt_conditions_hold(n_classes, l1_ratio, container):
    X, y = dense_problem(n_classes=n_classes, n_samples=40 * n_classes)
    X = sparse.csr_matrix(X) if container == "csr" else X
    alpha = 0.05
    clf = fit(X, y, alpha, l1_ratio)
    assert kkt_violation(clf, X, y, alpha, l1_ratio) <= 1e-5
    assert (clf.coef_ == 0).any()  # the penalty is strong enough to make exact zeros


@pytest.mark.parametrize("n_classes", [2, 4])
def test_without_intercept(n_classes):
    X, y = dense_problem(n_classes=n_classes)
    alpha = 0.02
    clf = fit(sparse.csr_matrix(X), y, alpha, 1.0, fit_intercept=False)
    assert not clf.intercept_.any()
    assert kkt_violation(clf, X, y, alpha, 1.0, fit_intercept=False) <= 1e-5


def test_pure_l2_gives_the_lbfgs_model():
    X, y = dense_problem(n_classes=3)
    ours = fit(X, y, 0.01, 0.0)
    lbfgs = MaxEntClassifier(alpha=0.01, solver="lbfgs", tol=1e-12).fit(X, y)
    np.testing.assert_allclose(ours.coef_, lbfgs.coef_, atol=1e-7)


def test_sample_weights_act_as_repeated_rows():
    X, y = dense_problem(n_classes=3)
    weights = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    alpha = 0.02
    weighted = fit(X, y, alpha, 1.0, sample_weight=weights)
    assert kkt_violation(weighted, X, y, alpha, 1.0, sample_weight=weights) <= 1e-5
    repeated = fit(np.repeat(X, weights.astype(int), axis=0), np.repeat(y, weights.astype(int)), alpha, 1.0)
    np.testing.assert_array_equal(weighted.coef_ == 0, repeated.coef_ == 0)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-6)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_reaches_the_scipy_optimum(l1_ratio, n_classes):
    X, y = dense_problem(n_classes=n_classes, n_samples=30 * n_classes, n_features=8)
    alpha = 0.01
    clf = fit(X, y, alpha, l1_ratio, tol=1e-10)
    targets = np.eye(n_classes)[y]
    coef, intercept = scipy_optimum(
        X, targets, np.ones(len(y)), alpha, l1_ratio, None, None, None, None, n_classes == 2
    )
    reference = MaxEntClassifier().set_params()
    reference.classes_, reference.coef_, reference.intercept_ = clf.classes_, coef.T, intercept
    ours = objective(clf, X, y, alpha, l1_ratio)
    assert ours <= objective(reference, X, y, alpha, l1_ratio) + 1e-10


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_same_objective_and_support_as_logistic_regression_saga(l1_ratio):
    # Five classes: with an even number, pure L1 leaves a shift common to a feature's classes free.
    X, y = text_like(250, n_words=400, n_classes=5, seed=1)
    C = 20.0
    alpha = 1.0 / (C * len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-9, max_iter=10_000).fit(X, y)
    clf = fit(X, y, alpha, l1_ratio)
    theirs = objective(lr, X, y, alpha, l1_ratio)
    assert objective(clf, X, y, alpha, l1_ratio) <= theirs * (1 + 1e-9)
    assert abs(objective(clf, X, y, alpha, l1_ratio) - theirs) <= 1e-7 * theirs
    # A weight LogisticRegression keeps clearly is one we keep, and the other way round.
    np.testing.assert_array_equal(np.abs(lr.coef_) > 1e-3, np.abs(clf.coef_) > 1e-3)


def test_penalty_factor_is_a_per_feature_threshold():
    X, y = dense_problem(n_classes=3)
    factor = np.linspace(0.2, 3.0, X.shape[1])
    alpha = 0.02
    clf = fit(X, y, alpha, 1.0, penalty_factor=factor)
    assert kkt_violation(clf, X, y, alpha, 1.0, factor=factor) <= 1e-5
    assert np.count_nonzero(clf.coef_[:, -1]) <= np.count_nonzero(clf.coef_[:, 0])


def test_bounds_are_kept_and_match_lbfgs():
    X, y = dense_problem(n_classes=3)
    alpha = 0.005
    bounds = (0.0, 0.5)
    ours = fit(X, y, alpha, 1.0, bounds=bounds, tol=1e-10)
    assert ours.coef_.min() >= 0
    assert ours.coef_.max() <= 0.5
    lbfgs = MaxEntClassifier(alpha=alpha, l1_ratio=1.0, solver="lbfgs", bounds=bounds, tol=1e-10).fit(X, y)
    assert objective(ours, X, y, alpha, 1.0) <= objective(lbfgs, X, y, alpha, 1.0) + 1e-9


def test_offset_and_prior_match_lbfgs():
    X, y = dense_problem(n_classes=3)
    alpha = 0.01
    rng = np.random.default_rng(0)
    offset = rng.normal(size=(len(y), 3))
    prior = rng.normal(scale=0.1, size=(3, X.shape[1]))
    models = [
        MaxEntClassifier(alpha=alpha, l1_ratio=1.0, solver=solver, coef_prior=prior, tol=1e-10).fit(
            X, y, offset=offset
        )
        for solver in ("newton-cd", "lbfgs")
    ]
    ours, theirs = (model.predict_proba(X, offset=offset) for model in models)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_degenerate_columns():
    X, y = dense_problem(n_classes=3)
    X = np.hstack([X, X[:, :2], np.zeros((len(y), 2))])  # two duplicated, two all-zero columns
    alpha = 0.02
    for container in (X, sparse.csr_matrix(X)):
        clf = fit(container, y, alpha, 1.0)
        assert kkt_violation(clf, container, y, alpha, 1.0) <= 1e-5
        assert not clf.coef_[:, -2:].any()


def test_float32_gives_the_float64_model():
    X, y = text_like(200, n_words=300, n_classes=3, seed=2)
    alpha = 5e-3
    wide = fit(X, y, alpha, 1.0, tol=1e-6)
    narrow = fit(X.astype(np.float32), y, alpha, 1.0, tol=1e-6)
    assert narrow.coef_.dtype == np.float32
    np.testing.assert_allclose(narrow.predict_proba(X), wide.predict_proba(X), atol=1e-4)


def test_certified_gap_bounds_the_true_gap_and_stops_the_fit():
    X, y = text_like(400, n_words=500, n_classes=5, seed=3)
    alpha = 0.2 / len(y)
    optimum = objective(fit(X, y, alpha, 1.0, tol=1e-12), X, y, alpha, 1.0)
    for tol in (1e-3, 1e-5):
        clf = fit(X, y, alpha, 1.0, tol=tol)
        true_gap = (objective(clf, X, y, alpha, 1.0) - optimum) / optimum
        assert true_gap <= clf.duality_gap_ + 1e-12
        assert clf.duality_gap_ <= tol


def test_auto_uses_newton_cd_with_an_l1_part():
    X, y = text_like(200, n_words=300, n_classes=3, seed=4)
    auto = MaxEntClassifier(alpha=5e-3, l1_ratio=0.5).fit(X, y)
    newton_cd = MaxEntClassifier(alpha=5e-3, l1_ratio=0.5, solver="newton-cd").fit(X, y)
    np.testing.assert_array_equal(auto.coef_, newton_cd.coef_)


def test_early_stopping_is_an_error():
    X, y = dense_problem()
    with pytest.raises(ValueError, match="not 'newton-cd'"):
        MaxEntClassifier(solver="newton-cd", early_stopping=True).fit(X, y)


def sweep_arguments(X, n_free, fit_intercept, seed=0):
    """Arguments of one sweep at a random point of a random model (float64 arrays)."""
    rng = np.random.default_rng(seed)
    n_samples, n_features = X.shape
    proba = softmax(rng.normal(size=(n_samples, n_free + 1)), axis=1)[:, :n_free].copy()
    if n_free > 1:  # rows of a model without a reference class sum to one
        proba /= proba.sum(axis=1, keepdims=True)
    coef = rng.normal(size=(n_features, n_free)) * (rng.random((n_features, n_free)) < 0.5)
    features = np.sort(rng.choice(n_features, size=n_features - 2, replace=False)).astype(np.int32)
    return {
        "row_weights": rng.random(n_samples) / n_samples,
        "proba": proba,
        "Z": np.zeros((n_samples, n_free)),
        "M": np.zeros(n_samples),
        "grad": rng.normal(scale=0.05, size=(n_features, n_free)),
        "blocks": np.zeros((features.size, n_free, n_free)),
        "coef": coef,
        "direction": np.zeros((n_features, n_free)),
        "l1": np.full(n_features, 0.02),
        "l2": np.linspace(0, 0.01, n_features),
        "lower": np.full((n_features, n_free), -0.8),
        "upper": np.full((n_features, n_free), np.inf),
        "limits": np.append(np.full(n_features - 1, 0.5), [np.inf, 0.3]),
        "features": features,
        "grad_intercept": rng.normal(scale=0.05, size=n_free),
        "intercept_block": np.zeros((n_free, n_free)),
        "intercept_direction": np.zeros(n_free),
        "fit_intercept": fit_intercept,
        "shift_classes": n_free > 1,
    }


@pytest.mark.parametrize("n_free", [1, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("layout", ["dense", "csc", "dense32"])
def test_compiled_sweeps_compute_the_numpy_sweeps(n_free, fit_intercept, layout):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 9)) * (rng.random((30, 9)) < 0.4)
    if layout == "dense32":
        X = X.astype(np.float32)
    compiled = sweep_arguments(X, n_free, fit_intercept)
    expected = {name: np.copy(value) for name, value in compiled.items()}
    if n_free > 1:  # shifts apply without bounds only
        for arguments in (compiled, expected):
            arguments["lower"][...] = -np.inf
    names = list(compiled)
    for number in range(3):
        values = [compiled[name] for name in names]
        if layout == "csc":
            columns = sparse.csc_matrix(X)
            csc_sweeps(columns.data, columns.indices, columns.indptr, *values, number > 0, 1, 0.0)
        else:
            dense_sweeps(np.asfortranarray(X), *values, number > 0, 1, 0.0)
        reference_sweep(X.astype(np.float64), *[expected[name] for name in names], number == 0)
        for name in ("direction", "intercept_direction", "Z", "M", "blocks"):
            np.testing.assert_allclose(compiled[name], expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert np.abs(compiled["direction"]).max() > 0
