"""The SGD and SAGA epochs on arrays of other namespaces (``_device_epochs``) against the compiled kernel.

Both run through ``_optim._epochs`` (which picks the device epoch for a
``DeviceObjective``) on the same data, row orders and starting state, for
several epochs in a row; everything they carry must agree: float64 to 1e-10,
float32 to 1e-4 (relative to the largest entry). Then the estimator: its
minibatch fits and ``partial_fit`` on device arrays equal the NumPy ones
given the same ``random_state`` (probabilities within 1e-6 / 1e-4), and
their epochs see only device arrays. ``array-api-strict`` always, PyTorch's
CPU where it is installed.
"""

import os

import epoch_runs
import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
from sklearn.utils._array_api import move_to

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._array_api._device import DeviceObjective
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import SGDState, StepSchedule, _device_epochs, _epochs
from sklearn_maxent._optim._epochs import _saga_epoch, _sgd_epoch
from sklearn_maxent._optim._steps import default_step

if os.environ.get("SCIPY_ARRAY_API") != "1":  # conftest.py sets it; a bare import of this file may not
    pytest.skip("SCIPY_ARRAY_API=1 is needed for array API dispatch", allow_module_level=True)

EPOCHS = {"sgd": _sgd_epoch, "saga": _saga_epoch}
PENALTIES = {
    "l2": ElasticNet(0.01, 0.0),
    "elastic-net": ElasticNet(0.01, 0.5),
    "l1": ElasticNet(0.01, 1.0),
    "none": ElasticNet(0.0, 0.0),
    # The step at its cap 1 / (2 l2): the kernel folds its lazy scale every 30 steps.
    "scale-folds": ElasticNet(1.0, 0.0),
}
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def namespaces():
    yield pytest.param("array_api_strict", id="array_api_strict")
    try:
        import torch  # noqa: F401
    except ImportError:
        yield pytest.param("torch", id="torch-cpu", marks=pytest.mark.skip(reason="PyTorch not installed"))
        return
    yield pytest.param("torch", id="torch-cpu")


@pytest.fixture(params=list(namespaces()))
def to_device(request):
    """A function moving NumPy arrays to the namespace (on its CPU), with dispatch on."""
    xp = pytest.importorskip(request.param)
    with sklearn.config_context(array_api_dispatch=True):
        yield xp.asarray


def host(array):
    return np.asarray(move_to(array, xp=np, device="cpu"))


def objectives(to_device, dtype, penalty, n_classes, fit_intercept=True, n=97, d=30, seed=0):
    """The NumPy objective and its device twin on sparse-ish data, soft targets, uneven sample weights."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * (rng.uniform(size=(n, d)) < 0.3)).astype(dtype)
    targets = rng.dirichlet(np.ones(n_classes), n).astype(dtype)
    numpy_objective = Objective(X, targets, rng.uniform(0.2, 3.0, n), penalty, fit_intercept, n_classes == 2)
    device_objective = DeviceObjective(
        to_device(X),
        to_device(targets),
        to_device(numpy_objective.row_weights),
        penalty,
        fit_intercept,
        n_classes == 2,
    )
    return numpy_objective, device_objective


def run_epochs(method, objective, state, n_epochs=3, batch_size=8):
    """``n_epochs`` epochs of ``method`` from zero weights (:func:`epoch_runs.run_epochs`)."""
    return epoch_runs.run_epochs(
        EPOCHS[method], objective, state, n_epochs, batch_size, saga=method == "saga"
    )


def assert_close(actual, expected, dtype, scale=None):
    epoch_runs.assert_close(actual, expected, TOLERANCE[dtype], scale)


def assert_same_run(objectives, make_state, method, n_epochs=3, batch_size=8):
    """The kernel and the device epoch, from equal states, end in equal states; returns both."""
    numpy_objective, device_objective = objectives
    rtol = TOLERANCE[numpy_objective.dtype.type]
    kernel_state, device_state = make_state(), make_state()
    expected = run_epochs(method, numpy_objective, kernel_state, n_epochs, batch_size)
    coef, intercept, losses = run_epochs(method, device_objective, device_state, n_epochs, batch_size)
    epoch_runs.assert_same_results((coef, intercept, losses), expected, rtol)
    epoch_runs.assert_same_states(device_state, kernel_state, rtol, to_numpy=host)
    if kernel_state.memory is not None:
        for name in ("residuals", "average", "average_intercept"):  # SAGA's memory stays on the device
            assert type(getattr(device_state.memory, name)) is type(device_objective.X)
    return (device_state, coef, intercept), (kernel_state, *expected[:2])


@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_epochs_equal_the_kernel(to_device, dtype, method, penalty, n_classes):
    pair = objectives(to_device, dtype, PENALTIES[penalty], n_classes)
    eta0 = 1.0 if penalty == "scale-folds" else 0.3
    assert_same_run(pair, lambda: SGDState(StepSchedule("invscaling", eta0, power_t=0.3)), method)


@pytest.mark.parametrize("average_start", [1, 150], ids=["from-the-start", "mid-epoch"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "scale-folds"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_average_equals_the_kernel(to_device, dtype, penalty, average_start):
    """Averaging from the first step, or from one in the middle of the second epoch (97 rows an epoch)."""
    pair = objectives(to_device, dtype, PENALTIES[penalty], 3)
    (device_state, *device_model), (kernel_state, *kernel_model) = assert_same_run(
        pair, lambda: SGDState(StepSchedule("constant", 0.3), average_start=average_start), "sgd"
    )
    assert device_state.average.count == kernel_state.average.count > 0
    for got, expected in zip(
        device_state.average.mean(*device_model), kernel_state.average.mean(*kernel_model), strict=True
    ):
        assert_close(got, expected, dtype)


@pytest.mark.parametrize("method", EPOCHS)
def test_device_epochs_without_intercept_on_hard_labels(to_device, method):
    numpy_objective, device_objective = objectives(to_device, np.float64, PENALTIES["elastic-net"], 3, False)
    hard = np.eye(3)[numpy_objective.targets.argmax(axis=1)]
    numpy_objective.targets, device_objective.targets = hard, to_device(hard)
    (_, _, intercept), _ = assert_same_run(
        (numpy_objective, device_objective), lambda: SGDState(StepSchedule("constant", 0.3)), method
    )
    np.testing.assert_array_equal(intercept, 0)


@pytest.mark.parametrize("batch_size", [1, 13, 97, 200])
@pytest.mark.parametrize("method", EPOCHS)
def test_device_epochs_on_batch_sizes_that_do_not_divide_the_rows(to_device, method, batch_size):
    pair = objectives(to_device, np.float64, PENALTIES["l2"], 3)
    assert_same_run(pair, lambda: SGDState(StepSchedule("constant", 0.1)), method, batch_size=batch_size)


@pytest.mark.parametrize("average_start", [None, 1], ids=["iterate", "averaged"])
@pytest.mark.parametrize("batch_size", [1, 13])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_optimal_schedule_and_its_weighted_average_equal_the_kernel(
    to_device, dtype, batch_size, average_start
):
    """``"optimal"``'s steps, ``rows eta0 / (1 + seen / t0)``, and its average, whose iterate after
    ``s`` samples weighs ``s ** 4``."""
    pair = objectives(to_device, dtype, PENALTIES["l2"], 3)
    make_state = lambda: SGDState(StepSchedule("optimal", 0.03, t0=50.0), average_start=average_start)  # noqa: E731
    (device_state, *device_model), (kernel_state, *kernel_model) = assert_same_run(
        pair, make_state, "sgd", batch_size=batch_size
    )
    if average_start is None:
        return
    assert device_state.average.count == pytest.approx(kernel_state.average.count, rel=1e-12)
    for got, expected in zip(
        device_state.average.mean(*device_model), kernel_state.average.mean(*kernel_model), strict=True
    ):
        assert_close(got, expected, dtype)


@pytest.mark.parametrize("method", EPOCHS)
def test_device_epochs_report_a_step_that_blows_the_loss_up(to_device, method):
    """A huge step: both give None (the DIVERGED status); a moderate one does not."""
    for eta0, blows_up in ((1e8, True), (0.1, False)):
        for objective in objectives(to_device, np.float64, PENALTIES["none"], 3):
            losses = run_epochs(method, objective, SGDState(StepSchedule("constant", eta0)), n_epochs=2)[2]
            assert (None in losses) == blows_up


@pytest.mark.parametrize("method", EPOCHS)
def test_device_epochs_back_off_when_the_previous_steps_blew_the_loss_up(to_device, method):
    """A first minibatch far above the previous loss (STALE_REFERENCE): the step is made ten times smaller.

    (The first loss is log(10), over twice the previous 1e-3 plus one nat.)
    """

    def state_after_a_blow_up():
        state = SGDState(StepSchedule("constant", 3.0))
        state.data_loss = 1e-3
        return state

    pair = objectives(to_device, np.float64, PENALTIES["l2"], 10)
    (device_state, *_), _ = assert_same_run(pair, state_after_a_blow_up, method, n_epochs=1)
    assert device_state.schedule.eta0 == pytest.approx(0.3)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_step_size_is_estimated_where_the_data_live(to_device, dtype, fit_intercept):
    """default_step (row norms and the power iteration on a 2,000-row subsample) as on NumPy."""
    numpy_objective, device_objective = objectives(
        to_device, dtype, PENALTIES["l2"], 3, fit_intercept, n=2_500, d=20
    )
    expected = default_step(numpy_objective, 64, np.random.RandomState(0))
    assert default_step(device_objective, 64, np.random.RandomState(0)) == pytest.approx(
        expected, rel=TOLERANCE[dtype]
    )


# ---------------------------------------------------------------- the estimator

MINIBATCH_FITS = {
    "sgd": {"solver": "sgd"},
    "saga": {"solver": "saga"},
    "averaged-sgd": {"solver": "sgd", "average": True},
    "elastic-net-sgd": {"solver": "sgd", "l1_ratio": 0.5},
    "saga-without-intercept": {"solver": "saga", "fit_intercept": False},
    "early-stopping": {"early_stopping": True},
}


def data(n_classes, dtype=np.float64, n_samples=400):
    X, y = make_classification(n_samples, 8, n_informative=5, n_classes=n_classes, random_state=0)
    return StandardScaler().fit_transform(X).astype(dtype), y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("fit", MINIBATCH_FITS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minibatch_fit_on_the_device_matches_numpy(to_device, dtype, n_classes, fit):
    """The same random_state, the same fit: probabilities within 1e-6 (float64) / 1e-4 (float32)."""
    X, y = data(n_classes, dtype)
    params = {"alpha": 1e-2, "random_state": 0, **MINIBATCH_FITS[fit]}
    if dtype == np.float32:
        # Stopping rules compare float32 losses a few roundings apart, which the two
        # paths round differently (averaged SGD on 3 classes stopped after 109
        # epochs on NumPy, 110 on the device): a fixed number of epochs instead.
        params.update(tol=None, max_iter=30)
    reference = MaxEntClassifier(**params).fit(X, y)
    clf = MaxEntClassifier(**params).fit(to_device(X), to_device(y))
    proba = clf.predict_proba(to_device(X))
    for name in ("coef_", "intercept_", "class_count_", "classes_"):
        assert type(getattr(clf, name)) is type(to_device(X)), name
    assert clf.coef_.dtype == to_device(X).dtype  # float32 stays float32
    tolerance = 1e-6 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(host(proba), reference.predict_proba(X), atol=tolerance)
    np.testing.assert_allclose(
        host(clf.expectation_gap(to_device(X), to_device(y))), reference.expectation_gap(X, y), atol=tolerance
    )


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_partial_fit_on_the_device_matches_numpy(to_device, dtype, average):
    """A stream of three chunks: the SGD state (step count, schedule, average) carries between calls."""
    X, y = data(3, dtype, n_samples=600)
    reference, clf = (MaxEntClassifier(random_state=0, average=average) for _ in range(2))
    for chunk in np.array_split(np.arange(X.shape[0]), 3):
        reference.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        clf.partial_fit(to_device(X[chunk]), to_device(y[chunk]), classes=[0, 1, 2])
    assert clf.t_ == reference.t_
    assert type(clf.coef_) is type(to_device(X))
    tolerance = 1e-6 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(
        host(clf.predict_proba(to_device(X))), reference.predict_proba(X), atol=tolerance
    )


@pytest.fixture
def epochs_seen(monkeypatch):
    """The namespaces of the data each device epoch was given; the compiled kernel must not run."""
    seen = []
    run_epoch = _device_epochs.run_epoch

    def spy(X, targets, row_weights, *args):
        memory = args[-1]
        seen.append({type(array).__module__ for array in (X, targets, row_weights, *(memory or ()))})
        return run_epoch(X, targets, row_weights, *args)

    def kernel_data(objective):
        raise AssertionError(f"the compiled kernel ran on {type(objective.X)}")

    monkeypatch.setattr(_device_epochs, "run_epoch", spy)
    monkeypatch.setattr(_epochs, "_kernel_data", kernel_data)
    return seen


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("fit", MINIBATCH_FITS)
def test_the_epochs_see_only_device_arrays(to_device, epochs_seen, fit):
    X, y = data(3)
    MaxEntClassifier(random_state=0, max_iter=5, **MINIBATCH_FITS[fit]).fit(to_device(X), to_device(y))
    MaxEntClassifier(random_state=0).partial_fit(to_device(X), to_device(y), classes=[0, 1, 2])
    assert epochs_seen
    assert all(modules == {type(to_device(X)).__module__} for modules in epochs_seen)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("option", ["penalty_factor", "bounds", "coef_prior", "offset", "adagrad"])
def test_what_the_device_epochs_do_not_know_runs_on_the_host(to_device, monkeypatch, option):
    """Penalty factors, bounds, a prior, an offset or AdaGrad keep the NumPy objective and the kernel."""
    monkeypatch.setattr(_device_epochs, "run_epoch", None)  # calling it would fail
    X, y = data(3)
    params = {
        "penalty_factor": {"penalty_factor": np.full(X.shape[1], 2.0)},
        "bounds": {"bounds": (-1.0, 1.0)},
        "coef_prior": {"coef_prior": np.full((3, X.shape[1]), 0.1)},
        "offset": {},
        "adagrad": {"learning_rate": "adagrad"},
    }[option]
    fit_params = {"offset": np.zeros((len(y), 3))} if option == "offset" else {}
    solver = "sgd" if option == "adagrad" else "saga"  # AdaGrad steps plain SGD
    clf = MaxEntClassifier(solver=solver, random_state=0, max_iter=5, **params)
    clf.fit(to_device(X), to_device(y), **fit_params)
    assert type(clf.coef_) is type(to_device(X))
    clf.partial_fit(to_device(X), to_device(y), **fit_params)
    assert type(clf.coef_) is type(to_device(X))
