"""Gap-safe screening (``_duality.screened_features``) and the certificate of solver="newton-cd".

The rule is checked against optima computed independently: scipy's L-BFGS-B on the written-out
objective (``reference_optimum``) and LogisticRegression(solver="saga") at a tight tol. Each
soundness check comes with its power check: the same points with a radius a hundred times too
small do screen a weight the reference keeps (Cauchy-Schwarz leaves the rule 7 to 50 times the
room the worst of these points needs), so a rule off by more than that would fail.
"""

import warnings

import numpy as np
import pytest
from reference_optimum import scipy_optimum
from scipy import sparse
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from test_newton_cd import dense_problem, objective
from text_like import text_like

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._model._duality import screened_features
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import _minimize, _newton_cd

KEPT = 1e-6  # a reference weight above this is one the optimum keeps


def problems():
    """``(name, X, y, sample_weight, l1_ratio, factor)``: dense, sparse, weighted, binary, many classes,
    degenerate columns, elastic net, penalty factors."""
    rng = np.random.default_rng(0)

    def with_noise(X):  # small columns of noise: features the optimum drops by far
        return np.hstack([X, 0.2 * rng.normal(size=(len(X), 4))])

    X3, y3 = dense_problem(n_classes=3, n_samples=150, n_features=10)
    X3 = with_noise(X3)
    X2, y2 = dense_problem(n_classes=2, n_samples=100, n_features=10, seed=1)
    X2 = with_noise(X2)
    X7, y7 = dense_problem(n_classes=7, n_samples=210, n_features=10, seed=2)
    X7 = with_noise(X7)
    Xt, yt = text_like(150, n_words=300, n_classes=4, seed=0)
    degenerate = np.hstack([X3, X3[:, :3], np.zeros((len(y3), 2))])
    return [
        ("dense", X3, y3, None, 1.0, None),
        ("sparse", Xt, yt, None, 1.0, None),
        ("weighted", X3, y3, rng.integers(0, 4, len(y3)).astype(float), 1.0, None),
        ("binary", X2, y2, None, 1.0, None),
        ("seven classes", X7, y7, None, 1.0, None),
        ("duplicate and all-zero columns", degenerate, y3, None, 1.0, None),
        ("elastic net", X3, y3, None, 0.5, None),
        ("penalty factors", X3, y3, None, 1.0, np.linspace(0.3, 3.0, X3.shape[1])),
    ]


def objective_of(X, y, sample_weight, alpha, l1_ratio, factor):
    classes = np.unique(y)
    targets = np.eye(classes.size)[np.searchsorted(classes, y)]
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    penalty = ElasticNet(alpha, l1_ratio, factor)
    return Objective(X, targets, weights, penalty, True, classes.size == 2)


def alpha_for(problem):
    """A third of the problem's smallest ``alpha`` with all weights 0: some kept, some not."""
    _, X, y, sample_weight, l1_ratio, factor = problem
    obj = objective_of(X, y, sample_weight, 1.0, l1_ratio, factor)
    mean = obj.row_weights @ obj.targets
    gradient = np.asarray(X.T @ (obj.row_weights[:, None] * (mean - obj.targets)))
    strengths = l1_ratio * (np.ones(X.shape[1]) if factor is None else factor)
    return float((np.abs(gradient).max(axis=1) / strengths).max()) / 3


def scipy_reference(problem, alpha):
    """``(objective, coef, intercept, J*)`` at scipy's optimum of ``problem``."""
    _, X, y, sample_weight, l1_ratio, factor = problem
    obj = objective_of(X, y, sample_weight, alpha, l1_ratio, factor)
    coef, intercept = scipy_optimum(
        np.asarray(X.todense()) if sparse.issparse(X) else X,
        obj.targets,
        obj.row_weights,
        alpha,
        l1_ratio,
        factor,
        None,
        None,
        None,
        obj.reference_class,
    )
    return obj, coef, intercept, obj.value(coef, intercept)


def random_dual_points(obj, coef, intercept, count, seed):
    """Rows ``Q`` near the optimum's probabilities, farther and farther: ``(Q, X^T w (Q - Y))`` of each."""
    rng = np.random.default_rng(seed)
    X = obj.X
    free_scores = np.asarray(X @ coef) + intercept
    scores = np.hstack([np.zeros((X.shape[0], 1)), free_scores]) if obj.reference_class else free_scores
    for scale in np.geomspace(1e-7, 3.0, count):
        expected = softmax(scores + scale * rng.normal(size=scores.shape), axis=1)
        residual = obj.row_weights[:, None] * (expected - obj.targets)
        yield expected, np.asarray(X.T @ residual[:, obj.reference_class :])


def column_norms(obj):
    squared = obj.X.multiply(obj.X) if sparse.issparse(obj.X) else np.square(obj.X)
    return np.sqrt(np.asarray(squared.T @ obj.row_weights, dtype=np.float64)).ravel()


@pytest.mark.parametrize("problem", problems(), ids=lambda problem: problem[0])
def test_rule_screens_only_weights_zero_at_the_scipy_optimum(problem):
    alpha = alpha_for(problem)
    obj, coef, intercept, optimum = scipy_reference(problem, alpha)
    l1 = alpha * problem[4] * (np.ones(coef.shape[0]) if problem[5] is None else problem[5])
    kept = (np.abs(coef) > KEPT).any(axis=1)
    assert kept.any()  # the problem has both kinds of features
    assert not kept.all()
    n_classes = obj.targets.shape[1]
    screened_any, too_small_radius_errs = False, False
    norms = column_norms(obj)
    for expected, gradient in random_dual_points(obj, coef, intercept, count=40, seed=1):
        dual, correlations = obj.dual_point_of(expected, gradient)
        gap = optimum - dual
        assert gap >= -1e-12  # weak duality, for what follows
        screened = screened_features(correlations, l1, norms, gap, n_classes)
        assert not (screened & kept).any()
        screened_any |= screened.any()
        too_small = screened_features(correlations, l1, norms, gap / 1e4, n_classes)
        too_small_radius_errs |= (too_small & kept).any()
    assert screened_any
    assert too_small_radius_errs


def test_rule_uses_the_points_gap_from_any_primal_point():
    """The gap may be measured from any ``W``: a worse one screens less, never wrongly."""
    problem = problems()[0]
    alpha = alpha_for(problem)
    obj, coef, intercept, optimum = scipy_reference(problem, alpha)
    l1 = np.full(coef.shape[0], alpha)
    kept = (np.abs(coef) > KEPT).any(axis=1)
    worse = obj.value(0.5 * coef, intercept)
    for expected, gradient in random_dual_points(obj, coef, intercept, count=10, seed=2):
        dual, correlations = obj.dual_point_of(expected, gradient)
        at_optimum = screened_features(correlations, l1, column_norms(obj), optimum - dual, 3)
        from_worse = screened_features(correlations, l1, column_norms(obj), worse - dual, 3)
        assert not (from_worse & ~at_optimum).any()
        assert not (at_optimum & kept).any()


@pytest.fixture
def screening_record(monkeypatch):
    """Certified newton-cd fits whatever the size, and the screened features of the last one."""
    monkeypatch.setattr(_minimize, "PRECISE_BELOW_NEWTON_CD", 0)
    record = {}
    finalize = _newton_cd.NewtonCDSolver.finalize

    def keeping_screened(self):
        record["screened"] = self.screened.copy()
        return finalize(self)

    monkeypatch.setattr(_newton_cd.NewtonCDSolver, "finalize", keeping_screened)
    return record


@pytest.mark.parametrize("problem", problems(), ids=lambda problem: problem[0])
def test_fits_screen_only_weights_zero_at_the_scipy_optimum(problem, screening_record):
    _, X, y, sample_weight, l1_ratio, factor = problem
    alpha = alpha_for(problem)
    _, coef, _, optimum = scipy_reference(problem, alpha)
    clf = MaxEntClassifier(
        alpha=alpha, l1_ratio=l1_ratio, solver="newton-cd", tol=1e-8, penalty_factor=factor
    ).fit(X, y, sample_weight=sample_weight)
    screened = screening_record["screened"]
    assert screened.any()
    assert not (np.abs(coef[screened]) > KEPT).any()
    assert not clf.coef_[:, screened].any()
    ours = objective(clf, X, y, alpha, l1_ratio, sample_weight, factor)
    assert ours <= optimum + 1e-8 * abs(optimum)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_fits_screen_only_weights_zero_for_logistic_regression_saga(l1_ratio, screening_record):
    X, y = text_like(300, n_words=800, n_classes=5, seed=1)
    X = X[:, X.getnnz(axis=0) > 0]  # the solver screens the features the rows use, the others it leaves out
    C = 20.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-10, max_iter=20_000).fit(X, y)
    MaxEntClassifier(alpha=1.0 / (C * len(y)), l1_ratio=l1_ratio, solver="newton-cd").fit(X, y)
    screened = screening_record["screened"]
    assert screened.sum() > 100
    assert not (np.abs(lr.coef_[:, screened]) > 1e-4).any()


def test_no_screening_where_bounds_exclude_zero(screening_record):
    X, y = dense_problem(n_classes=3)
    clf = MaxEntClassifier(alpha=0.5, l1_ratio=1.0, solver="newton-cd", bounds=(0.01, 1.0)).fit(X, y)
    assert not screening_record["screened"].any()
    assert (clf.coef_ >= 0.01).all()


@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_certified_gap_tracks_the_true_gap_at_the_end(l1_ratio, screening_record):
    """Within 10x of the true gap, pure L1 too: the dual point of the support solved to
    precision (``_support_newton``) is not limited by its own residual's rescaling."""
    for seed in range(2):
        X, y = text_like(400, n_words=500, n_classes=5, seed=seed)
        alpha = 0.2 / len(y)
        tight = MaxEntClassifier(alpha=alpha, l1_ratio=l1_ratio, solver="newton-cd", tol=1e-13, max_iter=200)
        optimum = objective(tight.fit(X, y), X, y, alpha, l1_ratio)
        clf = MaxEntClassifier(alpha=alpha, l1_ratio=l1_ratio, solver="newton-cd", tol=1e-6).fit(X, y)
        true_gap = (objective(clf, X, y, alpha, l1_ratio) - optimum) / optimum
        assert true_gap <= clf.duality_gap_ <= 1e-6
        assert clf.duality_gap_ <= 10 * true_gap
