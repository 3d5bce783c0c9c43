"""What one full-batch pass costs: the loss and gradient L-BFGS and Newton call, on 1 and 2 threads.

``Objective.data_loss_gradient`` is timed on 1 and 2 threads (BLAS and OpenMP limited alike)
against the two matrix products (``X @ W``, ``X.T @ R``) and against scikit-learn's
``LinearModelLoss.loss_gradient``, on dense 300,000 x 64 data with 8 classes and on the
sparse text data (50,000 x 2**17, 12 classes). Writes ``benchmarks/results/PASSES.md``.

Usage, from the repository root (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, change which
OpenBLAS kernel runs; the report names the kernel)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_passes.py
"""

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import threadpoolctl
from run import machine
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.linear_model._linear_loss import LinearModelLoss
from text_data import make_text_data

from sklearn_maxent._model._objective import Objective
from sklearn_maxent._model._penalty import ElasticNet
from sklearn_maxent._model._softmax import _product, _transpose_product

FULL_BATCH_REPEATS = 7  # rounds of the timings (1 and 2 threads interleaved); medians reported


def uncached_pass(objective, coef, intercept):
    """One loss-and-gradient pass: the objective would return the one it made last at this point."""
    objective._last_pass = None
    return objective.data_loss_gradient(coef, intercept)


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
        "loss_gradient": lambda threads: uncached_pass(objective, coef, intercept),
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
        " products alone (`X @ W` and `X.T @ R`: for dense data the threaded block kernel and"
        " numpy's BLAS, the threaded CSR kernels for sparse) and scikit-learn's"
        " `LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=K),"
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
    lines = [
        "# One full-batch pass",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; load average before"
        " the run {:.2f}, {:.2f}, {:.2f}.".format(*report["machine"]["load_average_before"]),
        "",
    ]
    return "\n".join([*lines, *full_batch_markdown(report)]) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["dense", "text"], choices=["dense", "text"])
    parser.add_argument("--out", type=Path, help="directory of PASSES.md (default benchmarks/results)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent / "results"
    report = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "full_batch": {},
    }
    report["machine"]["blas_kernels"] = [
        f"{pool['filepath'].rsplit('/', 1)[-1]}: {pool.get('architecture')}"
        for pool in threadpoolctl.threadpool_info()
        if pool["internal_api"] == "openblas"
    ]
    for name in args.datasets:
        report["full_batch"][name] = times = full_batch(*full_batch_data(name))
        print(f"full batch {name}:", {key: round(value, 4) for key, value in times.items()})
    out.mkdir(parents=True, exist_ok=True)
    (out / "PASSES.md").write_text(markdown(report))
    print(f"written {out / 'PASSES.md'}")


if __name__ == "__main__":
    main()
