"""The optimizers on their own: step-size bounds, convergence, optimality conditions, back-off."""

import numpy as np
import pytest
from reference_epochs import (
    Minibatch,
    SteppedCoef,
    minibatch,
    minibatch_loss_gradient,
)
from reference_optimum import scipy_optimum
from scipy import sparse
from scipy.sparse.linalg import cg
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
from text_like import text_like

from sklearn_maxent._model import _objective
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import (
    SGDState,
    StepSchedule,
    _newton,
    _sgd_stopping,
    _steps,
    lbfgs,
    minimize,
    newton,
    sgd,
)
from sklearn_maxent._optim._cg import conjugate_gradients
from sklearn_maxent._optim._lazy import IterateAverage
from sklearn_maxent._optim._sgd import calibrated_step
from sklearn_maxent._optim._steps import curvature_bound, default_step, top_eigenvalue


def wine_objective(alpha=1e-2, l1_ratio=0.0, dtype=np.float64):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(dtype)
    targets = np.eye(3, dtype=dtype)[y]
    return Objective(X, targets, np.ones(len(y)), ElasticNet(alpha, l1_ratio), True, False)


def sgd_epochs(objective, coef, intercept, state, batch_size, max_iter, seed=0, **options):
    """:func:`sgd` without a ``tol`` stop (shuffled, seeded); returns its Result."""
    return sgd(
        objective,
        coef,
        intercept,
        state,
        batch_size=batch_size,
        max_iter=max_iter,
        tol=None,
        n_iter_no_change=5,
        shuffle=True,
        rng=np.random.RandomState(seed),
        **options,
    )


def run_sgd(objective, coef, intercept, step, batch_size, max_iter, variance_reduced=False, seed=0):
    """Constant-step SGD (or SAGA) for ``max_iter`` epochs; returns the state."""
    state = SGDState(StepSchedule("constant", step))
    sgd_epochs(
        objective, coef, intercept, state, batch_size, max_iter, seed, variance_reduced=variance_reduced
    )
    return state


def zeros(objective):
    coef = np.zeros(objective.parameter_shape, dtype=objective.dtype)
    return coef, np.zeros(coef.shape[1], dtype=objective.dtype)


def test_curvature_bound_interpolates_between_one_sample_and_full_batch():
    X = np.zeros((100, 3))
    l_max = 0.5 * (9.0 + 1)
    l_full = 0.5 * 2.0
    assert curvature_bound(X, True, 1, 0.0, 9.0, 2.0) == pytest.approx(l_max)
    assert curvature_bound(X, True, 100, 0.0, 9.0, 2.0) == pytest.approx(l_full)
    middle = curvature_bound(X, True, 10, 0.0, 9.0, 2.0)
    assert l_full < middle < l_max
    assert curvature_bound(X, True, 10, 0.5, 9.0, 2.0) == pytest.approx(middle + 0.5)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_top_eigenvalue_matches_eigvalsh(fit_intercept):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((500, 8)) * np.arange(1, 9)
    design = np.hstack([X, np.ones((500, 1))]) if fit_intercept else X
    expected = np.linalg.eigvalsh(design.T @ design / 500)[-1]
    assert top_eigenvalue(X, fit_intercept, rng, n_power_iter=200) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_lbfgs_then_newton_meets_the_optimality_conditions(l1_ratio):
    """At the optimum: gradient + l1 * sign(W) = 0 where W != 0, |gradient| <= l1 where W = 0."""
    objective = wine_objective(alpha=0.05, l1_ratio=l1_ratio)
    coef, intercept = zeros(objective)
    result = minimize(objective, coef, intercept, solver="lbfgs", max_iter=1000, tol=1e-12)
    assert result.converged
    _, grad_coef, grad_intercept = objective.smooth_value_gradient(coef, intercept)
    l1 = objective.penalty.l1
    nonzero = coef != 0
    np.testing.assert_allclose((grad_coef + l1 * np.sign(coef))[nonzero], 0, atol=1e-11)
    assert np.all(np.abs(grad_coef[~nonzero]) <= l1 + 1e-11)
    np.testing.assert_allclose(grad_intercept, 0, atol=1e-11)
    if l1_ratio:
        assert (~nonzero).any()


def test_newton_goes_below_the_lbfgs_floor():
    """L-BFGS's line search stops near 1e-8; Newton steps reach 1e-13."""
    objective = wine_objective(alpha=1e-4)
    coef, intercept = zeros(objective)
    lbfgs(objective, coef, intercept, max_iter=1000, tol=1e-15)
    result = newton(objective, coef, intercept, max_iter=50, tol=1e-13)
    assert result.converged
    _, grad_coef, grad_intercept = objective.smooth_value_gradient(coef, intercept)
    assert max(np.abs(grad_coef).max(), np.abs(grad_intercept).max()) <= 1e-13


def test_sgd_lowers_the_objective_epoch_after_epoch():
    objective = wine_objective()
    coef, intercept = zeros(objective)
    start = objective.value(coef, intercept)
    state = SGDState(StepSchedule("constant", None))
    result = sgd_epochs(objective, coef, intercept, state, batch_size=16, max_iter=10)
    assert result.n_iter == 10
    assert objective.value(coef, intercept) < 0.2 * start
    assert state.t == 10 * int(np.ceil(178 / 16))  # one step per minibatch


def test_sgd_backs_off_a_step_that_diverges():
    objective = wine_objective()
    objective.X = objective.X * 1e3
    coef, intercept = zeros(objective)
    state = run_sgd(objective, coef, intercept, 1e8, batch_size=16, max_iter=20)
    assert state.schedule.eta0 < 1e8
    assert np.isfinite(coef).all()


def test_default_step_for_single_samples_is_one_over_l_max():
    objective = wine_objective()
    objective.X = objective.X * 30
    l_max = 0.5 * (np.max(np.sum(objective.X**2, axis=1)) + 1)
    step = default_step(objective, 1, np.random.RandomState(0))
    assert step == pytest.approx(1 / (l_max + objective.penalty.l2))


def test_calibrated_step_is_a_tried_multiple_that_beats_the_safe_step():
    objective = wine_objective(alpha=1e-3)
    coef, intercept = zeros(objective)
    rng = np.random.RandomState(0)
    safe = default_step(objective, 8, rng)
    step = calibrated_step(objective, coef, intercept, 8, rng, safe)
    factor = step / safe
    assert factor in {1, 2, 4, 8, 16, 32, 64}
    np.testing.assert_array_equal(coef, 0)  # trials run on copies

    def loss_after_one_epoch(eta):
        c, b = zeros(objective)
        run_sgd(objective, c, b, eta, batch_size=8, max_iter=1, seed=1)
        return objective.value(c, b)

    assert loss_after_one_epoch(step) <= loss_after_one_epoch(safe)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
@pytest.mark.parametrize("as_sparse", [False, True])
def test_lazy_average_equals_the_mean_of_the_iterates(l1_ratio, as_sparse):
    """The lazily kept average equals the plain mean of the materialized iterates, step by step.

    (On the NumPy reference steps, which the compiled epoch is tested against
    in test_epoch_kernel.py.)
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 30)) * (rng.uniform(size=(40, 30)) < 0.2)
    X = sparse.csr_matrix(X) if as_sparse else X
    targets = np.eye(3)[rng.integers(0, 3, 40)]
    objective = Objective(X, targets, np.ones(40), ElasticNet(0.05, l1_ratio), True, False)
    coef, intercept = zeros(objective)
    average = IterateAverage(np.zeros_like(coef), np.zeros_like(intercept))
    lazy = SteppedCoef(objective.penalty, coef, average=average)
    total = np.zeros_like(coef)
    for start in range(0, 40, 4):
        batch = minibatch(objective, np.arange(start, start + 4))
        values = lazy.gather(batch.features)
        _, grad_rows, _ = minibatch_loss_gradient(objective, batch, lazy.coef_rows(values), intercept)
        lazy.step(batch.features, values, grad_rows, 0.5)
        total += lazy.scale * lazy.values  # the iterate W_t
    expected = total / 10
    mean, _ = average.mean(lazy.materialize(), intercept)
    np.testing.assert_allclose(mean, expected, rtol=1e-12, atol=1e-15)
    assert average.count == 10


def test_lazy_coef_equals_eager_penalty_steps():
    """W = scale * V with lazy L2 gives the same iterates as shrinking every weight at every step.

    (On the NumPy reference steps, as above.)
    """
    rng = np.random.default_rng(1)
    X = sparse.csr_matrix(rng.standard_normal((30, 50)) * (rng.uniform(size=(30, 50)) < 0.1))
    targets = np.eye(2)[rng.integers(0, 2, 30)]
    objective = Objective(X, targets, np.ones(30), ElasticNet(0.3, 0.0), True, True)
    lazy_coef, intercept = zeros(objective)
    eager_coef = lazy_coef.copy()
    lazy = SteppedCoef(objective.penalty, lazy_coef)
    for start in range(0, 30, 5):
        rows = np.arange(start, start + 5)
        batch = minibatch(objective, rows)
        values = lazy.gather(batch.features)
        _, grad_rows, _ = minibatch_loss_gradient(objective, batch, lazy.coef_rows(values), intercept)
        lazy.step(batch.features, values, grad_rows, 0.7)
        eager_batch = Minibatch(X[rows], slice(None), targets[rows], batch.row_weights)
        _, grad, _ = minibatch_loss_gradient(objective, eager_batch, eager_coef, intercept)
        eager_coef *= 1 - 0.7 * 0.3
        eager_coef -= 0.7 * grad
    np.testing.assert_allclose(lazy.materialize(), eager_coef, rtol=1e-12, atol=1e-15)


def test_lazy_saga_on_sparse_data_equals_saga_on_dense_data(monkeypatch):
    """Just-in-time catch-up of SAGA's mean-gradient term gives the eager (dense) iterates.

    (With an L1 part they differ by design: the cumulative L1 penalty is
    charged to touched rows only. The smaller intercept step of sparse data is
    set to the dense one, to compare the same algorithm.)
    """
    monkeypatch.setattr(_steps, "SPARSE_INTERCEPT_STEP", 1.0)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 40)) * (rng.uniform(size=(60, 40)) < 0.15)
    targets = np.eye(3)[rng.integers(0, 3, 60)]
    results = []
    for X_in in (X, sparse.csr_matrix(X)):
        objective = Objective(X_in, targets, np.ones(60), ElasticNet(0.01, 0.0), True, False)
        coef, intercept = zeros(objective)
        run_sgd(objective, coef, intercept, 0.3, batch_size=7, max_iter=4, variance_reduced=True)
        results.append((coef, intercept))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-13)


def test_saga_converges_to_the_optimum_with_a_constant_step():
    """Variance reduction: unlike SGD, a constant step reaches the optimum."""
    objective = wine_objective(alpha=0.1)
    optimum_coef, optimum_intercept = zeros(objective)
    lbfgs(objective, optimum_coef, optimum_intercept, max_iter=1000, tol=1e-10)
    optimum = objective.value(optimum_coef, optimum_intercept)
    gaps = {}
    for variance_reduced in (False, True):
        coef, intercept = zeros(objective)
        run_sgd(objective, coef, intercept, 0.2, batch_size=8, max_iter=60, variance_reduced=variance_reduced)
        gaps[variance_reduced] = (objective.value(coef, intercept) - optimum) / optimum
    assert gaps[True] < 1e-8
    assert gaps[False] > 100 * gaps[True]


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_sgd_hands_over_after_stall_patience_epochs_in_a_row(patience):
    """With a stall ratio no epoch can meet, the phase ends ``patience`` epochs after the first
    (which has no previous loss to compare with)."""
    objective = wine_objective()
    coef, intercept = zeros(objective)
    state = SGDState(StepSchedule("constant", 0.1))
    result = sgd_epochs(
        objective,
        coef,
        intercept,
        state,
        batch_size=16,
        max_iter=20,
        stall_ratio=10.0,
        stall_patience=patience,
        variance_reduced=True,
    )
    assert result.n_iter == 1 + patience
    assert result.converged


def checked_saga_run(tol, max_iter=500, alpha=1e-2, step=0.5, **options):
    """SAGA on wine (seeded) to ``tol``: its Result, its certificate passes' gaps, the final gap."""
    objective = wine_objective(alpha=alpha)
    checked = []
    certified_gap = objective.certified_gap

    def spy(coef, intercept):
        checked.append(certified_gap(coef, intercept)[1])
        return objective.value(coef, intercept), checked[-1]

    objective.certified_gap = spy
    coef, intercept = zeros(objective)
    result = sgd(
        objective,
        coef,
        intercept,
        SGDState(StepSchedule("constant", step)),
        batch_size=16,
        max_iter=max_iter,
        tol=tol,
        n_iter_no_change=1000,
        shuffle=True,
        rng=np.random.RandomState(0),
        certify_below=None,
        variance_reduced=True,
        **options,
    )
    return result, checked, certified_gap(coef, intercept)[1]


@pytest.mark.parametrize("tol", [5e-2, 1e-12])
def test_a_stalling_phase_goes_on_while_its_certificate_reaches_tol_within_a_few_epochs(monkeypatch, tol):
    """With a stall ratio no epoch meets, the phase still goes on to a certified stop where the
    last two certificate passes' rate reaches ``tol`` within ``REACH_EPOCHS`` (and would have
    stopped uncertified without that rule); where ``tol`` is out of reach it hands over as before."""

    def run(reach):
        monkeypatch.setattr(_sgd_stopping, "REACH_EPOCHS", reach)
        result, _, gap = checked_saga_run(tol, 50, alpha=0.1, step=0.3, stall_ratio=10.0, stall_patience=1)
        monkeypatch.undo()
        return result, gap

    without, without_gap = run(0)
    assert without.n_iter == 2
    assert without_gap > tol
    within, within_gap = run(_sgd_stopping.REACH_EPOCHS)
    if tol == 5e-2:
        assert within.n_iter > 2
        assert within_gap <= tol
    else:
        assert within.n_iter == 2


def test_a_stalling_phase_whose_one_certificate_is_near_tol_goes_on_to_measure_the_rate(monkeypatch):
    """One certificate pass so far, its gap within ``2 ** REACH_EPOCHS`` of ``tol``: the phase goes
    on to a second pass, whose rate then decides (on the text twin at C = 1 the pass of epoch 9 said
    3.2e-6 at tol 1e-6; SAGA certified two epochs later, where the hand-over had cost a Newton step of
    some 20 epochs' time). Without the rule, as far from ``tol``, the phase hands over uncertified."""
    _, checked, _ = checked_saga_run(1e-12, 1, alpha=0.1, step=0.3)  # the same first epoch
    tol = checked[0] / 4

    def run(reach):
        monkeypatch.setattr(_sgd_stopping, "REACH_EPOCHS", reach)
        result, checked, gap = checked_saga_run(
            tol, 50, alpha=0.1, step=0.3, stall_ratio=10.0, stall_patience=1
        )
        monkeypatch.undo()
        return result, checked, gap

    without, _, without_gap = run(1)
    assert without.n_iter == 2
    assert without_gap > tol
    within, checks, within_gap = run(_sgd_stopping.REACH_EPOCHS)
    assert tol < checks[0] <= 2**_sgd_stopping.REACH_EPOCHS * tol
    assert within.n_iter > 2
    assert within_gap <= tol


def generalized_problem(case, n=120, d=6, seed=0):
    """A small dense problem with what ``case`` names of issue 14's objective (offset, factors, bounds)."""
    rng = np.random.default_rng(seed)
    n_classes = 2 if "binary" in case else 3
    n_free = n_classes - (n_classes == 2)
    X = rng.standard_normal((n, d))
    coef = rng.standard_normal((d, n_classes))
    targets = np.eye(n_classes)[np.argmax(X @ coef + rng.gumbel(size=(n, n_classes)), axis=1)]
    options = {"factor": None, "lower": None, "upper": None, "offset": None, "l1_ratio": 0.0}
    if "offset" in case:
        options["offset"] = rng.standard_normal((n, n_free))
    if "bounds" in case:
        # None, >= 0, [-0.3, 0.3], and boxes that exclude 0.
        kind = rng.integers(0, 5, (d, n_free))
        options["lower"] = np.select([kind == 1, kind == 2, kind == 3], [0.0, -0.3, 0.2], -np.inf)
        options["upper"] = np.select([kind == 2, kind == 4], [0.3, -0.2], np.inf)
    if "l1" in case:
        options["l1_ratio"] = 0.5
    if "factor" in case:
        # Zero factors only for the binary model: the full softmax leaves an unpenalized,
        # unbounded feature's weights free up to a common shift.
        options["factor"] = rng.choice([0.0, 0.5, 3.0] if n_classes == 2 else [0.5, 1.0, 3.0], d)
    return X, targets, rng.uniform(0.5, 2.0, n), options


@pytest.mark.parametrize(
    "case",
    [
        "offset",
        "bounds",
        "bounds-l1",
        "bounds-l1-offset",
        "factor",
        "factor-l1",
        "factor-bounds-l1-offset",
        "binary-factor-l1",
    ],
)
def test_saga_reaches_the_scipy_optimum(case):
    """SAGA with a constant step on issue 14's objective, against L-BFGS-B on the formula itself.

    ``tol=1e-12``: a relative gap ``g`` only bounds ``||W - W*||^2`` by ``2 g J / l2``, about
    ``(5e-4)^2`` here at 1e-8.
    """
    X, targets, row_weights, options = generalized_problem(case)
    alpha = 0.05
    binary = targets.shape[1] == 2
    penalty = ElasticNet(alpha, options["l1_ratio"], options["factor"], options["lower"], options["upper"])
    objective = Objective(X, targets, row_weights, penalty, True, binary, options["offset"])
    coef, intercept = zeros(objective)
    # No certificate exists with unpenalized, unbounded weights: a fixed number of epochs there.
    certified = penalty.certifiable
    result = minimize(
        objective,
        coef,
        intercept,
        solver="saga",
        max_iter=2000 if certified else 400,
        tol=1e-12 if certified else None,
        state=SGDState(StepSchedule("constant", None)),
        batch_size=8,
        n_iter_no_change=5,
        rng=np.random.RandomState(0),
    )
    expected_coef, expected_intercept = scipy_optimum(
        X, targets, row_weights, alpha, options["l1_ratio"], options["factor"],
        options["lower"], options["upper"], options["offset"], binary,
    )  # fmt: skip
    if certified:
        assert result.gap <= 1e-12
    np.testing.assert_allclose(coef, expected_coef, rtol=0, atol=1e-5 * np.abs(expected_coef).max())
    if binary:
        np.testing.assert_allclose(intercept, expected_intercept, rtol=1e-5)
        return
    # The full softmax's intercept is defined up to a common shift. It is unpenalized, so the
    # gap bounds it through the loss's curvature along it: J(b) - J* ~ d^T H_bb d / 2, with
    # H_bb = sum_i w_i (diag(P_i) - P_i P_i^T) at the optimum, whose least non-zero eigenvalue
    # (the common shift's is 0) gives |d| <= sqrt(2 gap J / mu).
    centred = expected_intercept - expected_intercept.mean()
    scores = X @ expected_coef + expected_intercept
    if options["offset"] is not None:
        scores = scores + options["offset"]
    proba = np.exp(scores - scores.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    weights = row_weights / row_weights.sum()
    curvature = np.diag(weights @ proba) - (proba * weights[:, None]).T @ proba
    mu = np.linalg.eigvalsh(curvature)[1]
    atol = max(1e-5 * np.abs(centred).max(), np.sqrt(2 * 1e-12 * objective.value(coef, intercept) / mu))
    np.testing.assert_allclose(intercept - intercept.mean(), centred, rtol=0, atol=atol)


def test_steps_are_bounded_by_the_largest_per_feature_l2():
    """Each row's decay ``1 - step l2 f_j`` stays at least 1/2; the curvature bound has the stiffest row."""
    objective = wine_objective(alpha=0.1)
    plain = default_step(objective, 8, np.random.RandomState(0))
    objective.penalty = ElasticNet(0.1, 0.0, np.linspace(0.0, 4.0, objective.parameter_shape[0]))
    assert _steps.max_step(objective) == pytest.approx(0.5 / 0.4)
    stiffer = default_step(objective, 8, np.random.RandomState(0))
    assert 1 / stiffer == pytest.approx(1 / plain + 0.3)


def spd_system():
    """A symmetric positive definite 40 x 40 system ``A x = rhs``, and ``A``'s product as
    :func:`conjugate_gradients` takes it."""
    rng = np.random.RandomState(0)
    factor = rng.standard_normal((40, 40))
    A = factor @ factor.T + np.diag(rng.uniform(0.1, 10.0, 40))

    def matvec(vector, out):
        out[:] = A @ vector

    return A, rng.standard_normal(40), matvec


@pytest.mark.parametrize("n_iter", [1, 3, 40])
def test_conjugate_gradients_follows_scipy_cg_and_solves_the_system(n_iter):
    A, rhs, matvec = spd_system()
    inverse_diagonal = 1.0 / np.diag(A)
    ours = conjugate_gradients(matvec, rhs, inverse_diagonal, rtol=1e-12, maxiter=n_iter)
    theirs, _ = cg(A, rhs, M=np.diag(inverse_diagonal), rtol=1e-12, maxiter=n_iter)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-10)
    if n_iter == 40:
        np.testing.assert_allclose(ours, np.linalg.solve(A, rhs), atol=1e-9)


def test_conjugate_gradients_in_float32_solve_to_float32_precision():
    """The iteration runs in the system's dtype (a Newton system with float32 products)."""
    A, rhs, _ = spd_system()
    A32 = A.astype(np.float32)

    def matvec(vector, out):
        out[:] = A32 @ vector

    x = conjugate_gradients(matvec, rhs.astype(np.float32), 1.0 / np.diag(A32), rtol=1e-5, maxiter=200)
    assert x.dtype == np.float32
    exact = np.linalg.solve(A, rhs)
    assert np.linalg.norm(x - exact) <= 1e-3 * np.linalg.norm(exact)


def test_conjugate_gradients_refine_goes_on_from_where_rtol_is_met():
    """``refine`` is asked once, at scipy's stopping iterate for ``rtol``; returning ``rtol`` stops
    there, a smaller value carries the same iteration on to it."""
    A, rhs, matvec = spd_system()
    inverse_diagonal = 1.0 / np.diag(A)
    asked = []

    def stop(x):
        asked.append(np.linalg.norm(rhs - A @ x) / np.linalg.norm(rhs))
        return 0.1

    loose = conjugate_gradients(matvec, rhs, inverse_diagonal, rtol=0.1, maxiter=100, refine=stop)
    theirs, _ = cg(A, rhs, M=np.diag(inverse_diagonal), rtol=0.1, maxiter=100)
    np.testing.assert_allclose(loose, theirs, rtol=1e-7, atol=1e-10)
    assert len(asked) == 1
    assert asked[0] <= 0.1
    tight = conjugate_gradients(matvec, rhs, inverse_diagonal, rtol=0.1, maxiter=100, refine=lambda x: 1e-12)
    np.testing.assert_allclose(tight, np.linalg.solve(A, rhs), atol=1e-9)


def test_conjugate_gradients_stops_on_a_zero_rhs_and_on_zero_curvature():
    def zero(vector, out):
        out[:] = 0

    ones = np.ones(3)
    assert np.all(conjugate_gradients(zero, np.zeros(3), ones, 1e-6, 10) == 0)
    # No curvature along the first direction: the iteration ends there, with no step taken.
    assert np.all(conjugate_gradients(zero, np.array([1.0, 2.0, 3.0]), ones, 1e-12, 10) == 0)


def test_a_saga_phase_pays_no_certificate_pass_its_memory_says_must_fail(monkeypatch):
    """In a phase that a stall ratio ends (auto's), the gradient SAGA's memory holds gates the
    certificate's passes: fewer passes than without the gate, the same certified stop within a few
    epochs, and no pass at all where tol is out of the phase's reach."""

    def run(gated, tol, max_iter=500):
        if not gated:
            monkeypatch.setattr(_sgd_stopping.EpochJudge, "_may_be_certified", lambda self, gradient: True)
        result, checked, _ = checked_saga_run(tol, max_iter, stall_ratio=1e-15, stall_patience=1000)
        monkeypatch.undo()
        return result, checked

    gated, gated_gaps = run(True, 1e-8)
    ungated, ungated_gaps = run(False, 1e-8)
    assert gated.converged
    assert gated_gaps[-1] <= 1e-8
    assert len(gated_gaps) < len(ungated_gaps)
    assert ungated.n_iter <= gated.n_iter <= ungated.n_iter + 3
    _, early_gaps = run(True, 1e-12, max_iter=3)
    assert early_gaps == []


@pytest.mark.parametrize("tol", [1e-3, 1e-8])
def test_saga_spaces_its_certificate_passes_by_the_rate_of_the_gap(monkeypatch, tol):
    """Checking when the gap's rate says it may succeed costs fewer passes than checking every
    epoch, and stops within a few epochs of the first epoch that checking every time finds."""

    def run(every_epoch):
        if every_epoch:
            monkeypatch.setattr(_sgd_stopping.EpochJudge, "_next_check", lambda self: 0)
        result, checked, _ = checked_saga_run(tol)
        monkeypatch.undo()
        return result, checked

    spaced, spaced_gaps = run(False)
    every, every_gaps = run(True)
    assert spaced.converged
    assert every.converged
    assert spaced_gaps[-1] <= tol
    assert len(spaced_gaps) < len(every_gaps) / 2
    assert every.n_iter <= spaced.n_iter <= every.n_iter + max(3, every.n_iter // 4)


def sparse_text_objective(alpha=1e-3, seed=0):
    """A small text-like CSR problem (float64), 4 classes."""
    rng = np.random.default_rng(seed)
    X = sparse.random(300, 200, density=0.05, format="csr", random_state=seed)
    X.data = rng.uniform(0.1, 1.0, X.nnz)
    y = np.asarray(X[:, :4].argmax(axis=1)).ravel()
    return Objective(X, np.eye(4)[y], np.ones(300), ElasticNet(alpha, 0.0), True, False)


def test_hessian_products_run_in_float32_on_large_sparse_float64_data(monkeypatch):
    """Above the pass-cost threshold the products take float32 directions and match the
    gradient's finite differences to float32's precision; below it they stay float64."""
    objective = sparse_text_objective()
    assert objective.hessian_dtype == np.float64
    monkeypatch.setattr(_objective, "FLOAT32_HESSIAN_ABOVE", 0)
    assert objective.hessian_dtype == np.float32
    rng = np.random.default_rng(1)
    coef, intercept = 0.3 * rng.standard_normal((200, 4)), 0.1 * rng.standard_normal(4)
    direction, intercept_direction = rng.standard_normal((200, 4)), rng.standard_normal(4)
    product, _, _ = objective.hessian_product_and_diagonal(coef, intercept)
    hess_coef, hess_intercept = product(direction.astype(np.float32), intercept_direction.astype(np.float32))
    assert hess_coef.dtype == np.float32
    h = 1e-5
    plus = objective.smooth_value_gradient(coef + h * direction, intercept + h * intercept_direction)
    minus = objective.smooth_value_gradient(coef - h * direction, intercept - h * intercept_direction)
    np.testing.assert_allclose(hess_coef, (plus[1] - minus[1]) / (2 * h), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hess_intercept, (plus[2] - minus[2]) / (2 * h), rtol=1e-4, atol=1e-6)


def test_newton_lowers_the_loss_at_every_step_from_a_confidently_wrong_model():
    """From the optimum's weight rows permuted among the words (weakly penalized text), every
    Newton step lowers ``J``, and the run ends at scipy's optimum. A line search on the gradient's
    norm alone raised ``J`` by 0.08 here (and by 3 % on the docstring corpus at C = 100)."""
    X, y = text_like(300, n_words=800, n_classes=5, seed=0)
    n = X.shape[0]
    targets = np.eye(5)[y]
    alpha = 1 / (1000 * n)
    objective = Objective(X, targets, np.full(n, 1 / n), ElasticNet(alpha, 0.0), True, False)
    expected_coef, expected_intercept = scipy_optimum(
        X.toarray(), targets, np.ones(n), alpha, 0.0, None, None, None, None, False
    )
    coef = np.random.default_rng(0).permutation(expected_coef)
    intercept = expected_intercept.copy()
    start = objective.value(coef, intercept)
    result = newton(objective, coef, intercept, tol=1e-10, max_iter=100)
    curve = np.array([start, *result.loss_curve])
    assert np.all(np.diff(curve) <= 1e-12 * curve[:-1])
    np.testing.assert_allclose(
        objective.value(coef, intercept), objective.value(expected_coef, expected_intercept), rtol=1e-9
    )
    np.testing.assert_allclose(coef, expected_coef, atol=1e-4)


def weak_text_problem():
    """Weakly penalized text (C = 1000) and scipy's optimum of it."""
    X, y = text_like(300, n_words=800, n_classes=5, seed=0)
    n = X.shape[0]
    targets = np.eye(5)[y]
    alpha = 1 / (1000 * n)
    objective = Objective(X, targets, np.full(n, 1 / n), ElasticNet(alpha, 0.0), True, False)
    optimum = scipy_optimum(X.toarray(), targets, np.ones(n), alpha, 0.0, None, None, None, None, False)
    return objective, optimum


def newton_counting_products(monkeypatch, objective, coef, intercept, gap_tol=1e-9):
    """:func:`newton` to a certified ``gap_tol``, in place, and the Hessian products it made."""
    products = []
    real = _newton.NewtonSolver._matvec

    def counting(self, vector, out):
        products.append(vector.size)
        return real(self, vector, out)

    monkeypatch.setattr(_newton.NewtonSolver, "_matvec", counting)
    result = newton(objective, coef, intercept, tol=1e-10, max_iter=100, gap_tol=gap_tol)
    assert result.converged
    assert result.gap <= gap_tol
    return result, len(products)


def test_far_newton_steps_are_solved_loosely_on_the_way_to_the_scipy_optimum(monkeypatch):
    """From the optimum's weight rows permuted (far), Eisenstat and Walker's forcing term spends
    fewer Hessian products than solving every step to 1e-2 (about the rule before it), and ends
    at scipy's optimum."""
    objective, (expected_coef, expected_intercept) = weak_text_problem()
    start = np.random.default_rng(0).permutation(expected_coef)
    products = {}
    for forcing_max in (1e-2, _newton.FORCING_MAX):
        monkeypatch.setattr(_newton, "FORCING_MAX", forcing_max)
        coef, intercept = start.copy(), expected_intercept.copy()
        _, products[forcing_max] = newton_counting_products(monkeypatch, objective, coef, intercept)
        np.testing.assert_allclose(
            objective.value(coef, intercept), objective.value(expected_coef, expected_intercept), rtol=2e-9
        )
    assert products[_newton.FORCING_MAX] < products[1e-2]


def test_a_newton_step_near_the_optimum_aims_at_the_certificate(monkeypatch):
    """From 5e-6 above the optimum of a dense problem (tol 1e-6), the first step's loose forcing
    term leaves the gap uncertified; its predicted decrease shows the optimum near, and the one
    step certifies (as after L-BFGS's hand-off on the dense benchmark sets)."""
    rng = np.random.default_rng(0)
    n, n_classes = 4000, 4
    X, true_coef = rng.standard_normal((n, 20)), rng.standard_normal((20, n_classes))
    y = np.array([rng.choice(n_classes, p=np.exp(s) / np.exp(s).sum()) for s in X @ true_coef])
    targets = np.eye(n_classes)[y]
    objective = Objective(X, targets, np.full(n, 1 / n), ElasticNet(1 / n, 0.0), True, False)
    expected_coef, expected_intercept = scipy_optimum(
        X, targets, np.ones(n), 1 / n, 0.0, None, None, None, None, False
    )
    start = expected_coef + 1e-3 * np.random.default_rng(0).standard_normal(expected_coef.shape)
    steps = {}
    for near_gaps in (0.0, _newton.NEAR_GAPS):
        monkeypatch.setattr(_newton, "NEAR_GAPS", near_gaps)
        coef, intercept = start.copy(), expected_intercept.copy()
        result, _ = newton_counting_products(monkeypatch, objective, coef, intercept, gap_tol=1e-6)
        steps[near_gaps] = result.n_iter
        np.testing.assert_allclose(
            objective.value(coef, intercept), objective.value(expected_coef, expected_intercept), rtol=1e-6
        )
    assert steps[_newton.NEAR_GAPS] == 1
    assert steps[0.0] > 1


def test_newton_with_float32_products_reaches_the_scipy_optimum(monkeypatch):
    monkeypatch.setattr(_objective, "FLOAT32_HESSIAN_ABOVE", 0)
    objective = sparse_text_objective(alpha=1e-3)
    coef, intercept = zeros(objective)
    result = newton(objective, coef, intercept, tol=1e-12, max_iter=100, gap_tol=1e-12)
    assert result.converged
    ref_coef, ref_intercept = scipy_optimum(
        objective.X.toarray(), objective.targets, np.ones(300), 1e-3, 0.0, None, None, None, None, False
    )
    np.testing.assert_allclose(coef, ref_coef, atol=1e-5)
    np.testing.assert_allclose(intercept - intercept.mean(), ref_intercept - ref_intercept.mean(), atol=1e-5)


def test_auto_runs_saga_on_a_float32_twin_and_certifies_on_the_float64_data(monkeypatch):
    """Large sparse float64 data: the SAGA phase sees float32 data, the result is float64 and
    certified on the data as given, at scipy's optimum."""
    from sklearn_maxent import MaxEntClassifier
    from sklearn_maxent._optim import _minimize

    monkeypatch.setattr(_objective, "FLOAT32_HESSIAN_ABOVE", 0)
    seen = []
    real_sgd = _minimize.sgd

    def spy(objective, coef, *args, **kwargs):
        seen.append((objective.dtype, coef.dtype))
        return real_sgd(objective, coef, *args, **kwargs)

    monkeypatch.setattr(_minimize, "sgd", spy)
    problem = sparse_text_objective(alpha=1e-3)
    y = problem.targets.argmax(axis=1)
    clf = MaxEntClassifier(alpha=1e-3, batch_size=16, tol=1e-8, random_state=0).fit(problem.X, y)
    assert seen == [(np.float32, np.float32)]
    assert clf.coef_.dtype == np.float64
    assert clf.duality_gap_ <= 1e-8
    ref_coef, _ = scipy_optimum(
        problem.X.toarray(), problem.targets, np.ones(300), 1e-3, 0.0, None, None, None, None, False
    )
    np.testing.assert_allclose(clf.coef_.T, ref_coef, atol=1e-5)


@pytest.mark.parametrize("dense", [False, True])
def test_auto_goes_from_saga_to_newton_without_lbfgs_on_sparse_rows(monkeypatch, dense):
    """On sparse rows with an L2 penalty the SAGA phase hands straight over to Newton; dense rows
    (wine) keep the L-BFGS phase. Both end certified at scipy's optimum."""
    from sklearn_maxent import MaxEntClassifier
    from sklearn_maxent._optim import _minimize

    calls = []
    real_lbfgs = _minimize.lbfgs

    def spy(*args, **kwargs):
        calls.append(kwargs["max_iter"])
        return real_lbfgs(*args, **kwargs)

    monkeypatch.setattr(_minimize, "lbfgs", spy)
    problem = wine_objective(alpha=1e-3) if dense else sparse_text_objective(alpha=1e-3)
    X = problem.X
    y = problem.targets.argmax(axis=1)
    clf = MaxEntClassifier(alpha=1e-3, batch_size=16, tol=1e-8, random_state=0).fit(X, y)
    assert len(calls) == int(dense)
    assert clf.duality_gap_ <= 1e-8
    dense_X = X if dense else X.toarray()
    ref_coef, _ = scipy_optimum(
        dense_X, problem.targets, np.ones(len(y)), 1e-3, 0.0, None, None, None, None, False
    )
    np.testing.assert_allclose(clf.coef_.T, ref_coef, atol=1e-5)


def test_lbfgs_hands_over_where_the_gradients_share_of_the_gap_is_small():
    """With ``newton_gap`` L-BFGS stops at an iterate whose ``||g||^2 / (2 l2 |J|)`` is within
    it, earlier than it does to ``tol`` alone."""
    objective = wine_objective(alpha=1e-2)
    runs = {}
    for newton_gap in (None, 1e-3):
        coef, intercept = zeros(objective)
        result = lbfgs(objective, coef, intercept, max_iter=500, tol=1e-10, newton_gap=newton_gap)
        loss, grad_coef, _ = objective.smooth_value_gradient(coef, intercept)
        runs[newton_gap] = (result.n_iter, float(np.vdot(grad_coef, grad_coef)) / (2 * 1e-2 * loss))
    assert runs[1e-3][1] <= 1e-3
    assert runs[1e-3][0] < runs[None][0]
    assert runs[None][1] < 1e-3  # to tol alone it goes further


@pytest.mark.parametrize(("tol", "converged"), [(1e-6, True), (1e-14, False)])
def test_a_final_gap_within_tol_is_convergence_whatever_stopped_the_solver(monkeypatch, tol, converged):
    """A solver that stopped on another rule (a stalled line search) with a certified gap of
    1e-12 has converged at tol=1e-6, not at 1e-14 (MaxEntClassifierCV's newton-cd paths warned
    "certified relative gap of 3.14e-12, above tol=1e-06")."""
    from sklearn_maxent._optim import _minimize
    from sklearn_maxent._optim._state import Result

    monkeypatch.setattr(_minimize, "_minimize", lambda *args, **options: Result(3, False, [], 1e-12))
    objective = wine_objective()
    assert minimize(objective, *zeros(objective), solver="auto", max_iter=10, tol=tol).converged is converged
