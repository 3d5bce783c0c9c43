"""Tuning alpha: MaxEntClassifierCV against LogisticRegressionCV and GridSearchCV, in one process.

On each data set (run.py's loaders: digits, dense and sparse text, at ``--rows`` and
``--text-rows`` rows before the 80/20 split), the same 10-point grid is searched three ways with
``scoring="neg_log_loss"`` and the same 5 stratified folds:

* ``MaxEntClassifierCV()``: every fold's path warm-started from the most penalized alpha, each
  point certified to ``tol=1e-6``, the refit started from the folds' mean solution;
* ``LogisticRegressionCV(Cs=10)`` with its defaults (lbfgs, ``tol=1e-4``, ``max_iter=100``);
* ``GridSearchCV(MaxEntClassifier(), {"alpha": grid})``: 50 cold fits and a refit, on the
  refit's grid ``alpha = 1 / (C n_train)`` (the same alpha on every fold, where the two CV
  estimators scale it to each fold's rows).

Everything runs on one thread (``threadpool_limits(1)``) so that the ratios compare the
algorithms, not the machine's spare cores; ``MaxEntClassifierCV(n_jobs=2)`` then runs its folds
in two threads. Reported: fit time and its ratio to LogisticRegressionCV's, the chosen grid point
(as ``C = 1 / (alpha n_train)``) and its index, and the refit model's log-loss on the held-out
20 %.

Usage, from the repository root::

    PYTHONPATH=benchmarks python benchmarks/tuning.py                  # into benchmarks/results/
    PYTHONPATH=benchmarks python benchmarks/tuning.py --datasets digits --out /tmp/tuning
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from run import load_dataset, machine, write_section
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from sklearn_maxent import MaxEntClassifier, MaxEntClassifierCV

DATASETS = ("digits", "dense", "text")
N_ALPHAS = 10
N_FOLDS = 5
BEGIN, END = "<!-- tuning -->", "<!-- /tuning -->"


def estimators(n_train):
    """The searches, by label: each a function of the refit's alpha grid (from MaxEntClassifierCV's)."""
    folds = StratifiedKFold(N_FOLDS)
    return {
        "MaxEntClassifierCV()": lambda grid: MaxEntClassifierCV(alphas=N_ALPHAS, cv=folds),
        "MaxEntClassifierCV(n_jobs=2)": lambda grid: MaxEntClassifierCV(alphas=N_ALPHAS, cv=folds, n_jobs=2),
        "LogisticRegressionCV()": lambda grid: LogisticRegressionCV(
            Cs=N_ALPHAS, cv=folds, scoring="neg_log_loss", l1_ratios=(0.0,), use_legacy_attributes=False
        ),
        "GridSearchCV(MaxEntClassifier())": lambda grid: GridSearchCV(
            MaxEntClassifier(), {"alpha": list(grid)}, cv=folds, scoring="neg_log_loss"
        ),
    }


def chosen(estimator, grid, n_train):
    """The chosen grid index and ``C = 1 / (alpha n_train)`` of a fitted search."""
    if isinstance(estimator, LogisticRegressionCV):
        return int(np.argmin(np.abs(np.log(estimator.Cs_ / estimator.C_)))), float(estimator.C_)
    alpha = estimator.alpha_ if isinstance(estimator, MaxEntClassifierCV) else estimator.best_params_["alpha"]
    return int(np.argmin(np.abs(np.log(grid / alpha)))), 1.0 / (alpha * n_train)


def mean_scores(estimator):
    """The mean held-out score of every grid point, from the most penalized."""
    if isinstance(estimator, GridSearchCV):
        return estimator.cv_results_["mean_test_score"]
    return estimator.scores_.mean(axis=0)[0]


def run_dataset(name, rows):
    """Every search on ``name``: time, choice and test log-loss, with ratios to LogisticRegressionCV."""
    X_train, X_test, y_train, y_test = load_dataset(name, quick=False) if rows is None else _sized(name, rows)
    n_train = X_train.shape[0]
    grid = None
    results = {}
    for label, make in estimators(n_train).items():
        estimator = make(grid)
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            estimator.fit(X_train, y_train)
            seconds = time.perf_counter() - start
        if grid is None:
            grid = estimator.alphas_[0]
        index, C = chosen(estimator, grid, n_train)
        results[label] = {
            "time": seconds,
            "index": index,
            "C": C,
            "mean_scores": [float(v) for v in mean_scores(estimator)],
            "test_log_loss": float(
                log_loss(y_test, estimator.predict_proba(X_test), labels=estimator.classes_)
            ),
        }
        print(
            f"{name}: {label} {seconds:.2f} s, C {C:.3g} (#{index}),"
            f" log-loss {results[label]['test_log_loss']:.5f}"
        )
    reference = results["LogisticRegressionCV()"]
    for row in results.values():
        row["time_ratio"] = row["time"] / reference["time"]
        row["log_loss_ratio"] = row["test_log_loss"] / reference["test_log_loss"]
    dtype = str(X_train.dtype)
    return {
        "shape": [n_train, X_train.shape[1]],
        "dtype": dtype,
        "n_classes": int(np.unique(y_train).size),
        "results": results,
    }


def _sized(name, rows):
    """run.py's data set ``name`` at ``rows`` rows (digits has its own 1,797)."""
    import run

    if name == "digits":
        return load_dataset(name, quick=True)
    previous, run.QUICK_ROWS = run.QUICK_ROWS, rows
    try:
        return load_dataset(name, quick=True)
    finally:
        run.QUICK_ROWS = previous


def markdown(report):
    """The tuning section of RESULTS.md."""
    info = report["machine"]
    lines = [
        BEGIN,
        "## Tuning alpha: MaxEntClassifierCV, LogisticRegressionCV, GridSearchCV",
        "",
        f"Command: `{report['command']}`. The same 10-point grid (LogisticRegressionCV's `Cs=10`,"
        ' `alpha = 1 / (C n)`), 5 stratified folds and `scoring="neg_log_loss"` for all; every'
        " estimator with its defaults otherwise (MaxEntClassifier certifies `tol=1e-6`,"
        " LogisticRegression stops at `tol=1e-4` or `max_iter=100`). One thread each"
        " (`threadpool_limits(1)`); `n_jobs=2` runs the folds in two threads. Time ratio: over"
        " LogisticRegressionCV's. Chosen: `C = 1 / (alpha_ n_train)` and its grid index (0 the most"
        " penalized). Test log-loss on the held-out 20 %, and its ratio to LogisticRegressionCV's."
        f" Machine: {info['cpu']}, {info['cores']} cores shared with other jobs (load average"
        f" {', '.join(f'{v:.1f}' for v in info['load_average_before'])} at the start), so times are noisy.",
        "",
        "| data set | estimator | fit time (s) | time ratio | chosen C (index) | test log-loss"
        " | log-loss ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in report["datasets"].items():
        shape = "x".join(map(str, result["shape"]))
        for label, row in result["results"].items():
            lines.append(
                f"| {name} ({shape} {result['dtype']}, {result['n_classes']} classes) | `{label}` |"
                f" {row['time']:.2f} | {row['time_ratio']:.2f} | {row['C']:.3g} ({row['index']}) |"
                f" {row['test_log_loss']:.5f} | {row['log_loss_ratio']:.4f} |"
            )
    return "\n".join([*lines, "", END])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS), metavar="NAME")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of dense before the split")
    # Text is smaller: at C >= 1e3 a certified fit there takes tens of seconds (see RESULTS.md).
    parser.add_argument("--text-rows", type=int, default=1_000, help="rows of text before the split")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    report = {
        "command": " ".join(["PYTHONPATH=benchmarks python benchmarks/tuning.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "datasets": {
            name: run_dataset(name, args.text_rows if name == "text" else args.rows) for name in args.datasets
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tuning.json").write_text(json.dumps(report, indent=1))
    write_section(args.out / "RESULTS.md", BEGIN, END, markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
