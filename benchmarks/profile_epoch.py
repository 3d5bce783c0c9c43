"""Where one epoch of MaxEntClassifier's SGD and SAGA spends its time, by cProfile.

Profiles one epoch (``max_iter=1``, ``eta0`` fixed so that no step-size calibration runs) on
the benchmark's data sets and sorts the functions' own time into the parts of an epoch: the
matrix products any epoch needs, the softmax and loss, gathering the minibatch's rows,
updating the weights, and the rest (Python and small-array overhead). The matrix products'
lower bound (``X @ W`` and ``X.T @ G`` over the whole data, as in ``run.py``) is timed in
the same run. Writes ``benchmarks/results/PROFILE.md``.

Usage, from the repository root::

    PYTHONPATH=. python benchmarks/profile_epoch.py --threads 1
"""

import argparse
import cProfile
import datetime
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import threadpoolctl
from run import load_dataset, machine, median_time

from sklearn_maxent import MaxEntClassifier

# Functions (by name) whose own time is each part of an epoch; anything else is "other".
PARTS = {
    "forward product X_b @ W_b": {"linear_scores", "csr_matvecs"},
    "backward product X_b^T (P - Y)": {
        "linear_loss_gradient",
        "csc_matvecs",
        "linear_loss_residual",
        "_mul_matvec",
        "_matmul_dispatch",
        "_matmul_sparse",
        "_rmatmul_dispatch",
        "_mul_multivector",
        "transpose",
        "__matmul__",
        "__rmatmul__",
    },
    "softmax, loss and residual": {"cross_entropy_and_residual", "log_softmax", "softmax", "vdot"},
    "minibatch rows (gather, compact columns)": {
        "minibatch",
        "_compact_columns",
        "__getitem__",
        "_major_index_fancy",
        "_validate_indices",
        "__init__",
        "check_format",
        "_get_index_dtype",
        "get_index_dtype",
        "cumsum",
        "_check_shape",
        "_get_arrayXslice",
        "_get_arrayXarray",
        "_minor_reduce",
    },
    "weight rows: gather and update (lazy scale, L1)": {
        "take",
        "step",
        "gather",
        "weights",
        "_record_change",
        "_charge_l1",
        "materialize",
        "catch_up_all",
        "_sgd_epoch",
    },
    "SAGA loop body (its X_b^T (R_new - R_old) product, table updates)": {"_saga_epoch"},
}


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
    return "other (Python, validation, whole-weight copies, small arrays)"


def profile_epoch(X, y, solver):
    """Own time per part of one epoch of ``solver``, and the profiled and unprofiled epoch times."""
    estimator = MaxEntClassifier(solver=solver, max_iter=1, tol=None, eta0=0.1, random_state=0)
    wall = median_time(lambda: MaxEntClassifier(**estimator.get_params()).fit(X, y))
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(estimator.fit, X, y)
    profiled = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats
    parts = dict.fromkeys([*PARTS, "other (Python, validation, whole-weight copies, small arrays)"], 0.0)
    for (_, _, name), (_, _, own_time, _, _) in stats.items():
        parts[part_of(name)] += own_time
    top = sorted(
        (
            (own_time, calls, f"{Path(file).name}:{name}")
            for (file, _, name), (_, calls, own_time, _, _) in stats.items()
        ),
        reverse=True,
    )[:8]
    return {"wall": wall, "profiled": profiled, "parts": parts, "top": top}


def lower_bound(X, n_classes):
    rng = np.random.default_rng(0)
    n_columns = 1 if n_classes == 2 else n_classes
    W = rng.standard_normal((X.shape[1], n_columns)).astype(X.dtype)
    G = rng.standard_normal((X.shape[0], n_columns)).astype(X.dtype)
    return median_time(lambda: (X @ W, X.T @ G))


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
        " whole training set.",
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
                f"### {solver}: epoch {profile['wall']:.3f} s"
                f" ({profile['wall'] / result['lower_bound']:.1f} x the lower bound),"
                f" profiled {profile['profiled']:.3f} s",
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
    args = parser.parse_args(argv)
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
                {solver: round(p["wall"], 3) for solver, p in result["solvers"].items()},
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / "PROFILE.md").write_text(markdown(report))
    print(f"written {out / 'PROFILE.md'}")


if __name__ == "__main__":
    main()
