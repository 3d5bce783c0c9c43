"""Problems whose Hessian is singular, or whose data carry no information: fitted, not an error.

Pure L1 (no L2 curvature) with linearly dependent columns leaves directions
along which the objective is flat or, across orthants, linear; an all-zero
design leaves nothing to learn but the prior. Both are legitimate input.
References are ``LogisticRegression``'s objective values and the optimality
(KKT) conditions, never numbers of our own.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._classifier import _floating_point_advice
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import newton
from sklearn_maxent._optim._newton import _largest_gradient

ALPHA = 0.01


def dependent_columns(seed, n_informative):
    """The issue's data: 20 features, 3 noise columns and two identical constant columns."""
    rng = np.random.RandomState(seed)
    X, y = make_classification(n_samples=100, n_features=20, n_informative=n_informative, random_state=seed)
    return np.hstack([X, rng.normal(size=(100, 3)), np.ones((100, 2))]), y


def l1_objective(model, X, y):
    """``J`` of a fitted binary model, computed independently: mean log-loss plus ``alpha * ||W||_1``."""
    return log_loss(y, model.predict_proba(X)) + ALPHA * np.abs(model.coef_).sum()


def kkt_violation(model, X, y):
    """Largest entry of the minimum-norm subgradient of ``J`` at the fitted weights (0 at the optimum)."""
    objective = Objective(X, np.eye(2)[y], np.ones(len(y)), ElasticNet(ALPHA, 1.0), False, True)
    return _largest_gradient(objective, model.coef_.T.copy(), model.intercept_.copy())[1]


# Seed 9 raised FloatingPointError (CG broke down on a zero curvature) on the
# development machine; which seeds do depends on the BLAS's rounding.
@pytest.mark.parametrize(("seed", "n_informative"), [(0, 2)] + [(seed, 5) for seed in range(20)])
def test_pure_l1_with_dependent_columns_reaches_the_saga_optimum(seed, n_informative):
    X, y = dependent_columns(seed, n_informative)
    ours = MaxEntClassifier(alpha=ALPHA, l1_ratio=1, fit_intercept=False).fit(X, y)
    saga = LogisticRegression(
        l1_ratio=1, solver="saga", C=1 / (ALPHA * len(y)), fit_intercept=False, tol=1e-6, max_iter=100_000
    ).fit(X, y)
    assert l1_objective(ours, X, y) <= l1_objective(saga, X, y) + 1e-12
    assert kkt_violation(ours, X, y) <= 1e-10
    # The identical columns share their weight without opposite signs (which would cost L1 for nothing).
    assert ours.coef_[0, -2] * ours.coef_[0, -1] >= 0


def test_newton_from_opposite_signs_on_identical_columns_converges():
    """The root cause, deterministically: no curvature along ``e_a - e_b``, a pseudo-gradient of ``2 l1``.

    Unregularized, the Newton system has no solution there and CG diverges or
    breaks down (0/0); the damped system moves the pair to one sign.
    """
    X, y = dependent_columns(0, 2)
    objective = Objective(X, np.eye(2)[y], np.ones(len(y)), ElasticNet(ALPHA, 1.0), False, True)
    coef = np.zeros((X.shape[1], 1))
    coef[-2:, 0] = [1.0, -1.0]
    intercept = np.zeros(1)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = newton(objective, coef, intercept, tol=1e-10, max_iter=100)
    assert result.converged
    assert _largest_gradient(objective, coef, intercept)[1] <= 1e-10
    assert coef[-2, 0] * coef[-1, 0] >= 0


@pytest.mark.parametrize("solver", ["auto", "saga", "sgd", "lbfgs"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize(("alpha", "l1_ratio"), [(1e-4, 0.0), (0.0, 0.0), (0.01, 1.0)])
def test_all_zero_design_fits_the_prior(solver, fit_intercept, alpha, l1_ratio):
    """No feature carries information: the model is the class frequencies (uniform without an intercept)."""
    y = np.arange(20) % 3
    y[:3] = 0  # unequal frequencies
    clf = MaxEntClassifier(solver=solver, fit_intercept=fit_intercept, alpha=alpha, l1_ratio=l1_ratio)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning, no ConvergenceWarning
        clf.fit(np.zeros((20, 3)), y)
    np.testing.assert_array_equal(clf.coef_, 0)
    prior = np.bincount(y) / len(y) if fit_intercept else np.full(3, 1 / 3)
    np.testing.assert_allclose(clf.predict_proba(np.zeros((2, 3))), [prior, prior], atol=1e-3)


def test_all_zero_design_in_partial_fit():
    clf = MaxEntClassifier(fit_intercept=False, random_state=0)
    clf.partial_fit(np.zeros((20, 3)), np.arange(20) % 2, classes=[0, 1])
    np.testing.assert_array_equal(clf.coef_, 0)


@pytest.mark.parametrize(
    ("largest", "dtype", "eta0", "blamed"),
    [
        (1e150, np.float64, "auto", "scale the features"),
        (1e10, np.float32, "auto", "scale the features"),
        (4.7, np.float64, "auto", "report it"),
        (1e30, np.float64, "auto", "report it"),
        (4.7, np.float64, 1e8, "lower eta0=100000000.0"),
    ],
)
def test_floating_point_advice_blames_the_scale_only_when_it_can_overflow(largest, dtype, eta0, blamed):
    X = np.full((3, 2), largest, dtype=dtype)
    advice = _floating_point_advice(X, eta0)
    assert blamed in advice
    if blamed != "scale the features":
        assert "scale the features" not in advice


def test_a_solver_failure_on_moderate_features_does_not_blame_their_scale(monkeypatch):
    """The issue's message told the user to scale features whose largest value was 4.7."""
    from sklearn_maxent import _base

    def failing_minimize(*args, **kwargs):
        raise FloatingPointError("invalid value encountered in multiply")

    monkeypatch.setattr(_base, "minimize", failing_minimize)
    X, y = dependent_columns(0, 2)
    with pytest.raises(FloatingPointError, match="the model was not updated") as error:
        MaxEntClassifier(alpha=ALPHA, l1_ratio=1).fit(X, y)
    assert "scale the features" not in str(error.value)
    assert f"largest magnitude {np.abs(X).max():.3g}" in str(error.value)
