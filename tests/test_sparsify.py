"""sparsify() and densify(), as scikit-learn's SparseCoefMixin (SGDClassifier, LogisticRegression).

The references are the peers themselves: the type ``sparsify`` gives
``coef_``, what training does after it, and the dense model's predictions.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from scipy import sparse
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, SGDClassifier

from sklearn_maxent import MaxEntClassifier


def text_like(n=600, d=3_000, k=3, seed=0):
    """Documents of 20 words: common words and, for 30 % of them, words of the document's topic."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    words = rng.integers(100, d, (n, 20))
    topical = rng.uniform(size=(n, 20)) < 0.3
    words[topical] = (y[:, None] * 30 + rng.integers(0, 30, (n, 20)))[topical]
    X = sparse.csr_matrix((np.ones(words.size), (np.repeat(np.arange(n), 20), words.ravel())), shape=(n, d))
    X.sum_duplicates()
    return X, y


@pytest.fixture(scope="module")
def l1_model():
    X, y = text_like()
    return MaxEntClassifier(alpha=2e-3, l1_ratio=1, random_state=0).fit(X, y), X, y


def state_of(model):
    return pickle.dumps({k: v for k, v in vars(model).items() if k.endswith("_")})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binary", [False, True])
def test_sparsified_model_predicts_as_the_dense_one(dtype, binary):
    X, y = text_like()
    if binary:
        y = (y > 0).astype(int)
    X = X.astype(dtype)
    dense = MaxEntClassifier(alpha=2e-3, l1_ratio=1, random_state=0).fit(X, y)
    assert np.mean(dense.coef_ == 0) > 0.9
    sparsified = copy.deepcopy(dense).sparsify()
    assert sparse.issparse(sparsified.coef_)
    assert sparsified.coef_.format == "csr"
    assert sparsified.coef_.dtype == dtype
    assert sparsified.coef_.nnz == np.count_nonzero(dense.coef_)
    np.testing.assert_array_equal(sparsified.coef_.toarray(), dense.coef_)
    np.testing.assert_array_equal(sparsified.intercept_, dense.intercept_)
    for data in (X, X.toarray()):
        np.testing.assert_array_equal(sparsified.predict(data), dense.predict(data))
        for method in ("decision_function", "predict_proba", "predict_log_proba"):
            theirs, ours = getattr(dense, method)(data), getattr(sparsified, method)(data)
            assert ours.dtype == theirs.dtype
            # float32: the two products add in other orders; log-probabilities near 0 keep an
            # absolute error of a few rounding errors of the scores (about 1e-7 here).
            tolerance = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-12)
            np.testing.assert_allclose(ours, theirs, *tolerance)
    assert sparsified.score(X, y) == dense.score(X, y)
    np.testing.assert_allclose(sparsified.expectation_gap(X, y), dense.expectation_gap(X, y))


@pytest.mark.parametrize("interface", ["spmatrix", "sparray"])
def test_the_same_types_as_scikit_learn(l1_model, interface):
    """The type follows scikit-learn's sparse_interface setting, as SparseCoefMixin's does."""
    model, X, y = l1_model  # scikit-learn >= 1.9, as required: it has the sparse_interface setting
    with warnings.catch_warnings(), sklearn.config_context(sparse_interface=interface):
        warnings.simplefilter("ignore")  # a few saga epochs suffice to get a sparsifiable peer
        peer = LogisticRegression(C=10, l1_ratio=1, solver="saga", max_iter=5).fit(X, y).sparsify()
        ours = copy.deepcopy(model).sparsify()
    assert type(ours.coef_) is type(peer.coef_)
    assert type(ours.intercept_) is type(peer.intercept_)
    np.testing.assert_array_equal(ours.predict(X), model.predict(X))
    assert type(ours.densify().coef_) is type(peer.densify().coef_)


def test_densify_restores_the_dense_weights_and_is_a_no_op_on_them(l1_model):
    model, _, _ = l1_model
    clf = copy.deepcopy(model)
    assert clf.densify() is clf
    np.testing.assert_array_equal(clf.coef_, model.coef_)
    assert clf.sparsify() is clf
    clf.densify()
    assert isinstance(clf.coef_, np.ndarray)
    assert clf.coef_.flags.c_contiguous
    assert clf.coef_.dtype == model.coef_.dtype
    np.testing.assert_array_equal(clf.coef_, model.coef_)


@pytest.mark.parametrize("method", ["sparsify", "densify"])
def test_unfitted_is_an_error(method):
    with pytest.raises(NotFittedError, match="must be fitted before"):
        getattr(MaxEntClassifier(), method)()


def test_training_after_sparsify_fails_clearly_as_in_sgd_classifier():
    """SGDClassifier's partial_fit and warm-started fit fail after sparsify(); a fresh fit works."""
    X, y = load_iris(return_X_y=True)
    peer = SGDClassifier(penalty="l1", warm_start=True, random_state=0).fit(X, y).sparsify()
    with pytest.raises((TypeError, ValueError)):
        peer.partial_fit(X, y)
    with pytest.raises((TypeError, ValueError)):
        peer.fit(X, y)
    peer.set_params(warm_start=False).fit(X, y)
    assert isinstance(peer.coef_, np.ndarray)

    ours = MaxEntClassifier(l1_ratio=1, alpha=1e-2, random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    ours.sparsify()
    before = state_of(ours)
    with pytest.raises(ValueError, match=r"sparsify\(\) was called.*densify\(\) before partial_fit"):
        ours.partial_fit(X, y)
    assert state_of(ours) == before  # the model is as it was
    ours.set_params(warm_start=True)
    with pytest.raises(ValueError, match=r"densify\(\) before fit with warm_start=True"):
        ours.fit(X, y)
    assert state_of(ours) == before
    ours.set_params(warm_start=False).fit(X, y)
    assert isinstance(ours.coef_, np.ndarray)


def test_densify_lets_training_continue_exactly():
    X, y = load_iris(return_X_y=True)
    reference = MaxEntClassifier(l1_ratio=1, alpha=1e-2, random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    model = copy.deepcopy(reference).sparsify().densify()
    reference.partial_fit(X, y)
    model.partial_fit(X, y)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    warm = MaxEntClassifier(alpha=1e-2, warm_start=True, random_state=0).fit(X, y)
    continued = copy.deepcopy(warm).sparsify().densify()
    np.testing.assert_array_equal(continued.fit(X, y).coef_, warm.fit(X, y).coef_)


def test_sparsified_model_round_trips(l1_model, tmp_path):
    model, X, _ = l1_model
    clf = copy.deepcopy(model).sparsify()
    expected = clf.predict_proba(X)
    assert len(pickle.dumps(clf)) < len(pickle.dumps(model))  # the point of sparsify: a smaller model
    loaded = pickle.loads(pickle.dumps(clf))
    assert sparse.issparse(loaded.coef_)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    untrusted = sio.get_untrusted_types(file=path)
    # As for a sparsified SGDClassifier, skops asks to trust the CSR type too; it
    # restores it from arrays (scipy.sparse.load_npz, without pickle).
    assert "scipy.sparse._csr.csr_matrix" in untrusted
    others = set(untrusted) - {"scipy.sparse._csr.csr_matrix"}
    assert all(name.startswith("sklearn_maxent.") for name in others), untrusted
    loaded = sio.load(path, trusted=untrusted)
    assert sparse.issparse(loaded.coef_)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_onnx_export_of_a_sparsified_model(l1_model):
    """The graph stores dense weights; the model itself stays sparse."""
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sklearn_maxent.onnx  # noqa: F401  (registers the converter)

    model, X, _ = l1_model
    clf = copy.deepcopy(model).sparsify()
    X_dense = X[:50].toarray().astype(np.float32)
    onx = to_onnx(clf, X_dense[:1], options={MaxEntClassifier: {"zipmap": False}})
    assert sparse.issparse(clf.coef_)
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {session.get_inputs()[0].name: X_dense})
    np.testing.assert_array_equal(labels, clf.predict(X_dense))
    np.testing.assert_allclose(proba, clf.predict_proba(X_dense), atol=1e-5)
