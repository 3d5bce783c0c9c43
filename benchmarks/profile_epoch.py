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

``--both-cores`` times one SAGA epoch (the kernel's call, ``_optim._epochs._saga_epoch``) on the
docstring corpus (``real_text.py``) in float64 and float32, on 1 and 2 OpenMP threads in turns, and
the products on one thread: issue 20's targets (2 x the products on one thread; 1.6 x faster on
two). It also times epochs of small minibatches on 1 and 2 threads, where the kernel's
``MIN_ENTRIES_PER_THREAD`` comes from, and writes its section of ``PROFILE.md``.

Usage, from the repository root::

    PYTHONPATH=. python benchmarks/profile_epoch.py --threads 1
    PYTHONPATH=.:tests python benchmarks/profile_epoch.py --threads 1 --marginal --reference [--cpu-time]
    python benchmarks/profile_epoch.py --both-cores

Sparse epochs run on the OpenMP threads ``--threads`` allows (dense ones on one).
"""

import argparse
import cProfile
import datetime
import os
import pstats
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
from real_text import load_real_text
from run import load_dataset, machine, median_time
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from text_data import make_text_data

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._kernels import epoch as epoch_kernel
from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._optim import SGDState, StepSchedule, _sgd
from sklearn_maxent._optim._epochs import _saga_epoch
from sklearn_maxent._optim._state import SAGAMemory
from sklearn_maxent._optim._steps import default_step

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


# Issue 20's targets: one SAGA epoch on sparse text within this many times the products on one
# thread, and this many times faster on two threads than on one.
BOTH_CORES_TARGETS = {"epoch / products": 2.0, "1 / 2 threads": 1.6}
# Epochs per thread count, taken in turns (1, 2, 1, 2, ...) so that a busy spell hits both.
BOTH_CORES_REPEATS = 5


def saga_run(X, y, batch_size=256):
    """A SAGA epoch's arguments on ``X``, ``y`` at C = 1 (``alpha = 1 / n``): the objective, a
    state at the default step, zero weights; and a function that runs one epoch on them."""
    n_classes = np.unique(y).size
    targets = np.eye(n_classes, dtype=X.dtype)[np.searchsorted(np.unique(y), y)]
    n = X.shape[0]
    objective = Objective(X, targets, np.full(n, 1.0 / n), ElasticNet(1.0 / n, 0.0), True, False)
    rng = np.random.RandomState(0)
    state = SGDState(StepSchedule("constant", default_step(objective, batch_size, rng)))
    state.memory = SAGAMemory.empty(objective)
    coef = np.zeros(objective.parameter_shape, dtype=X.dtype)
    intercept = np.zeros(coef.shape[1], dtype=X.dtype)

    def epoch():
        start = clock()
        loss = _saga_epoch(objective, coef, intercept, state, batch_size, rng.permutation(X.shape[0]))
        if loss is None:
            raise RuntimeError("the SAGA epoch blew the loss up")
        return clock() - start

    return epoch


def epochs_in_turns(epoch, thread_counts, repeats):
    """Times of ``epoch`` on each number of OpenMP threads, the counts taken in turns."""
    times = {threads: [] for threads in thread_counts}
    for _ in range(repeats):
        for threads in thread_counts:
            with threadpoolctl.threadpool_limits(limits=threads, user_api="openmp"):
                times[threads].append(epoch())
    return times


def both_cores():
    """Issue 20's figures on the docstring corpus, float64 and float32: one SAGA epoch on 1 and 2
    threads and the products on one."""
    X, _, y, _ = load_real_text()
    rows = []
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        epoch = saga_run(Xd, y)
        epoch()  # the first epoch fills SAGA's memory and pages the model in
        times = epochs_in_turns(epoch, (1, 2), BOTH_CORES_REPEATS)
        with threadpoolctl.threadpool_limits(limits=1):
            products = lower_bound(Xd, np.unique(y).size)
        one, two = np.median(times[1]), np.median(times[2])
        shape = f"{X.shape[0]:,} x {X.shape[1]:,}"
        rows.append(
            {"dtype": np.dtype(dtype).name, "shape": shape, "products": products, "one": one, "two": two},
        )
        print(rows[-1], flush=True)
    return rows


def small_minibatches(batch_sizes=(8, 16, 32, 64, 128, 256)):
    """SAGA epochs of small minibatches on 1 and 2 threads (allowed past ``MIN_ENTRIES_PER_THREAD``;
    the kernel's probes still choose), on the docstring corpus's quick sample in float64: where a
    second thread starts to pay."""
    X, _, y, _ = load_real_text(quick=True)
    n_free = np.unique(y).size
    mean_nnz = X.nnz / X.shape[0]
    threshold, epoch_kernel.MIN_ENTRIES_PER_THREAD = epoch_kernel.MIN_ENTRIES_PER_THREAD, 1
    try:
        rows = []
        for batch_size in batch_sizes:
            epoch = saga_run(X, y, batch_size)
            epoch()
            times = epochs_in_turns(epoch, (1, 2), BOTH_CORES_REPEATS)
            rows.append(
                {
                    "batch": batch_size,
                    "entries": mean_nnz * batch_size * n_free,
                    "one": np.median(times[1]),
                    "two": np.median(times[2]),
                    "one_min": min(times[1]),
                    "two_min": min(times[2]),
                }
            )
            print(rows[-1], flush=True)
    finally:
        epoch_kernel.MIN_ENTRIES_PER_THREAD = threshold
    return rows


def both_cores_markdown(command, rows, small, load_before, load_after):
    """``PROFILE.md``'s section of ``--both-cores``."""
    target = BOTH_CORES_TARGETS
    return "\n".join(
        [
            "## Issue 20's targets: a SAGA epoch on sparse text, on both cores",
            "",
            f"Command: `{command}`  ",
            f"Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  ",
            f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)};"
            f" after: {', '.join(f'{x:.2f}' for x in load_after)} (2 cores, shared)",
            "",
            "One SAGA epoch (`_optim._epochs._saga_epoch`: the kernel's call and the Python around it;"
            " minibatches of 256 rows, L2 at C = 1, the default step) on the docstring corpus"
            f" (`real_text.py`, {rows[0]['shape']} CSR, 44 classes), median of"
            f" {BOTH_CORES_REPEATS} epochs per thread count, taken in turns (1, 2, 1, 2, ...);"
            " the products are `X @ W` plus `X.T @ G` on one thread, as in `lower_bound`."
            f" Targets: epoch / products at most {target['epoch / products']} on one thread, and 1 / 2"
            f" threads at least {target['1 / 2 threads']}.",
            "",
            "| dtype | products, 1 thread (s) | epoch, 1 thread (s) | epoch, 2 threads (s)"
            " | epoch / products, 1 thread | epoch / products, 2 threads | 1 / 2 threads |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[
                f"| {r['dtype']} | {r['products']:.3f} | {r['one']:.3f} | {r['two']:.3f}"
                f" | {r['one'] / r['products']:.2f} | {r['two'] / r['products']:.2f}"
                f" | {r['one'] / r['two']:.2f} |"
                for r in rows
            ],
            "",
            "Small minibatches (the quick sample, float64; two threads allowed past"
            " `MIN_ENTRIES_PER_THREAD`, the kernel's probes still choosing): where a second thread"
            " starts to pay; entries are a minibatch's mean non-zeros times the free classes. Median"
            " and, less disturbed by the other processes, the fastest of the epochs.",
            "",
            "| batch | entries | epoch, 1 thread (s) | epoch, 2 threads (s) | 1 / 2 threads"
            " | fastest, 1 thread (s) | fastest, 2 threads (s) | 1 / 2 threads, fastest |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[
                f"| {r['batch']} | {r['entries']:,.0f} | {r['one']:.4f} | {r['two']:.4f}"
                f" | {r['one'] / r['two']:.2f} | {r['one_min']:.4f} | {r['two_min']:.4f}"
                f" | {r['one_min'] / r['two_min']:.2f} |"
                for r in small
            ],
            "",
        ]
    )


def write_section(path, section):
    """``section`` (from its ``## `` heading on) into the markdown file ``path``, replacing its old text."""
    text = path.read_text() if path.exists() else ""
    heading = section.split("\n", 1)[0]
    if heading in text:
        before, rest = text.split(heading, 1)
        after = rest.split("\n## ", 1)[1] if "\n## " in rest else ""
        text = before + section + ("\n## " + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


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
    parser.add_argument("--both-cores", action="store_true", help="issue 20's SAGA epoch on 1 and 2 threads")
    args = parser.parse_args(argv)
    if args.both_cores:
        load_before = os.getloadavg()
        rows, small = both_cores(), small_minibatches()
        command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        path = Path(__file__).resolve().parent / "results" / "PROFILE.md"
        write_section(path, both_cores_markdown(command, rows, small, load_before, os.getloadavg()))
        print(f"written {path}")
        return
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
