"""SAGA's step and auto's hand-off on many-class text, where Bottou's calibration oscillates.

The calibration tries steps from zero weights, where the softmax is flat over 40 classes and
the curvature far below its bound; once the model is confident the step it picked makes SAGA's
epoch loss alternate (issue 20: 150 epochs on real text at C=10, the hand-off never firing).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from text_like import text_like

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import SGDState, StepSchedule, _sgd, _sgd_stopping, sgd


@pytest.fixture(scope="module")
def many_classes():
    X, y = text_like(6_000, n_words=20_000, n_classes=40, seed=0)
    return X, y, 1 / (10 * X.shape[0])  # C = 10


def objective(clf, X, y, alpha):
    """``J``: the training log-loss plus ``alpha / 2 ||W||^2``."""
    return log_loss(y, clf.predict_proba(X), labels=clf.classes_) + alpha / 2 * np.sum(clf.coef_**2)


def rises(curve):
    """Epochs whose loss is 0.1 % above the previous epoch's."""
    return int(np.sum(np.diff(curve) > 1e-3 * np.asarray(curve[:-1])))


def test_saga_halves_a_calibrated_step_whose_oscillation_does_not_damp(many_classes, monkeypatch):
    """A calibration that overshoots (twice its own pick here, as 16 x 1 / L_b did on real text)."""
    X, y, alpha = many_classes
    params = {"alpha": alpha, "solver": "saga", "tol": None, "random_state": 0, "max_iter": 15}
    calibrate = _sgd.calibrated_step
    monkeypatch.setattr(_sgd, "calibrated_step", lambda *args: 2 * calibrate(*args))
    overshoot = MaxEntClassifier(**(params | {"max_iter": 1})).fit(X, y)._sgd_state_.schedule.eta0
    # The user's step is kept: there the oscillation goes on.
    fixed = MaxEntClassifier(eta0=overshoot, **params).fit(X, y)
    assert fixed._sgd_state_.schedule.eta0 == overshoot
    assert rises(fixed.loss_curve_) >= 5
    # Ours is halved where a swing is more than half the one before.
    auto = MaxEntClassifier(**params).fit(X, y)
    assert auto._sgd_state_.schedule.eta0 <= overshoot / 2
    # Judged by J itself: the epoch losses of an oscillating run are measured at moving iterates.
    assert objective(auto, X, y, alpha) < objective(fixed, X, y, alpha)


def test_a_damped_oscillation_keeps_the_calibrated_step(many_classes):
    """At the calibrated step the swings shrink: halving it would only slow the fit."""
    X, y, alpha = many_classes
    params = {"alpha": alpha, "solver": "saga", "tol": None, "random_state": 0}
    calibrated = MaxEntClassifier(max_iter=1, **params).fit(X, y)._sgd_state_.schedule.eta0
    auto = MaxEntClassifier(max_iter=15, **params).fit(X, y)
    assert rises(auto.loss_curve_) >= 1
    assert auto._sgd_state_.schedule.eta0 == calibrated


def test_the_default_fit_hands_over_and_converges_where_saga_oscillated(many_classes):
    X, y, alpha = many_classes
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MaxEntClassifier(alpha=alpha, random_state=0).fit(X, y)
    assert clf.duality_gap_ <= 1e-6
    saga_epochs = len(clf.loss_curve_) - (clf.n_iter_ - len(clf.loss_curve_))
    assert clf.n_iter_ < clf.max_iter
    assert saga_epochs <= clf.max_iter // 10


@pytest.fixture(scope="module")
def weakly_penalized():
    X, y = text_like(3_000, n_words=5_000, n_classes=20, seed=0)
    return X, y, 1 / X.shape[0]  # C = 1


@pytest.mark.parametrize("overshoot", [1, 4])
def test_auto_saga_phase_halves_a_step_at_which_its_gradient_grows(weakly_penalized, monkeypatch, overshoot):
    """At 4 x the calibrated step SAGA hovers: its memory's gradient grows from an epoch to the next
    and J stays far above the optimum (2.03 after 15 epochs against 1.39). In a phase a stall ratio
    ends (auto's), the step is halved there and J ends lower than with the step kept; at the
    calibrated step the rule leaves it alone."""
    X, y, alpha = weakly_penalized
    calibrate = _sgd.calibrated_step
    monkeypatch.setattr(_sgd, "calibrated_step", lambda *args: overshoot * calibrate(*args))

    def phase():
        objective = Objective(X, np.eye(20)[y], np.ones(len(y)), ElasticNet(alpha, 0.0), True, False)
        coef, intercept = np.zeros(objective.parameter_shape), np.zeros(objective.parameter_shape[1])
        state = SGDState(StepSchedule("constant", None))
        options = {"stall_ratio": 1e-15, "stall_patience": 1000, "variance_reduced": True, "tol": None}
        options |= {"n_iter_no_change": 1000, "shuffle": True, "rng": np.random.RandomState(0)}
        sgd(objective, coef, intercept, state, batch_size=256, max_iter=15, **options)
        return state.schedule.eta0, objective.value(coef, intercept)

    ruled_step, ruled = phase()
    monkeypatch.setattr(_sgd_stopping.EpochJudge, "_hovering", lambda self, gradient: False)
    kept_step, kept = phase()
    if overshoot == 1:
        assert ruled_step == kept_step
        assert ruled == kept
    else:
        assert ruled_step <= kept_step / 2
        assert ruled < kept - 0.1


def test_saga_solver_halves_a_step_at_which_its_gradient_grows(many_classes, monkeypatch):
    """Under ``solver="saga"`` too (the text twin at C = 1 hovered 0.5 % above the optimum for 1,000
    epochs): at twice the calibrated step, C = 1, the halved step certifies 1e-6 within 20 epochs at
    every seed, while the kept one is still short of it after 100 epochs at 3 seeds of these 6 (the
    seed decides whether a kept step hovers; at least 2 asserted)."""
    X, y, _ = many_classes
    alpha = 1 / X.shape[0]
    calibrate = _sgd.calibrated_step
    monkeypatch.setattr(_sgd, "calibrated_step", lambda *args: 2 * calibrate(*args))

    def fits():
        return [
            MaxEntClassifier(alpha=alpha, solver="saga", random_state=seed, max_iter=100) for seed in range(6)
        ]

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ruled = [clf.fit(X, y) for clf in fits()]
    assert all(clf.duality_gap_ <= 1e-6 for clf in ruled)
    monkeypatch.setattr(_sgd_stopping.EpochJudge, "_hovering", lambda self, gradient: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        kept = [clf.fit(X, y) for clf in fits()]
    assert sum(clf.duality_gap_ > 1e-6 for clf in kept) >= 2
    assert sum(clf.n_iter_ for clf in ruled) < sum(clf.n_iter_ for clf in kept) / 2


def test_a_halved_step_starts_the_stall_count_again(weakly_penalized, monkeypatch):
    """Every epoch after the first stalls here (a stall ratio of 10), two in a row end the phase; a
    halving at epoch 3 gives the new step its own two epochs (on the text twin at C = 1 a loss that
    rose just after a halving had handed over to a Newton step of 4 s, where SAGA certified two
    epochs later)."""
    X, y, alpha = weakly_penalized
    monkeypatch.setattr(
        _sgd_stopping.EpochJudge, "_hovering", lambda self, gradient: len(self.state.loss_curve) == 3
    )

    def phase():
        objective = Objective(X, np.eye(20)[y], np.ones(len(y)), ElasticNet(alpha, 0.0), True, False)
        coef, intercept = np.zeros(objective.parameter_shape), np.zeros(objective.parameter_shape[1])
        state = SGDState(StepSchedule("constant", None))
        options = {"stall_ratio": 10.0, "stall_patience": 2, "variance_reduced": True, "tol": None}
        options |= {"n_iter_no_change": 1000, "shuffle": True, "rng": np.random.RandomState(0)}
        result = sgd(objective, coef, intercept, state, batch_size=256, max_iter=15, **options)
        return result.n_iter, state.schedule.eta0

    n_epochs, step = phase()
    monkeypatch.setattr(_sgd_stopping.EpochJudge, "_hovering", lambda self, gradient: False)
    kept_epochs, kept_step = phase()
    assert kept_epochs == 3
    assert (n_epochs, step) == (4, kept_step / 2)
