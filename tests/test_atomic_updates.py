"""A fit or partial_fit that raises, or is interrupted, leaves the model exactly as it was.

Failures are injected inside the optimizer (an SGD epoch, an L-BFGS/Newton
gradient) after some work was done, so the in-flight weights and SGD state
differ from the stored ones when the exception arrives.
"""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sklearn_maxent import MaxEntClassifier, _base, _classifier
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._optim import _epochs, _minimize, _newton, _sgd

X, y = make_classification(200, 5, n_informative=3, n_classes=3, random_state=0)
X2, y2 = make_classification(200, 5, n_informative=3, n_classes=3, random_state=1)


class Injected(Exception):
    pass


def fail_after(monkeypatch, owner, name, calls, exception):
    """Make ``owner.name`` raise ``exception`` on its ``calls + 1``-th call (the first ``calls`` run)."""
    original = getattr(owner, name)
    count = {"n": 0}

    def wrapper(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise exception
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return count


def fitted_state(estimator):
    return pickle.dumps({key: value for key, value in vars(estimator).items() if key.endswith("_")})


def assert_untouched(estimator, before):
    if before is None:
        assert [key for key in vars(estimator) if key.endswith("_")] == []
    else:
        assert fitted_state(estimator) == before
        assert estimator.coef_.tobytes() == pickle.loads(before)["coef_"].tobytes()


INJECTION_POINTS = [
    pytest.param("sgd", _sgd, "_sgd_epoch", 2, id="sgd-epoch"),
    pytest.param("saga", _sgd, "_saga_epoch", 2, id="saga-epoch"),
    pytest.param("lbfgs", Objective, "smooth_value_gradient", 5, id="lbfgs-gradient"),
    pytest.param("lbfgs", _newton.NewtonSolver, "line_search", 1, id="newton-step"),
    pytest.param("auto", _sgd, "_saga_epoch", 1, id="auto-saga-epoch"),
    pytest.param("auto", _minimize, "newton", 0, id="auto-newton"),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("exception", [KeyboardInterrupt, Injected], ids=["KeyboardInterrupt", "Exception"])
@pytest.mark.parametrize(("solver", "owner", "name", "calls"), INJECTION_POINTS)
@pytest.mark.parametrize("warm_start", [False, True])
def test_interrupted_fit_leaves_the_model_as_it_was(
    monkeypatch, exception, solver, owner, name, calls, warm_start
):
    model = MaxEntClassifier(
        solver=solver, batch_size=16, max_iter=300, random_state=0, warm_start=warm_start
    )
    model.fit(X, y)
    before = fitted_state(model)
    fresh = MaxEntClassifier(solver=solver, batch_size=16, max_iter=300, random_state=0)
    count = fail_after(monkeypatch, owner, name, calls, exception)
    for estimator, state in ((model, before), (fresh, None)):
        count["n"] = 0
        with pytest.raises(exception):
            estimator.fit(X2, y2)
        assert count["n"] > calls  # the failure came mid-fit, after `calls` successful calls
        assert_untouched(estimator, state)


@pytest.mark.parametrize("exception", [KeyboardInterrupt, Injected], ids=["KeyboardInterrupt", "Exception"])
@pytest.mark.parametrize("average", [False, True])
def test_interrupted_partial_fit_leaves_the_stream_as_it_was(monkeypatch, exception, average):
    """A later call interrupted in its epoch: state untouched; the stream goes on as if it never happened."""
    kwargs = {"batch_size": 16, "random_state": 0, "average": average}
    model = MaxEntClassifier(**kwargs).partial_fit(X, y, classes=[0, 1, 2])
    reference = MaxEntClassifier(**kwargs).partial_fit(X, y, classes=[0, 1, 2])
    before = fitted_state(model)

    # The epoch is one compiled call: interrupted once it has updated the weights in
    # place, before they are judged and kept.
    original = _epochs._finish_epoch

    def interrupt_after_the_kernel(*args):
        raise exception

    monkeypatch.setattr(_epochs, "_finish_epoch", interrupt_after_the_kernel)
    with pytest.raises(exception):
        model.partial_fit(X2, y2)
    assert_untouched(model, before)
    fresh = MaxEntClassifier(**kwargs)
    with pytest.raises(exception):
        fresh.partial_fit(X2, y2, classes=[0, 1, 2])
    assert_untouched(fresh, None)

    monkeypatch.setattr(_epochs, "_finish_epoch", original)
    model.partial_fit(X2, y2)
    reference.partial_fit(X2, y2)
    assert fitted_state(model) == fitted_state(reference)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_non_finite_weights_are_an_error_and_not_stored(monkeypatch, method):
    model = MaxEntClassifier(solver="sgd", batch_size=16, max_iter=5, tol=None, random_state=0)
    model.fit(X, y) if method == "fit" else model.partial_fit(X, y, classes=[0, 1, 2])
    before = fitted_state(model)
    module, name = (_base, "minimize") if method == "fit" else (_classifier, "sgd")
    original = getattr(module, name)

    def poison(objective, coef, *args, **kwargs):
        result = original(objective, coef, *args, **kwargs)
        coef[0, 0] = np.nan  # past the optimizer's own checks of the epochs
        return result

    monkeypatch.setattr(module, name, poison)
    call = model.fit if method == "fit" else model.partial_fit
    with pytest.raises(FloatingPointError, match="non-finite weights; the model was not updated"):
        call(X2, y2)
    assert_untouched(model, before)
