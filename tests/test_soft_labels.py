"""Soft labels, label smoothing and the expectation gap, against independent references."""

import numpy as np
import pytest
from scipy import optimize, sparse, special
from sklearn.datasets import load_iris, load_wine, make_classification
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def one_hot(y, n_classes):
    return np.eye(n_classes)[y]


def soft_label_optimum(X, Y, alpha):
    """Probabilities at the minimizer of mean_i -sum_k Y_ik log softmax(S_i)_k + alpha/2 ||W||^2.

    Solved by scipy's L-BFGS from the definition, sharing no code with the package. The scores
    are ``S = X W + b`` with all K columns free, except for two classes, where, as in the
    logistic model, class 0 scores 0 and ``W`` is the one column of class 1.
    """
    n, d = X.shape
    k = Y.shape[1]
    free = k - 1 if k == 2 else k

    def scores(W, b):
        S = X @ W + b
        return np.hstack([np.zeros((n, 1)), S]) if free < k else S

    def value_and_grad(theta):
        W, b = theta[: d * free].reshape(d, free), theta[d * free :]
        log_proba = special.log_softmax(scores(W, b), axis=1)
        residual = ((np.exp(log_proba) - Y) / n)[:, k - free :]
        value = -np.sum(Y * log_proba) / n + 0.5 * alpha * np.sum(W**2)
        return value, np.concatenate([(X.T @ residual + alpha * W).ravel(), residual.sum(axis=0)])

    result = optimize.minimize(
        value_and_grad,
        np.zeros(d * free + free),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 0, "maxiter": 20_000},
    )
    W, b = result.x[: d * free].reshape(d, free), result.x[d * free :]
    return special.softmax(scores(W, b), axis=1), result.fun


def dirichlet_targets(y, n_classes, concentration, seed=0):
    """Label distributions that favour the true class: a teacher's soft labels."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n_classes), len(y)) * (1 - concentration) + concentration * one_hot(
        y, n_classes
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_soft_labels_reach_the_scipy_optimum(wine, n_classes):
    X, y = wine
    keep = y < n_classes
    X, y = X[keep], y[keep]
    Y = dirichlet_targets(y, n_classes, 0.6)
    alpha = 1e-2
    clf = MaxEntClassifier(alpha=alpha, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(clf.classes_, np.arange(n_classes))
    np.testing.assert_allclose(clf.predict_proba(X), soft_label_optimum(X, Y, alpha)[0], atol=1e-6)


def test_one_hot_targets_give_the_model_of_the_labels(wine):
    X, y = wine
    by_labels = MaxEntClassifier(alpha=1e-3, random_state=0).fit(X, y)
    by_targets = MaxEntClassifier(alpha=1e-3, random_state=0).fit(X, one_hot(y, 3))
    np.testing.assert_allclose(by_targets.coef_, by_labels.coef_, atol=1e-7)
    np.testing.assert_allclose(by_targets.intercept_, by_labels.intercept_, atol=1e-7)


def test_one_hot_targets_with_class_weights_give_the_model_of_the_labels(wine):
    X, y = wine
    params = {"alpha": 1e-3, "class_weight": {0: 3.0, 2: 0.5}, "random_state": 0}
    by_labels = MaxEntClassifier(**params).fit(X, y)
    by_targets = MaxEntClassifier(**params).fit(X, one_hot(y, 3))
    np.testing.assert_allclose(by_targets.coef_, by_labels.coef_, atol=1e-7)


def test_sparse_soft_labels_on_sparse_data(wine):
    X, y = wine
    Y = dirichlet_targets(y, 3, 0.5)
    dense = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, Y)
    from_sparse = MaxEntClassifier(alpha=1e-2, random_state=0).fit(sparse.csr_matrix(X), sparse.csr_matrix(Y))
    np.testing.assert_allclose(from_sparse.coef_, dense.coef_, atol=1e-7)


def test_label_smoothing_equals_the_smoothed_targets(wine):
    X, y = wine
    eps = 0.2
    smoothed = MaxEntClassifier(alpha=1e-3, label_smoothing=eps, random_state=0).fit(X, y)
    reference, _ = soft_label_optimum(X, (1 - eps) * one_hot(y, 3) + eps / 3, 1e-3)
    np.testing.assert_allclose(smoothed.predict_proba(X), reference, atol=1e-6)
    as_targets = MaxEntClassifier(alpha=1e-3, random_state=0).fit(X, (1 - eps) * one_hot(y, 3) + eps / 3)
    np.testing.assert_allclose(smoothed.coef_, as_targets.coef_, atol=1e-8)
    np.testing.assert_array_equal(smoothed.classes_, [0, 1, 2])


def test_label_smoothing_caps_the_confidence():
    """Unpenalized and separable: smoothing alone keeps the optimum finite, at P = 1 - eps + eps/K.

    With one feature, x = -1 for class 0 and +1 for class 1, the model matches the smoothed
    targets exactly (a closed form): P(true class) = 0.9 + 0.1 / 2 at both points.
    """
    X = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    y = np.array([0, 0, 1, 1])
    clf = MaxEntClassifier(alpha=0.0, label_smoothing=0.1, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba[[0, 3], [0, 1]] == pytest.approx([0.95, 0.95], abs=1e-8)


def test_column_vector_y_stays_labels(wine):
    X, y = wine
    with pytest.warns(DataConversionWarning):
        clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y[:, None])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (np.array([[0.5, 0.6], [0.5, 0.5]]), "sum to 1"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), "non-negative"),
        (np.array([[1.0, 1.0], [0.0, 1.0]]), "multilabel"),
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), "NaN"),
        (np.array([[np.inf, 1.0], [0.0, 1.0]]), "infinity"),
    ],
)
def test_bad_soft_labels_are_rejected_before_any_change(Y, match):
    X = np.array([[0.0], [1.0]])
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, [0, 1])
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match=match):
        clf.fit(X, Y)
    with pytest.raises(ValueError, match=match):
        clf.partial_fit(X, Y)
    np.testing.assert_array_equal(clf.coef_, coef)


def test_partial_fit_streams_soft_labels_to_the_optimum():
    """Three passes of partial_fit over chunks reach within 1e-2 of the soft-label optimum."""
    X, y = make_classification(20_000, 20, n_informative=10, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    Y = dirichlet_targets(y, 4, 0.6)
    alpha = 1.0 / len(y)
    clf = MaxEntClassifier(alpha=alpha, random_state=0)
    chunks = np.array_split(np.arange(len(y)), 5)
    for _ in range(3):
        for chunk in chunks:
            clf.partial_fit(X[chunk], Y[chunk])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])
    ours = -np.sum(Y * clf.predict_log_proba(X)) / len(y) + 0.5 * alpha * np.sum(clf.coef_**2)
    _, optimum = soft_label_optimum(X, Y, alpha)
    assert ours <= optimum * (1 + 1e-2)
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match="one column per class"):
        clf.partial_fit(X, Y[:, :2] / Y[:, :2].sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(clf.coef_, coef)


# ------------------------------------------------------------------ expectation gap


def observed_gap(clf, X, Y, weights):
    """sum_i s_i x_i (P_i - Y_i) / sum_i s_i from predict_proba, by the definition."""
    residual = (clf.predict_proba(X) - Y) * weights[:, None] / weights.sum()
    return (np.asarray(X.T @ residual)).T


@pytest.mark.parametrize("as_sparse", [False, True])
def test_expectation_gap_is_minus_alpha_coef_at_the_l2_optimum(wine, as_sparse):
    X, y = wine
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    Xs = sparse.csr_matrix(X) if as_sparse else X
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(Xs, y, sample_weight=weights)
    gap = clf.expectation_gap(Xs, y, sample_weight=weights)
    np.testing.assert_allclose(gap, observed_gap(clf, X, one_hot(y, 3), weights), atol=1e-12)
    np.testing.assert_allclose(gap, -clf.alpha * clf.coef_, atol=1e-9)


def test_expectation_gap_of_a_binary_model_is_that_of_the_second_class():
    X, y = load_iris(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[y > 0]), y[y > 0]
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
    gap = clf.expectation_gap(X, y)
    assert gap.shape == clf.coef_.shape == (1, 4)
    full = observed_gap(clf, X, one_hot(y - 1, 2), np.ones(len(y)))
    np.testing.assert_allclose(gap[0], full[1], atol=1e-12)
    np.testing.assert_allclose(gap, -clf.alpha * clf.coef_, atol=1e-9)


def test_expectation_gap_vanishes_without_penalty():
    """Noisy labels keep the unpenalized optimum finite: there E_est = E_obs for every feature."""
    X, y = make_classification(2_000, 6, n_informative=4, n_classes=3, flip_y=0.3, random_state=0)
    clf = MaxEntClassifier(alpha=0.0, random_state=0).fit(X, y)
    assert np.abs(clf.expectation_gap(X, y)).max() < 1e-9


def test_expectation_gap_rejects_unknown_labels(wine):
    X, y = wine
    clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not in classes"):
        clf.expectation_gap(X, y + 1)
