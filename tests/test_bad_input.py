"""Every bad input is a clear ValueError or TypeError, raised before any fitted state changes.

Each case is tried on a fresh estimator (which must end with no fitted
attribute), on a fitted model (``fit`` again, later ``partial_fit`` calls,
``predict*``), whose every fitted attribute must stay bit for bit as it was.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError

from sklearn_maxent import MaxEntClassifier

RNG = np.random.RandomState(0)
X = RNG.randn(30, 3)
y = np.arange(30) % 3
CLASSES = [0, 1, 2]


def _with(array, value, where=(0, 0)):
    array = np.array(array, dtype=float)
    array[where] = value
    return array


def _pandas_text_column():
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["b"] = frame["b"].astype(str)
    return frame


_SOFT_NEGATIVE = np.tile([1.2, -0.2, 0.0], (30, 1))
_SOFT_OFF_ONE = np.tile([0.5, 0.6, 0.0], (30, 1))
_MULTILABEL = (np.arange(90).reshape(30, 3) % 2).astype(int)  # rows [0 1 0], [1 0 1], ...

# (X, y, fit kwargs, exception, message regex): bad for fit and for every partial_fit call.
BAD_DATA = [
    pytest.param(_with(X, np.nan), y, {}, ValueError, "Input X contains NaN", id="X-nan"),
    pytest.param(_with(X, np.inf), y, {}, ValueError, "Input X contains infinity", id="X-inf"),
    pytest.param(_with(X, -np.inf), y, {}, ValueError, "Input X contains infinity", id="X-minus-inf"),
    pytest.param(
        sparse.csr_matrix(_with(X, np.nan)), y, {}, ValueError, "Input X contains NaN", id="sparse-X-nan"
    ),
    pytest.param(X, _with(y, np.nan, 0), {}, ValueError, "Input y contains NaN", id="y-nan"),
    pytest.param(X, _with(y, np.inf, 0), {}, ValueError, "Input y contains infinity", id="y-inf"),
    pytest.param(
        X,
        y,
        {"sample_weight": _with(np.ones(30), np.nan, 0)},
        ValueError,
        "sample_weight contains NaN",
        id="weight-nan",
    ),
    pytest.param(
        X,
        y,
        {"sample_weight": _with(np.ones(30), np.inf, 0)},
        ValueError,
        "sample_weight contains infinity",
        id="weight-inf",
    ),
    pytest.param(
        X,
        y,
        {"sample_weight": _with(np.ones(30), -1.0, 0)},
        ValueError,
        "Negative values.*sample_weight",
        id="weight-negative",
    ),
    pytest.param(
        X, y, {"sample_weight": np.zeros(30)}, ValueError, "at least one non-zero", id="weight-zeros"
    ),
    pytest.param(
        X, y, {"sample_weight": np.ones(29)}, ValueError, r"sample_weight.shape == \(29,\)", id="weight-len"
    ),
    pytest.param(X, y, {"sample_weight": np.ones((30, 2))}, ValueError, "1D array or scalar", id="weight-2d"),
    pytest.param(np.empty((0, 3)), np.array([], dtype=int), {}, ValueError, "0 sample", id="X-empty"),
    pytest.param(np.empty((30, 0)), y, {}, ValueError, "0 feature", id="X-no-features"),
    pytest.param(X, y[:-1], {}, ValueError, "inconsistent numbers of samples", id="length-mismatch"),
    pytest.param(X[:, 0], y, {}, ValueError, "Expected 2D array", id="X-1d"),
    pytest.param(X[:, :, None], y, {}, ValueError, "dim 3", id="X-3d"),
    pytest.param(X.astype(str), y, {}, ValueError, "numeric features.*strings", id="X-numeric-strings"),
    pytest.param(
        np.array([["a", 1.0, 2.0]] * 30, dtype=object),
        y,
        {},
        ValueError,
        "numeric features.*strings",
        id="X-object-strings",
    ),
    pytest.param(
        _pandas_text_column(), y, {}, ValueError, r"columns \['b'\] of X hold strings", id="X-pandas-text"
    ),
    pytest.param(X.astype(complex), y, {}, ValueError, "Complex data not supported", id="X-complex"),
    pytest.param(X, None, {}, ValueError, "requires y to be passed", id="y-none"),
    pytest.param(X, RNG.randn(30), {}, ValueError, "Unknown label type: continuous", id="y-continuous"),
    pytest.param(
        X,
        np.array(["a", 1, "b"] * 10, dtype=object),
        {},
        TypeError,
        r"mixes labels of types \['int', 'str'\]",
        id="y-mixed-types",
    ),
    pytest.param(X, y[:, None, None], {}, ValueError, "dim 3", id="y-3d"),
    pytest.param(X, _SOFT_NEGATIVE, {}, ValueError, "Soft labels must be non-negative", id="soft-negative"),
    pytest.param(X, _SOFT_OFF_ONE, {}, ValueError, "Soft labels must sum to 1.*sums to 1.1", id="soft-not-1"),
    pytest.param(
        X, np.tile([np.nan, 0.5, 0.5], (30, 1)), {}, ValueError, "Input y contains NaN", id="soft-nan"
    ),
    pytest.param(X, _MULTILABEL, {}, ValueError, "multilabel indicator", id="multilabel"),
    pytest.param(
        X, sparse.csr_matrix(_MULTILABEL), {}, ValueError, "multilabel indicator", id="multilabel-sparse"
    ),
]

# Parameter constraints: checked by fit and partial_fit before anything else.
BAD_PARAMS = [
    pytest.param({"alpha": -1.0}, "'alpha' parameter", id="alpha-negative"),
    pytest.param({"alpha": np.nan}, "'alpha' parameter", id="alpha-nan"),
    pytest.param({"alpha": "x"}, "'alpha' parameter", id="alpha-str"),
    pytest.param({"l1_ratio": -0.1}, "'l1_ratio' parameter", id="l1_ratio-negative"),
    pytest.param({"l1_ratio": 1.5}, "'l1_ratio' parameter", id="l1_ratio-above-1"),
    pytest.param({"fit_intercept": "yes"}, "'fit_intercept' parameter", id="fit_intercept"),
    pytest.param({"solver": "newton"}, "'solver' parameter", id="solver"),
    pytest.param({"batch_size": 0}, "'batch_size' parameter", id="batch_size-0"),
    pytest.param({"batch_size": 1.5}, "'batch_size' parameter", id="batch_size-float"),
    pytest.param({"learning_rate": "exponential"}, "'learning_rate' parameter", id="learning_rate"),
    pytest.param({"eta0": 0.0}, "'eta0' parameter", id="eta0-0"),
    pytest.param({"eta0": -1.0}, "'eta0' parameter", id="eta0-negative"),
    pytest.param({"eta0": np.inf}, "'eta0' parameter", id="eta0-inf"),
    pytest.param({"power_t": -1.0}, "'power_t' parameter", id="power_t"),
    pytest.param({"max_iter": 0}, "'max_iter' parameter", id="max_iter-0"),
    pytest.param({"max_iter": 1.5}, "'max_iter' parameter", id="max_iter-float"),
    pytest.param({"tol": -1.0}, "'tol' parameter", id="tol"),
    pytest.param({"n_iter_no_change": 0}, "'n_iter_no_change' parameter", id="n_iter_no_change"),
    pytest.param({"shuffle": "no"}, "'shuffle' parameter", id="shuffle"),
    pytest.param({"random_state": "x"}, "'random_state' parameter", id="random_state"),
    pytest.param({"warm_start": 1.5}, "'warm_start' parameter", id="warm_start"),
    pytest.param({"class_weight": "auto"}, "'class_weight' parameter", id="class_weight-str"),
    pytest.param(
        {"class_weight": {0: -0.5}}, "class_weight must map.*non-negative", id="class_weight-negative"
    ),
    pytest.param({"class_weight": {0: np.nan}}, "class_weight must map.*finite", id="class_weight-nan"),
    pytest.param(
        {"class_weight": {5: 2.0}},
        r"classes, \[0, 1, 2\], are not in class_weight",
        id="class_weight-unknown",
    ),
    pytest.param({"verbose": -1}, "'verbose' parameter", id="verbose"),
    pytest.param({"average": -1}, "'average' parameter", id="average"),
    pytest.param({"early_stopping": "x"}, "'early_stopping' parameter", id="early_stopping"),
    pytest.param({"validation_fraction": 0.0}, "'validation_fraction' parameter", id="validation_fraction-0"),
    pytest.param({"validation_fraction": 1.0}, "'validation_fraction' parameter", id="validation_fraction-1"),
    pytest.param({"label_smoothing": 1.0}, "'label_smoothing' parameter", id="label_smoothing-1"),
    pytest.param({"label_smoothing": -0.1}, "'label_smoothing' parameter", id="label_smoothing-negative"),
]
# Combinations that only fit rejects (partial_fit is SGD, without early stopping).
BAD_FIT_PARAMS = [
    pytest.param(
        {"average": True, "solver": "lbfgs"}, "average=True averages SGD iterates", id="average-lbfgs"
    ),
    pytest.param({"early_stopping": True, "solver": "lbfgs"}, "early_stopping=True stops SGD", id="es-lbfgs"),
]

PREDICT_METHODS = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
BAD_PREDICT_X = [
    pytest.param(
        X[:, :2], ValueError, "X has 2 features, but MaxEntClassifier is expecting 3", id="n-features"
    ),
    pytest.param(_with(X, np.nan), ValueError, "Input X contains NaN", id="nan"),
    pytest.param(_with(X, np.inf), ValueError, "Input X contains infinity", id="inf"),
    pytest.param(np.empty((0, 3)), ValueError, "0 sample", id="empty"),
    pytest.param(X.astype(str), ValueError, "numeric features.*strings", id="strings"),
    pytest.param(X[0], ValueError, "Expected 2D array", id="1d"),
    pytest.param(X.astype(complex), ValueError, "Complex data not supported", id="complex"),
]


# ------------------------------------------------------------------ helpers

_FITTED = MaxEntClassifier(alpha=1e-2, solver="lbfgs", random_state=0).fit(X, y)
_STREAMED = MaxEntClassifier(alpha=1e-2, average=True, random_state=0).partial_fit(X, y, classes=CLASSES)


@pytest.fixture
def fitted():
    return copy.deepcopy(_FITTED)


@pytest.fixture
def streamed():
    return copy.deepcopy(_STREAMED)


def fitted_attributes(estimator):
    return {key: value for key, value in vars(estimator).items() if key.endswith("_")}


def snapshot(estimator):
    """The fitted state, as bytes: any change of any fitted attribute changes them."""
    attributes = fitted_attributes(estimator)
    core = {key: attributes[key] for key in ("coef_", "intercept_", "classes_")}
    core_bytes = {key: (value.dtype.str, value.shape, value.tobytes()) for key, value in core.items()}
    return core_bytes, estimator.n_features_in_, pickle.dumps(attributes)


def assert_raises_and_keeps(estimator, call, exception, match):
    before = snapshot(estimator) if fitted_attributes(estimator) else None
    with pytest.raises(exception, match=match):
        call(estimator)
    if before is None:
        assert fitted_attributes(estimator) == {}, "a fresh estimator was left half-fitted"
    else:
        assert snapshot(estimator) == before, "a fitted model was changed by a call that raised"


# ------------------------------------------------------------------ bad data


@pytest.mark.parametrize(("X_bad", "y_bad", "kwargs", "exception", "match"), BAD_DATA)
def test_fit_rejects_bad_data(fitted, X_bad, y_bad, kwargs, exception, match):
    for estimator in (MaxEntClassifier(), fitted):
        assert_raises_and_keeps(estimator, lambda e: e.fit(X_bad, y_bad, **kwargs), exception, match)


@pytest.mark.parametrize(("X_bad", "y_bad", "kwargs", "exception", "match"), BAD_DATA)
def test_partial_fit_rejects_bad_data(streamed, X_bad, y_bad, kwargs, exception, match):
    assert_raises_and_keeps(
        MaxEntClassifier(), lambda e: e.partial_fit(X_bad, y_bad, classes=CLASSES, **kwargs), exception, match
    )
    assert_raises_and_keeps(streamed, lambda e: e.partial_fit(X_bad, y_bad, **kwargs), exception, match)


def test_fit_rejects_a_single_class(fitted):
    for estimator in (MaxEntClassifier(), fitted):
        assert_raises_and_keeps(
            estimator, lambda e: e.fit(X, np.zeros(30)), ValueError, "at least 2 classes.*only one class: 0.0"
        )


@pytest.mark.parametrize(
    ("y_bad", "classes", "exception", "match"),
    [
        pytest.param(y, None, ValueError, "classes must be passed on the first call", id="no-classes"),
        pytest.param(np.zeros(30), [0], ValueError, "at least 2 classes.*only one class: 0", id="one-class"),
        pytest.param(y, [0, 1], ValueError, r"labels \[2\] that are not in classes \[0, 1\]", id="outside"),
        pytest.param(y, [[0, 1, 2]], ValueError, "classes must be a 1-D array", id="classes-2d"),
        pytest.param(y, [0, 1, 2, np.nan], ValueError, "classes must not contain NaN", id="classes-nan"),
        pytest.param(
            y,
            np.array(["a", 1, 2], dtype=object),
            TypeError,
            "classes mixes labels of types",
            id="classes-mixed",
        ),
    ],
)
def test_first_partial_fit_rejects_bad_classes(y_bad, classes, exception, match):
    assert_raises_and_keeps(
        MaxEntClassifier(), lambda e: e.partial_fit(X, y_bad, classes=classes), exception, match
    )


@pytest.mark.parametrize(
    ("X_bad", "y_bad", "classes", "match"),
    [
        pytest.param(
            X[:, :2], y, None, "X has 2 features, but MaxEntClassifier is expecting 3", id="n-features"
        ),
        pytest.param(X, y + 1, None, r"labels \[3\] that are not in classes \[0, 1, 2\]", id="label-outside"),
        pytest.param(X, y, [0, 1, 2, 3], "is not the same as on the first call", id="other-classes"),
        pytest.param(
            X, np.full((30, 2), 0.5), None, "Soft labels have 2 columns but the model has 3", id="soft"
        ),
    ],
)
def test_later_partial_fit_rejects_a_chunk_that_does_not_fit_the_stream(
    streamed, X_bad, y_bad, classes, match
):
    assert_raises_and_keeps(
        streamed, lambda e: e.partial_fit(X_bad, y_bad, classes=classes), ValueError, match
    )


def test_object_arrays_of_numbers_are_still_accepted():
    """Only text is refused: object arrays of numbers are numeric data (as check_dtype_object wants)."""
    clf = MaxEntClassifier(alpha=1e-2, solver="lbfgs").fit(X.astype(object), y)
    np.testing.assert_allclose(clf.coef_, _FITTED.coef_, atol=1e-8)
    np.testing.assert_array_equal(clf.predict(X.astype(object)), clf.predict(X))


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(("params", "match"), BAD_PARAMS)
def test_bad_parameters_are_rejected_by_fit_and_partial_fit(fitted, streamed, params, match):
    calls = {
        "fit": lambda e: e.fit(X, y),
        "partial_fit": lambda e: e.partial_fit(X, y, classes=CLASSES),
    }
    for name, call in calls.items():
        assert_raises_and_keeps(MaxEntClassifier(**params), call, (ValueError, TypeError), match)
        model = fitted if name == "fit" else streamed
        saved = model.get_params()
        model.set_params(**params)
        assert_raises_and_keeps(model, call, (ValueError, TypeError), match)
        model.set_params(**saved)


@pytest.mark.parametrize(("params", "match"), BAD_FIT_PARAMS)
def test_bad_parameter_combinations_are_rejected_by_fit(fitted, params, match):
    assert_raises_and_keeps(MaxEntClassifier(**params), lambda e: e.fit(X, y), ValueError, match)
    fitted.set_params(**params)
    assert_raises_and_keeps(fitted, lambda e: e.fit(X, y), ValueError, match)


# ------------------------------------------------------------------ predict


@pytest.mark.parametrize("method", [*PREDICT_METHODS, "expectation_gap"])
@pytest.mark.parametrize(("X_bad", "exception", "match"), BAD_PREDICT_X)
def test_predict_rejects_bad_X(fitted, method, X_bad, exception, match):
    args = (X_bad, y) if method == "expectation_gap" else (X_bad,)
    assert_raises_and_keeps(fitted, lambda e: getattr(e, method)(*args), exception, match)


@pytest.mark.parametrize("method", [*PREDICT_METHODS, "expectation_gap", "score"])
def test_predict_before_fit_is_not_fitted_error(method):
    args = (X, y) if method in ("expectation_gap", "score") else (X,)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(MaxEntClassifier(), method)(*args)
    assert issubclass(NotFittedError, ValueError)
