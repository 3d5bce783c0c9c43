"""learning_rate="adagrad": per-feature steps for SGD and partial_fit on sparse streams.

The epochs themselves are tested against an eager NumPy reference in
``test_epoch_kernel.py``; here the estimator: a stream of small sparse chunks,
the state kept across ``partial_fit`` calls, and what it refuses.
"""

import numpy as np
import pytest
from text_like import text_like

from sklearn_maxent import MaxEntClassifier


def stream_accuracy(classifier, X, y, X_test, y_test, chunk=100):
    """Test accuracy after one partial_fit pass over ``X`` in chunks of ``chunk`` rows."""
    classes = np.unique(y)
    for start in range(0, X.shape[0], chunk):
        classifier.partial_fit(X[start : start + chunk], y[start : start + chunk], classes=classes)
    return classifier.score(X_test, y_test)


def test_one_adagrad_pass_over_a_sparse_stream_reaches_the_optimum_accuracy():
    """Chunks of 100 rows (so minibatches of 100), one pass, eta0 and alpha at their defaults.

    Measured on three seeds (8,000 rows, 5,000 words, 10 classes; test accuracy):
    the optimum (L-BFGS to tol) 0.936 / 0.926 / 0.914, one AdaGrad pass 0.952 /
    0.953 / 0.945, one pass of the "adaptive" schedule (one step for all weights)
    0.887 / 0.869 / 0.899: the rare words a class favours get their full step with
    AdaGrad only.
    """
    X, y = text_like(10_000)
    X_train, y_train, X_test, y_test = X[:8000], y[:8000], X[8000:], y[8000:]
    optimum = MaxEntClassifier(solver="lbfgs").fit(X_train, y_train).score(X_test, y_test)
    data = X_train, y_train, X_test, y_test
    adagrad = stream_accuracy(MaxEntClassifier(learning_rate="adagrad", random_state=0), *data)
    adaptive = stream_accuracy(MaxEntClassifier(learning_rate="adaptive", random_state=0), *data)
    assert adagrad >= optimum - 0.01
    assert adagrad >= adaptive + 0.03


def test_adagrad_sums_are_kept_across_partial_fit_calls():
    X, y = text_like(400)
    classifier = MaxEntClassifier(learning_rate="adagrad").partial_fit(X[:200], y[:200], classes=np.unique(y))
    sums = classifier._sgd_state_.adagrad_sums.copy()
    assert sums.shape == (X.shape[1] + 1,)
    classifier.partial_fit(X[200:], y[200:])
    grown = classifier._sgd_state_.adagrad_sums
    assert np.all(grown >= sums)
    assert grown[-1] > sums[-1]  # the intercept's, touched at every step


@pytest.mark.parametrize("solver", ["auto", "saga"])
def test_adagrad_is_for_plain_sgd(solver):
    X, y = text_like(300)
    with pytest.raises(ValueError, match="adagrad"):
        MaxEntClassifier(learning_rate="adagrad", solver=solver).fit(X, y)
    MaxEntClassifier(learning_rate="adagrad", solver="sgd", max_iter=3, tol=None).fit(X, y)
    with pytest.raises(ValueError, match="average"):
        MaxEntClassifier(learning_rate="adagrad", solver="sgd", average=True).fit(X, y)
