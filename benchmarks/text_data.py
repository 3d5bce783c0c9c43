"""A seeded, sparse, text-like classification data set.

Documents are bags of words drawn from class-conditional Zipf-like
distributions: every class mixes a shared Zipf background vocabulary (the
frequent, uninformative words) with a Zipf distribution over its own set of
topic words. Topic sets are drawn from a common pool of mid-frequency words,
so classes share topic words and the task is learnable but not trivial.
Words are hashed into ``n_features`` columns (collisions included, as with
``HashingVectorizer``), counted (or tf-idf weighted), and the rows l2-normalized.

``make_text_twin`` gives a real corpus's shape to such data: its classes and their sizes, its
number of features and its mean non-zeros per row.
"""

import numpy as np
from scipy import sparse

# Exponent of the Zipf laws (rank r has weight 1 / (r + 2.7) ** exponent: Mandelbrot's shift keeps the
# top words from dominating as much as a pure 1 / r would).
_ZIPF_EXPONENT = 1.1
_ZIPF_SHIFT = 2.7


def _zipf_cdf(n_words):
    """Cumulative distribution of a Zipf-Mandelbrot law over ranks 0 .. n_words - 1."""
    weights = (np.arange(n_words) + _ZIPF_SHIFT) ** -_ZIPF_EXPONENT
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _sample(cdf, size, rng):
    """Ranks drawn from the distribution with cumulative ``cdf``, by inverting it."""
    return np.minimum(np.searchsorted(cdf, rng.random(size)), cdf.size - 1)


def _apportion(class_counts, n_classes, n_docs):
    """Integer class sizes summing to ``n_docs`` in the proportions of ``class_counts``.

    Largest remainders: each class gets the floor of its share, and the rows left over go to the
    classes with the largest fractional parts.
    """
    weights = np.asarray(class_counts, dtype=np.float64)
    if weights.shape != (n_classes,) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"class_counts must be {n_classes} non-negative numbers, not all zero")
    shares = weights / weights.sum() * n_docs
    sizes = np.floor(shares).astype(np.int64)
    remainder = np.argsort(sizes - shares, kind="stable")[: n_docs - sizes.sum()]
    sizes[remainder] += 1
    return sizes


def _weights(counts, columns, n_docs, n_features, weighting):
    """The non-zero values before normalization: term counts, or their sublinear tf-idf."""
    if weighting == "count":
        return counts.astype(np.float64)
    if weighting != "tfidf":
        raise ValueError(f"weighting must be 'count' or 'tfidf', not {weighting!r}")
    document_frequency = np.bincount(columns, minlength=n_features)
    idf = np.log((1 + n_docs) / (1 + document_frequency)) + 1  # TfidfVectorizer's smooth_idf
    return (1 + np.log(counts)) * idf[columns]


def make_text_data(
    n_docs=100_000,
    n_features=2**18,
    n_classes=20,
    nnz_per_row=80,
    topic_fraction=0.05,
    n_topic_words=2_000,
    seed=0,
    class_counts=None,
    tokens_per_word=1.25,
    weighting="count",
):
    """Generate a hashed bag-of-words data set.

    Parameters
    ----------
    n_docs : int
        Rows.
    n_features : int
        Hashed feature columns; the vocabulary has as many words.
    n_classes : int
        Classes, about equally frequent unless ``class_counts`` says otherwise.
    nnz_per_row : float
        Mean number of distinct words (non-zeros) per row, approximately (see ``tokens_per_word``).
    topic_fraction : float
        Share of a document's tokens drawn from its class's topic words.
    n_topic_words : int
        Size of each class's topic vocabulary.
    seed : int
        Seeds everything: the same arguments give the same data.
    class_counts : array-like of shape (n_classes,), optional
        Relative class sizes: each class gets this share of the rows exactly (rounded), in a
        seeded order. By default each row's class is drawn uniformly.
    tokens_per_word : float
        Tokens drawn per wanted distinct word: a document has ``tokens_per_word * nnz_per_row``
        tokens on average. 1.25 gives about ``nnz_per_row`` on the default vocabulary (measured);
        ``make_text_twin`` calibrates it for others.
    weighting : {"count", "tfidf"}
        Term counts, or as ``TfidfVectorizer(sublinear_tf=True)``: ``1 + log(count)`` times the
        smoothed idf of the column (document frequencies over all rows); then l2-normalized.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_docs, n_features), float64
        Term weights, rows scaled to unit l2 norm, column indices sorted.
    y : ndarray of shape (n_docs,), int64
    """
    rng = np.random.default_rng(seed)
    n_words = n_features
    # Frequent words repeat within a document: more tokens than distinct words.
    mean_tokens = tokens_per_word * nnz_per_row
    if class_counts is None:
        y = rng.integers(n_classes, size=n_docs)
    else:
        y = rng.permutation(np.repeat(np.arange(n_classes), _apportion(class_counts, n_classes, n_docs)))
    lengths = np.maximum(rng.poisson(mean_tokens, size=n_docs), 1)
    doc = np.repeat(np.arange(n_docs), lengths)
    n_tokens = doc.size

    # Topic words come from the ranks just below the top 100 (the "stop
    # words"); a pool 5 times one topic set makes classes share topic words.
    pool = 100 + rng.permutation(min(5 * n_topic_words, n_words - 100))
    topics = np.stack([rng.choice(pool, size=n_topic_words, replace=False) for _ in range(n_classes)])

    word = _sample(_zipf_cdf(n_words), n_tokens, rng)
    from_topic = rng.random(n_tokens) < topic_fraction
    topic_rank = _sample(_zipf_cdf(n_topic_words), int(from_topic.sum()), rng)
    word[from_topic] = topics[y[doc[from_topic]], topic_rank]

    # Hashing: every word lands in a random column, so some words collide.
    column = rng.integers(n_features, size=n_words)[word]
    keys, counts = np.unique(doc * np.int64(n_features) + column, return_counts=True)
    rows, columns = np.divmod(keys, n_features)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_docs))])
    data = _weights(counts, columns, n_docs, n_features, weighting)
    norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=n_docs))
    data /= norms[rows]
    X = sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=(n_docs, n_features))
    return X, y


def calibrate_tokens_per_word(n_features, nnz_per_row, n_classes=20, pilot_docs=2_000, seed=0, rounds=8):
    """The ``tokens_per_word`` of ``make_text_data`` that gives ``nnz_per_row`` on average.

    Fixed-point iterations on a pilot data set: the mean distinct words per row grows less than
    in proportion to the tokens, so scaling by the shortfall converges from below or above.

    Parameters
    ----------
    n_features : int
    nnz_per_row : float
        The target mean.
    n_classes : int
    pilot_docs : int
        Rows of each pilot; the mean per row does not depend on the number of rows.
    seed : int
    rounds : int
        At most this many pilots; it stops earlier within 0.5 % of the target.

    Returns
    -------
    float
    """
    tokens_per_word = 1.25
    for _ in range(rounds):
        X, _ = make_text_data(
            n_docs=pilot_docs,
            n_features=n_features,
            n_classes=n_classes,
            nnz_per_row=nnz_per_row,
            seed=seed,
            tokens_per_word=tokens_per_word,
        )
        achieved = X.nnz / pilot_docs
        if abs(achieved - nnz_per_row) <= 0.005 * nnz_per_row:
            break
        tokens_per_word *= nnz_per_row / achieved
    return tokens_per_word


def make_text_twin(n_docs, n_features, class_counts, nnz_per_row, seed=0):
    """A synthetic text data set with a real corpus's shape statistics.

    ``make_text_data`` with as many classes as ``class_counts``, in its proportions (the
    imbalance), ``n_features`` columns (the vocabulary), tokens calibrated so that rows have
    ``nnz_per_row`` non-zeros on average, and sublinear tf-idf weights with l2-normalized rows.

    Parameters
    ----------
    n_docs : int
    n_features : int
    class_counts : array-like of int
        The real corpus's documents per class.
    nnz_per_row : float
    seed : int
        Seeds the calibration and the data.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_docs, n_features), float64
    y : ndarray of shape (n_docs,), int64
    """
    n_classes = len(class_counts)
    tokens_per_word = calibrate_tokens_per_word(n_features, nnz_per_row, n_classes, seed=seed)
    return make_text_data(
        n_docs=n_docs,
        n_features=n_features,
        n_classes=n_classes,
        nnz_per_row=nnz_per_row,
        seed=seed,
        class_counts=class_counts,
        tokens_per_word=tokens_per_word,
        weighting="tfidf",
    )
