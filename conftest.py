"""Collection of the package's doctests.

The optional integrations are imported only when their extra is installed, so ``pytest``
without the extras skips them instead of erroring (the ``test`` extra installs them all, so CI
runs them). ``SCIPY_ARRAY_API=1`` is set for the whole run (see below). The Dask estimator's
examples run against a small in-process cluster, with ``X``, ``y`` (dask arrays),
``X_numpy`` and a fitted ``clf`` in their namespace.
"""

import importlib.util
import os

import pytest

# scikit-learn's array API dispatch needs scipy's, which is read when scipy is first imported:
# set here, before any test imports it, so that the array API checks of check_estimator and
# tests/test_array_api.py run (they skip without it). NumPy input behaves the same either way.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

OPTIONAL_MODULES = {"sklearn_maxent/dask.py": "distributed", "sklearn_maxent/onnx.py": "skl2onnx"}

collect_ignore = [path for path, needs in OPTIONAL_MODULES.items() if importlib.util.find_spec(needs) is None]


@pytest.fixture(scope="session")
def dask_example():
    """An in-process cluster, seeded data generated on it, and a model fitted there."""
    import dask.array as da
    from distributed import Client, LocalCluster

    from sklearn_maxent.dask import DaskMaxEntClassifier

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        X = da.random.default_rng(0).standard_normal((2_000, 5), chunks=(500, 5))
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        clf = DaskMaxEntClassifier(alpha=1e-3).fit(X, y)
        yield {"X": X, "y": y, "X_numpy": X[:4].compute(), "clf": clf}


@pytest.fixture(autouse=True)
def _dask_doctest_namespace(request):
    """Give the doctests of ``sklearn_maxent.dask`` the objects of :func:`dask_example`."""
    if type(request.node).__name__ == "DoctestItem" and request.node.name.startswith("sklearn_maxent.dask."):
        request.getfixturevalue("doctest_namespace").update(request.getfixturevalue("dask_example"))
