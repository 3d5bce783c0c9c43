"""A seeded, 20newsgroups-like sparse text stream, shared by the streaming tests."""

import numpy as np
from scipy import sparse


def text_like(n, n_words=5000, n_classes=10, seed=0):
    """Bag-of-words rows (log counts, unit norm) of Zipf-distributed words, each class favouring
    300 words of its own, frequent or rare: 20newsgroups-like, generated with a seed."""
    rng = np.random.default_rng(seed)
    topic = np.ones((n_classes, n_words))
    for k in range(n_classes):
        topic[k, rng.choice(n_words, 300, replace=False)] *= rng.uniform(2, 12, 300)
    probs = topic / (np.arange(n_words) + 10.0) ** 1.1
    probs /= probs.sum(axis=1, keepdims=True)
    y = rng.integers(0, n_classes, n)
    lengths = rng.poisson(30, n) + 1
    documents = zip(y, lengths, strict=True)
    words = np.concatenate([rng.choice(n_words, size, p=probs[label]) for label, size in documents])
    rows = np.repeat(np.arange(n), lengths)
    X = sparse.csr_matrix((np.ones(words.size), (rows, words)), shape=(n, n_words))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    X = sparse.diags(1 / sparse.linalg.norm(X, axis=1)) @ X
    return X.tocsr(), y
