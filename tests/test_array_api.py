"""Arrays of other namespaces (the array API): the same model, computed where the data live.

The references are the NumPy estimator and the NumPy objective (itself tested against scipy and
finite differences): probabilities within 1e-6 (float64) / 1e-4 (float32), the objective's
value, gradient, certificate and Hessian to rounding. ``array-api-strict`` (the test extra)
always; PyTorch where it is installed, on CUDA where a GPU is.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._array_api._device import DeviceObjective
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet

if os.environ.get("SCIPY_ARRAY_API") != "1":  # conftest.py sets it; a bare import of this file may not
    pytest.skip("SCIPY_ARRAY_API=1 is needed for array API dispatch", allow_module_level=True)


def namespaces():
    yield pytest.param("array_api_strict", None, id="array_api_strict")
    try:
        import torch
    except ImportError:
        yield pytest.param(
            "torch", "cpu", id="torch-cpu", marks=pytest.mark.skip(reason="PyTorch not installed")
        )
        return
    yield pytest.param("torch", "cpu", id="torch-cpu")
    if torch.cuda.is_available():
        yield pytest.param("torch", "cuda", id="torch-cuda")


def on(name, device):
    """The namespace module and a function moving NumPy arrays to it, on ``device``."""
    xp = pytest.importorskip(name)
    if name == "array_api_strict":
        return xp, lambda array: xp.asarray(array)
    return xp, lambda array: xp.asarray(array, device=device)


def host(array):
    return np.asarray(sklearn.utils._array_api.move_to(array, xp=np, device="cpu"))


def data(n_classes=3, dtype=np.float64, n_samples=400):
    X, y = make_classification(n_samples, 8, n_informative=5, n_classes=n_classes, random_state=0)
    return StandardScaler().fit_transform(X).astype(dtype), y


@pytest.mark.parametrize(("name", "device"), list(namespaces()))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_full_batch_fit_on_the_device_matches_numpy(name, device, dtype, n_classes):
    _, to = on(name, device)
    X, y = data(n_classes, dtype)
    reference = MaxEntClassifier(alpha=1e-2).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        clf = MaxEntClassifier(alpha=1e-2).fit(to(X), to(y))
        proba = clf.predict_proba(to(X))
        assert type(proba) is type(to(X))
        for name_ in ("coef_", "intercept_", "class_count_", "classes_"):
            assert type(getattr(clf, name_)) is type(to(X)), name_
        assert clf.coef_.dtype == to(X).dtype  # float32 stays float32
        labels = clf.predict(to(X))
        log_proba = clf.predict_log_proba(to(X))
        scores = clf.decision_function(to(X))
        accuracy = clf.score(to(X), to(y))
    tolerance = 1e-6 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(host(proba), reference.predict_proba(X), atol=tolerance)
    np.testing.assert_allclose(host(log_proba), reference.predict_log_proba(X), atol=tolerance * 10)
    np.testing.assert_allclose(host(scores), reference.decision_function(X), atol=tolerance * 10)
    np.testing.assert_array_equal(host(labels), reference.predict(X))
    assert accuracy == pytest.approx(reference.score(X, y))
    assert clf.duality_gap_ <= clf.tol


def test_the_passes_run_on_the_device(monkeypatch):
    """solver='auto' on device data runs its passes through DeviceObjective, never on a NumPy X."""
    import sklearn_maxent._array_api._namespace as array_api

    calls = []

    class Counting(DeviceObjective):
        def data_loss_gradient(self, coef, intercept):
            calls.append(type(self.X).__module__)
            return super().data_loss_gradient(coef, intercept)

    monkeypatch.setattr(array_api, "DeviceObjective", Counting)
    _, to = on("array_api_strict", None)
    X, y = data(3, n_samples=20_000)  # large enough for auto's SAGA phase on NumPy
    with sklearn.config_context(array_api_dispatch=True):
        MaxEntClassifier(alpha=1e-3).fit(to(X), to(y))
    assert calls
    assert set(calls) == {type(to(X)).__module__}


def test_predicting_on_another_namespace_says_so():
    _, to = on("array_api_strict", None)
    X, y = data(3)
    with sklearn.config_context(array_api_dispatch=True):
        clf = MaxEntClassifier().fit(to(X), to(y))
        with pytest.raises(ValueError, match="same namespace"):
            clf.predict(X)


@pytest.mark.parametrize("reference_class", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_device_objective_equals_the_numpy_objective(reference_class, fit_intercept, l1_ratio):
    _, to = on("array_api_strict", None)
    n_classes = 2 if reference_class else 4
    X, y = data(n_classes)
    targets = np.eye(n_classes)[y]
    row_weights = np.random.default_rng(0).uniform(0.2, 2.0, X.shape[0])
    penalty = ElasticNet(1e-2, l1_ratio)
    numpy_objective = Objective(X, targets, row_weights, penalty, fit_intercept, reference_class)
    with sklearn.config_context(array_api_dispatch=True):
        device_objective = DeviceObjective(
            to(X), to(targets), to(row_weights), penalty, fit_intercept, reference_class
        )
        rng = np.random.default_rng(1)
        coef = rng.normal(size=numpy_objective.parameter_shape) * 0.3
        intercept = rng.normal(size=coef.shape[1]) * 0.3
        direction = rng.normal(size=coef.shape), rng.normal(size=coef.shape[1])
        for expected, got in zip(
            numpy_objective.smooth_value_gradient(coef, intercept),
            device_objective.smooth_value_gradient(coef, intercept),
            strict=True,
        ):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            device_objective.certified_gap(coef, intercept),
            numpy_objective.certified_gap(coef, intercept),
            rtol=1e-10,
        )
        numpy_product, *numpy_diagonal = numpy_objective.hessian_product_and_diagonal(coef, intercept)
        device_product, *device_diagonal = device_objective.hessian_product_and_diagonal(coef, intercept)
        for expected, got in zip(
            [*numpy_product(*direction), *numpy_diagonal],
            [*device_product(*direction), *device_diagonal],
            strict=True,
        ):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_dispatch_off_imports_no_other_namespace():
    code = (
        "import sys; import numpy as np; from sklearn_maxent import MaxEntClassifier;"
        "X = np.random.default_rng(0).normal(size=(50, 3));"
        "MaxEntClassifier().fit(X, X[:, 0] > 0).predict(X);"
        "print(sorted(m for m in ('torch', 'array_api_strict', 'cupy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_refit_follows_the_new_input_and_a_stream_keeps_its_namespace():
    _, to = on("array_api_strict", None)
    X, y = data(3)
    with sklearn.config_context(array_api_dispatch=True):
        clf = MaxEntClassifier().fit(to(X), to(y))
        clf.fit(X, y)  # a new fit on NumPy input: NumPy attributes
        assert isinstance(clf.coef_, np.ndarray)
        clf.fit(to(X), to(y))
        assert type(clf.coef_) is type(to(X))
        stream = MaxEntClassifier().partial_fit(to(X), to(y), classes=[0, 1, 2])
        with pytest.raises(ValueError, match="same namespace"):
            stream.partial_fit(X, y)
        warm = MaxEntClassifier(warm_start=True).fit(to(X), to(y))
        with pytest.raises(ValueError, match="same namespace"):
            warm.fit(X, y)
    with pytest.raises(ValueError, match="array_api_dispatch=True"):  # dispatch turned off since
        stream.partial_fit(X, y)
