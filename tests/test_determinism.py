"""Same data and random_state: bit-identical models, here and in fresh processes; thread-safe predict."""

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification

from sklearn_maxent import MaxEntClassifier

ROOT = Path(__file__).resolve().parents[1]

# Fits a few seeded models and prints the sha256 of each coef_ and intercept_ (run here and in subprocesses).
SCRIPT = """
import hashlib, json, warnings
import numpy as np
from scipy import sparse
from sklearn.datasets import make_classification
from sklearn_maxent import MaxEntClassifier

X, y = make_classification(600, 8, n_informative=5, n_classes=3, random_state=0)
configs = {
    "sgd": dict(solver="sgd", batch_size=16, max_iter=5, tol=None),
    "saga": dict(solver="saga", batch_size=16, max_iter=5, tol=None),
    "auto": dict(batch_size=32),
    "averaged": dict(solver="sgd", average=True, batch_size=8, max_iter=3, tol=None),
    "early_stopping": dict(early_stopping=True, batch_size=16, max_iter=5),
    "l1": dict(solver="sgd", l1_ratio=0.5, alpha=1e-3, batch_size=16, max_iter=3, tol=None),
}
hashes = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name, params in configs.items():
        for data_name, data in (("dense", X), ("sparse", sparse.csr_matrix(X))):
            clf = MaxEntClassifier(random_state=7, **params).fit(data, y)
            blob = clf.coef_.tobytes() + clf.intercept_.tobytes()
            hashes[f"{name}-{data_name}"] = hashlib.sha256(blob).hexdigest()
    stream = MaxEntClassifier(random_state=7, batch_size=16)
    for start in range(0, 600, 200):
        stream.partial_fit(X[start : start + 200], y[start : start + 200], classes=[0, 1, 2])
    hashes["partial_fit"] = hashlib.sha256(stream.coef_.tobytes()).hexdigest()
print(json.dumps(hashes))
"""


def run_in_subprocesses(n):
    """The script's hashes from ``n`` fresh interpreters, run side by side."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(n)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def run_here(capsys):
    exec(compile(SCRIPT, "determinism", "exec"), {"__name__": "determinism"})
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_same_seed_gives_bit_identical_models_across_runs_and_processes(capsys):
    here = run_here(capsys)
    assert here == run_here(capsys)  # twice in this process
    first, second = run_in_subprocesses(2)
    assert first == here
    assert second == here
    assert len(set(here.values())) == len(here)  # the configurations really differ


def test_predict_proba_is_thread_safe():
    X, y = make_classification(2000, 10, n_informative=6, n_classes=4, random_state=0)
    clf = MaxEntClassifier(alpha=1e-3, solver="lbfgs", random_state=0).fit(X, y)
    chunks = [X[i : i + 50] for i in range(0, len(X), 50)] * 5
    methods = ["predict_proba", "predict_log_proba", "decision_function", "predict"]
    expected = [[getattr(clf, m)(chunk) for m in methods] for chunk in chunks]

    def work(chunk):
        return [getattr(clf, m)(chunk) for m in methods]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, chunks))
    for got, want in zip(results, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    digest = hashlib.sha256(clf.coef_.tobytes()).hexdigest()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda chunk: clf.predict_proba(chunk), chunks))
    assert hashlib.sha256(clf.coef_.tobytes()).hexdigest() == digest  # predicting changes nothing
