"""Penalty factors, bounds, a prior model and score offsets (issue 14), against independent references.

The reference optimum is that of the issue's formula, minimized here by
``scipy.optimize.minimize`` (L-BFGS-B, with the bounds) on a plain NumPy
objective that shares no code with the package; the model is also checked
against its KKT conditions, and the offset against constant columns whose
weights the bounds fix.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy import optimize, sparse
from scipy.special import logsumexp
from sklearn import config_context
from sklearn.datasets import load_iris, load_wine
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier

SOLVERS = ["lbfgs", "auto"]


def standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def reference_fit(X, Y, s, alpha, factor, lower, upper, prior, offset, binary):
    """The issue's objective (L2 only) minimized by scipy's L-BFGS-B: ``(coef_, intercept_)``.

    ``W`` in coef_'s layout (n_free, n_features); for two classes one score
    against a zero one.
    """
    n_free = 1 if binary else Y.shape[1]
    shape = (n_free, X.shape[1])

    def scores(theta):
        W, b = theta[: np.prod(shape)].reshape(shape), theta[np.prod(shape) :]
        free = X @ W.T + b + offset
        return (np.hstack([np.zeros((len(X), 1)), free]) if binary else free), W

    def value_gradient(theta):
        S, W = scores(theta)
        log_norm = logsumexp(S, axis=1)
        loss = s @ (log_norm - (Y * S).sum(axis=1)) / s.sum()
        R = (np.exp(S - log_norm[:, None]) - Y) * (s / s.sum())[:, None]
        R = R[:, 1:] if binary else R
        diff = W - prior
        value = loss + 0.5 * alpha * float(factor @ (diff**2).sum(axis=0))
        grad_W = R.T @ X + alpha * factor * diff
        return value, np.concatenate([grad_W.ravel(), R.sum(axis=0)])

    lo = np.concatenate([np.broadcast_to(lower, shape).ravel(), np.full(n_free, -np.inf)])
    hi = np.concatenate([np.broadcast_to(upper, shape).ravel(), np.full(n_free, np.inf)])
    start = np.clip(np.zeros(lo.size), lo, hi)
    result = optimize.minimize(
        value_gradient,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=optimize.Bounds(lo, hi),
        options={"maxiter": 20_000, "gtol": 1e-12, "ftol": 1e-15, "maxcor": 30},
    )
    return result.x[: np.prod(shape)].reshape(shape), result.x[np.prod(shape) :]


def problem(loader, seed=0):
    X, y = standardized(loader)
    rng = np.random.RandomState(seed)
    n_classes = np.unique(y).size
    factor = rng.uniform(0.2, 3.0, X.shape[1])
    factor[0] = 0.0  # one unpenalized feature
    offset = 0.5 * rng.standard_normal((len(y), n_classes))
    prior = 0.3 * rng.standard_normal((n_classes, X.shape[1]))
    return X, y, factor, offset, prior


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("binary", [False, True])
def test_optimum_equals_scipy_lbfgsb_on_the_issue_formula(solver, binary):
    X, y, factor, offset, prior = problem(load_iris)
    if binary:
        y = (y == 2).astype(int)
        offset, prior = offset[:, 0], prior[:1]
    n_classes = np.unique(y).size
    lower, upper = -0.4, np.where(np.arange(X.shape[1]) % 2 == 0, 0.6, np.inf)
    s = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    alpha = 0.05
    clf = MaxEntClassifier(
        alpha=alpha, solver=solver, penalty_factor=factor, bounds=(lower, upper), coef_prior=prior, tol=1e-10
    )
    clf.fit(X, y, sample_weight=s, offset=offset)
    Y = np.eye(n_classes)[y]
    free_offset = offset[:, None] if binary else offset
    W, b = reference_fit(X, Y, s, alpha, factor, lower, upper, prior, free_offset, binary)
    # The unpenalized feature's weights are unique only up to a common shift (multiclass): compare
    # probabilities, and the weights of the penalized features.
    np.testing.assert_allclose(
        clf.predict_proba(X, offset=offset), _proba(X, W, b, free_offset, binary), atol=1e-7
    )
    np.testing.assert_allclose(clf.coef_[:, 1:], W[:, 1:], atol=1e-5, rtol=1e-5)
    assert clf.coef_.min() >= -0.4
    assert (clf.coef_ <= np.broadcast_to(upper, clf.coef_.shape)).all()


def _proba(X, W, b, offset, binary):
    S = X @ W.T + b + offset
    S = np.hstack([np.zeros((len(X), 1)), S]) if binary else S
    return np.exp(S - logsumexp(S, axis=1, keepdims=True))


@pytest.mark.parametrize("solver", SOLVERS)
def test_kkt_conditions_hold_at_the_solution(solver):
    X, y, factor, offset, _ = problem(load_wine)
    alpha, l1_ratio = 0.02, 0.3
    lower, upper = -0.5, 0.5
    clf = MaxEntClassifier(
        alpha=alpha, l1_ratio=l1_ratio, solver=solver, penalty_factor=factor, bounds=(lower, upper), tol=1e-10
    ).fit(X, y, offset=offset)
    W = clf.coef_
    data_gradient = clf.expectation_gap(X, y, offset=offset)  # E_est - E_obs: the data term's gradient
    # Zero-factor features: nothing but the bounds pulls on them.
    free = (W[:, 0] > lower + 1e-9) & (W[:, 0] < upper - 1e-9)
    np.testing.assert_allclose(data_gradient[free, 0], 0, atol=1e-7)
    # Elsewhere: gradient + alpha f (1 - l1) W + alpha f l1 sign(W) = 0 inside the bounds; at a
    # bound it points outwards (>= 0 at the lower, <= 0 at the upper one); at 0 within the L1 band.
    smooth = data_gradient + alpha * factor * (1 - l1_ratio) * W
    band = alpha * factor * l1_ratio * np.ones_like(W)
    at_lower, at_upper, at_zero = lower + 1e-12 >= W, upper - 1e-12 <= W, W == 0
    inside = ~(at_lower | at_upper | at_zero)
    np.testing.assert_allclose((smooth + band * np.sign(W))[inside], 0, atol=1e-7)
    assert (smooth[at_lower] + band[at_lower] * np.sign(W[at_lower]) >= -1e-7).all()
    assert (smooth[at_upper] + band[at_upper] * np.sign(W[at_upper]) <= 1e-7).all()
    assert (np.abs(smooth[at_zero]) <= band[at_zero] + 1e-7).all()
    assert at_lower.any()  # every case was exercised
    assert at_upper.any()
    assert at_zero.any()


@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix])
def test_offset_equals_constant_columns_with_weights_fixed_by_the_bounds(container):
    """An offset ``o`` equals extra columns ``o[:, k]``, unpenalized, their weights fixed at I by bounds."""
    X, y, _, offset, _ = problem(load_iris)
    n_features, n_classes = X.shape[1], 3
    with_columns = np.hstack([X, offset])
    fixed = (
        np.full((n_classes, n_features + n_classes), -np.inf),
        np.full((n_classes, n_features + n_classes), np.inf),
    )
    fixed[0][:, n_features:] = fixed[1][:, n_features:] = np.eye(n_classes)
    factor = np.r_[np.ones(n_features), np.zeros(n_classes)]
    params = {"alpha": 0.01, "solver": "lbfgs", "tol": 1e-10}
    augmented = MaxEntClassifier(**params, bounds=fixed, penalty_factor=factor).fit(
        container(with_columns), y
    )
    ours = MaxEntClassifier(**params).fit(container(X), y, offset=offset)
    np.testing.assert_allclose(ours.coef_, augmented.coef_[:, :n_features], atol=1e-8)
    np.testing.assert_allclose(ours.intercept_, augmented.intercept_, atol=1e-8)
    np.testing.assert_allclose(
        ours.predict_proba(container(X), offset=offset),
        augmented.predict_proba(container(with_columns)),
        atol=1e-10,
    )


def test_neutral_options_give_todays_model_bit_for_bit():
    X, y = standardized(load_iris)
    base = MaxEntClassifier(alpha=0.01, random_state=0).fit(X, y)
    neutral = MaxEntClassifier(
        alpha=0.01,
        random_state=0,
        penalty_factor=np.ones(X.shape[1]),
        coef_prior=np.zeros((3, X.shape[1])),
        bounds=(None, np.inf),
    ).fit(X, y, offset=None)
    np.testing.assert_array_equal(base.coef_, neutral.coef_)
    np.testing.assert_array_equal(base.intercept_, neutral.intercept_)


def test_a_zero_offset_changes_nothing_but_costs_its_addition():
    X, y = standardized(load_iris)
    base = MaxEntClassifier(alpha=0.01, solver="lbfgs").fit(X, y)
    zero = MaxEntClassifier(alpha=0.01, solver="lbfgs").fit(X, y, offset=np.zeros((len(y), 3)))
    np.testing.assert_allclose(base.coef_, zero.coef_, atol=1e-12)


def test_binary_offsets_of_one_and_two_columns_agree():
    X, y = standardized(load_iris)
    y = (y == 1).astype(int)
    rng = np.random.RandomState(0)
    two = rng.standard_normal((len(y), 2))
    one = two[:, 1] - two[:, 0]
    a = MaxEntClassifier(alpha=0.01, solver="lbfgs").fit(X, y, offset=two)
    b = MaxEntClassifier(alpha=0.01, solver="lbfgs").fit(X, y, offset=one)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-12)
    np.testing.assert_allclose(
        a.decision_function(X, offset=two), b.decision_function(X, offset=one), atol=1e-12
    )
    np.testing.assert_allclose(b.decision_function(X, offset=one), b.decision_function(X) + one, atol=1e-12)


def test_prior_with_a_large_alpha_pins_the_model_to_it():
    X, y, _, _, prior = problem(load_iris)
    clf = MaxEntClassifier(alpha=1e4, solver="lbfgs", coef_prior=prior).fit(X, y)
    np.testing.assert_allclose(clf.coef_, prior, atol=1e-3)


def test_penalty_factor_zero_leaves_the_data_gradient_zero():
    X, y = standardized(load_wine)
    factor = np.ones(X.shape[1])
    factor[[2, 5]] = 0
    clf = MaxEntClassifier(alpha=0.1, solver="lbfgs", penalty_factor=factor, tol=1e-10).fit(X, y)
    gap = clf.expectation_gap(X, y)
    np.testing.assert_allclose(gap[:, [2, 5]], 0, atol=1e-8)
    assert np.abs(gap[:, [0, 1]]).max() > 1e-3  # the penalized ones are pulled back by the penalty
    assert np.isnan(clf.duality_gap_)  # unpenalized, unbounded weights: no certificate exists


def test_non_negative_weights_give_a_monotone_model():
    X, y = standardized(load_wine)
    y = (y == 0).astype(int)
    clf = MaxEntClassifier(alpha=1e-3, bounds=(0, None), solver="lbfgs").fit(X, y)
    assert clf.coef_.min() >= 0
    assert (clf.coef_ == 0).any()
    assert clf.duality_gap_ <= 1e-6


@pytest.mark.parametrize(
    ("params", "fit_kwargs", "match"),
    [
        ({"penalty_factor": [1.0, 2.0]}, {}, r"one entry per feature, shape \(4,\)"),
        ({"penalty_factor": [1.0, -1.0, 1.0, 1.0]}, {}, "non-negative"),
        ({"penalty_factor": [1.0, np.nan, 1.0, 1.0]}, {}, "finite"),
        ({"bounds": (1.0, 0.0)}, {}, "lower > upper"),
        ({"bounds": (0.0,)}, {}, "a pair"),
        ({"bounds": (np.zeros(3), None)}, {}, "does not broadcast"),
        ({"bounds": (np.inf, None)}, {}, "must not be NaN nor inf"),
        ({"coef_prior": np.zeros((2, 4))}, {}, r"coef_'s shape \(3, 4\)"),
        ({"coef_prior": np.full((3, 4), np.nan)}, {}, "finite"),
        ({}, {"offset": np.zeros((150, 2))}, r"shape \(150, 3\)"),
        ({}, {"offset": np.full((150, 3), np.inf)}, "finite"),
    ],
)
def test_bad_options_are_clear_errors_and_change_nothing(params, fit_kwargs, match):
    X, y = load_iris(return_X_y=True)
    clf = MaxEntClassifier(alpha=0.1, solver="lbfgs").fit(X, y)
    before = clf.coef_.copy()
    with pytest.raises(ValueError, match=match):
        clf.set_params(**params).fit(X, y, **fit_kwargs)
    np.testing.assert_array_equal(clf.coef_, before)


def test_offset_of_the_wrong_shape_at_predict_time_is_a_clear_error():
    X, y = load_iris(return_X_y=True)
    clf = MaxEntClassifier(alpha=0.1).fit(X, y)
    with pytest.raises(ValueError, match="offset must have shape"):
        clf.predict(X[:5], offset=np.zeros(5))
    with pytest.raises(TypeError, match="real numbers"):
        clf.predict_proba(X[:2], offset=[["a", "b", "c"]] * 2)


def test_a_warm_start_outside_new_bounds_is_a_clear_error():
    X, y = standardized(load_iris)
    clf = MaxEntClassifier(alpha=0.01, solver="lbfgs", warm_start=True).fit(X, y)
    before = clf.coef_.copy()
    with pytest.raises(ValueError, match="outside bounds"):
        clf.set_params(bounds=(0, None)).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, before)


def test_offset_is_routed_through_pipeline_and_grid_search():
    X, y, _, offset, _ = problem(load_iris)
    with config_context(enable_metadata_routing=True):
        clf = (
            MaxEntClassifier(alpha=0.01, solver="lbfgs")
            .set_fit_request(offset=True)
            .set_predict_request(offset=True)
            .set_predict_proba_request(offset=True)
            .set_score_request(offset=True)
        )
        pipe = make_pipeline(StandardScaler(), clf).fit(X, y, offset=offset)
        direct = MaxEntClassifier(alpha=0.01, solver="lbfgs").fit(
            StandardScaler().fit_transform(X), y, offset=offset
        )
        np.testing.assert_allclose(pipe[-1].coef_, direct.coef_, atol=1e-12)
        np.testing.assert_array_equal(pipe.predict(X, offset=offset), direct.predict(X, offset=offset))
        np.testing.assert_allclose(
            pipe.predict_proba(X, offset=offset), direct.predict_proba(X, offset=offset)
        )
        search = GridSearchCV(pipe, {"maxentclassifier__alpha": [0.01, 0.1]}, cv=3).fit(X, y, offset=offset)
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
        best = search.best_estimator_
        assert search.score(X, y, offset=offset) == best.score(X, y, offset=offset)
        # The offsets reached the scorer: scores without them differ on this data.
        assert best.score(X, y, offset=offset) != best.score(X, y, offset=np.zeros_like(offset))


@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_options_persist(how, tmp_path):
    X, y, factor, offset, prior = problem(load_iris)
    clf = MaxEntClassifier(alpha=0.05, penalty_factor=factor, bounds=(-1, 1), coef_prior=prior).fit(
        X, y, offset=offset
    )
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(clf))
    else:
        sio = pytest.importorskip("skops.io")
        path = tmp_path / "model.skops"
        sio.dump(clf, path)
        loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    np.testing.assert_array_equal(loaded.predict_proba(X, offset=offset), clf.predict_proba(X, offset=offset))
    np.testing.assert_array_equal(loaded.penalty_factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refit = loaded.fit(X, y, offset=offset)
    np.testing.assert_allclose(refit.coef_, clf.coef_, atol=1e-10)


@pytest.mark.parametrize("solver", ["lbfgs", "saga", "sgd"])
def test_float32_weights_stay_within_bounds_not_representable_in_float32(solver):
    X, y = standardized(load_iris)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sgd may stop short of the certificate
        clf = MaxEntClassifier(
            alpha=1e-3, solver=solver, bounds=(-0.02, 0.02), coef_prior=np.full((3, 4), 0.01), random_state=0
        ).fit(X, y)
    assert clf.coef_.dtype == np.float32
    assert (clf.coef_.astype(np.float64) >= -0.02).all()
    assert (clf.coef_.astype(np.float64) <= 0.02).all()
