"""Input of other array namespaces (the array API): where a fit and a prediction run.

With scikit-learn's ``array_api_dispatch`` on (``SCIPY_ARRAY_API=1`` in the
environment, then ``sklearn.set_config(array_api_dispatch=True)``) and dense
``X`` of another namespace (PyTorch, CuPy, ``array-api-strict``), the
estimator keeps its fitted arrays (``coef_``, ``intercept_``,
``class_count_``, numeric ``classes_``) in that namespace and on ``X``'s
device, and predicts there: the scores are one matrix product. Fitting runs on
the device too: the full-batch solvers' passes (:mod:`~sklearn_maxent._array_api._device`)
and the SGD and SAGA epochs of ``solver="sgd"``, ``"saga"``,
``early_stopping`` and ``partial_fit`` (:mod:`~sklearn_maxent._optim._device_epochs`;
``solver="auto"`` runs as ``"lbfgs"`` there); validation and label encoding
run on a NumPy copy. With dispatch off nothing here is used, and no namespace
but NumPy is imported.

The estimators import it; of the package it imports only :mod:`._device`.
"""

from contextlib import contextmanager

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.utils._array_api import (
    _is_numpy_namespace,
    check_same_namespace,
    get_namespace_and_device,
    move_to,
)

from ._device import DeviceObjective

# The fitted arrays that live in the input's namespace (``classes_`` only when numeric).
FITTED_ARRAYS = ("coef_", "intercept_", "class_count_", "classes_")


def input_namespace(X):
    """``(xp, device)`` of ``X`` when dispatch is on and ``X`` is a non-NumPy array; None otherwise."""
    if not get_config()["array_api_dispatch"] or sparse.issparse(X):
        return None
    xp, is_array_api, device = get_namespace_and_device(X)
    if not is_array_api or _is_numpy_namespace(xp):
        return None
    return xp, device


def to_host(*arrays):
    """The arrays as NumPy arrays on the CPU (None stays None; lists and NumPy arrays pass)."""
    moved = []
    for array in arrays:
        if array is None or isinstance(array, (np.ndarray, list, tuple)) or sparse.issparse(array):
            moved.append(array)
        else:
            moved.append(move_to(array, xp=np, device="cpu"))
    return moved


def _movable(name, value):
    return isinstance(value, np.ndarray) and (name != "classes_" or value.dtype.kind in "biuf")


def fitted_to(estimator, xp, device):
    """Move the estimator's fitted NumPy arrays to ``xp`` on ``device``."""
    for name in FITTED_ARRAYS:
        value = getattr(estimator, name, None)
        if _movable(name, value):
            setattr(estimator, name, move_to(value, xp=xp, device=device))


def _device_arrays(estimator):
    """The fitted arrays that are not NumPy arrays (nor sparse matrices), by name."""
    return {
        name: value
        for name in FITTED_ARRAYS
        if hasattr(value := getattr(estimator, name, None), "shape")
        and not isinstance(value, np.ndarray)
        and not sparse.issparse(value)
    }


def _dispatch_off_error(estimator):
    return ValueError(
        f"{type(estimator).__name__} was fitted on arrays of another namespace (array API dispatch on); "
        "turn sklearn.set_config(array_api_dispatch=True) on again, or move it to NumPy with "
        "sklearn.utils._array_api.move_estimator_to(estimator, numpy, 'cpu')."
    )


def check_fitted_namespace(estimator, X, method):
    """Raise a ``ValueError`` where ``method`` would continue from fitted arrays not in ``X``'s namespace."""
    if not hasattr(estimator, "coef_"):
        return
    if get_config()["array_api_dispatch"]:
        check_same_namespace(X, estimator, attribute="coef_", method=method)
    elif _device_arrays(estimator):
        raise _dispatch_off_error(estimator)


@contextmanager
def fitted_on_host(estimator, then=None):
    """The fitted arrays as NumPy arrays within the block; after it, in ``then`` (``(xp, device)``).

    Without ``then`` they go back to the namespace and device they were in.
    If the block raises, the arrays it found are put back as they were.
    """
    found = {name: getattr(estimator, name) for name in FITTED_ARRAYS if hasattr(estimator, name)}
    device_arrays = _device_arrays(estimator)
    if device_arrays and not get_config()["array_api_dispatch"]:
        raise _dispatch_off_error(estimator)
    if device_arrays:
        xp, _, device = get_namespace_and_device(*device_arrays.values())
        then = then or (xp, device)
        for name, value in device_arrays.items():
            setattr(estimator, name, move_to(value, xp=np, device="cpu"))
    try:
        yield
    except BaseException:
        for name, value in found.items():
            setattr(estimator, name, value)
        raise
    if then is not None:
        fitted_to(estimator, *then)


def on_device_objective(objective, xp, device, X, rows=None):
    """``objective`` (built on a NumPy copy of ``X`` or of its ``rows``) as a DeviceObjective on them.

    ``objective`` itself (the fit then runs on the NumPy copy) where the
    device code does not cover it: a per-row score offset, per-feature
    penalty factors or bounds on the weights, which only the NumPy objective
    and the compiled epoch know.
    """
    penalty = objective.penalty
    if objective.offset is not None or penalty.factor is not None or penalty.bounded:
        return objective
    if rows is not None:
        X = xp.take(X, xp.asarray(rows, device=device), axis=0)
    X = xp.astype(X, xp.float32 if objective.dtype == np.float32 else xp.float64)
    targets, row_weights = move_to(objective.targets, objective.row_weights, xp=xp, device=device)
    return DeviceObjective(
        X, targets, row_weights, objective.penalty, objective.fit_intercept, objective.reference_class
    )
