"""The compiled SGD and SAGA epochs against the NumPy reference epochs, on the same row orders.

``_optim._epochs`` runs each epoch as one call of the Cython kernel;
``tests/reference_epochs.py`` keeps the NumPy epochs it replaced. Both run
several epochs in a row from the same state, and everything they carry must
agree: float64 to 1e-12 (relative to the largest entry), float32 to 1e-5;
the main comparisons on one thread and on two.
With per-feature penalty factors and AdaGrad the reference steps every weight
row at every step, so there the tests also check the kernel's lazy catch-up
of the rows a minibatch does not touch.
"""

import epoch_runs
import numpy as np
import pytest
import reference_epochs
from scipy import sparse

from sklearn_maxent._kernels import epoch as kernel
from sklearn_maxent._kernels.contract import EpochCounters, EpochSettings
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import SGDState, StepSchedule, _epochs
from sklearn_maxent._optim._epochs import _saga_epoch, _sgd_epoch
from sklearn_maxent._optim._sgd import _model

EPOCHS = {"sgd": (_sgd_epoch, reference_epochs.sgd_epoch), "saga": (_saga_epoch, reference_epochs.saga_epoch)}
# SGD with learning_rate="adagrad": the kernel's epoch is SGD's.
ADAGRAD = (_sgd_epoch, reference_epochs.adagrad_epoch)
PENALTIES = {
    "l2": ElasticNet(0.01, 0.0),
    "elastic-net": ElasticNet(0.01, 0.5),
    "l1": ElasticNet(0.01, 1.0),
    "none": ElasticNet(0.0, 0.0),
    # With the step at its cap 1 / (2 l2) every step halves the lazy scale: it is folded
    # into the weights every 30 steps.
    "scale-folds": ElasticNet(1.0, 0.0),
}
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def n_threads(request, monkeypatch):
    """The test on one thread and on two, whatever the minibatch's size (the kernel splits rows and
    features between its threads; ``test_epoch_threads.py`` checks the bits in every configuration)."""
    monkeypatch.setattr(_epochs, "_n_threads", lambda objective, batch_size: request.param)
    return request.param


def make_objective(
    dtype, container, penalty, n_classes, fit_intercept=True, n=97, d=30, seed=0, offset=False
):
    """Sparse-ish data with soft targets and uneven sample weights (and with ``offset`` score offsets)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * (rng.uniform(size=(n, d)) < 0.3)).astype(dtype)
    targets = rng.dirichlet(np.ones(n_classes), n).astype(dtype)
    weights = rng.uniform(0.2, 3.0, n)
    n_free = n_classes - (n_classes == 2)
    offsets = rng.standard_normal((n, n_free)).astype(dtype) if offset else None
    return Objective(container(X), targets, weights, penalty, fit_intercept, n_classes == 2, offsets)


def run_epochs(epoch, objective, state, n_epochs=3, batch_size=8):
    """``n_epochs`` epochs of ``epoch`` from zero weights (:func:`epoch_runs.run_epochs`)."""
    saga = epoch in (_saga_epoch, reference_epochs.saga_epoch)
    return epoch_runs.run_epochs(epoch, objective, state, n_epochs, batch_size, saga=saga)


def assert_close(actual, expected, dtype, scale=None):
    epoch_runs.assert_close(actual, expected, TOLERANCE[dtype], scale)


def assert_same_run(objective, make_state, method, n_epochs=3, batch_size=8):
    """The kernel and the reference, from equal states, end in equal states."""
    rtol = TOLERANCE[objective.dtype.type]
    kernel_epoch, reference_epoch = ADAGRAD if method == "adagrad" else EPOCHS[method]
    kernel_state, reference_state = make_state(), make_state()
    coef, intercept, losses = run_epochs(kernel_epoch, objective, kernel_state, n_epochs, batch_size)
    expected = run_epochs(reference_epoch, objective, reference_state, n_epochs, batch_size)
    epoch_runs.assert_same_results((coef, intercept, losses), expected, rtol)
    epoch_runs.assert_same_states(kernel_state, reference_state, rtol)
    return (kernel_state, coef, intercept), (reference_state, *expected[:2])


@pytest.mark.usefixtures("n_threads")
@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_epochs_equal_the_reference(dtype, container, method, penalty, n_classes):
    objective = make_objective(dtype, container, PENALTIES[penalty], n_classes)
    eta0 = 1.0 if penalty == "scale-folds" else 0.3
    assert_same_run(objective, lambda: SGDState(StepSchedule("invscaling", eta0, power_t=0.3)), method)


@pytest.mark.usefixtures("n_threads")
@pytest.mark.parametrize("average_start", [1, 150], ids=["from-the-start", "mid-epoch"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "scale-folds"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_average_equals_the_reference(dtype, container, penalty, average_start):
    """Averaging from the first step, or from one in the middle of the second epoch (97 rows an epoch)."""
    objective = make_objective(dtype, container, PENALTIES[penalty], 3)
    (kernel_state, *kernel_weights), (reference_state, *reference_weights) = assert_same_run(
        objective, lambda: SGDState(StepSchedule("constant", 0.3), average_start=average_start), "sgd"
    )
    assert kernel_state.average.count == reference_state.average.count > 0
    mean = kernel_state.average.mean(*kernel_weights)
    expected = reference_state.average.mean(*reference_weights)
    assert_close(mean[0], expected[0], dtype)
    assert_close(mean[1], expected[1], dtype)


@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_kernel_without_intercept_on_hard_labels(container, method):
    objective = make_objective(np.float64, container, PENALTIES["elastic-net"], 3, fit_intercept=False)
    objective.targets = np.eye(3)[objective.targets.argmax(axis=1)]
    (_, _, intercept), _ = assert_same_run(objective, lambda: SGDState(StepSchedule("constant", 0.3)), method)
    np.testing.assert_array_equal(intercept, 0)


@pytest.mark.parametrize("batch_size", [1, 13, 97, 200])
@pytest.mark.parametrize("method", EPOCHS)
def test_kernel_on_batch_sizes_that_do_not_divide_the_rows(method, batch_size):
    objective = make_objective(np.float64, sparse.csr_matrix, PENALTIES["l2"], 3)
    assert_same_run(objective, lambda: SGDState(StepSchedule("constant", 0.1)), method, batch_size=batch_size)


@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_kernel_reports_a_step_that_blows_the_loss_up(container, method):
    """A huge step: both epochs give None (the DIVERGED status); a moderate one does not."""
    objective = make_objective(np.float64, container, PENALTIES["none"], 3)
    for eta0, blows_up in ((1e8, True), (0.1, False)):
        for epoch in EPOCHS[method]:
            state = SGDState(StepSchedule("constant", eta0))
            losses = run_epochs(epoch, objective, state, n_epochs=2)[2]
            assert (None in losses) == blows_up


@pytest.mark.parametrize("method", EPOCHS)
def test_kernel_backs_off_when_the_previous_steps_blew_the_loss_up(method):
    """A first minibatch far above the previous epoch's loss: the step is made ten times smaller.

    (The first loss is log(10), over twice the previous 1e-3 plus one nat.)
    """
    objective = make_objective(np.float64, sparse.csr_matrix, PENALTIES["l2"], 10)

    def state_after_a_blow_up():
        state = SGDState(StepSchedule("constant", 3.0))
        state.data_loss = 1e-3
        return state

    (kernel_state, *_), _ = assert_same_run(objective, state_after_a_blow_up, method, n_epochs=1)
    assert kernel_state.schedule.eta0 == pytest.approx(0.3)


def test_kernel_reads_csr_with_int64_indices():
    """CSR from large matrices has int64 indices; the kernel reads them in place."""
    objective = make_objective(np.float64, sparse.csr_matrix, PENALTIES["elastic-net"], 3)
    objective.X.indices = objective.X.indices.astype(np.int64)
    objective.X.indptr = objective.X.indptr.astype(np.int64)
    assert_same_run(objective, lambda: SGDState(StepSchedule("constant", 0.3)), "saga")


@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_adds_the_score_offset(dtype, container, method, n_classes):
    """Row i's free scores get offset[i]; without it the epochs would differ."""
    objective = make_objective(dtype, container, PENALTIES["elastic-net"], n_classes, offset=True)
    make_state = lambda: SGDState(StepSchedule("invscaling", 0.3, power_t=0.3))  # noqa: E731
    (_, coef, _), _ = assert_same_run(objective, make_state, method)
    objective.offset = None
    without = run_epochs(EPOCHS[method][0], objective, make_state())[0]
    assert np.abs(coef - without).max() > 0.1 * np.abs(coef).max()


def boxed(penalty, shape, seed=2):
    """``penalty`` with bounds on each weight drawn from: none, ``>= 0``, ``[-0.05, 0.05]``, and boxes that
    exclude 0 (``>= 0.02``, ``<= -0.02``), which the lazy L2 scale can leave."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 5, shape)
    lower = np.select([kind == 1, kind == 2, kind == 3], [0.0, -0.05, 0.02], -np.inf)
    upper = np.select([kind == 2, kind == 4], [0.05, -0.02], np.inf)
    return ElasticNet(penalty.alpha, penalty.l1_ratio, lower=lower, upper=upper)


def assert_within(coef, penalty):
    """Within the bounds, to their rounding to ``coef``'s dtype (float32 rounds 0.02 down)."""
    lower, upper = (bound.astype(coef.dtype) for bound in (penalty.lower, penalty.upper))
    assert np.all(coef >= lower)
    assert np.all(coef <= upper)


@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "none", "scale-folds"])
@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_projects_into_the_bounds(dtype, container, method, penalty, n_classes):
    """Every touched weight clipped after its step (and on sparse data before its scores); ``W`` feasible.

    (And the bounds matter: without them the epochs end elsewhere.) With L1 on sparse data the
    kernel takes the per-row path, where a changing step is caught up at its mean (tested in
    test_kernel_per_feature_factors_with_a_changing_step): a constant step there.
    """
    n_free = n_classes - (n_classes == 2)
    objective = make_objective(dtype, container, boxed(PENALTIES[penalty], (30, n_free)), n_classes)
    eta0 = 1.0 if penalty == "scale-folds" else 0.3
    kind = "constant" if objective.is_sparse and objective.penalty.has_l1 else "invscaling"
    make_state = lambda: SGDState(StepSchedule(kind, eta0, power_t=0.3))  # noqa: E731
    (_, coef, _), _ = assert_same_run(objective, make_state, method)
    assert_within(coef, objective.penalty)
    objective.penalty = PENALTIES[penalty]
    unbounded = run_epochs(EPOCHS[method][0], objective, make_state())[0]
    assert np.abs(coef - unbounded).max() > 0.1 * np.abs(unbounded).max()


@pytest.mark.parametrize("average_start", [1, 150], ids=["from-the-start", "mid-epoch"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "none"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_kernel_average_within_the_bounds(container, penalty, average_start):
    objective = make_objective(np.float64, container, boxed(PENALTIES[penalty], (30, 3)), 3)
    (kernel_state, *kernel_weights), (reference_state, *reference_weights) = assert_same_run(
        objective, lambda: SGDState(StepSchedule("constant", 0.3), average_start=average_start), "sgd"
    )
    mean = kernel_state.average.mean(*kernel_weights)
    assert_close(mean[0], reference_state.average.mean(*reference_weights)[0], np.float64)
    assert_within(_model(kernel_state, *kernel_weights, objective.penalty)[0], objective.penalty)


def with_factor(penalty, n_features=30, seed=3):
    """``penalty`` with per-feature factors among 0 (unpenalized), 0.5, 1 and 3."""
    factor = np.random.default_rng(seed).choice([0.0, 0.5, 1.0, 3.0], n_features)
    return ElasticNet(penalty.alpha, penalty.l1_ratio, factor, penalty.lower, penalty.upper)


@pytest.mark.usefixtures("n_threads")
@pytest.mark.parametrize("bounded", [False, True], ids=["free", "bounded"])
@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "l1", "scale-folds"])
@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_per_feature_factors_equal_eager_decay(dtype, container, method, penalty, n_classes, bounded):
    """Lazy per-feature L2 decay (and SAGA's mean term) on sparse data equals the reference's eager one.

    The reference decays every row at every step; the kernel catches a sparse row up in
    closed form when next touched: equal for a constant step.
    """
    n_free = n_classes - (n_classes == 2)
    base = boxed(PENALTIES[penalty], (30, n_free)) if bounded else PENALTIES[penalty]
    objective = make_objective(dtype, container, with_factor(base), n_classes)
    eta0 = 1.0 if penalty == "scale-folds" else 0.3
    assert_same_run(objective, lambda: SGDState(StepSchedule("constant", eta0)), method)


@pytest.mark.parametrize("average_start", [1, 150], ids=["from-the-start", "mid-epoch"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_kernel_average_with_per_feature_factors(container, penalty, average_start):
    """The missed iterates of a lazily decayed row enter the average as the eager ones do."""
    objective = make_objective(np.float64, container, with_factor(PENALTIES[penalty]), 3)
    (kernel_state, *kernel_weights), (reference_state, *reference_weights) = assert_same_run(
        objective, lambda: SGDState(StepSchedule("constant", 0.3), average_start=average_start), "sgd"
    )
    assert kernel_state.average.count == reference_state.average.count > 0
    mean = kernel_state.average.mean(*kernel_weights)
    assert_close(mean[0], reference_state.average.mean(*reference_weights)[0], np.float64)


@pytest.mark.parametrize("method", EPOCHS)
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_kernel_per_feature_factors_with_a_changing_step(container, method):
    """``"invscaling"``: exact on dense data; on sparse data a row's missed steps are taken at their
    mean, which is exact to first order in their spread (measured here: 1e-8 of the largest weight
    for SGD, 5e-8 for SAGA, against the eager decay)."""
    objective = make_objective(np.float64, container, with_factor(ElasticNet(0.1, 0.0)), 3)
    make_state = lambda: SGDState(StepSchedule("invscaling", 0.3, power_t=0.5))  # noqa: E731
    kernel_epoch, reference_epoch = EPOCHS[method]
    if container is np.asarray:
        assert_same_run(objective, make_state, method)
        return
    coef = run_epochs(kernel_epoch, objective, make_state())[0]
    expected = run_epochs(reference_epoch, objective, make_state())[0]
    np.testing.assert_allclose(coef, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    assert np.abs(coef - expected).max() > 0


@pytest.mark.usefixtures("n_threads")
@pytest.mark.parametrize("bounded", [False, True], ids=["free", "bounded"])
@pytest.mark.parametrize("factor", [False, True], ids=["uniform", "factors"])
@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "l1", "none"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_adagrad_equals_the_eager_reference(dtype, container, penalty, n_classes, factor, bounded):
    """AdaGrad's per-row steps, sums kept across epochs; the untouched rows' decay and proximal L1
    steps (at their unchanged step) applied lazily by the kernel, eagerly by the reference."""
    n_free = n_classes - (n_classes == 2)
    base = boxed(PENALTIES[penalty], (30, n_free)) if bounded else PENALTIES[penalty]
    objective = make_objective(dtype, container, with_factor(base) if factor else base, n_classes)
    make_state = lambda: SGDState(StepSchedule("adagrad", 0.5))  # noqa: E731
    (kernel_state, *_), _ = assert_same_run(objective, make_state, "adagrad")
    assert kernel_state.adagrad_sums.shape == (31,)
    assert kernel_state.adagrad_sums.min() > 0  # every feature is in some minibatch


@pytest.mark.parametrize("l2_ratio", [0.0, 0.5], ids=["l1", "elastic-net"])
@pytest.mark.parametrize("method", EPOCHS)
def test_kernel_catches_up_proximal_steps_of_rare_features(method, l2_ratio):
    """Rare features miss many steps, along which SAGA's mean term carries a weight across 0 or
    to it (the piecewise catch-up); equal to stepping them eagerly. (Bounds put the fit on the
    proximal path; most weights are free.)"""
    rng = np.random.default_rng(4)
    n, d = 120, 40
    X = rng.standard_normal((n, d)) * (rng.uniform(size=(n, d)) < np.linspace(0.01, 0.3, d))
    targets = np.eye(3)[rng.integers(0, 3, n)]
    lower = np.where(rng.uniform(size=(d, 3)) < 0.1, 0.0, -np.inf)
    penalty = ElasticNet(0.002, 1.0 - l2_ratio, lower=lower)
    objective = Objective(sparse.csr_matrix(X), targets, rng.uniform(0.5, 2.0, n), penalty, True, False)
    make_state = lambda: SGDState(StepSchedule("constant", 0.5))  # noqa: E731
    (_, coef, _), _ = assert_same_run(objective, make_state, method, n_epochs=4, batch_size=4)
    assert (coef == 0).any()


def optimal(eta0=0.03, t0=50.0):
    """The ``"optimal"`` schedule: a row's step ``eta0``, halved after ``t0`` samples (epochs of 97 rows)."""
    return StepSchedule("optimal", eta0, t0=t0)


@pytest.mark.parametrize("batch_size", [1, 8, 13])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "none"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_optimal_schedule_equals_the_reference(dtype, container, penalty, batch_size):
    """A minibatch of ``b`` rows after ``s`` samples steps ``b eta0 / (1 + s / t0)``, ``s`` going on
    across epochs; 97 rows end every epoch on a short minibatch but for ``batch_size=1``."""
    objective = make_objective(dtype, container, PENALTIES[penalty], 3)
    (state, *_), _ = assert_same_run(objective, lambda: SGDState(optimal()), "sgd", batch_size=batch_size)
    assert state.samples_seen == 3 * 97


@pytest.mark.parametrize("average_start", [1, 150], ids=["from-the-start", "mid-epoch"])
@pytest.mark.parametrize("penalty", ["l2", "elastic-net", "scale-folds"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_weighted_average_equals_the_reference(dtype, container, penalty, average_start):
    """With ``"optimal"`` the iterate after ``s`` samples weighs ``s ** 4`` in the average, through the
    lazy sums and the folds of the scale alike."""
    objective = make_objective(dtype, container, PENALTIES[penalty], 3)
    eta0 = 1.0 if penalty == "scale-folds" else 0.03
    (kernel_state, *kernel_weights), (reference_state, *reference_weights) = assert_same_run(
        objective, lambda: SGDState(optimal(eta0), average_start=average_start), "sgd"
    )
    averaged_steps = 3 * 13 if average_start == 1 else 13 + 2
    assert kernel_state.average.count == pytest.approx(reference_state.average.count, rel=1e-12)
    assert kernel_state.average.count > averaged_steps * 100.0**4  # weights, not a count of steps
    mean = kernel_state.average.mean(*kernel_weights)
    expected = reference_state.average.mean(*reference_weights)
    assert_close(mean[0], expected[0], dtype)
    assert_close(mean[1], expected[1], dtype)


@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix], ids=["dense", "csr"])
def test_kernel_weighted_average_with_per_feature_factors(container):
    """Dense: exact. Sparse: a row's missed iterates enter the average at their mean weight and
    step, exact to first order in their spread (measured here: 2e-5 of the largest weight)."""
    objective = make_objective(np.float64, container, with_factor(PENALTIES["l2"]), 3)
    make_state = lambda: SGDState(optimal(), average_start=1)  # noqa: E731
    if container is np.asarray:
        assert_same_run(objective, make_state, "sgd")
        return
    kernel_state, reference_state = make_state(), make_state()
    coef, intercept, _ = run_epochs(_sgd_epoch, objective, kernel_state)
    expected_coef, expected_intercept, _ = run_epochs(reference_epochs.sgd_epoch, objective, reference_state)
    mean = kernel_state.average.mean(coef, intercept)[0]
    expected = reference_state.average.mean(expected_coef, expected_intercept)[0]
    np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert np.abs(mean - expected).max() > 0


def test_the_kernel_reads_its_settings_and_counters_by_the_records_names():
    """The packed structs of _shared.pxd against the Python records: same fields, same order."""
    settings, counters = kernel.contract_layout()
    for layout, record in ((settings, EpochSettings), (counters, EpochCounters)):
        assert list(layout) == list(record._fields)
        assert list(layout.values()) == list(range(len(record._fields)))
