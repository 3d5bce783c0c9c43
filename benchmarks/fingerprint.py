"""Fingerprints of a fixed set of fits, to show that a refactor changes no fit by a bit.

Prints one line per fit: the SHA-1 of its ``coef_``, ``intercept_``, ``n_iter_`` and
``loss_curve_`` (of ``coef_`` and ``intercept_`` after a ``partial_fit`` stream). Run it before
and after the change and compare::

    python benchmarks/fingerprint.py > before.txt
    # ... the change ...
    python benchmarks/fingerprint.py | diff before.txt -
"""

import hashlib
import warnings

import numpy as np
from scipy import sparse
from sklearn.datasets import load_digits, make_classification

from sklearn_maxent import MaxEntClassifier


def data():
    """Dense 5-class (float64, float32), digits, sparse 6-class text-like and binary data, seeded."""
    X, y = make_classification(3000, 30, n_informative=10, n_classes=5, random_state=0)
    digits = load_digits(return_X_y=True)
    labels = np.random.default_rng(0).integers(0, 6, 4000)
    noise = sparse.random(4000, 2000, density=0.01, random_state=0, format="csr")
    cue = sparse.csr_matrix((np.ones(4000), (np.arange(4000), labels * 10)), shape=(4000, 2000))
    binary = (X[y < 2], y[y < 2])
    return {
        "dense": (X, y),
        "digits": digits,
        "sparse": (sparse.csr_matrix(noise + cue), labels),
        "binary": binary,
        "binary32": (binary[0].astype(np.float32), binary[1]),
        "dense32": (X.astype(np.float32), y),
    }


FITS = [
    ("auto dense", "dense", {}),
    ("auto digits", "digits", {"alpha": 1e-4}),
    ("saga dense", "dense", {"solver": "saga", "tol": 1e-6}),
    ("sgd dense", "dense", {"solver": "sgd", "max_iter": 20}),
    ("sgd avg", "dense", {"solver": "sgd", "average": True, "max_iter": 10}),
    ("sgd early", "dense", {"solver": "sgd", "early_stopping": True, "max_iter": 30}),
    ("sgd adagrad", "dense", {"solver": "sgd", "learning_rate": "adagrad", "max_iter": 10}),
    ("auto sparse", "sparse", {}),
    ("saga sparse l1", "sparse", {"solver": "saga", "l1_ratio": 0.5, "max_iter": 30}),
    ("lbfgs sparse", "sparse", {"solver": "lbfgs"}),
    ("auto weak", "sparse", {"alpha": 1e-6, "max_iter": 200}),
    ("auto binary", "binary", {}),
    ("saga binary float32", "binary32", {"solver": "saga", "tol": 1e-6}),
    ("sgd binary float32", "binary32", {"solver": "sgd", "max_iter": 10}),
    ("saga float32", "dense32", {"solver": "saga", "tol": 1e-6}),
]
STREAMS = [
    ("stream sparse", "sparse", {}),
    ("stream sparse adagrad", "sparse", {"learning_rate": "adagrad"}),
    ("stream dense", "dense", {}),
]


def fingerprint(*arrays):
    """The first 16 hex digits of the SHA-1 of the arrays' bytes."""
    digest = hashlib.sha1()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def main():
    warnings.simplefilter("ignore")
    sets = data()
    for name, key, params in FITS:
        clf = MaxEntClassifier(random_state=0, **params).fit(*sets[key])
        print(f"{name}: {fingerprint(clf.coef_, clf.intercept_, clf.n_iter_, clf.loss_curve_)}")
    for name, key, params in STREAMS:
        X, y = sets[key]
        clf = MaxEntClassifier(random_state=0, **params)
        for start in range(0, X.shape[0], 700):
            clf.partial_fit(X[start : start + 700], y[start : start + 700], classes=np.unique(y))
        print(f"{name}: {fingerprint(clf.coef_, clf.intercept_)}")


if __name__ == "__main__":
    main()
