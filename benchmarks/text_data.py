"""A seeded, sparse, text-like classification data set.

Documents are bags of words drawn from class-conditional Zipf-like
distributions: every class mixes a shared Zipf background vocabulary (the
frequent, uninformative words) with a Zipf distribution over its own set of
topic words. Topic sets are drawn from a common pool of mid-frequency words,
so classes share topic words and the task is learnable but not trivial.
Words are hashed into ``n_features`` columns (collisions included, as with
``HashingVectorizer``), counted, and the rows l2-normalized.
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


def make_text_data(
    n_docs=100_000,
    n_features=2**18,
    n_classes=20,
    nnz_per_row=80,
    topic_fraction=0.05,
    n_topic_words=2_000,
    seed=0,
):
    """Generate a hashed bag-of-words data set.

    Parameters
    ----------
    n_docs : int
        Rows.
    n_features : int
        Hashed feature columns; the vocabulary has as many words.
    n_classes : int
        Classes, about equally frequent.
    nnz_per_row : int
        Mean number of distinct words (non-zeros) per row, approximately.
    topic_fraction : float
        Share of a document's tokens drawn from its class's topic words.
    n_topic_words : int
        Size of each class's topic vocabulary.
    seed : int
        Seeds everything: the same arguments give the same data.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_docs, n_features), float64
        Term counts, rows scaled to unit l2 norm, column indices sorted.
    y : ndarray of shape (n_docs,), int64
    """
    rng = np.random.default_rng(seed)
    n_words = n_features
    # Frequent words repeat within a document; drawing this many tokens per
    # distinct word gives about nnz_per_row distinct words on the default
    # vocabulary (measured).
    mean_tokens = 1.25 * nnz_per_row
    y = rng.integers(n_classes, size=n_docs)
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
    data = counts.astype(np.float64)
    norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=n_docs))
    data /= norms[rows]
    X = sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=(n_docs, n_features))
    return X, y
