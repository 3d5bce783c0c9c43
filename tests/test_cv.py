"""MaxEntClassifierCV against independent references: LogisticRegressionCV, GridSearchCV, single fits.

The data are small enough that every fit converges to the arithmetic's precision (a pass costs
under 1e6 multiply-adds), so paths, folds and references agree to tight tolerances.
"""

import numpy as np
import pytest
from scipy import sparse
from sklearn import config_context
from sklearn.callback import ProgressBar
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_info

from sklearn_maxent import MaxEntClassifier, MaxEntClassifierCV

FOLDS = StratifiedKFold(5)


def data(n_classes=3, n_samples=200, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        flip_y=0.1,
        random_state=seed,
    )
    return X, y


def stacked(model):
    """``coef_`` with the intercept as its last column, as a row of ``coefs_paths_``."""
    return np.hstack([model.coef_, model.intercept_[:, None]])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_matches_logistic_regression_cv(n_classes):
    X, y = data(n_classes)
    ours = MaxEntClassifierCV(cv=FOLDS).fit(X, y)
    theirs = LogisticRegressionCV(
        Cs=10,
        cv=FOLDS,
        scoring="neg_log_loss",
        l1_ratios=(0.0,),
        tol=1e-10,
        max_iter=10_000,
        use_legacy_attributes=False,
    ).fit(X, y)
    np.testing.assert_allclose(ours.alphas_[0] * X.shape[0], 1 / theirs.Cs_, rtol=1e-12)
    np.testing.assert_allclose(ours.scores_, theirs.scores_, rtol=1e-5, atol=1e-6)
    assert ours.alpha_ == pytest.approx(1 / (theirs.C_ * X.shape[0]), rel=1e-12)
    # The paths: the L2 penalty centres each feature's weights over the classes, not the intercepts.
    paths = theirs.coefs_paths_.copy()
    if n_classes > 2:
        paths[..., -1] -= paths[..., -1].mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(ours.coefs_paths_, paths, atol=2e-4)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)


def test_matches_grid_search_cv():
    X, y = data()
    grid = np.logspace(0, -5, 8)
    ours = MaxEntClassifierCV(alphas=grid, cv=FOLDS).fit(X, y)
    search = GridSearchCV(MaxEntClassifier(), {"alpha": list(grid)}, cv=FOLDS, scoring="neg_log_loss").fit(
        X, y
    )
    split_scores = np.array([search.cv_results_[f"split{k}_test_score"] for k in range(5)])
    np.testing.assert_allclose(ours.scores_[:, 0], split_scores, rtol=1e-8, atol=1e-10)
    assert ours.alpha_ == search.best_params_["alpha"]
    np.testing.assert_allclose(ours.coef_, search.best_estimator_.coef_, atol=1e-8)


def test_refit_is_the_single_fit_at_alpha_():
    X, y = data()
    cv = MaxEntClassifierCV(alphas=5, cv=FOLDS).fit(X, y)
    single = MaxEntClassifier(alpha=cv.alpha_).fit(X, y)
    np.testing.assert_allclose(cv.coef_, single.coef_, atol=1e-8)
    np.testing.assert_allclose(cv.intercept_, single.intercept_, atol=1e-8)
    assert cv.duality_gap_ <= 1e-6
    np.testing.assert_array_equal(cv.predict(X), single.predict(X))


def test_warm_path_equals_cold_fits_at_each_folds_alphas():
    X, y = data()
    cv = MaxEntClassifierCV(alphas=6, cv=FOLDS).fit(X, y)
    train, _ = next(FOLDS.split(X, y))
    for j, alpha in enumerate(cv.alphas_[0] * X.shape[0] / train.size):  # the fold's C grid
        cold = MaxEntClassifier(alpha=alpha).fit(X[train], y[train])
        np.testing.assert_allclose(cv.coefs_paths_[0, 0, j], stacked(cold), atol=1e-7)
    assert (cv.duality_gaps_ <= 1e-6).all()
    assert cv.n_iter_.shape == cv.duality_gaps_.shape == (5, 1, 6)


def test_l1_grid_starts_where_every_weight_is_zero():
    X, y = data()
    cv = MaxEntClassifierCV(alphas=4, l1_ratios=[1.0, 0.5], cv=3).fit(X, y)
    assert cv.alphas_.shape == (2, 4)
    assert cv.scores_.shape == (3, 2, 4)
    for l1_ratio, grid in zip(cv.l1_ratios_, cv.alphas_, strict=True):
        np.testing.assert_allclose(grid[-1] / grid[0], 1e-4)
        at_max = MaxEntClassifier(alpha=grid[0], l1_ratio=l1_ratio).fit(X, y)
        below = MaxEntClassifier(alpha=0.95 * grid[0], l1_ratio=l1_ratio).fit(X, y)
        assert np.abs(at_max.coef_).max() < 1e-12  # zero, but for rounding where the optimum is at the kink
        assert below.coef_.any()
    assert cv.l1_ratio_ in (0.5, 1.0)


def test_sample_weight_reaches_fits_and_scores():
    X, y = data()
    weights = np.random.default_rng(0).integers(0, 4, size=y.size).astype(float)
    cv = MaxEntClassifierCV(alphas=3, cv=FOLDS).fit(X, y, sample_weight=weights)
    unweighted = MaxEntClassifierCV(alphas=3, cv=FOLDS).fit(X, y)
    assert np.abs(cv.scores_ - unweighted.scores_).max() > 1e-3
    train, test = next(FOLDS.split(X, y))
    scale = weights.sum() / weights[train].sum()  # the fold's C grid: S / S_k
    model = MaxEntClassifier(alpha=cv.alphas_[0, 1] * scale).fit(
        X[train], y[train], sample_weight=weights[train]
    )
    expected = -log_loss(y[test], model.predict_proba(X[test]), sample_weight=weights[test])
    assert cv.scores_[0, 0, 1] == pytest.approx(expected, rel=1e-9)


def test_groups_reach_the_splitter():
    X, y = data()
    groups = np.arange(y.size) % 4
    cv = MaxEntClassifierCV(alphas=3, cv=GroupKFold(4)).fit(X, y, groups=groups)
    explicit = MaxEntClassifierCV(alphas=3, cv=list(GroupKFold(4).split(X, y, groups))).fit(X, y)
    np.testing.assert_array_equal(cv.scores_, explicit.scores_)
    with pytest.raises(ValueError, match="groups"):
        MaxEntClassifierCV(alphas=3, cv=GroupKFold(4)).fit(X, y)


def test_offset_reaches_fits_and_held_out_predictions():
    X, y = data()
    offset = np.random.default_rng(1).normal(size=(y.size, 3))
    cv = MaxEntClassifierCV(alphas=[1e-2, 1e-3], cv=FOLDS).fit(X, y, offset=offset)
    train, test = next(FOLDS.split(X, y))
    model = MaxEntClassifier(alpha=1e-3).fit(X[train], y[train], offset=offset[train])
    expected = -log_loss(y[test], model.predict_proba(X[test], offset=offset[test]))
    assert cv.scores_[0, 0, 1] == pytest.approx(expected, rel=1e-9)
    single = MaxEntClassifier(alpha=cv.alpha_).fit(X, y, offset=offset)
    np.testing.assert_allclose(
        cv.predict_proba(X, offset=offset), single.predict_proba(X, offset=offset), atol=1e-7
    )
    assert cv.score(X, y, offset=offset) == pytest.approx(
        -log_loss(y, single.predict_proba(X, offset=offset))
    )


def test_soft_labels():
    X, y = data()
    one_hot = np.eye(3)[y]
    hard = MaxEntClassifierCV(alphas=3, cv=FOLDS).fit(X, y)
    soft = MaxEntClassifierCV(alphas=3, cv=FOLDS).fit(X, one_hot)
    np.testing.assert_allclose(soft.scores_, hard.scores_, rtol=1e-10)
    Y = 0.8 * one_hot + 0.2 * np.random.default_rng(2).dirichlet(np.ones(3), size=y.size)
    cv = MaxEntClassifierCV(alphas=[1e-2], cv=FOLDS).fit(X, Y)
    train, test = next(FOLDS.split(X, y))
    model = MaxEntClassifier(alpha=1e-2).fit(X[train], Y[train])
    expected = (Y[test] * model.predict_log_proba(X[test])).sum(axis=1).mean()
    assert cv.scores_[0, 0, 0] == pytest.approx(expected, rel=1e-9)
    accuracy = MaxEntClassifierCV(alphas=[1e-2], cv=FOLDS, scoring="accuracy").fit(X, Y)
    assert accuracy.scores_[0, 0, 0] == pytest.approx(
        (model.predict(X[test]) == Y[test].argmax(axis=1)).mean()
    )


def test_sparse_equals_dense_and_threads_equal_one():
    X, y = data()
    dense = MaxEntClassifierCV(alphas=4, cv=FOLDS).fit(X, y)
    csr = MaxEntClassifierCV(alphas=4, cv=FOLDS).fit(sparse.csr_matrix(X), y)
    threads = MaxEntClassifierCV(alphas=4, cv=FOLDS, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(csr.scores_, dense.scores_, rtol=1e-9)
    np.testing.assert_array_equal(threads.scores_, dense.scores_)
    np.testing.assert_array_equal(threads.coef_, dense.coef_)


def test_refit_false_averages_each_folds_best():
    X, y = data()
    cv = MaxEntClassifierCV(alphas=4, cv=FOLDS, refit=False).fit(X, y)
    best = [np.unravel_index(np.argmax(fold), fold.shape) for fold in cv.scores_]
    mean = np.mean([cv.coefs_paths_[k, r, j] for k, (r, j) in enumerate(best)], axis=0)
    np.testing.assert_allclose(cv.coef_, mean[:, :-1])
    np.testing.assert_allclose(cv.intercept_, mean[:, -1])
    assert cv.alpha_ == pytest.approx(np.mean([cv.alphas_[r, j] for r, j in best]))
    assert np.isnan(cv.duality_gap_)


def test_float32_stays_float32():
    X, y = data()
    cv = MaxEntClassifierCV(alphas=3, cv=3).fit(X.astype(np.float32), y)
    assert cv.coef_.dtype == cv.coefs_paths_.dtype == np.float32
    assert cv.predict_proba(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"alphas": 0}, InvalidParameterError, "alphas"),
        ({"alphas": [1e-2, -1.0]}, ValueError, "alphas must be"),
        ({"alphas": []}, ValueError, "alphas must be"),
        ({"l1_ratios": [0.5, 1.5]}, ValueError, "l1_ratios must be"),
        ({"scoring": "no_such_scorer"}, InvalidParameterError, "scoring"),
        ({"tol": -1.0}, InvalidParameterError, "tol"),
        ({"penalty_factor": [1.0, 2.0]}, ValueError, "penalty_factor"),
    ],
)
def test_bad_input_leaves_the_fitted_model(params, error, match):
    X, y = data()
    cv = MaxEntClassifierCV(alphas=3, cv=3).fit(X, y)
    before = {k: v for k, v in vars(cv).items() if k.endswith("_")}
    with pytest.raises(error, match=match):
        cv.set_params(**params).fit(X[:, :5], y)
    after = {k: v for k, v in vars(cv).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)


def test_a_fold_without_a_class_is_an_error():
    X, y = data()
    y = y.copy()
    y[:2] = 5  # a class of two rows: some fold trains without it
    with pytest.raises(ValueError, match="lack the classes"):
        MaxEntClassifierCV(alphas=2, cv=list(GroupKFold(2).split(X, y, np.arange(y.size) < 100))).fit(X, y)


class TaskRecorder:
    """A callback that records the names of the tasks it is told of."""

    def __init__(self):
        self.events = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, **kwargs):
        self.events.append(("end", context.task_name))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_callbacks_see_every_path_point_and_the_refit(n_jobs, capsys):
    X, y = data()
    recorder = TaskRecorder()
    MaxEntClassifierCV(alphas=[1e-1, 1e-2], cv=3, n_jobs=n_jobs).set_callbacks(recorder).fit(X, y)
    for name, count in [("fit", 1), ("fold-path", 3), ("path-point", 6), ("refit", 1)]:
        assert recorder.events.count(("begin", name)) == recorder.events.count(("end", name)) == count
    MaxEntClassifierCV(alphas=[1e-1, 1e-2], cv=3, n_jobs=n_jobs).set_callbacks(
        ProgressBar(max_propagation_depth=None)
    ).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("fold-path") == 3
    assert "path-point | MaxEntClassifier - fit" in out


def test_metadata_routing_through_a_pipeline():
    X, y = data()
    weights = np.random.default_rng(3).integers(1, 3, size=y.size).astype(float)
    groups = np.arange(y.size) % 3
    direct = MaxEntClassifierCV(alphas=[1e-1, 1e-2], cv=GroupKFold(3)).fit(
        StandardScaler().fit_transform(X), y, sample_weight=weights, groups=groups
    )
    with config_context(enable_metadata_routing=True):
        cv = MaxEntClassifierCV(alphas=[1e-1, 1e-2], cv=GroupKFold(3)).set_fit_request(
            sample_weight=True, groups=True
        )
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), cv)
        pipe.fit(X, y, sample_weight=weights, groups=groups)
    np.testing.assert_allclose(pipe[-1].scores_, direct.scores_, rtol=1e-12)


def test_threads_leave_the_thread_pools_as_they_were():
    """The BLAS limit held around the threads and each thread's OpenMP limit are undone after the fit."""
    X, y = data()
    before = [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()]
    MaxEntClassifierCV(alphas=4, cv=FOLDS, n_jobs=2).fit(X, y)
    assert [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()] == before
