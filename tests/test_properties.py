"""Property-based tests (hypothesis) of MaxEntClassifier's invariances, against scipy where it applies."""

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special

from sklearn_maxent import MaxEntClassifier

FAST = settings(max_examples=25, deadline=None)
FITS = settings(max_examples=12, deadline=None)  # each example fits two models

finite = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)


def template(n_classes):
    """A fitted model with ``n_classes`` classes on 3 features, whose coef_/intercept_ tests overwrite."""
    X = np.random.RandomState(0).randn(6 * n_classes, 3)
    y = np.arange(6 * n_classes) % n_classes
    return MaxEntClassifier(solver="lbfgs").fit(X, y)


TEMPLATES = {k: template(k) for k in (2, 3, 5)}


@st.composite
def models_and_data(draw, magnitude=1e100):
    """A fitted model with arbitrary coef_ and intercept_, and data whose scores reach ``magnitude``."""
    n_classes = draw(st.sampled_from(sorted(TEMPLATES)))
    model = copy.deepcopy(TEMPLATES[n_classes])
    bound = np.sqrt(magnitude / 3)
    elements = st.floats(-bound, bound, allow_nan=False)
    model.coef_ = draw(arrays(np.float64, model.coef_.shape, elements=elements))
    model.intercept_ = draw(arrays(np.float64, model.intercept_.shape, elements=elements))
    X = draw(arrays(np.float64, (draw(st.integers(1, 8)), 3), elements=elements))
    return model, X


def full_scores(model, X):
    scores = X @ model.coef_.T + model.intercept_
    return np.hstack([np.zeros((len(X), 1)), scores]) if len(model.classes_) == 2 else scores


@FAST
@given(models_and_data())
def test_probabilities_are_distributions_equal_to_scipys_softmax(model_and_X):
    model, X = model_and_X
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    scores = full_scores(model, X)
    np.testing.assert_allclose(proba, special.softmax(scores, axis=1), rtol=1e-9, atol=1e-300)
    log_proba = model.predict_log_proba(X)
    assert np.isfinite(log_proba).all()
    np.testing.assert_allclose(log_proba, special.log_softmax(scores, axis=1), rtol=1e-9, atol=1e-12)


@FAST
@given(models_and_data(magnitude=1e6), st.floats(-1e6, 1e6, allow_nan=False))
def test_a_shift_common_to_all_scores_changes_nothing(model_and_X, shift):
    model, X = model_and_X
    if len(model.classes_) == 2:
        return  # the binary model has one free score; the shift is the reference class's
    shifted = copy.deepcopy(model)
    shifted.intercept_ = model.intercept_ + shift
    np.testing.assert_allclose(shifted.predict_proba(X), model.predict_proba(X), rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ invariances of the fitted model


@st.composite
def data_sets(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    n_classes = draw(st.integers(2, 4))
    n = draw(st.integers(3 * n_classes, 40))
    rng = np.random.RandomState(seed)
    X = rng.randn(n, draw(st.integers(1, 4)))
    y = rng.permutation(np.arange(n) % n_classes)
    return X, y, rng


def tight(**params):
    return MaxEntClassifier(alpha=1e-2, solver="lbfgs", tol=1e-10, max_iter=1000, random_state=0, **params)


def assert_same_model(first, second, X, atol=1e-7):
    np.testing.assert_allclose(first.coef_, second.coef_, rtol=0, atol=atol)
    np.testing.assert_allclose(first.intercept_, second.intercept_, rtol=0, atol=atol)
    np.testing.assert_allclose(first.predict_proba(X), second.predict_proba(X), rtol=0, atol=atol)


@FITS
@given(data_sets())
def test_permuting_the_rows_gives_the_same_optimum(data):
    X, y, rng = data
    order = rng.permutation(len(y))
    assert_same_model(tight().fit(X, y), tight().fit(X[order], y[order]), X)


@FITS
@given(data_sets(), st.floats(1e-3, 1e3))
def test_scaling_all_sample_weights_gives_the_same_model(data, factor):
    X, y, rng = data
    weights = rng.uniform(0.1, 2.0, len(y))
    assert_same_model(
        tight().fit(X, y, sample_weight=weights), tight().fit(X, y, sample_weight=weights * factor), X
    )


@FITS
@given(data_sets())
def test_a_weight_of_two_is_a_repeated_sample(data):
    X, y, rng = data
    i = rng.randint(len(y))
    weights = np.ones(len(y))
    weights[i] = 2.0
    repeated = tight().fit(np.vstack([X, X[i : i + 1]]), np.append(y, y[i]))
    assert_same_model(tight().fit(X, y, sample_weight=weights), repeated, X)


@FITS
@given(data_sets())
def test_relabeling_the_classes_permutes_the_probability_columns(data):
    X, y, rng = data
    n_classes = y.max() + 1
    names = np.array(["ant", "bee", "cat", "dog"])[rng.permutation(4)[:n_classes]]
    relabeled = tight().fit(X, names[y])
    original = tight().fit(X, y)
    # classes_ of the relabeled model are the names, sorted: column k is the class named sorted(names)[k].
    columns = [int(np.flatnonzero(names == name)[0]) for name in relabeled.classes_]
    np.testing.assert_allclose(relabeled.predict_proba(X), original.predict_proba(X)[:, columns], atol=1e-7)
    np.testing.assert_array_equal(relabeled.predict(X), names[original.predict(X)])
