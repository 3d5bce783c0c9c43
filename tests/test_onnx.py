"""ONNX export: onnxruntime's labels and probabilities match MaxEntClassifier's.

Run with ``-s`` to print the largest probability difference of every case.
"""

from functools import cache

import numpy as np
import pytest

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn.datasets import load_breast_cancer, load_digits, load_iris  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import sklearn_maxent.onnx  # noqa: E402, F401  (registers the converter)
from sklearn_maxent import MaxEntClassifier  # noqa: E402

# Probabilities of a float32 graph agree with ours to this, whether the model
# was fitted on float32 or float64 data.
FLOAT32_ATOL = 1e-5


def _iris():
    return load_iris(return_X_y=True)


def _iris_strings():
    data = load_iris()
    return data.data, data.target_names[data.target]


def _iris_binary():
    X, y = load_iris(return_X_y=True)
    return X[y > 0], y[y > 0]  # versicolor (1) against virginica (2): binary, labels 1 and 2


def _digits():
    return load_digits(return_X_y=True)


def _breast_cancer():
    return load_breast_cancer(return_X_y=True)


def _breast_cancer_strings():
    data = load_breast_cancer()
    return data.data, data.target_names[data.target]


# name: (loader of X, y; whether a StandardScaler comes first in a Pipeline)
CASES = {
    "iris": (_iris, False),
    "iris-pipeline": (_iris, True),
    "iris-strings": (_iris_strings, False),
    "iris-binary": (_iris_binary, False),
    "digits": (_digits, False),
    "digits-pipeline": (_digits, True),
    "breast-cancer-pipeline": (_breast_cancer, True),
    "breast-cancer-strings-pipeline": (_breast_cancer_strings, True),
}


@cache
def _fit(case, dtype):
    """The fitted model of ``case`` on data of ``dtype``, and the data (shared: do not modify)."""
    load, scaled = CASES[case]
    X, y = load()
    X = X.astype(dtype)
    # A loose tol: the export is checked, not the optimum (digits unscaled takes minutes to 1e-10).
    clf = MaxEntClassifier(alpha=1e-3, tol=1e-3, solver="lbfgs", random_state=0)
    model = make_pipeline(StandardScaler(), clf) if scaled else clf
    return model.fit(X, y), X, y


def _session(onx):
    return ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model, X, options=None, input_dtype=np.float32):
    """Convert ``model`` with ``options`` for inputs of ``input_dtype`` and run it on ``X``."""
    X = X.astype(input_dtype)
    onx = skl2onnx.to_onnx(model, X[:1], options=options)
    session = _session(onx)
    return session.run(None, {session.get_inputs()[0].name: X})


def _classifier(model):
    return model[-1] if hasattr(model, "steps") else model


@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32], ids=["fit64", "fit32"])
@pytest.mark.parametrize("case", list(CASES))
def test_labels_and_probabilities_match(case, fit_dtype):
    model, X, _ = _fit(case, fit_dtype)
    labels, proba = _run(model, X, options={MaxEntClassifier: {"zipmap": False}})
    expected = model.predict_proba(X)
    diff = np.abs(proba - expected).max()
    print(f"\n{case} fitted on {np.dtype(fit_dtype).name}, float32 graph: max |dP| = {diff:.2e}")
    assert proba.dtype == np.float32
    assert proba.shape == expected.shape
    assert diff < FLOAT32_ATOL
    np.testing.assert_array_equal(labels, model.predict(X))
    string_labels = _classifier(model).classes_.dtype.kind == "U"
    assert labels.dtype == (object if string_labels else np.int64)


@pytest.mark.parametrize("case", ["iris-strings", "digits", "breast-cancer-pipeline"])
def test_zipmap_default_gives_a_dict_per_row(case):
    model, X, _ = _fit(case, np.float32)
    labels, proba_dicts = _run(model, X)
    classes = _classifier(model).classes_
    proba = np.array([[row[c] for c in classes.tolist()] for row in proba_dicts])
    assert np.abs(proba - model.predict_proba(X)).max() < FLOAT32_ATOL
    np.testing.assert_array_equal(labels, model.predict(X))


def test_zipmap_columns_gives_one_output_per_class():
    model, X, _ = _fit("iris-strings", np.float32)
    labels, *columns = _run(model, X, options={MaxEntClassifier: {"zipmap": "columns"}})
    assert len(columns) == 3
    assert np.abs(np.column_stack(columns) - model.predict_proba(X)).max() < FLOAT32_ATOL
    np.testing.assert_array_equal(labels, model.predict(X))


def test_nocl_outputs_class_indices():
    model, X, _ = _fit("iris-strings", np.float32)
    labels, proba = _run(model, X, options={MaxEntClassifier: {"zipmap": False, "nocl": True}})
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, model.predict_proba(X).argmax(axis=1))
    assert np.abs(proba - model.predict_proba(X)).max() < FLOAT32_ATOL


@pytest.mark.parametrize("case", ["digits", "breast-cancer-pipeline"])
def test_float64_graph_matches_to_float64_rounding(case):
    model, X, _ = _fit(case, np.float64)
    labels, proba = _run(model, X, options={"zipmap": False}, input_dtype=np.float64)
    diff = np.abs(proba - model.predict_proba(X)).max()
    print(f"\n{case} fitted on float64, float64 graph: max |dP| = {diff:.2e}")
    assert proba.dtype == np.float64
    assert diff < 1e-12
    np.testing.assert_array_equal(labels, model.predict(X))


def test_integer_labels_keep_their_values():
    X, y = _iris()
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, np.array([-7, 3, 40])[y])
    labels, _ = _run(clf, X, options={"zipmap": False})
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, clf.predict(X))


def test_non_integral_float_labels_are_refused():
    # scikit-learn refuses such labels in fit; a model given them otherwise cannot be exported.
    X, y = _iris()
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y.astype(np.float64))
    clf.classes_ = clf.classes_ + 0.5
    with pytest.raises(NotImplementedError, match="non-integral floats"):
        skl2onnx.to_onnx(clf, X[:1].astype(np.float32), options={"zipmap": False})
    labels, _ = _run(clf, X, options={MaxEntClassifier: {"zipmap": False, "nocl": True}})
    np.testing.assert_array_equal(labels, clf.predict_proba(X).argmax(axis=1))


def _offset(model, X, seed=0):
    """Offsets for ``X``: one column per class, one for two classes (the model's single score)."""
    n_columns = _classifier(model).coef_.shape[0]
    return np.random.default_rng(seed).normal(scale=2.0, size=(len(X), n_columns))


def _run_with_offset(model, X, offset, options=None, input_dtype=np.float32):
    """Convert ``model`` with the ``offset`` option (and ``options``) and run it on ``X`` and ``offset``."""
    X = X.astype(input_dtype)
    onx = skl2onnx.to_onnx(model, X[:1], options={MaxEntClassifier: {"offset": True, **(options or {})}})
    session = _session(onx)
    assert [i.name for i in session.get_inputs()] == ["X", "offset"]
    assert session.get_inputs()[1].shape[1] == offset.shape[1]
    return session.run(None, {"X": X, "offset": offset.astype(input_dtype)})


@pytest.mark.parametrize("case", ["iris", "iris-binary", "digits-pipeline", "breast-cancer-strings-pipeline"])
def test_offset_input_matches_predict_with_offset(case):
    model, X, _ = _fit(case, np.float32)
    offset = _offset(model, X)
    labels, proba = _run_with_offset(model, X, offset, options={"zipmap": False})
    expected = model.predict_proba(X, offset=offset)
    diff = np.abs(proba - expected).max()
    print(f"\n{case} with an offset, float32 graph: max |dP| = {diff:.2e}")
    assert diff < FLOAT32_ATOL
    np.testing.assert_array_equal(labels, model.predict(X, offset=offset))
    assert np.abs(expected - model.predict_proba(X)).max() > 0.1  # the offset matters here


@pytest.mark.parametrize("case", ["iris", "breast-cancer-pipeline"])
def test_offset_input_in_a_float64_graph_and_with_zipmap(case):
    model, X, _ = _fit(case, np.float64)
    offset = _offset(model, X, seed=1)
    labels, proba = _run_with_offset(model, X, offset, options={"zipmap": False}, input_dtype=np.float64)
    assert proba.dtype == np.float64
    assert np.abs(proba - model.predict_proba(X, offset=offset)).max() < 1e-12
    np.testing.assert_array_equal(labels, model.predict(X, offset=offset))
    labels, proba_dicts = _run_with_offset(model, X, offset)
    classes = _classifier(model).classes_.tolist()
    proba = np.array([[row[c] for c in classes] for row in proba_dicts])
    assert np.abs(proba - model.predict_proba(X, offset=offset)).max() < FLOAT32_ATOL


@pytest.mark.parametrize("binary", [False, True], ids=["multiclass", "binary"])
def test_models_fitted_with_factors_bounds_and_a_prior_export_unchanged(binary):
    X, y = _iris()
    X = StandardScaler().fit_transform(X)
    if binary:
        y = (y == 2).astype(int)
    rng = np.random.default_rng(2)
    n_rows = 1 if binary else 3
    clf = MaxEntClassifier(
        alpha=0.05,
        solver="lbfgs",
        penalty_factor=rng.uniform(0.5, 2.0, X.shape[1]),
        bounds=(-0.5, 1.0),
        coef_prior=0.3 * rng.standard_normal((n_rows, X.shape[1])),
    )
    offset = rng.normal(size=(len(y), n_rows))
    clf.fit(X, y, offset=offset)
    labels, proba = _run(clf, X, options={"zipmap": False})
    assert np.abs(proba - clf.predict_proba(X)).max() < FLOAT32_ATOL
    np.testing.assert_array_equal(labels, clf.predict(X))
    labels, proba = _run_with_offset(clf, X, offset, options={"zipmap": False})
    assert np.abs(proba - clf.predict_proba(X, offset=offset)).max() < FLOAT32_ATOL
    np.testing.assert_array_equal(labels, clf.predict(X, offset=offset))
