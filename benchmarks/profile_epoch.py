"""Where one epoch of MaxEntClassifier's SGD and SAGA spends its time, and how far it is from the floor.

Profiles one epoch (``max_iter=1``, ``eta0`` fixed so that no step-size calibration runs) on
the benchmark's data sets and sorts the functions' own time into the parts of an epoch: the
epoch itself (one compiled kernel call), the Python around it, and the rest (validation,
setup). The matrix products' lower bound (``X @ W`` and ``X.T @ G`` over the whole data, as
in ``run.py``) is timed in the same run, and so is the marginal cost of one more epoch
(stopping checks included): "epoch / lower bound". Writes ``benchmarks/results/PROFILE.md``.

``--marginal`` only prints "epoch / lower bound" for SAGA on the shapes of issue 12's targets
(dense 200,000 x 80, text 50,000 x 2**17, 12 classes; 1.5 and 2 x), and with ``--reference``
also for the former NumPy epochs (``tests/reference_epochs.py``), in the same process.

Usage, from the repository root::

    PYTHONPATH=. python benchmarks/profile_epoch.py --threads 1
    PYTHONPATH=.:tests python benchmarks/profile_epoch.py --threads 1 --marginal --reference [--cpu-time]

The compiled epoch runs on one thread: compare at ``--threads 1``.
"""

import argparse
import cProfile
import datetime
import pstats
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
from run import load_dataset, machine, median_time
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from text_data import make_text_data

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._optim import _sgd

# Functions (by name) whose own time is each part of an epoch; anything else is "other".
PARTS = {
    # cProfile does not see into the fused Cython function: the kernel's time is _run_epoch's own.
    "the epoch: compiled kernel (and its Python wrapper)": {"_run_epoch"},
    "around it: fold, finite checks, penalty value, saved copies": {
        "_finish_epoch",
        "materialize",
        "isfinite",
        "vdot",
        "value",
        "copy",
        "deepcopy",
        "_deepcopy_dict",
        "_reconstruct",
        "sgd",
    },
}
OTHER = "other (validation, setup, small arrays)"
# Epochs added to a one-epoch fit to time the marginal epoch.
EXTRA_EPOCHS = 2
MARGINAL_REPEATS = 5
# The clock of the marginal epoch and the lower bound: wall time, or with --cpu-time the
# process's CPU time (steadier on a shared machine; the same at one thread).
clock = time.perf_counter


def plain_name(function_name):
    """``take`` for cProfile's "<method 'take' of 'numpy.ndarray' objects>", ``csr_matvecs`` for
    "<built-in method scipy.sparse._sparsetools.csr_matvecs>", the name itself otherwise."""
    if function_name.startswith("<method '"):
        return function_name.split("'")[1]
    if function_name.startswith("<built-in method "):
        return function_name.removesuffix(">").split(".")[-1].split()[-1]
    return function_name


def part_of(function_name):
    for part, names in PARTS.items():
        if plain_name(function_name) in names:
            return part
    return OTHER


def profile_epoch(X, y, solver):
    """Own time per part of one epoch of ``solver``, and the profiled and unprofiled epoch times."""
    estimator = MaxEntClassifier(solver=solver, max_iter=1, tol=None, eta0=0.1, random_state=0)
    wall = median_time(lambda: MaxEntClassifier(**estimator.get_params()).fit(X, y))
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(estimator.fit, X, y)
    profiled = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats
    parts = dict.fromkeys([*PARTS, OTHER], 0.0)
    for (_, _, name), (_, _, own_time, _, _) in stats.items():
        parts[part_of(name)] += own_time
    top = sorted(
        (
            (own_time, calls, f"{Path(file).name}:{name}")
            for (file, _, name), (_, calls, own_time, _, _) in stats.items()
        ),
        reverse=True,
    )[:8]
    return {
        "wall": wall,
        "profiled": profiled,
        "parts": parts,
        "top": top,
        "marginal": marginal_epoch(X, y, solver),
    }


def marginal_epoch(X, y, solver, repeats=MARGINAL_REPEATS):
    """The cost of one more epoch, stopping checks included: fits of 1 and 1 + EXTRA_EPOCHS epochs.

    A fixed constant step (no calibration) and the default ``tol`` (1e-6), whose certificate
    is checked as in a default fit: after epochs that gain less than ten times ``tol`` of the
    loss (none here, so the figure is the epoch's own cost); patience past ``max_iter``.
    Each repeat times both fits back to back and the median of the differences is taken,
    so that a slow spell of a shared machine hits both.
    """

    def fit(n_epochs):
        estimator = MaxEntClassifier(
            solver=solver,
            max_iter=n_epochs,
            tol=1e-6,
            n_iter_no_change=n_epochs + 1,
            learning_rate="constant",
            eta0=0.1,
            random_state=0,
        )
        start = clock()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
        if estimator._sgd_state_.schedule.eta0 != 0.1:
            print(f"warning: {solver} backed its step off; the epoch count is not {n_epochs}")
        return clock() - start

    differences = [fit(1 + EXTRA_EPOCHS) - fit(1) for _ in range(repeats)]
    return float(np.median(differences)) / EXTRA_EPOCHS


def issue_datasets():
    """Issue 12's shapes: dense 200,000 x 80 and text 50,000 x 2**17, 12 classes each."""
    X, y = make_classification(200_000, 80, n_informative=40, n_classes=12, random_state=0)
    yield "dense 200000 x 80", StandardScaler().fit_transform(X), y
    yield "text 50000 x 2**17", *make_text_data(n_docs=50_000, n_features=2**17, n_classes=12)


def print_marginal(reference):
    """``--marginal``: SAGA's marginal epoch / lower bound on issue 12's shapes (and the NumPy epochs')."""
    import reference_epochs  # tests/, on PYTHONPATH

    compiled = _sgd._saga_epoch
    for name, X, y in issue_datasets():
        bound = lower_bound(X, np.unique(y).size)
        line = [f"{name}: lower bound {bound:.3f} s"]
        for label, epoch in [("compiled", compiled)] + (
            [("numpy", reference_epochs.saga_epoch)] if reference else []
        ):
            _sgd._saga_epoch = epoch
            try:
                seconds = marginal_epoch(X, y, "saga")
            finally:
                _sgd._saga_epoch = compiled
            line.append(f"{label} SAGA epoch {seconds:.3f} s = {seconds / bound:.2f} x")
        print("; ".join(line), flush=True)


# Issue 12's bounds on one more SAGA epoch over the whole-data products, per issue shape.
TARGETS = {"dense 200000 x 80": 1.5, "text 50000 x 2**17": 2.0}


def issue_targets():
    """One more SAGA epoch over the products on issue 12's shapes, on 1 and 2 threads (both alike)."""
    rows = []
    for name, X, y in issue_datasets():
        for threads in (1, 2):
            with threadpoolctl.threadpool_limits(limits=threads):
                bound = lower_bound(X, np.unique(y).size)
                seconds = marginal_epoch(X, y, "saga")
            rows.append({"shape": name, "threads": threads, "bound": bound, "epoch": seconds})
            print(f"{name}, {threads} thread(s): {seconds / bound:.2f} x", flush=True)
    return rows


def lower_bound(X, n_classes):
    rng = np.random.default_rng(0)
    n_columns = 1 if n_classes == 2 else n_classes
    W = rng.standard_normal((X.shape[1], n_columns)).astype(X.dtype)
    G = rng.standard_normal((X.shape[0], n_columns)).astype(X.dtype)
    times = []
    for _ in range(MARGINAL_REPEATS):
        start = clock()
        X @ W, X.T @ G
        times.append(clock() - start)
    return float(np.median(times))


def markdown(report):
    m = report["machine"]
    lines = [
        "# Where an epoch's time goes",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}  ",
        f"Machine: {m['cpu']}, {m['cores']} cores; numpy {m['numpy']}, scipy {m['scipy']};"
        f" {'; '.join(m['thread_pools'])}",
        "",
        "One epoch, `MaxEntClassifier(solver=..., max_iter=1, tol=None, eta0=0.1)` (a fixed step, so no"
        " calibration runs), profiled by cProfile; each function's own time is assigned to a part of the"
        " epoch by its name (`benchmarks/profile_epoch.py`). 'Epoch' is the median unprofiled time of"
        " three fits (including input validation); the lower bound is `X @ W` plus `X.T @ G` on the"
        " whole training set; 'one more epoch' is the marginal cost of an epoch, stopping checks"
        f" included (fits of 1 and {1 + EXTRA_EPOCHS} epochs, median of {MARGINAL_REPEATS} differences).",
        "",
    ]
    if report.get("targets"):
        lines += [
            "## Issue 12's targets: one more SAGA epoch over the products",
            "",
            "Issue 12's shapes (12 classes), `--marginal`'s measure, products and epoch on the same"
            " number of threads (the epoch itself runs on one).",
            "",
            "| shape | threads | products (s) | one more SAGA epoch (s) | ratio | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *[
                f"| {r['shape']} | {r['threads']} | {r['bound']:.3f} | {r['epoch']:.3f}"
                f" | {r['epoch'] / r['bound']:.2f} | {TARGETS[r['shape']]} |"
                for r in report["targets"]
            ],
            "",
        ]
    for name, result in report["datasets"].items():
        lines += [
            f"## {name}: {result['shape']}, {result['classes']} classes, batch_size {result['batch']}",
            "",
        ]
        lines.append(f"Lower bound (whole-data products): {result['lower_bound']:.3f} s.")
        lines.append("")
        for solver, profile in result["solvers"].items():
            total = sum(profile["parts"].values())
            lines += [
                f"### {solver}: one more epoch {profile['marginal']:.3f} s"
                f" = {profile['marginal'] / result['lower_bound']:.2f} x the lower bound;"
                f" a one-epoch fit {profile['wall']:.3f} s, profiled {profile['profiled']:.3f} s",
                "",
                "| part | own time (s) | share |",
                "| --- | ---: | ---: |",
                *[
                    f"| {part} | {seconds:.3f} | {seconds / total:.0%} |"
                    for part, seconds in sorted(profile["parts"].items(), key=lambda item: -item[1])
                ],
                "",
                "Top functions by own time: "
                + "; ".join(f"`{where}` {own:.3f} s ({calls} calls)" for own, calls, where in profile["top"]),
                "",
            ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["dense", "text"], metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="small data, into benchmarks/results/quick/")
    parser.add_argument("--threads", type=int, help="limit BLAS threads")
    parser.add_argument("--marginal", action="store_true", help="only print SAGA's epoch / lower bound")
    parser.add_argument("--reference", action="store_true", help="with --marginal: also the NumPy epochs")
    parser.add_argument("--cpu-time", action="store_true", help="time by CPU time (use with --threads 1)")
    args = parser.parse_args(argv)
    if args.cpu_time:
        global clock
        clock = time.process_time
    if args.marginal:
        with threadpoolctl.threadpool_limits(limits=args.threads):
            print_marginal(args.reference)
        return
    out = Path(__file__).resolve().parent / "results" / ("quick" if args.quick else "")
    report = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "datasets": {},
    }
    with threadpoolctl.threadpool_limits(limits=args.threads):
        report["machine"] = machine()
        for name in args.datasets:
            X, _, y, _ = load_dataset(name, args.quick)
            n_classes = np.unique(y).size
            result = {
                "shape": f"{X.shape[0]} x {X.shape[1]} {X.dtype}",
                "classes": n_classes,
                "batch": MaxEntClassifier()._batch_size(X),
                "lower_bound": lower_bound(X, n_classes),
                "solvers": {solver: profile_epoch(X, y, solver) for solver in ("sgd", "saga")},
            }
            report["datasets"][name] = result
            print(
                f"{name}: lower bound {result['lower_bound']:.3f} s;",
                {
                    solver: round(p["marginal"] / result["lower_bound"], 2)
                    for solver, p in result["solvers"].items()
                },
            )
    if not args.quick:
        report["targets"] = issue_targets()
    out.mkdir(parents=True, exist_ok=True)
    (out / "PROFILE.md").write_text(markdown(report))
    print(f"written {out / 'PROFILE.md'}")


if __name__ == "__main__":
    main()
