"""Saved and loaded models predict identically and go on streaming identically: pickle, joblib, skops.

skops loads a MaxEntClassifier trusting only sklearn_maxent's own types: the
estimator and the plain dataclasses of its SGD state (``_sgd_state_``: the
step schedule, the averaged iterate), which skops restores field by field
without running code of theirs; every other object in the model (arrays,
lists, floats, None) is of a type skops trusts by default.
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_maxent import MaxEntClassifier

X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
X_next, y_next = make_classification(300, 6, n_informative=4, n_classes=3, random_state=1)

MODELS = {
    "lbfgs": lambda: MaxEntClassifier(alpha=1e-2, solver="lbfgs", random_state=0).fit(X, y),
    "binary-strings": lambda: MaxEntClassifier(random_state=0).fit(X, np.where(y == 0, "spam", "ham")),
    "sparse-float32": lambda: MaxEntClassifier(random_state=0).fit(sparse.csr_matrix(X, dtype=np.float32), y),
    "early-stopping": lambda: MaxEntClassifier(early_stopping=True, max_iter=20, random_state=0).fit(X, y),
    "streamed-averaged-l1": lambda: MaxEntClassifier(
        average=True, l1_ratio=0.3, batch_size=16, random_state=0
    ).partial_fit(X, y, classes=[0, 1, 2]),
    "soft-labels": lambda: MaxEntClassifier(random_state=0).fit(X, np.eye(3)[y] * 0.8 + 0.2 / 3),
    "streamed-adagrad-l1": lambda: MaxEntClassifier(
        learning_rate="adagrad", l1_ratio=0.3, batch_size=16, random_state=0
    ).partial_fit(X, y, classes=[0, 1, 2]),
}


@pytest.fixture(params=sorted(MODELS), scope="module")
def model(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MODELS[request.param]()


def pickle_round_trip(estimator, tmp_path):
    return pickle.loads(pickle.dumps(estimator))


def joblib_round_trip(estimator, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path)
    return joblib.load(path)


def skops_round_trip(estimator, tmp_path):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted, "skops should ask to trust the estimator's own type"
    assert all(name.startswith("sklearn_maxent.") for name in untrusted), untrusted
    return sio.load(path, trusted=untrusted)


ROUND_TRIPS = [pickle_round_trip, joblib_round_trip, skops_round_trip]


def data_of(model):
    return sparse.csr_matrix(X, dtype=np.float32) if model.coef_.dtype == np.float32 else X


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "joblib", "skops"])
def test_round_trip_predicts_identically(model, round_trip, tmp_path):
    loaded = round_trip(model, tmp_path)
    data = data_of(model)
    assert type(loaded) is MaxEntClassifier
    assert loaded.get_params() == model.get_params()
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(loaded, method)(data), getattr(model, method)(data))
    for key in [key for key in vars(model) if key.endswith("_") and key != "_sgd_state_"]:
        expected, got = getattr(model, key), getattr(loaded, key)
        if isinstance(expected, np.ndarray):
            assert got.dtype == expected.dtype
            assert got.tobytes() == expected.tobytes(), key
        else:
            np.testing.assert_equal(got, expected, err_msg=key)  # nan equals nan here (duality_gap_)


@pytest.mark.parametrize("stream", ["streamed-averaged-l1", "streamed-adagrad-l1"])
@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "joblib", "skops"])
def test_a_loaded_stream_continues_exactly(round_trip, stream, tmp_path):
    """partial_fit after a round trip equals partial_fit without one: the SGD state survives
    (the average, AdaGrad's sums)."""
    model = MODELS[stream]()
    loaded = round_trip(model, tmp_path)
    model.partial_fit(X_next, y_next)
    loaded.partial_fit(X_next, y_next)
    assert loaded.coef_.tobytes() == model.coef_.tobytes()
    assert loaded.t_ == model.t_
    assert loaded.loss_curve_ == model.loss_curve_


def test_skops_lists_exactly_the_package_types(tmp_path):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(MODELS["streamed-averaged-l1"](), path)
    assert set(sio.get_untrusted_types(file=path)) == {
        "sklearn_maxent._classifier.MaxEntClassifier",
        "sklearn_maxent._optim._state.SGDState",
        "sklearn_maxent._optim._state.StepSchedule",
        "sklearn_maxent._optim._lazy.IterateAverage",
    }
    from skops.io.exceptions import UntrustedTypesFoundException

    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path)  # nothing of the package is trusted by default
