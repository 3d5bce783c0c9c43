"""Extreme numbers end as finite results or a clear error, never as NaN."""

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
from scipy import sparse, special
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris_model(iris):
    return MaxEntClassifier(alpha=1e-2, solver="lbfgs", random_state=0).fit(*iris)


def assert_distributions(proba):
    assert np.isfinite(proba).all()
    assert (proba >= 0).all()
    assert (proba <= 1).all()
    atol = 1e-12 if proba.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=atol)


# ------------------------------------------------------------------ huge scores at predict time


@pytest.mark.parametrize("magnitude", [1e10, 1e100, 1e300])
def test_huge_scores_give_finite_probabilities(iris_model, iris, magnitude):
    """Scores of magnitude up to 1e300 (through coef_ and through X): finite, normalized, exact."""
    X, _ = iris
    model = copy.deepcopy(iris_model)
    model.coef_ = model.coef_ * np.sqrt(magnitude)
    model.intercept_ = model.intercept_ * 0.0
    X_big = X * np.sqrt(magnitude)
    scores = model.decision_function(X_big)
    assert np.abs(scores).max() > magnitude / 100
    assert np.isfinite(scores).all()
    proba = model.predict_proba(X_big)
    assert_distributions(proba)
    log_proba = model.predict_log_proba(X_big)
    assert np.isfinite(log_proba).all()
    assert (log_proba <= 0).all()
    # Independent reference: scipy's softmax and log-softmax of the same scores.
    np.testing.assert_allclose(proba, special.softmax(scores, axis=1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_proba, special.log_softmax(scores, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X_big), model.classes_[scores.argmax(axis=1)])


def test_huge_binary_scores_give_finite_probabilities(iris):
    X, y = iris
    model = MaxEntClassifier(alpha=1e-2, solver="lbfgs").fit(X, y == 0)
    model.coef_ = model.coef_ * 1e150
    X_big = X * 1e150
    assert np.abs(model.decision_function(X_big)).max() > 1e299
    assert_distributions(model.predict_proba(X_big))
    assert np.isfinite(model.predict_log_proba(X_big)).all()


def test_scores_beyond_the_dtype_are_a_clear_error_not_nan(iris_model, iris):
    X, _ = iris
    model = copy.deepcopy(iris_model)
    model.coef_ = model.coef_ * 1e200
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(
            FloatingPointError, match=r"scores X @ coef_.T \+ intercept_ overflow.*scale the features"
        ):
            getattr(model, method)(X * 1e200)


# ------------------------------------------------------------------ huge features at fit time


def fit_or_error(estimator, X, y, **kwargs):
    """The FloatingPointError that fitting raised, or None; ConvergenceWarnings are expected here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y, **kwargs)
    except FloatingPointError as error:
        return error
    return None


@pytest.mark.parametrize("solver", ["auto", "sgd", "saga", "lbfgs"])
@pytest.mark.parametrize("standardized", [True, False])
def test_features_of_magnitude_1e150_give_finite_weights_or_a_clear_error(
    iris, iris_model, solver, standardized
):
    """Gram products of such features overflow float64: a solver either copes or says so, never NaN.

    (As of this test, L-BFGS/Newton cope, ending at finite weights with a
    ConvergenceWarning; SGD and SAGA, whose step estimate needs ``||x||^4``,
    raise.)
    """
    X, y = iris if standardized else load_iris(return_X_y=True)
    X_big = X * 1e150
    model = copy.deepcopy(iris_model)
    before = pickle.dumps(vars(model))
    error = fit_or_error(model.set_params(solver=solver, alpha=1e-2), X_big, y)
    if error is not None:
        assert re.search(r"the model was not updated.*largest feature magnitude is \d.*e\+150", str(error))
        assert "scale the features" in str(error)
        assert pickle.dumps(vars(model.set_params(solver="lbfgs", alpha=1e-2))) == before
        fresh = MaxEntClassifier(solver=solver, alpha=1e-2, random_state=0)
        assert isinstance(fit_or_error(fresh, X_big, y), FloatingPointError)
        assert not [key for key in vars(fresh) if key.endswith("_")]
    else:
        assert np.isfinite(model.coef_).all()
        assert np.isfinite(model.intercept_).all()
        assert_distributions(model.predict_proba(X_big))
        assert np.isfinite(model.predict_log_proba(X_big)).all()


def test_features_of_magnitude_1e150_in_partial_fit(iris):
    X, y = iris
    clf = MaxEntClassifier(random_state=0)
    with pytest.raises(
        FloatingPointError, match=r"largest feature magnitude is .*e\+150: scale the features"
    ):
        clf.partial_fit(X * 1e150, y, classes=[0, 1, 2])
    assert not [key for key in vars(clf) if key.endswith("_")]


@pytest.mark.parametrize(("scale", "dtype", "accuracy"), [(1e70, np.float64, 0.95), (1e12, np.float32, 0.8)])
def test_large_but_representable_features_train_finite_weights(iris, scale, dtype, accuracy):
    X, y = iris
    X_big = (X * scale).astype(dtype)
    clf = MaxEntClassifier(alpha=1e-2, solver="lbfgs", random_state=0)
    assert fit_or_error(clf, X_big, y) is None
    assert np.isfinite(clf.coef_).all()
    assert clf.score(X_big, y) > accuracy
    assert_distributions(clf.predict_proba(X_big))


# ------------------------------------------------------------------ absurd learning rate


@pytest.mark.parametrize("solver", ["sgd", "saga"])
def test_absurd_learning_rate_is_backed_off_with_a_convergence_warning(iris, solver):
    """eta0=1e8 on unscaled data: back-offs bring the step down; 3 epochs cannot meet the stopping rule."""
    X, y = load_iris(return_X_y=True)
    clf = MaxEntClassifier(
        solver=solver, learning_rate="constant", eta0=1e8, batch_size=16, max_iter=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="stopped"):
        clf.fit(X * 10, y)
    assert np.isfinite(clf.coef_).all()
    assert np.isfinite(clf.intercept_).all()
    assert clf._sgd_state_.schedule.eta0 < 1e8  # backed off
    assert all(np.isfinite(clf.loss_curve_))
    assert_distributions(clf.predict_proba(X * 10))


def test_absurd_learning_rate_in_partial_fit_stays_finite(iris):
    X, y = load_iris(return_X_y=True)
    clf = MaxEntClassifier(learning_rate="constant", eta0=1e8, batch_size=8, random_state=0)
    for _ in range(3):
        clf.partial_fit(X * 10, y, classes=[0, 1, 2])
        assert np.isfinite(clf.coef_).all()
    assert clf._sgd_state_.schedule.eta0 < 1e8
    assert_distributions(clf.predict_proba(X * 10))


def test_step_of_1e300_ends_finite_or_with_a_clear_error(iris):
    X, y = iris
    clf = MaxEntClassifier(solver="sgd", learning_rate="constant", eta0=1e300, max_iter=3, random_state=0)
    error = fit_or_error(clf, X, y)
    if error is not None:
        assert "lower eta0" in str(error)
        assert not [key for key in vars(clf) if key.endswith("_")]
    else:
        assert np.isfinite(clf.coef_).all()
        assert_distributions(clf.predict_proba(X))


# ------------------------------------------------------------------ degenerate data that must work


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_constant_and_duplicated_features(iris, solver):
    X, y = iris
    X_degenerate = np.hstack([X, X[:, :2], np.zeros((len(X), 1)), np.full((len(X), 1), 3.0)])
    clf = MaxEntClassifier(alpha=1e-2, solver=solver, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_degenerate, y)
    assert np.isfinite(clf.coef_).all()
    assert clf.score(X_degenerate, y) > 0.9
    assert_distributions(clf.predict_proba(X_degenerate))
    np.testing.assert_array_equal(clf.coef_[:, 6], 0.0)  # an all-zero feature gets no weight
    if solver == "lbfgs":  # at the optimum, an L2 penalty splits a duplicated feature's weight evenly
        np.testing.assert_allclose(clf.coef_[:, :2], clf.coef_[:, 4:6], atol=1e-8)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_one_sample_of_a_class(iris, solver):
    X, y = iris
    X_one = np.vstack([X, [[5.0, 5.0, 5.0, 5.0]]])
    y_one = np.append(y, 3)
    clf = MaxEntClassifier(alpha=1e-3, solver=solver, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_one, y_one)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])
    assert np.isfinite(clf.coef_).all()
    proba = clf.predict_proba(X_one)
    assert_distributions(proba)
    assert proba[-1].argmax() == 3


@pytest.mark.filterwarnings("ignore:The number of unique classes is greater than 50%:UserWarning")
def test_a_thousand_classes():
    rng = np.random.RandomState(0)
    X, y = rng.randn(1000, 4), rng.permutation(1000)  # one sample per class
    clf = MaxEntClassifier(
        solver="sgd", learning_rate="constant", eta0=0.1, max_iter=3, tol=None, random_state=0
    )
    clf.fit(X, y)
    assert clf.coef_.shape == (1000, 4)
    assert np.isfinite(clf.coef_).all()
    proba = clf.predict_proba(X[:50])
    assert proba.shape == (50, 1000)
    assert_distributions(proba)
    assert np.isfinite(clf.predict_log_proba(X[:50])).all()


def test_two_to_the_22_sparse_features():
    rng = np.random.RandomState(0)
    n_features = 2**22
    # 20 random features per row (scipy's sparse.random is slow at this width).
    indices = rng.randint(0, n_features, size=(200, 20)).ravel()
    X = sparse.csr_matrix((rng.rand(4000), indices, np.arange(0, 4001, 20)), shape=(200, n_features))
    X.sum_duplicates()
    y = rng.randint(0, 2, 200)
    clf = MaxEntClassifier(solver="sgd", max_iter=2, tol=None, random_state=0).fit(X, y)
    assert clf.coef_.shape == (1, n_features)
    assert np.isfinite(clf.coef_).all()
    assert_distributions(clf.predict_proba(X))
    clf.partial_fit(X, y)
    assert np.isfinite(clf.coef_).all()


def test_the_convergence_warning_says_converge_and_the_gap_reached():
    """scikit-learn's estimators say "failed to converge", and users filter on match="converge";
    a full-batch fit stopped by max_iter before any certificate pass reports the gap it reached."""
    X, y = make_classification(2_000, 20, n_informative=10, n_classes=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="converge") as record:
        clf = MaxEntClassifier(solver="lbfgs", max_iter=3, alpha=1e-4).fit(X, y)
    assert np.isfinite(clf.duality_gap_)
    assert f"{clf.duality_gap_:.3g}" in str(record[0].message)
