"""partial_fit as an online, out-of-core, truly multinomial learner; warm_start as SGDClassifier's."""

import itertools
import tracemalloc

import numpy as np
import pytest
from scipy import special
from sklearn.datasets import make_classification
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler
from text_like import text_like

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._optim import StepSchedule

TOPICS = ("sport", "music", "science", "travel")


def stream_of_documents(n_chunks, chunk_size, seed):
    """Yield (texts, labels) chunks of made-up documents, one chunk at a time (never the corpus).

    A document mixes common words (Zipf-distributed) with words of its topic.
    """
    rng = np.random.default_rng(seed)
    common = [f"word{i}" for i in range(2_000)]
    topical = {topic: [f"{topic}{i}" for i in range(200)] for topic in TOPICS}
    for _ in range(n_chunks):
        labels = rng.integers(0, len(TOPICS), chunk_size)
        texts = []
        for label in labels:
            words = [common[i % len(common)] for i in rng.zipf(1.3, 40)]
            words += list(rng.choice(topical[TOPICS[label]], 6))
            texts.append(" ".join(rng.permutation(words)))
        yield texts, np.array(TOPICS)[labels]


def test_text_streams_through_hashing_vectorizer_and_partial_fit():
    """The user guide's recipe for sparse streams: small minibatches, averaged (its streaming page)."""
    vectorizer = HashingVectorizer(n_features=2**18, alternate_sign=False)
    clf = MaxEntClassifier(alpha=1e-6, batch_size=16, average=True, random_state=0)
    for texts, labels in stream_of_documents(n_chunks=40, chunk_size=200, seed=0):
        clf.partial_fit(vectorizer.transform(texts), labels, classes=list(TOPICS))
    texts, labels = next(stream_of_documents(n_chunks=1, chunk_size=1_000, seed=1))
    assert clf.score(vectorizer.transform(texts), labels) > 0.95
    np.testing.assert_array_equal(clf.classes_, sorted(TOPICS))


def test_memory_does_not_grow_with_the_length_of_the_stream():
    vectorizer = HashingVectorizer(n_features=2**16, alternate_sign=False)
    clf = MaxEntClassifier(alpha=1e-6, random_state=0)
    chunks = [(vectorizer.transform(texts), labels) for texts, labels in stream_of_documents(40, 100, seed=0)]
    tracemalloc.start()
    try:
        held = []
        for i, (X, labels) in enumerate(chunks):
            clf.partial_fit(X, labels, classes=list(TOPICS))
            if i in (4, 39):
                held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    weight_bytes = 2**16 * len(TOPICS) * 8
    assert held[1] - held[0] < 0.05 * weight_bytes  # 35 more chunks: nothing kept per chunk


def objective(clf, X, y, alpha):
    log_proba = special.log_softmax(clf.decision_function(X), axis=1)
    return -log_proba[np.arange(len(y)), y].mean() + 0.5 * alpha * np.sum(clf.coef_**2)


def test_passes_of_averaged_partial_fit_reach_the_optimum_of_fit():
    """Chunks of 2,000 standardized rows: 1e-3 of LogisticRegression's objective in 3 passes."""
    X, y = make_classification(20_000, 20, n_informative=10, n_classes=5, random_state=0)
    X = StandardScaler().fit_transform(X)
    alpha = 1.0 / len(y)
    optimum = objective(LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y), X, y, alpha)
    clf = MaxEntClassifier(alpha=alpha, average=True, random_state=0)
    chunks = np.array_split(np.random.default_rng(0).permutation(len(y)), 10)
    for _ in range(3):
        for chunk in chunks:
            clf.partial_fit(X[chunk], y[chunk], classes=np.arange(5))
    assert objective(clf, X, y, alpha) <= optimum * (1 + 1e-3)
    assert clf.n_iter_ == 1  # one epoch per call
    assert clf.t_ == 60  # the step count goes on across calls: 2 minibatches (1024 rows) a chunk


def test_partial_fit_continues_the_step_schedule():
    X, y = make_classification(2_000, 10, n_classes=3, n_informative=5, random_state=0)
    clf = MaxEntClassifier(learning_rate="invscaling", batch_size=100, random_state=0)
    clf.partial_fit(X[:1_000], y[:1_000], classes=[0, 1, 2])
    assert clf.t_ == 10
    clf.partial_fit(X[1_000:], y[1_000:])
    assert clf.t_ == 20


def test_unknown_label_leaves_the_model_exactly_as_it_was():
    X, y = make_classification(300, 5, n_classes=3, n_informative=3, random_state=0)
    clf = MaxEntClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    before = {k: np.copy(v) for k, v in vars(clf).items() if k.endswith("_") and isinstance(v, np.ndarray)}
    t = clf.t_
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes"):
        clf.partial_fit(X, np.where(y == 2, 7, y))
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(clf, key), value)
    assert clf.t_ == t


def test_warm_start_fit_restarts_the_schedule_but_not_the_weights():
    X, y = make_classification(2_000, 10, n_classes=3, n_informative=5, random_state=0)
    clf = MaxEntClassifier(solver="sgd", max_iter=3, tol=None, warm_start=True, random_state=0)
    clf.fit(X, y)
    first_t, first_coef = clf.t_, clf.coef_.copy()
    clf.fit(X, y)
    assert clf.t_ == first_t  # as in SGDClassifier, fit counts its own steps from 0
    cold = MaxEntClassifier(solver="sgd", max_iter=3, tol=None, random_state=0).fit(X, y)
    # The second fit started from the first's weights, so it differs from a cold fit.
    assert not np.allclose(clf.coef_, cold.coef_)
    np.testing.assert_array_equal(cold.coef_, first_coef)


@pytest.mark.parametrize("change", ["features", "classes"])
def test_warm_start_on_other_data_is_an_error(change):
    X, y = make_classification(300, 5, n_classes=3, n_informative=3, random_state=0)
    clf = MaxEntClassifier(alpha=1e-2, warm_start=True, random_state=0).fit(X, y)
    coef = clf.coef_.copy()
    X2, y2 = (X[:, :4], y) if change == "features" else (X, y % 2)
    with pytest.raises(ValueError, match="warm_start=True"):
        clf.fit(X2, y2)
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.n_features_in_ == 5


def test_a_chunk_whose_steps_blow_its_rows_up_is_undone_and_retried_with_a_smaller_step():
    """eta0=1e3 blows the loss up: each chunk whose steps leave its own rows' loss far above what it
    was (twice, plus one nat) is undone and retried with a step ten times smaller, so no model
    between chunks is blown up, and training goes on. Without the check, the chunk after a blow-up
    lowered the step, but the blown-up model had been stored (held-out log-loss up to 11)."""
    X, y = make_classification(4_000, 20, n_informative=10, n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = MaxEntClassifier(eta0=1e3, learning_rate="constant", random_state=0)
    coefs, losses = [], []
    for chunk in np.array_split(np.arange(len(y)), 20):
        clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        coefs.append(clf.coef_.copy())
        losses.append(log_loss(y, clf.predict_proba(X)))
    assert clf._sgd_state_.schedule.eta0 < 1e3
    assert max(losses) < 2 * (np.log(3) + 1)
    assert not np.array_equal(coefs[-1], coefs[-2])  # still learning at the end
    assert np.isfinite(clf.coef_).all()


@pytest.mark.parametrize("average", [True, 5, 7])
def test_averaging_matches_sgdclassifier(average):
    """Issue 15, item 4: single-sample binary SGD averages the same iterates as SGDClassifier.

    SGDClassifier (``_plain_sgd``) averages the iterate after every step ``t``
    with ``average <= t`` (``t`` counts samples from 1): iterates 1..T for
    True, ``average``..T for an integer.
    """
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 10))
    y = np.sign(X @ rng.normal(size=10))
    options = {
        "learning_rate": "constant",
        "eta0": 0.1,
        "alpha": 2.0,
        "max_iter": 1,
        "shuffle": False,
        "tol": None,
    }
    ours = MaxEntClassifier(solver="sgd", batch_size=1, average=average, **options).fit(X, y)
    theirs = SGDClassifier(loss="log_loss", average=average, **options).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_one_row_chunk_after_full_minibatches_does_not_undo_the_model(seed):
    """The step is for the minibatch it was calibrated on (256 rows): one row takes 1/256 of it.

    A one-row chunk that took the whole step (16 x 1 / L_256 on text) moved the model by one
    document's gradient times that: held-out log-loss from 0.5 to 4-5 and accuracy to chance.
    """
    X, y = text_like(5_000, n_classes=20, seed=seed)
    X_train, y_train, X_test, y_test = X[:3_001], y[:3_001], X[3_001:], y[3_001:]
    clf = MaxEntClassifier(alpha=1e-5, random_state=seed)
    for start in range(0, 3_000, 1_000):
        clf.partial_fit(X_train[start : start + 1_000], y_train[start : start + 1_000], classes=np.arange(20))
    before = log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_), clf.score(X_test, y_test)
    clf.partial_fit(X_train[3_000:], y_train[3_000:])
    after = log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_), clf.score(X_test, y_test)
    assert after[0] <= before[0] + 0.01
    assert after[1] >= before[1] - 0.01


def test_fit_takes_a_short_last_minibatch_at_its_share_of_the_step():
    """n = 4 x 256 + 1: every SGD epoch ends on a one-row minibatch, which must not undo the epoch.

    At eta0=300 (a calibrated step on such data) the one-row minibatch at the whole step took
    the held-out log-loss from 1.02 (the same epochs without that row) to 4.5.
    """
    X, y = text_like(2_025, n_classes=20, seed=0)
    X_train, y_train, X_test, y_test = X[:1_025], y[:1_025], X[1_025:], y[1_025:]
    params = {"alpha": 1e-4, "solver": "sgd", "learning_rate": "constant", "eta0": 300.0, "max_iter": 5}
    # The same row order but for the last row: no shuffling, the one-row minibatch last.
    params |= {"tol": None, "shuffle": False}
    short = MaxEntClassifier(**params).fit(X_train, y_train)
    full = MaxEntClassifier(**params).fit(X_train[:1_024], y_train[:1_024])
    short_loss = log_loss(y_test, short.predict_proba(X_test), labels=short.classes_)
    full_loss = log_loss(y_test, full.predict_proba(X_test), labels=full.classes_)
    assert short_loss <= full_loss + 0.01


@pytest.fixture(scope="module")
def text_stream():
    """A 20newsgroups-like text stream of 8,000 rows (20 classes), 2,000 held out, and its batch optimum's
    accuracy at C = 1 (alpha = 1 / n_train)."""
    X, y = text_like(10_000, n_classes=20, seed=0)
    X_train, y_train, X_test, y_test = X[:8_000], y[:8_000], X[8_000:], y[8_000:]
    alpha = 1.0 / 8_000
    optimum = MaxEntClassifier(alpha=alpha).fit(X_train, y_train).score(X_test, y_test)
    return X_train, y_train, X_test, y_test, alpha, optimum


@pytest.mark.filterwarnings("ignore:The number of unique classes")  # chunks of a few rows
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_pass_in_chunks_of_any_size_learns_as_well_as_a_batch_fit(text_stream, seed):
    """Chunks of 1 to 2,000 rows (log-uniform: many small ones), the defaults: the pass ends within 0.01
    of the batch optimum's accuracy, and no chunk lowers the accuracy by more than 0.02.

    Measured (seeds 0, 1, 2): optimum 0.861; 0.859 / 0.857 / 0.855, the largest fall 0.007. The
    default before, learning_rate="adaptive" without averaging: 0.741 / 0.828 / 0.814, falls of
    0.15 / 0.04 / 0.15; "optimal" without averaging fell by 0.023 (seed 0).
    """
    X_train, y_train, X_test, y_test, alpha, optimum = text_stream
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(0, np.log(2_000), 200)).astype(int)
    bounds = np.unique(np.minimum(np.concatenate([[0], np.cumsum(sizes)]), len(y_train)))
    clf = MaxEntClassifier(alpha=alpha, random_state=seed)
    accuracies = []
    for start, stop in itertools.pairwise(bounds):
        clf.partial_fit(X_train[start:stop], y_train[start:stop], classes=np.arange(20))
        accuracies.append(clf.score(X_test, y_test))
    assert len(accuracies) > 20
    assert accuracies[-1] >= optimum - 0.01
    assert max(np.subtract(accuracies[:-1], accuracies[1:])) <= 0.02


def test_partial_fit_on_a_sparse_stream_takes_the_stream_recipe_and_fit_does_not():
    """learning_rate, average and batch_size "auto": "optimal", averaged, 16 rows in partial_fit's
    first call on scipy.sparse data; "adaptive", plain, 1024 (dense) or 256 rows (text) otherwise."""
    X, y = text_like(300, n_classes=3)
    stream = MaxEntClassifier().partial_fit(X, y, classes=[0, 1, 2])
    assert stream._sgd_state_.schedule.kind == "optimal"
    assert stream._sgd_state_.average_start == 1
    assert stream.t_ == 19  # minibatches of 16 rows
    dense_X = np.random.default_rng(0).normal(size=(300, 20))
    dense = MaxEntClassifier().partial_fit(dense_X, y, classes=[0, 1, 2])
    assert dense._sgd_state_.schedule.kind == "adaptive"
    assert dense._sgd_state_.average_start is None
    assert dense.t_ == 1
    options = {"solver": "sgd", "max_iter": 3, "tol": None, "random_state": 0}
    fitted = MaxEntClassifier(**options).fit(X, y)
    before = MaxEntClassifier(learning_rate="adaptive", average=False, batch_size=256, **options).fit(X, y)
    np.testing.assert_array_equal(fitted.coef_, before.coef_)
    assert fitted._sgd_state_.schedule.kind == "adaptive"


def test_optimal_steps_are_a_rows_step_times_the_rows():
    """SGDClassifier's ``1 / (alpha (t0 + s))`` a row after ``s`` samples, for each row of a minibatch:
    a one-row chunk moves the model as one row of a larger one does."""
    schedule = StepSchedule("optimal", 2.0, t0=100.0)
    assert schedule(0, rows=16, seen=300) == 16 * 2.0 / 4.0
    assert schedule(0, rows=1, seen=300) == 2.0 / 4.0
    assert StepSchedule("optimal", 2.0, t0=np.inf)(0, rows=3, seen=300) == 6.0  # alpha = 0: constant


@pytest.mark.parametrize("solver", ["auto", "saga"])
def test_optimal_is_for_plain_sgd(solver):
    X, y = text_like(200, n_classes=3)
    with pytest.raises(ValueError, match="learning_rate='optimal' steps plain SGD"):
        MaxEntClassifier(learning_rate="optimal", solver=solver).fit(X, y)
    MaxEntClassifier(learning_rate="optimal", solver="sgd", max_iter=2, tol=None).fit(X, y)
