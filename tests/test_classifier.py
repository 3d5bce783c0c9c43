"""MaxEntClassifier's behaviour as a scikit-learn user meets it."""

import pickle
import tracemalloc

import numpy as np
import pytest
from scipy import sparse, special
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def objective_value(clf, X, y):
    """J(W, b) of a fitted model, computed here with scipy, independent of the package."""
    log_proba = special.log_softmax(clf.decision_function(X).reshape(len(y), -1), axis=1)
    if log_proba.shape[1] == 1:  # binary: scores of class 1, class 0 fixed at 0
        log_proba = special.log_softmax(np.hstack([np.zeros_like(log_proba), log_proba]), axis=1)
    index = np.searchsorted(clf.classes_, y)
    alpha = clf.alpha if hasattr(clf, "alpha") else 1.0 / (clf.C * len(y))
    return -log_proba[np.arange(len(y)), index].mean() + 0.5 * alpha * np.sum(clf.coef_**2)


def test_string_labels_and_predictions(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MaxEntClassifier(random_state=0).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.predict(X).dtype == names.dtype
    assert np.mean(clf.predict(X) == names) > 0.95


def test_fitted_attributes(iris):
    X, y = iris
    clf = MaxEntClassifier(random_state=0).fit(X, y)
    assert clf.coef_.shape == (3, 4)
    assert clf.intercept_.shape == (3,)
    assert clf.n_features_in_ == 4
    assert 1 <= clf.n_iter_ <= clf.max_iter
    assert len(clf.loss_curve_) >= 1
    assert clf.intercept_.sum() == pytest.approx(0, abs=1e-12)
    np.testing.assert_array_equal(clf.class_count_, np.bincount(y))


def test_binary_model_is_logistic():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
    scores = clf.decision_function(X)
    assert clf.coef_.shape == (1, X.shape[1])
    assert scores.shape == (len(y),)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], special.expit(scores), rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])


def test_predict_log_proba_is_finite_where_log_of_proba_is_not(iris):
    X, y = iris
    clf = MaxEntClassifier(random_state=0).fit(X, y)
    far = X[:3] * 1e4  # scores of magnitude ~1e5: exp underflows to 0
    proba = clf.predict_proba(far)
    log_proba = clf.predict_log_proba(far)
    assert (proba == 0).any()
    assert np.isfinite(log_proba).all()
    np.testing.assert_allclose(log_proba, special.log_softmax(clf.decision_function(far), axis=1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_pandas_feature_names(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = MaxEntClassifier(random_state=0).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["sl", "sw", "pl", "pw"])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


@pytest.mark.parametrize("solver", ["auto", "sgd", "lbfgs"])
def test_float32_stays_float32(solver):
    X, y = make_classification(3000, 10, n_informative=5, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    clf = MaxEntClassifier(solver=solver, random_state=0, max_iter=50, tol=None if solver == "sgd" else 1e-10)
    clf.fit(X, y)
    assert clf.coef_.dtype == np.float32
    assert clf.intercept_.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32
    assert clf.decision_function(X).dtype == np.float32
    reference = clone(clf).fit(X.astype(np.float64), y)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csc_matrix, sparse.csr_array])
def test_sparse_containers(iris, container):
    X, y = iris
    dense = MaxEntClassifier(random_state=0).fit(X, y)
    from_sparse = MaxEntClassifier(random_state=0).fit(container(X), y)
    np.testing.assert_allclose(from_sparse.predict_proba(container(X)), dense.predict_proba(X), atol=1e-8)


def test_sparse_input_is_never_densified():
    """2**20 features: a dense copy of X alone would take 2 GiB.

    What training does allocate is O(n_features * n_classes) times L-BFGS's
    memory of 10 past steps, about 300 MB here.
    """
    n, d = 256, 2**20
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 20)
    cols = rng.integers(0, d, rows.size)
    X = sparse.csr_matrix((rng.uniform(0, 1, rows.size), (rows, cols)), shape=(n, d))
    y = rng.integers(0, 2, n)
    clf = MaxEntClassifier(alpha=1e-2, max_iter=30, tol=1e-6, random_state=0)
    tracemalloc.start()
    clf.fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dense_bytes = n * d * 8
    assert peak < dense_bytes / 4
    assert clf.coef_.shape == (1, d)


def test_pipeline_and_grid_search(iris):
    X, y = iris
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MaxEntClassifier(random_state=0)),
        {"maxentclassifier__alpha": [1e-4, 1e-2, 1.0]},
        cv=3,
    )
    search.fit(X, y)
    assert search.best_score_ > 0.9
    assert search.best_params_["maxentclassifier__alpha"] in (1e-4, 1e-2, 1.0)


def test_pickle_round_trip(iris):
    X, y = iris
    clf = MaxEntClassifier(random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_same_random_state_same_model(iris):
    X, y = iris
    first = MaxEntClassifier(solver="sgd", batch_size=8, random_state=3, max_iter=20, tol=None).fit(X, y)
    second = MaxEntClassifier(solver="sgd", batch_size=8, random_state=3, max_iter=20, tol=None).fit(X, y)
    np.testing.assert_array_equal(first.coef_, second.coef_)


def test_convergence_warning_when_max_iter_runs_out(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        clf = MaxEntClassifier(max_iter=2, random_state=0).fit(X, y)
    assert clf.n_iter_ == 2


def test_max_iter_is_honoured_by_sgd(iris):
    X, y = iris
    clf = MaxEntClassifier(solver="sgd", max_iter=7, tol=None, random_state=0).fit(X, y)
    assert clf.n_iter_ == 7
    assert len(clf.loss_curve_) == 7


def test_sgd_stops_on_tol_before_max_iter(iris):
    X, y = iris
    clf = MaxEntClassifier(solver="sgd", batch_size=16, tol=1e-3, learning_rate="constant", random_state=0)
    clf.fit(X, y)
    assert clf.n_iter_ < clf.max_iter


def test_auto_solver_runs_sgd_epochs_then_converges():
    """On data of many minibatches "auto" starts with SGD and still ends at the optimum."""
    X, y = make_classification(6000, 20, n_informative=10, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = MaxEntClassifier(alpha=1.0 / len(y), batch_size=256, random_state=0).fit(X, y)
    assert clf.t_ > 0  # SAGA steps were taken
    lr = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), lr.predict_proba(X), atol=1e-6)


def test_warm_start_starts_from_the_previous_solution(iris):
    X, y = iris
    clf = MaxEntClassifier(alpha=1e-2, warm_start=True, random_state=0).fit(X, y)
    first_iterations = clf.n_iter_
    coef = clf.coef_.copy()
    clf.fit(X, y)
    assert clf.n_iter_ < first_iterations
    np.testing.assert_allclose(clf.coef_, coef, atol=1e-8)


def test_huge_learning_rate_is_backed_off_not_nan(iris):
    X, y = iris
    clf = MaxEntClassifier(solver="sgd", learning_rate="constant", eta0=1e8, max_iter=30, tol=None)
    clf.fit(X * 1e3, y)
    assert np.isfinite(clf.coef_).all()
    assert np.isfinite(clf.intercept_).all()


def test_verbose_prints_one_line_per_epoch(iris, capsys):
    X, y = iris
    MaxEntClassifier(solver="sgd", max_iter=3, tol=None, verbose=1, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("-- Epoch")]
    assert len(lines) == 3
    assert "loss:" in lines[0]
    assert "step:" in lines[0]
    assert "time:" in lines[0]


def test_l1_gives_exact_zeros(iris):
    X, y = iris
    clf = MaxEntClassifier(alpha=0.05, l1_ratio=1.0, random_state=0).fit(X, y)
    assert (clf.coef_ == 0).any()
    assert (clf.coef_ != 0).any()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"l1_ratio": 1.5}, "l1_ratio"),
        ({"eta0": 0.0}, "eta0"),
        ({"batch_size": 0}, "batch_size"),
        ({"solver": "newton"}, "solver"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_invalid_parameters_are_rejected(iris, params, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        MaxEntClassifier(**params).fit(X, y)


def test_single_class_is_rejected():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="at least 2 classes"):
        MaxEntClassifier().fit(X, np.zeros(5))


def test_early_stopping_history(iris):
    X, y = iris
    clf = MaxEntClassifier(early_stopping=True, validation_fraction=0.2, tol=1e-3, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    assert clf.n_iter_ < clf.max_iter
    plain = MaxEntClassifier(random_state=0).fit(X, y)
    assert plain.validation_scores_ is None
    assert plain.best_loss_ == min(plain.loss_curve_)


def test_early_stopping_needs_sgd(iris):
    X, y = iris
    with pytest.raises(ValueError, match="early_stopping"):
        MaxEntClassifier(early_stopping=True, solver="lbfgs").fit(X, y)


def test_averaged_partial_fit_approaches_the_optimum():
    """Averaged SGD streamed in chunks gets within 1e-2 of LogisticRegression's objective in 3 passes."""
    X, y = make_classification(20_000, 20, n_informative=10, n_classes=5, random_state=0)
    X = StandardScaler().fit_transform(X)
    lr = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    clf = MaxEntClassifier(alpha=1.0 / len(y), average=True, random_state=0)
    chunks = np.array_split(np.random.default_rng(0).permutation(len(y)), 5)
    for _ in range(3):
        for chunk in chunks:
            clf.partial_fit(X[chunk], y[chunk], classes=np.arange(5))
    assert objective_value(clf, X, y) <= objective_value(lr, X, y) * (1 + 1e-2)
    # The model is the average, SGD continues from the last iterate.
    assert clf._sgd_state_.iterate is not None
    assert not np.array_equal(clf._sgd_state_.iterate[0], clf.coef_.T)


@pytest.mark.parametrize(("solver", "l1_ratio"), [("sgd", 0.0), ("saga", 0.0), ("sgd", 0.5)])
def test_sgd_memory_is_weights_plus_data(solver, l1_ratio):
    """SGD and SAGA on 2**20 sparse features: memory O(n_features * n_classes + nnz), a few copies."""
    n, d = 2_000, 2**20
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 20)
    X = sparse.csr_matrix((rng.uniform(0, 1, rows.size), (rows, rng.integers(0, d, rows.size))), shape=(n, d))
    y = rng.integers(0, 3, n)
    clf = MaxEntClassifier(solver=solver, l1_ratio=l1_ratio, max_iter=2, tol=None, random_state=0)
    tracemalloc.start()
    clf.fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    weight_bytes = d * 3 * 8
    data_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    assert peak < 12 * weight_bytes + 4 * data_bytes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_averaging_survives_many_scale_folds(dtype):
    """Strong L2 shrinks the lazy scale below its fold point many times; the average stays exact."""
    X, y = make_classification(2000, 10, n_informative=5, n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X).astype(dtype)
    clf = MaxEntClassifier(alpha=0.05, solver="sgd", average=True, batch_size=16, max_iter=60, tol=None)
    clf.fit(X, y)
    lr = LogisticRegression(C=1 / (0.05 * len(y)), tol=1e-10, max_iter=10_000).fit(X, y)
    assert np.abs(clf.coef_).max() < 10 * np.abs(lr.coef_).max()
    np.testing.assert_allclose(clf.predict_proba(X), lr.predict_proba(X), atol=0.05)


def test_heavy_class_weights_are_not_mistaken_for_divergence():
    """With 'balanced' weights a minibatch of the rare class has a large loss estimate; SGD still steps."""
    X, y = make_classification(1002, 5, n_informative=3, weights=[0.998], random_state=0)
    clf = MaxEntClassifier(solver="sgd", class_weight="balanced", batch_size=1, max_iter=3, tol=None)
    clf.fit(X, y)
    assert clf.t_ == 3 * len(y)
    assert np.abs(clf.coef_).max() > 0


def test_early_stopping_keeps_the_best_epoch_also_without_tol(iris):
    X, y = iris
    clf = MaxEntClassifier(
        early_stopping=True, validation_fraction=0.3, tol=None, max_iter=30, random_state=0
    )
    clf.fit(X, y)
    from sklearn.model_selection import train_test_split

    _, held_out = train_test_split(
        np.arange(len(y)), test_size=0.3, stratify=y, random_state=np.random.RandomState(0)
    )
    assert clf.score(X[held_out], y[held_out]) == pytest.approx(clf.best_validation_score_)


def test_zero_weight_validation_split_is_an_error(iris):
    X, y = iris
    weights = np.zeros(len(y))
    weights[0] = 1.0
    with pytest.raises(ValueError, match="split sum to zero"):
        MaxEntClassifier(early_stopping=True, validation_fraction=0.5, random_state=0).fit(
            X, y, sample_weight=weights
        )


def test_average_needs_the_sgd_solver(iris):
    X, y = iris
    with pytest.raises(ValueError, match="average"):
        MaxEntClassifier(average=True).fit(X, y)


@pytest.mark.parametrize("solver", ["sgd", "saga"])
def test_csr_and_dense_take_the_same_route(solver):
    """The data's density, not its container, sets the route (batch size, intercept step,
    hand-off): on this 100 x 5 problem CSR stalled at a gap of 6.6e-4 after 52 SGD epochs
    where the dense array took 110 to 2.6e-16 (SAGA: 3,607 epochs against 110)."""
    X, y = make_classification(n_samples=100, n_features=5, random_state=42)
    X[X < 0] = 0
    params = {"alpha": 1 / (0.1 * 100), "solver": solver, "tol": 1e-14, "max_iter": 10_000}
    dense = MaxEntClassifier(random_state=42, **params).fit(X, y)
    csr = MaxEntClassifier(random_state=42, **params).fit(sparse.csr_matrix(X), y)
    assert csr.n_iter_ == dense.n_iter_
    assert csr.duality_gap_ <= 1e-14
    np.testing.assert_allclose(csr.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(csr.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)
