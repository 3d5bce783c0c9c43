"""Benchmark MaxEntClassifier against scikit-learn's linear classifiers.

For every data set the penalized objective ``J(W, b) = mean_i CE_i + alpha/2 ||W||^2`` is minimized
at ``C = 1`` (``alpha = 1 / (C * n_train)``) by every solver, and each solver's time to come within
``1e-3`` relative of the optimum ``J*`` is measured by sweeping ``max_iter`` over a geometric grid,
fitting from scratch each time. The objective is computed here, from ``coef_`` and ``intercept_``,
independently of the package. Also timed: one SGD epoch against the matrix products it needs.

Usage, from the repository root::

    PYTHONPATH=. python benchmarks/run.py                 # full size, into benchmarks/results/
    PYTHONPATH=. python benchmarks/run.py --quick         # into benchmarks/results/quick/: a minute or
                                                          # so a data set, minutes for the text corpora
    PYTHONPATH=. python benchmarks/run.py --datasets digits text --out /tmp/bench
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time
import tracemalloc
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import scipy
import sklearn
import threadpoolctl
from matplotlib.figure import Figure
from real_text import load_real_text, load_text_twin
from scipy import sparse
from scipy.special import log_softmax
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from text_data import make_text_data

import sklearn_maxent
from sklearn_maxent import MaxEntClassifier

DATASETS = ("digits", "dense", "dense32", "text", "dense1m", "realtext", "texttwin", "realhash")
# Data sets whose loaders split them (by module, for the docstring corpus) and whose rows are
# already l2-normalized tf-idf: load_dataset neither splits nor standardizes them.
PRESPLIT = {
    "realtext": load_real_text,
    "texttwin": load_text_twin,
    "realhash": partial(load_real_text, hashed=True),
}
C = 1.0
TARGET = 1e-3  # relative objective gap that counts as "reached"
TIGHT_TARGET = 1e-6  # ... and the tight one, MaxEntClassifier's default tol
TIGHT_TOL = 1e-10  # for the reference fits, and so that max_iter is the only stopping knob
REFERENCE_MAX_ITER = 10_000
BUDGET = {False: 120.0, True: 1.0}  # default seconds of sweep per solver, by --quick
QUICK_ROWS = 5_000
REPEATS = 3  # runs per epoch timing; the median is reported
# newton-cholesky factors a (n_features * n_classes)^2 Hessian: skipped above this size.
MAX_NEWTON_CHOLESKY_SIZE = 5_000
# RESULTS.md's sections that default_fit.py and streaming.py write, between "<!-- name -->" and
# "<!-- /name -->", below the title and above this script's own tables, which keep them.
DEFAULT_FIT_BEGIN, DEFAULT_FIT_END = "<!-- default-fit -->", "<!-- /default-fit -->"
STREAMING_BEGIN, STREAMING_END = "<!-- streaming -->", "<!-- /streaming -->"
SECTION = re.compile(r"<!-- ([\w-]+) -->.*?<!-- /\1 -->", re.DOTALL)
GAP_FLOOR = 1e-12  # gaps at or below 0 (rounding) are drawn here on the log axis
# Fixed, so that a solver has the same color on every plot, also where one is skipped.
COLORS = {
    "MaxEnt auto": "C0",
    "MaxEnt sgd": "C1",
    "MaxEnt saga": "C6",
    "LR lbfgs": "C2",
    "LR saga": "C3",
    "LR newton-cholesky": "C4",
    "SGDClassifier": "C5",
}


def load_dataset(name, quick):
    """Stratified 80/20 split of a named data set: ``X_train, X_test, y_train, y_test``.

    Dense data is standardized with the training set's mean and scale; the text data's rows are
    already l2-normalized. "realtext" (real_text.py's docstring corpus), "texttwin" (its
    synthetic twin) and "realhash" (the corpus's hashed variant) come split by their loaders;
    quick, they are the corpus of a sample of the source files, a few thousand documents as
    ``QUICK_ROWS`` are for the others.
    """
    if name in PRESPLIT:
        return PRESPLIT[name](quick=quick)
    rows = QUICK_ROWS if quick else None
    if name == "text":
        X, y = make_text_data(n_docs=rows or 100_000, n_features=2**14 if quick else 2**18)
    elif name == "digits":
        X, y = load_digits(return_X_y=True)
    else:
        n_samples, n_features, n_classes = {
            "dense": (200_000, 100, 10),
            "dense32": (200_000, 100, 10),
            "dense1m": (1_000_000, 50, 5),
        }[name]
        X, y = make_classification(
            n_samples=rows or n_samples,
            n_features=n_features,
            n_informative=n_features // 2,
            n_classes=n_classes,
            random_state=0,
        )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    if name != "text":
        scaler = StandardScaler().fit(X_train)
        dtype = np.float32 if name == "dense32" else np.float64
        X_train, X_test = (scaler.transform(part).astype(dtype) for part in (X_train, X_test))
    return X_train, X_test, y_train, y_test


def objective(estimator, X, y, alpha):
    """``J = mean_i CE_i + alpha/2 ||W||^2`` of a fitted linear classifier, in float64.

    The scores are ``X coef_^T + intercept_``; a single row of ``coef_`` is the binary logistic
    model, whose first class scores 0. For one-vs-rest models (SGDClassifier) this is ``J`` at the
    softmax of ``decision_function``.
    """
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    scores = np.asarray(X @ coef.T, dtype=np.float64) + estimator.intercept_
    if coef.shape[0] == 1:
        scores = np.hstack([np.zeros_like(scores), scores])
    log_proba = log_softmax(scores, axis=1)
    labels = np.searchsorted(estimator.classes_, y)
    return float(-log_proba[np.arange(len(y)), labels].mean() + 0.5 * alpha * np.vdot(coef, coef))


def timed_fit(estimator, X, y):
    """Fit with convergence warnings silenced (truncated fits are the point); return the seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def solvers(alpha, n_features, n_classes):
    """The solvers compared, each a function of ``max_iter`` returning an unfitted estimator.

    scikit-learn's solvers get a tight ``tol`` (SGDClassifier none) so that they stop on ``max_iter``
    and not on their own criterion; MaxEntClassifier keeps its defaults (``tol=1e-6``, certified).
    """
    candidates = {
        "MaxEnt auto": lambda m: MaxEntClassifier(alpha=alpha, max_iter=m, random_state=0),
        "MaxEnt sgd": lambda m: MaxEntClassifier(alpha=alpha, solver="sgd", max_iter=m, random_state=0),
        "MaxEnt saga": lambda m: MaxEntClassifier(
            alpha=alpha, solver="saga", max_iter=m, tol=None, random_state=0
        ),
        "LR lbfgs": lambda m: LogisticRegression(C=C, tol=TIGHT_TOL, max_iter=m),
        "LR saga": lambda m: LogisticRegression(
            C=C, solver="saga", tol=TIGHT_TOL, max_iter=m, random_state=0
        ),
        "LR newton-cholesky": lambda m: LogisticRegression(
            C=C, solver="newton-cholesky", tol=TIGHT_TOL, max_iter=m
        ),
        "SGDClassifier": lambda m: SGDClassifier(
            loss="log_loss", alpha=alpha, max_iter=m, tol=None, random_state=0
        ),
    }
    if n_features * n_classes > MAX_NEWTON_CHOLESKY_SIZE:
        del candidates["LR newton-cholesky"]
    return candidates


def reference(X, y, alpha, C=C):
    """The optimum ``J*``: the lower objective of two tight fits, LogisticRegression and ours.

    Their relative disagreement bounds how well ``J*`` is known; it should be far below ``TARGET``.
    ``C`` is LogisticRegression's, ``alpha = 1 / (C * n_samples)`` ours.
    """
    fits = {
        "LR lbfgs": LogisticRegression(C=C, tol=TIGHT_TOL, max_iter=REFERENCE_MAX_ITER),
        "MaxEnt auto": MaxEntClassifier(
            alpha=alpha, tol=TIGHT_TOL, max_iter=REFERENCE_MAX_ITER, random_state=0
        ),
    }
    result = {}
    for name, estimator in fits.items():
        seconds = timed_fit(estimator, X, y)
        result[name] = {
            "objective": objective(estimator, X, y, alpha),
            "time": seconds,
            "n_iter": int(np.max(estimator.n_iter_)),
        }
    values = [fit["objective"] for fit in result.values()]
    return {"fits": result, "j_star": min(values), "disagreement": (max(values) - min(values)) / min(values)}


def fibonacci():
    """The ``max_iter`` grid 1, 2, 3, 5, 8, 13, ...: geometric, ratio about 1.6."""
    a, b = 1, 2
    while True:
        yield a
        a, b = b, a + b


def sweep(make_estimator, X, y, alpha, j_star, budget):
    """Fit at growing ``max_iter`` until the gap is below ``TIGHT_TARGET`` or the time budget is spent.

    The sweep also ends when a fit stopped before ``max_iter`` (it converged on its own, so a larger
    ``max_iter`` changes nothing) and when the next fit, predicted from the last one's time per
    iteration, would overrun the budget.

    Returns
    -------
    points : list of dict
        ``max_iter``, ``n_iter``, ``time`` and ``gap`` of every fit.
    estimator : the last fitted estimator
    ended : str
        Why the sweep ended: "target", "solver stopped" or "budget".
    """
    points, spent = [], 0.0
    grid = fibonacci()
    max_iter = next(grid)
    while True:
        estimator = make_estimator(max_iter)
        seconds = timed_fit(estimator, X, y)
        spent += seconds
        gap = (objective(estimator, X, y, alpha) - j_star) / j_star
        n_iter = int(np.max(estimator.n_iter_))
        points.append({"max_iter": max_iter, "n_iter": n_iter, "time": seconds, "gap": gap})
        following = next(grid)
        if gap <= TIGHT_TARGET:
            return points, estimator, "target"
        if n_iter < max_iter:
            return points, estimator, "solver stopped"
        if spent + seconds * following / max_iter > budget:
            return points, estimator, "budget"
        max_iter = following


def first_time(points, target):
    """Fit time of the first point of a sweep within ``target`` of the optimum, or None."""
    return next((point["time"] for point in points if point["gap"] <= target), None)


def peak_memory(estimator, X, y):
    """Peak bytes allocated during a fresh fit of ``estimator``'s configuration, by tracemalloc.

    tracemalloc sees Python and numpy allocations only, not those made by compiled code with its
    own allocator (BLAS buffers, C++ containers). It slows allocation-heavy code, so this fit is
    separate from the timed ones.
    """
    tracemalloc.start()
    try:
        timed_fit(clone(estimator), X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def median_time(function, repeats=REPEATS):
    """Median wall time of ``function()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def epoch_times(X, y, alpha, n_classes):
    """One SGD epoch of ours and of SGDClassifier, and the matrix products an epoch needs.

    The lower bound is ``X @ W`` plus ``X.T @ G`` on the whole training set, with ``W`` of shape
    ``(n_features, K)`` and ``G`` of shape ``(n_samples, K)`` in the data's dtype, ``K`` the columns
    of the model (1 for two classes): the scores and the gradient, which any epoch must compute.
    """
    rng = np.random.default_rng(0)
    n_columns = 1 if n_classes == 2 else n_classes
    W = rng.standard_normal((X.shape[1], n_columns)).astype(X.dtype)
    G = rng.standard_normal((X.shape[0], n_columns)).astype(X.dtype)
    ours = MaxEntClassifier(alpha=alpha, solver="sgd", max_iter=1, tol=None, random_state=0)
    theirs = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=1, tol=None, random_state=0)
    result = {
        "lower_bound": median_time(lambda: (X @ W, X.T @ G)),
        "maxent_sgd": median_time(lambda: clone(ours).fit(X, y)),
        "sgdclassifier": median_time(lambda: clone(theirs).fit(X, y)),
    }
    result["ratio_to_lower_bound"] = result["maxent_sgd"] / result["lower_bound"]
    result["ratio_to_sgdclassifier"] = result["maxent_sgd"] / result["sgdclassifier"]
    return result


def run_dataset(name, quick, budget, earlier_reference=None):
    """All measurements on one data set, printed as they come; returns them as a dict."""
    start = time.perf_counter()
    X_train, X_test, y_train, y_test = load_dataset(name, quick)
    classes = np.unique(y_train)
    alpha = 1.0 / (C * X_train.shape[0])
    info = {
        "n_train": X_train.shape[0],
        "n_test": X_test.shape[0],
        "n_features": X_train.shape[1],
        "n_classes": classes.size,
        "dtype": str(X_train.dtype),
        "sparse": sparse.issparse(X_train),
        "nnz_per_row": (X_train.nnz if sparse.issparse(X_train) else X_train.size) / X_train.shape[0],
        "alpha": alpha,
        "load_time": time.perf_counter() - start,
    }
    print(f"\n== {name}: {info['n_train']} x {info['n_features']} {info['dtype']}, {classes.size} classes")

    if earlier_reference is not None and earlier_reference["alpha"] == alpha:
        # The optimum is a property of the data: a tight reference fit of an earlier run on the
        # same (seeded) data set serves again, and saves the longest fits of the run.
        ref = {**earlier_reference["reference"], "reused_from": earlier_reference["date"]}
    else:
        ref = reference(X_train, y_train, alpha)
    j_star = ref["j_star"]
    lr_ref, maxent_ref = ref["fits"]["LR lbfgs"], ref["fits"]["MaxEnt auto"]
    print(
        f"J* = {j_star:.10g} (LR lbfgs {lr_ref['time']:.2f} s / {lr_ref['n_iter']} iter,"
        f" MaxEnt {maxent_ref['time']:.2f} s / {maxent_ref['n_iter']} iter,"
        f" disagreement {ref['disagreement']:.1e})"
    )

    results = {}
    for solver, make_estimator in solvers(alpha, X_train.shape[1], classes.size).items():
        points, estimator, ended = sweep(make_estimator, X_train, y_train, alpha, j_star, budget)
        results[solver] = {
            "points": points,
            "sweep_ended": ended,
            "time_to_target": first_time(points, TARGET),
            "time_to_tight_target": first_time(points, TIGHT_TARGET),
            "final_gap": points[-1]["gap"],
            "test_accuracy": accuracy_score(y_test, estimator.predict(X_test)),
            "test_log_loss": log_loss(y_test, estimator.predict_proba(X_test), labels=classes),
            "peak_memory": peak_memory(estimator, X_train, y_train),
        }
        times = [_number(results[solver][k], ".3f", "-") for k in ("time_to_target", "time_to_tight_target")]
        print(
            f"  {solver:20s} to 1e-3: {times[0]:>8s} s, to 1e-6: {times[1]:>8s} s ({ended}),"
            f" {len(points)} fits, last max_iter {points[-1]['max_iter']}, gap {points[-1]['gap']:.1e}"
        )

    for key, ratio_key in (
        ("time_to_target", "ratio_to_best_lr"),
        ("time_to_tight_target", "ratio_to_best_lr_tight"),
    ):
        lr_times = [r[key] for s, r in results.items() if s.startswith("LR") and r[key] is not None]
        best_lr = min(lr_times) if lr_times else None
        for result in results.values():
            reached = result[key] is not None and best_lr is not None
            result[ratio_key] = result[key] / best_lr if reached else None
    for solver in ("MaxEnt auto", "MaxEnt sgd", "MaxEnt saga"):
        ratios = [
            _number(results[solver][k], ".2f", "n/a") for k in ("ratio_to_best_lr", "ratio_to_best_lr_tight")
        ]
        print(f"  {solver} / best LogisticRegression: {ratios[0]} (1e-3), {ratios[1]} (1e-6)")

    epoch = epoch_times(X_train, y_train, alpha, classes.size)
    print(
        f"  epoch: ours {epoch['maxent_sgd']:.3f} s, products {epoch['lower_bound']:.3f} s"
        f" (ratio {epoch['ratio_to_lower_bound']:.1f}), SGDClassifier {epoch['sgdclassifier']:.3f} s"
        f" (ours / theirs {epoch['ratio_to_sgdclassifier']:.2f})"
    )
    info["total_time"] = time.perf_counter() - start
    return {"info": info, "reference": ref, "solvers": results, "epoch": epoch}


def machine():
    """CPU, memory, load, OS, library versions, and the BLAS and OpenMP thread pools of this run."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = [int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")]
    pools = [
        f"{lib['user_api']}: {lib['internal_api']} {lib.get('version') or '(version unknown)'}"
        f" ({lib['num_threads']} threads, {Path(lib['filepath']).name})"
        for lib in threadpoolctl.threadpool_info()
    ]
    return {
        "load_average_before": os.getloadavg(),
        "cpu": models[0] if models else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb[0] / 2**20, 1) if mem_kb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "sklearn_maxent": sklearn_maxent.__version__,
        "thread_pools": pools,
    }


def plot(name, result, path):
    """Log-log plot of the relative gap against fit time, one line per solver, the target dashed."""
    # A bare Figure renders with Agg on savefig: no pyplot, no display needed.
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    for solver, solver_result in result["solvers"].items():
        times = [p["time"] for p in solver_result["points"]]
        gaps = [max(p["gap"], GAP_FLOOR) for p in solver_result["points"]]
        ax.loglog(times, gaps, marker="o", markersize=3, color=COLORS[solver], label=solver)
    ax.axhline(TARGET, color="black", linestyle="--", linewidth=1, label="target 1e-3")
    ax.axhline(TIGHT_TARGET, color="black", linestyle=":", linewidth=1, label="target 1e-6")
    info = result["info"]
    ax.set_title(
        f"{name}: {info['n_train']} x {info['n_features']} {info['dtype']}, {info['n_classes']} classes"
    )
    ax.set_xlabel("fit wall time (s), fit from scratch at each max_iter")
    ax.set_ylabel("relative objective gap (J - J*) / J*")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def _row(*cells):
    """A Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _number(value, spec, missing):
    return missing if value is None else format(value, spec)


def provenance(result, report):
    """A line naming the run that measured ``result``, when it is not the run of ``report``."""
    run = result.get("run")
    if run is None or run["date"] == report["date"]:
        return []
    return ["", f"Measured by an earlier run: `{run['command']}`, {run['date']}, budget {run['budget']:g} s."]


def markdown(report):
    """RESULTS.md: machine, command, date, a table per data set and the epoch table."""
    m = report["machine"]
    lines = [
        "# MaxEntClassifier benchmarks",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB memory",
        f"- OS: {m['os']}",
        "- Load average (1, 5, 15 min) before the run: {:.2f}, {:.2f}, {:.2f}; after: {:.2f}, {:.2f},"
        " {:.2f}. Other processes on the machine slow the timings down.".format(
            *m["load_average_before"], *m["load_average_after"]
        ),
        f"- Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']},"
        f" scikit-learn {m['scikit-learn']}, sklearn_maxent {m['sklearn_maxent']}",
        *[f"- {pool}" for pool in m["thread_pools"]],
        "",
        "## Method",
        "",
        f"- Objective `J = mean_i CE_i + alpha/2 ||W||^2`, `C = {C:g}`, `alpha = 1 / (C * n_train)`,"
        " computed by the benchmark from `coef_` and `intercept_`; for SGDClassifier's one-vs-rest"
        " model, at the softmax of its decision function.",
        "- `J*` is the lower objective of LogisticRegression(lbfgs) and MaxEntClassifier, both at"
        f" `tol={TIGHT_TOL:g}`; the gap is `(J - J*) / J*`.",
        "- Every solver is refit from scratch at max_iter = 1, 2, 3, 5, 8, 13, ... until the gap is at"
        f" most {TIGHT_TARGET:g}, the solver stops on its own before max_iter, or the next fit would"
        f" overrun its budget of {report['budget']:g} s of fitting. Time to 1e-3 (1e-6) is the fit time of"
        " the first fit within that gap.",
        f"- scikit-learn's solvers run with `tol={TIGHT_TOL:g}` (SGDClassifier `tol=None`) so that"
        " max_iter alone stops them; MaxEntClassifier keeps its defaults.",
        "- Accuracy, log-loss and memory are those of the last fit of the sweep. Peak memory is"
        " measured by tracemalloc in a separate fit: it sees Python and numpy allocations only, not"
        " memory that compiled code allocates on its own (BLAS buffers, C/C++ internals).",
        "",
    ]
    for name, result in report["datasets"].items():
        info, ref = result["info"], result["reference"]
        lr_ref, maxent_ref = ref["fits"]["LR lbfgs"], ref["fits"]["MaxEnt auto"]
        layout = f"sparse, {info['nnz_per_row']:.1f} non-zeros per row" if info["sparse"] else "dense"
        lines += [
            f"## {name}",
            "",
            f"{info['n_train']} training and {info['n_test']} test rows, {info['n_features']} features"
            f" ({layout}),"
            f" {info['n_classes']} classes, {info['dtype']}, alpha = {info['alpha']:.3g}."
            f" J* = {ref['j_star']:.10g}; the reference fits took {lr_ref['time']:.2f} s"
            f" ({lr_ref['n_iter']} iterations, LogisticRegression) and {maxent_ref['time']:.2f} s"
            f" ({maxent_ref['n_iter']} iterations, MaxEntClassifier) and disagree by"
            f" {ref['disagreement']:.1e} relative."
            + (
                f" (Reference fits of the run of {ref['reused_from']}, reused.)"
                if "reused_from" in ref
                else ""
            ),
            *provenance(result, report),
            "",
            f"![gap vs time](gap_vs_time_{name}.png)",
            "",
            _row(
                "solver",
                "time to 1e-3 (s)",
                "ratio to best LR",
                "time to 1e-6 (s)",
                "ratio to best LR",
                "final gap",
                "sweep ended by",
                "test accuracy",
                "test log-loss",
                "peak memory (MB, tracemalloc)",
            ),
            _row("---", "---:", "---:", "---:", "---:", "---:", "---", "---:", "---:", "---:"),
        ]
        lines += [
            _row(
                solver,
                _number(r["time_to_target"], ".3g", "not reached"),
                _number(r["ratio_to_best_lr"], ".2f", "-"),
                _number(
                    r.get("time_to_tight_target"),
                    ".3g",
                    "not reached" if "points" in r and "time_to_tight_target" in r else "not measured",
                ),
                _number(r.get("ratio_to_best_lr_tight"), ".2f", "-"),
                f"{r['final_gap']:.1e}",
                r["sweep_ended"],
                f"{r['test_accuracy']:.4f}",
                f"{r['test_log_loss']:.4f}",
                f"{r['peak_memory'] / 2**20:.1f}",
            )
            for solver, r in result["solvers"].items()
        ]
        lines.append("")
    lines += [
        "## One SGD epoch",
        "",
        f"Median of {REPEATS} runs. Ours: `MaxEntClassifier(solver='sgd', max_iter=1, tol=None).fit`;"
        " SGDClassifier: `SGDClassifier(loss='log_loss', max_iter=1, tol=None).fit` (one-vs-rest: one"
        " pass per class). Lower bound: `X @ W` plus `X.T @ G` on the whole training set, the products"
        " an epoch of the softmax model cannot avoid.",
        "",
        _row(
            "data set",
            "ours (s)",
            "lower bound (s)",
            "ours / lower bound",
            "SGDClassifier (s)",
            "ours / SGDClassifier",
        ),
        _row("---", *["---:"] * 5),
    ]
    for name, result in report["datasets"].items():
        e = result["epoch"]
        lines.append(
            _row(
                name,
                f"{e['maxent_sgd']:.4g}",
                f"{e['lower_bound']:.4g}",
                f"{e['ratio_to_lower_bound']:.1f}",
                f"{e['sgdclassifier']:.4g}",
                f"{e['ratio_to_sgdclassifier']:.2f}",
            )
        )
    return "\n".join(lines) + "\n"


def write(report, out):
    """RESULTS.md, results.json and one PNG per data set into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, result in report["datasets"].items():
        plot(name, result, out / f"gap_vs_time_{name}.png")
    path = out / "RESULTS.md"
    sections = split_sections(path.read_text())[0] if path.exists() else {}
    path.write_text(join_sections(sections, markdown(report)))
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))


def split_sections(text):
    """``text`` of RESULTS.md as the other scripts' sections (markers included, in their order) and
    the rest."""
    sections = [match.group(0) for match in SECTION.finditer(text)]
    return sections, SECTION.sub("", text)


def join_sections(sections, rest):
    """RESULTS.md from ``sections`` and the rest (see :func:`split_sections`): the rest's title, the
    sections, then the rest's body."""
    title, _, body = rest.strip("\n").partition("\n")
    return "\n\n".join([title, *sections, body.strip("\n")]) + "\n"


def write_section(path, begin, end, section):
    """Put ``section`` (from ``begin`` to ``end``) into the RESULTS.md at ``path``: in place of the
    one it replaces, or first."""
    text = path.read_text() if path.exists() else "# MaxEntClassifier benchmarks\n"
    sections, rest = split_sections(text)
    kept = [old for old in sections if not old.startswith(begin)]
    at = next((k for k, old in enumerate(sections) if old.startswith(begin)), 0)
    path.write_text(join_sections([*kept[:at], section, *kept[at:]], rest))


def kept_datasets(out):
    """The per-data-set results of an earlier run in ``out``, each labelled with the run that made it."""
    path = out / "results.json"
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())
    run = {"command": earlier["command"], "date": earlier["date"], "budget": earlier["budget"]}
    return {name: {"run": run, **result} for name, result in earlier["datasets"].items()}


def main(argv=None):
    """Parse the arguments, run the data sets one by one, and rewrite the outputs after each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data sets and budgets: a smoke test")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS), metavar="NAME")
    parser.add_argument("--out", type=Path, help="output directory (default benchmarks/results[/quick])")
    parser.add_argument("--budget", type=float, help="seconds of fitting per solver and data set")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the results of other data sets already in the output directory, noting their commands",
    )
    parser.add_argument(
        "--reuse-optimum",
        action="store_true",
        help="take J* from the output directory's earlier run of the same data set, not refitting it",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="limit BLAS and OpenMP threads (default: the libraries' own, usually one per core)",
    )
    args = parser.parse_args(argv)
    default_out = Path(__file__).resolve().parent / "results"
    out = args.out or (default_out / "quick" if args.quick else default_out)
    budget = args.budget or BUDGET[args.quick]
    # Threads that spin-wait are slowed down many times over when other processes share the cores,
    # so on a busy machine --threads 1 gives steadier numbers.
    with threadpoolctl.threadpool_limits(limits=args.threads):
        command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        report = {
            "command": command,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "budget": budget,
            "machine": machine(),
            "datasets": kept_datasets(out) if args.keep else {},
        }
        kept = kept_datasets(out)
        start = time.perf_counter()
        for name in args.datasets:
            earlier = kept.get(name) if args.reuse_optimum else None
            earlier_reference = (
                {
                    "alpha": earlier["info"]["alpha"],
                    "reference": earlier["reference"],
                    "date": earlier["run"]["date"],
                }
                if earlier
                else None
            )
            report["datasets"][name] = run_dataset(name, args.quick, budget, earlier_reference)
            report["datasets"][name]["run"] = {"command": command, "date": report["date"], "budget": budget}
            report["machine"]["load_average_after"] = os.getloadavg()
            # Rewritten after every data set, so a long run that is interrupted keeps what it measured.
            write(report, out)
    print(f"\nTotal {time.perf_counter() - start:.1f} s; results in {out}")


if __name__ == "__main__":
    main()
