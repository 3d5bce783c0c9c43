"""Sparse data's unused features: left out of the fit, their weights set to the penalty's minimizer.

A vocabulary is seldom used whole by one training set (here the rare words of a Zipf vocabulary).
References: ``LogisticRegression`` at the matching penalty, whose solver fits every column; a
fit on the columns scipy slices out; the penalty's minimizer found by ``scipy.optimize``.
"""

import warnings

import numpy as np
import pytest
from scipy import optimize, sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from test_callbacks import Recorder
from text_like import text_like

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import Result, _minimize
from sklearn_maxent._optim._used_features import _as_whole
from sklearn_maxent._targets import one_hot

X, Y = text_like(1200, n_words=8000, n_classes=4, seed=3)
USED = np.flatnonzero(np.diff(X.tocsc().indptr) > 0)
UNUSED = np.setdiff1d(np.arange(X.shape[1]), USED)
ALPHA = 1e-3


def test_the_data_leave_features_unused():
    assert 0.1 * X.shape[1] < UNUSED.size < 0.9 * X.shape[1]


def objective_of(X, penalty):
    return Objective(X, one_hot(Y, np.unique(Y)).astype(float), np.ones(len(Y)), penalty, True, False)


def test_objective_on_used_features_is_the_one_on_the_sliced_columns():
    rng = np.random.default_rng(0)
    factor = rng.uniform(0.5, 2.0, X.shape[1])
    full = objective_of(X, ElasticNet(ALPHA, 0.3, factor))
    part, used = full.on_used_features()
    np.testing.assert_array_equal(np.flatnonzero(used), USED)
    reference = objective_of(X[:, USED], ElasticNet(ALPHA, 0.3, factor[USED]))
    assert (part.X != reference.X).nnz == 0
    coef, intercept = rng.normal(size=(USED.size, 4)), rng.normal(size=4)
    pair = (part.data_loss_gradient(coef, intercept), reference.data_loss_gradient(coef, intercept))
    for ours, theirs in zip(*pair, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert part.value(coef, intercept) == reference.value(coef, intercept)


def test_no_restriction_where_every_feature_is_used_or_x_is_dense():
    penalty = ElasticNet(ALPHA, 0.0)
    assert objective_of(X[:, USED], penalty).on_used_features() is None
    assert objective_of(X.toarray(), penalty).on_used_features() is None


def test_own_minimizer_minimizes_the_penalty_entry_by_entry():
    rng = np.random.default_rng(1)
    shape = (40, 3)
    factor = np.where(rng.random(shape[0]) < 0.25, 0.0, rng.uniform(0.1, 3.0, shape[0]))
    base = rng.uniform(-2, 1, shape)
    lower = np.where(rng.random(shape) < 0.5, -np.inf, base)
    upper = np.where(rng.random(shape) < 0.5, np.inf, base + rng.uniform(0, 2, shape))
    start = np.clip(rng.normal(size=shape), lower, upper)
    for l1_ratio in (0.0, 0.5, 1.0):
        penalty = ElasticNet(0.7, l1_ratio, factor, lower, upper)
        ours = penalty.own_minimizer(start.copy())
        for (j, k), value in np.ndenumerate(ours):
            a, c = penalty.l2 * factor[j], penalty.l1 * factor[j]
            if a == c == 0:  # unpenalized: any value within the bounds, the start kept
                assert value == start[j, k]
                continue
            low, high = max(lower[j, k], -10.0), min(upper[j, k], 10.0)
            found = optimize.minimize_scalar(
                lambda w, a=a, c=c: a * w * w / 2 + c * abs(w),
                bounds=(low, high),
                method="bounded",
                options={"xatol": 1e-12},
            )
            assert value == pytest.approx(found.x, abs=1e-7)  # Brent's search stays off a bound by ~1e-8


@pytest.mark.parametrize("solver", ["auto", "lbfgs", "saga"])
def test_fit_matches_logistic_regression(solver):
    C = 1 / (ALPHA * X.shape[0])
    ours = MaxEntClassifier(alpha=ALPHA, solver=solver, tol=1e-10, max_iter=3000, random_state=0).fit(X, Y)
    # newton-cg: lbfgs stops on the loss's change, 1e-6 off here
    theirs = LogisticRegression(C=C, tol=1e-12, max_iter=10_000, solver="newton-cg").fit(X, Y)
    # lbfgs and auto go on to rounding precision on data this small; SAGA stops at its certified gap
    # of 1e-10, which with J's strong convexity alpha bounds ||W - W*|| by sqrt(2e-10 J / alpha)
    atol = 1e-4 if solver == "saga" else 1e-8
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=atol)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=atol)
    assert not ours.coef_[:, UNUSED].any()


OPTIONS = {
    "l1": {"l1_ratio": 0.5},
    "bounds": {"bounds": (0.01, 0.5)},  # 0 out of bounds: unused weights go to the lower bound
    "factor": {"penalty_factor": np.r_[np.zeros(100), np.ones(X.shape[1] - 100)]},
    "prior": {"coef_prior": np.random.default_rng(2).normal(size=(4, X.shape[1])), "bounds": (-0.3, 0.3)},
}


def sliced(options):
    """``options`` for the used columns only."""
    columns = {"penalty_factor": lambda v: v[USED], "coef_prior": lambda v: v[:, USED]}
    return {name: columns.get(name, lambda v: v)(value) for name, value in options.items()}


def unused_weights_expected(options):
    """The penalty's own minimizer, by hand: ``clip(W0, lower, upper)`` for a penalized weight."""
    prior = options.get("coef_prior", np.zeros((4, X.shape[1])))
    lower, upper = options.get("bounds", (-np.inf, np.inf))
    return np.clip(prior, lower, upper)[:, UNUSED]


@pytest.mark.parametrize("name", list(OPTIONS))
def test_fit_is_the_fit_on_the_used_columns_and_the_penalty_minimizer_elsewhere(name):
    options = OPTIONS[name]
    params = {"alpha": ALPHA, "tol": 1e-10, "max_iter": 3000, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = MaxEntClassifier(**params, **options).fit(X, Y)
        reference = MaxEntClassifier(**params, **sliced(options)).fit(X[:, USED], Y)
    np.testing.assert_allclose(ours.coef_[:, USED], reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-6)
    unused = ours.coef_[:, UNUSED]
    if name == "factor":  # the first 100 features are unpenalized: a cold start's zeros stay
        np.testing.assert_array_equal(unused, 0.0)
    else:
        np.testing.assert_allclose(unused, unused_weights_expected(options), atol=1e-12)
    assert ours.duality_gap_ <= 1e-10 or name == "factor"  # zero factors on used features: no certificate


def test_warm_start_moves_unused_weights_to_the_optimum_or_keeps_unpenalized_ones():
    rng = np.random.default_rng(4)
    previous = MaxEntClassifier(alpha=ALPHA, random_state=0).fit(X, Y)
    previous.coef_ = previous.coef_ + rng.normal(size=previous.coef_.shape)
    ours = MaxEntClassifier(alpha=ALPHA, warm_start=True, tol=1e-10, random_state=0)
    vars(ours).update({k: v for k, v in vars(previous).items() if k.endswith("_")})
    ours.fit(X, Y)
    assert not ours.coef_[:, UNUSED].any()
    free = UNUSED[:5]  # unused and unpenalized: every value is optimal, the start's kept up to a common shift
    factor = np.ones(X.shape[1])
    factor[free] = 0
    start = ours.coef_.copy()
    start[:, free] = rng.normal(size=(4, free.size))
    ours.set_params(penalty_factor=factor).coef_ = start
    ours.fit(X, Y)
    np.testing.assert_allclose(
        np.diff(ours.coef_[:, free], axis=0), np.diff(start[:, free], axis=0), atol=1e-12
    )
    assert not ours.coef_[:, np.setdiff1d(UNUSED, free)].any()


def test_callbacks_see_whole_models():
    recorder = Recorder()
    clf = MaxEntClassifier(alpha=ALPHA, solver="lbfgs", bounds=(0.01, None)).set_callbacks(recorder)
    clf.fit(X, Y)
    assert recorder.models
    coefs = [coef for coef, _ in recorder.models]
    assert all(coef.shape == clf.coef_.shape for coef in coefs)
    np.testing.assert_array_equal(coefs[-1], clf.coef_)
    assert (coefs[0][:, UNUSED] == 0.01).all()  # settled before the first step


def test_partial_fit_goes_on_after_a_saga_fit_with_l1():
    clf = MaxEntClassifier(alpha=ALPHA, l1_ratio=0.5, solver="saga", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # five epochs: the state is the point
        clf.fit(X, Y)
    rows = sparse.random(50, X.shape[1], density=0.05, random_state=5, format="csr")
    clf.partial_fit(rows, Y[:50])  # its rows use the features the fit left out
    assert clf.coef_.shape == (4, X.shape[1])
    assert np.isfinite(clf.coef_).all()


def test_the_solvers_see_only_the_used_features(monkeypatch):
    shapes = []
    run = _minimize._minimize

    def recording(objective, coef, intercept, **options):
        shapes.append(objective.parameter_shape)
        return run(objective, coef, intercept, **options)

    monkeypatch.setattr(_minimize, "_minimize", recording)
    MaxEntClassifier(alpha=ALPHA).fit(X, Y)
    assert shapes == [(USED.size, 4)]


def test_the_route_follows_the_data_as_given():
    """Rows of 50 entries in the first 300 of 1,000 columns: sparse rows, though dense in the part."""
    rng = np.random.default_rng(6)
    columns = np.concatenate([rng.choice(300, 50, replace=False) for _ in range(1000)])
    data = sparse.csr_matrix((np.ones(50_000), columns, np.arange(0, 50_001, 50)), shape=(1000, 1000))
    targets = np.eye(2)[rng.integers(0, 2, 1000)]
    whole = Objective(data, targets, np.ones(1000), ElasticNet(ALPHA, 0.0), True, True)
    part, _ = whole.on_used_features()
    assert whole.sparse_rows
    assert part.sparse_rows
    assert part.subset(np.arange(100)).sparse_rows
    assert part._float32_twin.sparse_rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_fits_in_their_dtype(dtype):
    binary = Y % 2
    params = {"alpha": ALPHA, "tol": 1e-8, "random_state": 0}
    ours = MaxEntClassifier(**params).fit(X.astype(dtype), binary)
    reference = MaxEntClassifier(**params).fit(X[:, USED].astype(dtype), binary)
    assert ours.coef_.dtype == dtype
    np.testing.assert_array_equal(ours.coef_[:, USED], reference.coef_)
    assert not ours.coef_[:, UNUSED].any()


def test_no_restriction_without_any_entry():
    empty = sparse.csr_matrix(X.shape)
    assert objective_of(empty, ElasticNet(ALPHA, 0.0)).on_used_features() is None


def test_losses_and_gap_are_the_whole_problems_where_bounds_keep_unused_weights_off_zero():
    """Each unused weight adds alpha / 2 * 0.01 ** 2 to J (and to the dual value)."""
    lower = 0.01
    params = {"alpha": ALPHA, "bounds": (lower, 0.5), "tol": 1e-10, "random_state": 0}
    ours = MaxEntClassifier(**params).fit(X, Y)
    reference = MaxEntClassifier(**params).fit(X[:, USED], Y)

    def whole_objective(clf, X):
        return log_loss(Y, clf.predict_proba(X)) + ALPHA / 2 * np.sum(clf.coef_**2)

    optimum = whole_objective(reference, X[:, USED]) + ALPHA / 2 * lower**2 * UNUSED.size * 4
    assert whole_objective(ours, X) == pytest.approx(optimum, rel=1e-10)
    assert ours.best_loss_ == pytest.approx(optimum, rel=1e-9)


def test_a_parts_gap_as_the_whole_problems():
    """J = 1.1 and D = 1.0 on the part, 1.0 more of each elsewhere: (2.1 - 2.0) / 2.0."""
    whole = _as_whole(Result(3, True, [1.5, 1.1], gap=0.1), 1.0, part_value=1.1)
    assert whole.gap == pytest.approx(0.05, rel=1e-12)
    assert whole.loss_curve == pytest.approx([2.5, 2.1], rel=1e-12)
    assert np.isnan(_as_whole(Result(3, True, [1.1]), 1.0, part_value=1.1).gap)
