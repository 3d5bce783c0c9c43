"""The compiled epoch on two threads gives bitwise the results of one.

The kernel splits each minibatch's rows (scores, residuals, losses) and its
features (the gradient rows, the catch-up, the step) between its threads;
each row and each weight row is computed whole by one thread in the
one-thread order, and sums over rows are taken on one thread. So every
array and scalar an epoch leaves must be equal to the bit, whatever the
number of threads: on CSR float32 and float64, SGD and SAGA, with and
without intercept, and in the configurations that take other paths
(L1, penalty factors, bounds, averaging, AdaGrad). On two threads the kernel
runs some minibatches on one (its timed probes, and where one was faster):
the bits cannot depend on that either. ``test_epoch_kernel.py`` runs its
main comparisons with the NumPy reference on one and on two threads.
"""

import dataclasses

import epoch_runs
import numpy as np
import pytest
import threadpoolctl
from scipy import sparse
from test_epoch_kernel import ADAGRAD, EPOCHS, PENALTIES, boxed, make_objective, with_factor

from sklearn_maxent._kernels import epoch as kernel
from sklearn_maxent._optim import SGDState, StepSchedule, _epochs

N_FEATURES = 300


def state_arrays(state):
    """Everything a state carries after epochs, by name: its scalars and arrays (SAGA's memory,
    the iterate average, AdaGrad's sums, the L1 ledger)."""
    values = {}
    for field in dataclasses.fields(state):
        value = getattr(state, field.name)
        if dataclasses.is_dataclass(value):
            values.update({f"{field.name}.{name}": item for name, item in state_arrays(value).items()})
        elif isinstance(value, np.ndarray | int | float) or value is None:
            values[field.name] = value
    return values


def run_on_threads(n_threads, monkeypatch, method, objective, make_state, batch_size):
    """Three epochs of ``method`` on ``n_threads`` threads: coef, intercept, losses, the state's values."""
    monkeypatch.setattr(_epochs, "_n_threads", lambda objective, batch_size: n_threads)
    epoch = ADAGRAD[0] if method == "adagrad" else EPOCHS[method][0]
    state = make_state()
    coef, intercept, losses = epoch_runs.run_epochs(
        epoch, objective, state, batch_size=batch_size, saga=method == "saga"
    )
    return {"coef": coef, "intercept": intercept, "losses": np.array(losses), **state_arrays(state)}


def assert_bitwise_equal(actual, expected):
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        assert np.array_equal(actual[name], value), name


# Each configuration: the penalty (of a problem with n_free free classes) and the schedule.
CONFIGURATIONS = {
    "l2": (lambda n_free: PENALTIES["l2"], lambda: SGDState(StepSchedule("invscaling", 0.3, power_t=0.3))),
    "l2-constant": (lambda n_free: PENALTIES["l2"], lambda: SGDState(StepSchedule("constant", 0.3))),
    "scale-folds": (lambda n_free: PENALTIES["scale-folds"], lambda: SGDState(StepSchedule("constant", 1.0))),
    "elastic-net": (lambda n_free: PENALTIES["elastic-net"], lambda: SGDState(StepSchedule("constant", 0.3))),
    "factors": (
        lambda n_free: with_factor(PENALTIES["elastic-net"], N_FEATURES),
        lambda: SGDState(StepSchedule("constant", 0.3)),
    ),
    "bounds": (
        lambda n_free: boxed(PENALTIES["elastic-net"], (N_FEATURES, n_free)),
        lambda: SGDState(StepSchedule("constant", 0.3)),
    ),
}


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_threads_give_the_bits_of_one(dtype, method, fit_intercept, configuration, monkeypatch):
    n_classes = 5
    penalty, make_state = CONFIGURATIONS[configuration]
    objective = make_objective(
        dtype, sparse.csr_matrix, penalty(n_classes), n_classes, fit_intercept, n=300, d=N_FEATURES, seed=4
    )
    runs = [run_on_threads(n, monkeypatch, method, objective, make_state, 32) for n in (1, 2, 1)]
    assert_bitwise_equal(runs[1], runs[0])
    assert_bitwise_equal(runs[2], runs[0])  # and the one-thread run is itself repeatable


@pytest.mark.parametrize("method", ["sgd", "adagrad"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_averaging_and_adagrad_on_two_threads(container, method, monkeypatch):
    """Plain SGD's other paths: averaging from the middle of the first epoch, AdaGrad's per-row steps."""
    penalty = PENALTIES["elastic-net"]
    objective = make_objective(np.float64, container, penalty, 4, n=300, d=N_FEATURES, seed=5)
    if method == "adagrad":
        make_state = lambda: SGDState(StepSchedule("adagrad", 0.5))  # noqa: E731
    else:
        make_state = lambda: SGDState(StepSchedule("constant", 0.3), average_start=150)  # noqa: E731
    runs = [run_on_threads(n, monkeypatch, method, objective, make_state, 32) for n in (1, 2)]
    assert_bitwise_equal(runs[1], runs[0])


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("n_threads", [2, 3, 7])
def test_more_threads_than_the_minibatch_has_rows(n_threads, batch_size, monkeypatch):
    """Threads with no rows or features of their own (1 or 3 rows a minibatch, up to 7 threads) change
    nothing; 97 minibatches an epoch go through more than one period of the kernel's probes."""
    objective = make_objective(np.float64, sparse.csr_matrix, PENALTIES["l2"], 3)
    make_state = lambda: SGDState(StepSchedule("constant", 0.3))  # noqa: E731
    runs = [run_on_threads(n, monkeypatch, "saga", objective, make_state, batch_size) for n in (1, n_threads)]
    assert_bitwise_equal(runs[1], runs[0])


def test_threads_by_minibatch_size():
    """Sparse minibatches of fewer than MIN_ENTRIES_PER_THREAD entries (non-zeros times free classes)
    a thread run on fewer threads; dense minibatches on one (their products are BLAS's)."""
    objective = make_objective(np.float64, sparse.csr_matrix, PENALTIES["l2"], 5, n=2000, d=N_FEATURES)
    entries_per_row = objective.X.nnz / objective.n_samples * objective.parameter_shape[1]
    assert 2000 * entries_per_row > 2 * kernel.MIN_ENTRIES_PER_THREAD
    assert 256 * entries_per_row < kernel.MIN_ENTRIES_PER_THREAD
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        assert _epochs._n_threads(objective, 2000) == 2
        assert _epochs._n_threads(objective, 256) == 1
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _epochs._n_threads(objective, 2000) == 1
    dense = make_objective(np.float64, np.asarray, PENALTIES["l2"], 5, n=2000, d=N_FEATURES)
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        assert _epochs._n_threads(dense, 2000) == 1
