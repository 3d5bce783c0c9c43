"""Where one epoch of MaxEntClassifier's SGD and SAGA spends its time, and what a full-batch pass costs.

Profiles one epoch (``max_iter=1``, ``eta0`` fixed so that no step-size calibration runs) on
the benchmark's data sets and sorts the functions' own time into the parts of an epoch: the
matrix products any epoch needs, the softmax and loss, gathering the minibatch's rows,
updating the weights, and the rest (Python and small-array overhead). The matrix products'
lower bound (``X @ W`` and ``X.T @ G`` over the whole data, as in ``run.py``) is timed in
the same run.

The full-batch loss and gradient (what L-BFGS and Newton call, ``Objective.data_loss_gradient``)
is timed on 1 and 2 threads (BLAS and OpenMP) against the two matrix products (``X @ W``,
``X.T @ R``) and against scikit-learn's ``LinearModelLoss.loss_gradient``, on dense
300,000 x 64 data with 8 classes and on the sparse text data (50,000 x 2**17, 12 classes).
Writes ``benchmarks/results/PROFILE.md``.

Usage, from the repository root::

    PYTHONPATH=. python benchmarks/profile_epoch.py --threads 1

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, change which OpenBLAS kernel runs; the
report names the kernel (``architecture``). The full-batch part alone, to /tmp::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. \
        python benchmarks/profile_epoch.py --datasets --out /tmp/profile
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
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.linear_model._linear_loss import LinearModelLoss
from text_data import make_text_data

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._objective import Objective
from sklearn_maxent._penalty import ElasticNet
from sklearn_maxent._softmax import _product, _transpose_product

FULL_BATCH_REPEATS = 7  # rounds of the full-batch timings (1 and 2 threads interleaved); medians reported

# Functions (by name) whose own time is each part of an epoch; anything else is "other".
PARTS = {
    "forward product X_b @ W_b": {
        "linear_scores",
        "csr_matvecs",
        "_product",
        "_csr_product",
        "csr_dense_product",
    },
    "backward product X_b^T (P - Y)": {
        "linear_loss_gradient",
        "_transpose_product",
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
    "softmax, loss and residual": {
        "cross_entropy_and_residual",
        "_cross_entropy_residual",
        "cross_entropy_residual",
        "log_softmax",
        "softmax",
        "vdot",
    },
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


def full_batch_data(name):
    """``X`` and labels of a full-batch benchmark set: "dense" (Gaussian) or "text" (text_data.py)."""
    if name == "text":
        return make_text_data(n_docs=50_000, n_features=2**17, n_classes=12)
    rng = np.random.default_rng(0)
    return rng.standard_normal((300_000, 64)), rng.integers(8, size=300_000)


def full_batch(X, y):
    """Median times of the full-batch loss and gradient, its products and LinearModelLoss's, by threads.

    One round times every function once on 1 thread then on 2 (BLAS and OpenMP
    limited alike); medians over the rounds, so the ratios compare times taken
    under the same load.
    """
    n_classes = np.unique(y).size
    rng = np.random.default_rng(0)
    objective = Objective(
        X,
        np.eye(n_classes, dtype=X.dtype)[y],
        np.ones(X.shape[0], X.dtype),
        ElasticNet(0.0, 0.0),
        True,
        False,
    )
    coef = 0.1 * rng.standard_normal(objective.parameter_shape).astype(X.dtype)
    intercept = np.zeros(n_classes, X.dtype)
    residual = rng.standard_normal((X.shape[0], n_classes)).astype(X.dtype)
    full_X = objective._full_X  # what the pass multiplies by (sparse X with its transpose)
    sklearn_loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=n_classes), fit_intercept=True)
    sklearn_coef = np.hstack([coef.T, intercept[:, None]])
    labels = y.astype(X.dtype)
    functions = {
        "loss_gradient": lambda threads: objective.data_loss_gradient(coef, intercept),
        "products": lambda threads: (_product(full_X, coef), _transpose_product(full_X, residual)),
        "sklearn": lambda threads: sklearn_loss.loss_gradient(sklearn_coef, X, labels, n_threads=threads),
    }
    functions["loss_gradient"](1)  # makes the transpose of sparse X, once per Objective
    times = {(name, threads): [] for name in functions for threads in (1, 2)}
    for _ in range(FULL_BATCH_REPEATS):
        for threads in (1, 2):
            with threadpoolctl.threadpool_limits(limits=threads):
                for name, function in functions.items():
                    start = time.perf_counter()
                    function(threads)
                    times[name, threads].append(time.perf_counter() - start)
    return {f"{name} {threads}": float(np.median(seconds)) for (name, threads), seconds in times.items()}


def full_batch_markdown(report):
    m = report["machine"]
    blas = "; ".join(m["blas_kernels"])
    lines = [
        "## Full-batch loss and gradient",
        "",
        "`Objective.data_loss_gradient` on 1 and 2 threads (BLAS and OpenMP limited alike): for dense"
        " data one compiled pass over blocks of rows (BLAS on each block, one thread each), for"
        " sparse data the threaded CSR kernels around the compiled row-wise pass. Against the two"
        " products alone (`X @ W` and `X.T @ R`: numpy's BLAS for dense data, the threaded CSR kernels"
        " for sparse) and scikit-learn's `LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=K),"
        " fit_intercept=True).loss_gradient` with `n_threads` alike;"
        f" medians of {FULL_BATCH_REPEATS} interleaved rounds. OpenBLAS kernels: {blas}.",
        "",
        "| data | threads | loss+gradient (s) | products (s) | / products | LinearModelLoss (s)"
        " | LinearModelLoss / ours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in report["full_batch"].items():
        for threads in (1, 2):
            ours, products, sklearn = (
                t[f"{part} {threads}"] for part in ("loss_gradient", "products", "sklearn")
            )
            lines.append(
                f"| {name} | {threads} | {ours:.4f} | {products:.4f} | {ours / products:.2f}"
                f" | {sklearn:.4f} | {sklearn / ours:.2f} |"
            )
    lines += ["", "2 threads vs 1 (speed-up of the loss and gradient; of the products):", ""]
    for name, t in report["full_batch"].items():
        speedups = (t[f"{part} 1"] / t[f"{part} 2"] for part in ("loss_gradient", "products"))
        lines.append("- {}: {:.2f}; {:.2f}".format(name, *speedups))
    return lines


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
    if report["full_batch"]:
        lines += full_batch_markdown(report)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets", nargs="*", default=["dense", "text"], metavar="NAME", help="epoch profiles (none: skip)"
    )
    parser.add_argument(
        "--full-batch", nargs="*", default=["dense", "text"], choices=["dense", "text"], help="none: skip"
    )
    parser.add_argument("--out", type=Path, help="directory of PROFILE.md (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true", help="small data, into benchmarks/results/quick/")
    parser.add_argument("--threads", type=int, help="limit BLAS threads")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent / "results" / ("quick" if args.quick else "")
    report = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "datasets": {},
        "full_batch": {},
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
    report["machine"]["blas_kernels"] = [
        f"{pool['filepath'].rsplit('/', 1)[-1]}: {pool.get('architecture')}"
        for pool in threadpoolctl.threadpool_info()
        if pool["internal_api"] == "openblas"
    ]
    for name in args.full_batch:
        report["full_batch"][name] = times = full_batch(*full_batch_data(name))
        print(f"full batch {name}:", {key: round(value, 4) for key, value in times.items()})
    out.mkdir(parents=True, exist_ok=True)
    (out / "PROFILE.md").write_text(markdown(report))
    print(f"written {out / 'PROFILE.md'}")


if __name__ == "__main__":
    main()
