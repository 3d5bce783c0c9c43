"""Time and bytes per full-batch iteration of DaskMaxEntClassifier, for 1 and 2 workers; fits on sparse text.

The data (float64, ``n_classes`` classes drawn from a softmax model) are
generated on the workers and never leave them. For each cluster size the
script runs ``DaskMaxEntClassifier(max_iter=...)`` and records, for every
gradient evaluation (one pass over the cluster's data: every worker's
``X_p^T (P_p - Y_p)`` and loss, summed on the client), its wall time; the bytes
the workers sent to the client and scheduler come from the workers' transfer
logs. It also measures the latency floor of an evaluation (the same on a
tiny data set). Writes ``benchmarks/results/DASK.md``.

With ``--sparse`` it fits sparse text instead, in CSR chunks on the workers:
a synthetic set (``text_data.make_text_data``) and the real docstring corpus
(``real_text.load_real_text``, its training part), at ``alpha = 1 / n``
(C = 1). For 1 and 2 workers it records the fit's wall time against
``MaxEntClassifier(solver="lbfgs")`` on as many threads in one process, the
certified gap and the largest difference of probabilities from that fit, and
rows per CPU second: of a worker's gradient evaluations, and of one
single-process pass on one thread. It writes the section "Sparse chunks" of
``DASK.md``, leaving the rest of the file as it is (and the dense run leaves
that section).

Usage::

    python benchmarks/dask_scaling.py            # 2,000,000 x 100, 10 classes
    python benchmarks/dask_scaling.py --rows 200000 --output /tmp/DASK.md
    python benchmarks/dask_scaling.py --sparse   # synthetic and real text
    python benchmarks/dask_scaling.py --sparse --quick --output /tmp/DASK.md  # smoke run
"""

import argparse
import os
import pickle
import platform
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import distributed
import numpy as np
from distributed import Client, LocalCluster, wait
from real_text import load_real_text
from sklearn.exceptions import ConvergenceWarning
from text_data import make_text_data
from threadpoolctl import threadpool_limits

import sklearn_maxent.dask as maxent_dask
from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._model._softmax import ThreadedCSR, linear_loss_gradient
from sklearn_maxent.dask import DaskMaxEntClassifier

RESULTS = Path(__file__).resolve().parent / "results"
SPARSE_HEADING = "## Sparse chunks: text"
LBFGS = "MaxEntClassifier(solver='lbfgs')"  # the single-process fit of DaskMaxEntClassifier's optimizer


def make_data(n, d, n_classes, chunk, seed):
    """Lazy data for the workers to generate: Gumbel-max labels of a random softmax model."""
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, d), chunks=(chunk, d))
    W = np.random.default_rng(seed).standard_normal((d, n_classes)) / np.sqrt(d)
    y = (X @ W + rng.gumbel(size=(n, n_classes), chunks=(chunk, n_classes))).argmax(axis=1)
    return X, y


class EvaluationTimer:
    """Wall time of every gradient evaluation of the distributed objective, and with ``client``
    the busiest worker's CPU time in it (read between evaluations, outside the wall time): the
    fit also runs certificate passes, which are not evaluations."""

    def __init__(self, on_first=None, client=None):
        self.times = []
        self.cpu = []
        self.on_first = on_first
        self.client = client
        self._original = maxent_dask._DistributedObjective.data_loss_gradient

    def __enter__(self):
        original, times, on_first, client = self._original, self.times, self.on_first, self.client

        def timed(objective, coef, intercept):
            if not times and on_first is not None:
                on_first()
            cpu_before = client.run(time.process_time) if client is not None else None
            start = time.perf_counter()
            result = original(objective, coef, intercept)
            times.append(time.perf_counter() - start)
            if client is not None:
                cpu_after = client.run(time.process_time)
                self.cpu.append(max(cpu_after[w] - cpu_before[w] for w in cpu_after))
            return result

        maxent_dask._DistributedObjective.data_loss_gradient = timed
        return self

    def __exit__(self, *exc):
        maxent_dask._DistributedObjective.data_loss_gradient = self._original


def bytes_to_non_workers(client):
    """Bytes the workers sent to anyone but a worker (client, scheduler), from their transfer logs."""
    logs = client.run(lambda dask_worker: [(e["who"], e["total"]) for e in dask_worker.transfer_outgoing_log])
    workers = set(client.scheduler_info()["workers"])
    return sum(total for entries in logs.values() for who, total in entries if who not in workers)


def bytes_between_workers(client):
    logs = client.run(lambda dask_worker: [(e["who"], e["total"]) for e in dask_worker.transfer_outgoing_log])
    workers = set(client.scheduler_info()["workers"])
    return sum(total for entries in logs.values() for who, total in entries if who in workers)


def blas_threads(client):
    def info():
        from threadpoolctl import threadpool_info

        return sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()})

    try:
        return next(iter(client.run(info).values()))
    except ImportError:
        return "unknown (threadpoolctl not installed)"


def local_cluster(n_workers, args):
    """``n_workers`` one-thread worker processes on loopback, each with ``args.memory_per_worker`` GiB."""
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=f"{args.memory_per_worker}GiB",
    )


def measure(n_workers, args):
    with local_cluster(n_workers, args) as cluster, Client(cluster) as client:
        blas = blas_threads(client)
        # Latency floor: the same round trips on 2,000 rows.
        X_small, y_small = make_data(2_000, args.features, args.classes, 1_000, seed=1)
        with EvaluationTimer() as small, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            DaskMaxEntClassifier(alpha=args.alpha, max_iter=args.iterations).fit(X_small, y_small)

        X, y = make_data(args.rows, args.features, args.classes, args.chunk, seed=0)
        # Transfers are counted from the first evaluation on: the iterations, not data generation.
        # Worker CPU time (EvaluationTimer) is that of the evaluations alone, whatever else the
        # shared machine runs.

        def clear():
            client.run(lambda dask_worker: dask_worker.transfer_outgoing_log.clear())

        start = time.perf_counter()
        with EvaluationTimer(on_first=clear, client=client) as timer, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = DaskMaxEntClassifier(alpha=args.alpha, max_iter=args.iterations).fit(X, y)
        total = time.perf_counter() - start
        cpu = float(np.median(timer.cpu))
        sent_to_client = bytes_to_non_workers(client)
        between = bytes_between_workers(client)
    n_free = args.classes
    coef = np.zeros((args.features, n_free))
    task_args = len(pickle.dumps((coef, np.zeros(n_free), False), protocol=5))
    times = np.array(timer.times)
    return {
        "workers": n_workers,
        "blas": blas,
        "evaluations": len(times),
        "median": float(np.median(times)),
        "cpu": cpu,
        "min": float(times.min()),
        "fit": total,
        "setup": total - float(times.sum()),
        "floor": float(np.median(small.times)),
        "sent_to_client": sent_to_client,
        "between_workers": between,
        "per_evaluation_up": sent_to_client / max(clf.n_evaluations_, 1),
        "per_evaluation_down": task_args * n_workers,
        "n_evaluations": clf.n_evaluations_,
    }


def sparse_sets(args):
    """The sparse data sets, ``(description, X, y)``: synthetic text, the real corpus's training part."""
    n_docs = 10_000 if args.quick else args.text_rows
    X, y = make_text_data(
        n_docs=n_docs, n_features=args.text_features, n_classes=args.text_classes, nnz_per_row=80, seed=0
    )
    X_real, _, y_real, _ = load_real_text(quick=args.quick)
    return [
        (
            f"synthetic: `make_text_data(n_docs={n_docs}, n_features={args.text_features}, "
            f"n_classes={args.text_classes}, nnz_per_row=80)`",
            X,
            y,
        ),
        (f"real: `load_real_text(quick={args.quick})`, training part (docstring corpus)", X_real, y_real),
    ]


def single_process_fit(X, y, threads, solver="lbfgs"):
    """``MaxEntClassifier(alpha=1/n)`` on ``threads`` OpenMP threads: the model, wall and CPU seconds."""
    with threadpool_limits(threads, user_api="openmp"):
        start, cpu = time.perf_counter(), time.process_time()
        model = MaxEntClassifier(alpha=1 / X.shape[0], solver=solver).fit(X, y)
        return model, time.perf_counter() - start, time.process_time() - cpu


def pass_throughput(X, y, model):
    """Rows per CPU second of one single-process loss-and-gradient pass at ``model`` (1 thread, median of 3).

    The pass the fit runs: ``X`` as a ``ThreadedCSR``, its transpose made by a first, untimed pass.
    """
    X = ThreadedCSR(X)
    targets = np.eye(model.classes_.size)[np.searchsorted(model.classes_, y)]
    row_weights = np.full(X.shape[0], 1 / X.shape[0])
    coef = np.ascontiguousarray(model.coef_.T)
    times = []
    with threadpool_limits(1, user_api="openmp"):
        for _ in range(4):
            cpu = time.process_time()
            linear_loss_gradient(X, targets, row_weights, coef, model.intercept_, False)
            times.append(time.process_time() - cpu)
    return X.shape[0] / float(np.median(times[1:]))


def distributed_fit(n_workers, X, y, args):
    """``DaskMaxEntClassifier(alpha=1/n)`` on ``n_workers`` one-thread workers, from CSR chunks already there.

    Returns the model, the fit's wall time and the CPU time in it of the workers and this process (the
    optimizer's), and the workers' rows per CPU second in the gradient evaluations of a short second
    fit (``EvaluationTimer``).
    """
    alpha = 1 / X.shape[0]
    with local_cluster(n_workers, args) as cluster, Client(cluster) as client, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph")  # the chunks, sent once
        chunk = -(-X.shape[0] // args.chunks)
        X_chunked = da.from_array(X, chunks=(chunk, X.shape[1]), asarray=False).persist()
        y_chunked = da.from_array(y, chunks=chunk).persist()
        wait([X_chunked, y_chunked])  # on the workers before the clock starts, as data loaded there
        cpu_before = client.run(time.process_time)
        start, cpu = time.perf_counter(), time.process_time()
        model = DaskMaxEntClassifier(alpha=alpha).fit(X_chunked, y_chunked)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        cpu_after = client.run(time.process_time)
        with EvaluationTimer(client=client) as timer:
            warnings.simplefilter("ignore", ConvergenceWarning)
            DaskMaxEntClassifier(alpha=alpha, max_iter=args.iterations).fit(X_chunked, y_chunked)
    # The first evaluation also makes each chunk's transpose: the median leaves it out.
    throughput = X.shape[0] / n_workers / float(np.median(timer.cpu))
    return model, wall, cpu + sum(cpu_after[w] - cpu_before[w] for w in cpu_after), throughput


def measure_sparse(X, y, args):
    """The fits of one sparse data set (dicts, ``fit_record``'s).

    MaxEntClassifier(solver="lbfgs") on each of ``args.workers`` threads, the default solver on the
    most, and DaskMaxEntClassifier on each of ``args.workers`` workers.
    """
    fits, most = [], max(args.workers)
    for threads in args.workers:
        model, wall, cpu = single_process_fit(X, y, threads)
        # Rows per CPU second of a pass do not depend on the threads: measured once, on one.
        throughput = pass_throughput(X, y, model) if threads == min(args.workers) else None
        fits.append(fit_record(LBFGS, threads, model, wall, cpu, throughput))
    fits.append(fit_record("MaxEntClassifier()", most, *single_process_fit(X, y, most, solver="auto")))
    for n_workers in args.workers:
        fits.append(fit_record("DaskMaxEntClassifier", n_workers, *distributed_fit(n_workers, X, y, args)))
    return fits


def fit_record(name, cores, model, wall, cpu, throughput=None):
    """One fit: its estimator's name, cores, model, wall and CPU seconds, rows per CPU second of a pass."""
    print(f"{name} on {cores}: {wall:.1f} s, CPU {cpu:.1f} s, gap {model.duality_gap_:.2g}", flush=True)
    return {"name": name, "cores": cores, "model": model, "wall": wall, "cpu": cpu, "throughput": throughput}


def sparse_table(description, X, y, fits):
    """The markdown table of one sparse data set's fits, and how they meet the issue's targets.

    Probabilities are compared with those of MaxEntClassifier(solver="lbfgs") on the most threads.
    """
    single = {f["cores"]: f for f in fits if f["name"] == LBFGS}
    dask_fits = [f for f in fits if f["name"] == "DaskMaxEntClassifier"]
    reference = single[max(single)]["model"].predict_proba(X)
    lines = [
        f"**{description}**: {X.shape[0]:,} rows x {X.shape[1]:,} features, {X.nnz / X.shape[0]:.1f} "
        f"non-zeros per row, {np.unique(y).size} classes; alpha = 1/n = {1 / X.shape[0]:.3g}.",
        "",
        "| fit | cores | wall s | CPU s | iterations | certified gap | max abs difference of probabilities "
        "| rows / CPU s of a pass (per worker) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in fits:
        model = f["model"]
        difference = np.abs(model.predict_proba(X) - reference).max()
        throughput = "" if f["throughput"] is None else f"{f['throughput']:,.0f}"
        lines.append(
            f"| {f['name']} | {f['cores']} | {f['wall']:.1f} | {f['cpu']:.1f} | {model.n_iter_} "
            f"| {model.duality_gap_:.2g} | {difference:.1g} | {throughput} |"
        )
    time_ratios = ", ".join(
        f"{f['wall'] / single[f['cores']]['wall']:.2f} on {f['cores']}" for f in dask_fits
    )
    pass_ratio = single[min(single)]["throughput"] / min(f["throughput"] for f in dask_fits)
    lines += [
        "",
        f"Fit time, DaskMaxEntClassifier over MaxEntClassifier(solver='lbfgs') at equal cores: {time_ratios} "
        "(target: at most 1.5). Rows per CPU second, the single-process pass over the workers' (the "
        f"slower run's): {pass_ratio:.2f} (target: at most 1.5). {traffic(X, y, len(dask_fits))}",
        "",
    ]
    return lines


def traffic(X, y, n_workers):
    """What a gradient evaluation moves per worker (``W`` in, a gradient out) against the data it holds."""
    n_classes = np.unique(y).size
    numbers = X.shape[1] * (n_classes if n_classes > 2 else 1)
    return (
        f"Per gradient evaluation each worker receives `W` and sends a gradient, {numbers:,} numbers "
        f"({numbers * 8 / 1e6:.1f} MB) each way, and holds {X.nnz / n_workers:,.0f} non-zeros on "
        f"{n_workers} workers: {numbers / (X.nnz / n_workers):.2g} numbers sent per non-zero it multiplies."
    )


def sparse_report(args, started):
    lines = [
        SPARSE_HEADING,
        "",
        f"Machine: {started}.",
        "",
        "Reproduce: `PYTHONPATH=. python benchmarks/dask_scaling.py --sparse"
        + (" --quick" if args.quick else "")
        + "`",
        "",
        f"Each data set is cut into {args.chunks} chunks of rows (CSR, `da.from_array(X_csr, chunks=(rows, "
        "n_features), asarray=False)`) and persisted on the workers before the clock starts. "
        "DaskMaxEntClassifier runs on one-thread worker processes (a `LocalCluster`); MaxEntClassifier "
        "on as many OpenMP threads in this process (`solver='lbfgs'`: the optimizer DaskMaxEntClassifier "
        "runs; the default `solver='auto'` for comparison). Default `tol=1e-6`. Probabilities are "
        "compared on the training rows with those of `MaxEntClassifier(solver='lbfgs')` on "
        f"{max(args.workers)} threads. CPU s: of this process (with the workers' for Dask). Rows per CPU "
        "second: of one loss-and-gradient pass in this process on one thread (`ThreadedCSR`, the fit's "
        "pass), or of a worker's gradient evaluations (the median of a short fit's, its rows over the "
        "busiest worker's CPU time, which includes receiving `W` and sending the gradient). The machine "
        "is shared (load average above): wall times are noisy, and the second core was often busy "
        "with other jobs; CPU times are steadier.",
        "",
    ]
    for description, X, y in sparse_sets(args):
        print(description, flush=True)
        lines += sparse_table(description, X, y, measure_sparse(X, y, args))
    return "\n".join(lines)


def write_section(path, text, sparse):
    """Write the dense report (the file up to the sparse section) or the sparse section, keeping the other."""
    dense_part, heading, sparse_part = (path.read_text() if path.exists() else "").partition(SPARSE_HEADING)
    dense_part, sparse_part = dense_part.rstrip("\n"), heading + sparse_part
    if sparse:
        sparse_part = text
    else:
        dense_part = text.rstrip("\n")
    path.write_text("\n\n".join(part for part in (dense_part, sparse_part.rstrip("\n")) if part) + "\n")


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}, "
        f"distributed {distributed.__version__}; load average at start {os.getloadavg()[0]:.1f} "
        "(the machine is shared)"
    )


def report(results, args, started_load):
    gradient = (args.features * args.classes + args.classes) * 8
    data = args.rows * args.features * 8
    lines = [
        "# DaskMaxEntClassifier: time and bytes per full-batch iteration",
        "",
        f"Machine: {started_load}.",
        "",
        f"Data: {args.rows:,} x {args.features} float64 ({data / 2**30:.2f} GiB), {args.classes} classes, "
        f"generated on the workers in chunks of {args.chunk:,} rows and never gathered; "
        f"alpha={args.alpha:g}; "
        f"`DaskMaxEntClassifier(max_iter={args.iterations})` (L-BFGS iterations). One evaluation is a pass "
        "over all the data: every worker computes loss and `X_p^T (P_p - Y_p)` on the partitions it holds, "
        "the client sums them and adds the penalty. Workers: 1 thread each (BLAS threads "
        f"{results[0]['blas']}), one process each, `LocalCluster` on this machine.",
        "",
        "Reproduce: `PYTHONPATH=. python benchmarks/dask_scaling.py"
        + (f" --rows {args.rows}" if args.rows != 2_000_000 else "")
        + "`",
        "",
        "| workers | evaluations | median s / evaluation | best s / evaluation "
        "| worker CPU s / evaluation | rows / CPU s / worker "
        "| latency floor s (2,000 rows) | setup s (generate, persist, check) "
        "| bytes workers -> client per evaluation | bytes client -> workers per evaluation "
        "| bytes between workers (all evaluations) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        throughput = args.rows / r["workers"] / max(r["cpu"], 1e-9)
        r["throughput"] = throughput
        lines.append(
            f"| {r['workers']} | {r['evaluations']} | {r['median']:.3f} | {r['min']:.3f} | {r['cpu']:.3f} "
            f"| {throughput:,.0f} "
            f"| {r['floor']:.3f} | {r['setup']:.1f} | {r['per_evaluation_up']:,.0f} "
            f"| {r['per_evaluation_down']:,.0f} | {r['between_workers']:,} |"
        )
    one, two = results[0], results[-1]
    speedup = one["median"] / two["median"]
    per_worker = min(r["throughput"] for r in results)
    floor = max(r["floor"] for r in results)
    workers = 100
    rows_each = args.rows / workers
    compute = rows_each / per_worker
    # Bytes of one evaluation at 100 workers: the weights down to each worker, one gradient up from each.
    down = one["per_evaluation_down"] / one["workers"] * workers
    up = gradient * workers
    big_rows = 100 * args.rows
    lines += [
        "",
        "Bytes workers -> client and between workers are measured (the workers' transfer logs, from the "
        "first evaluation to the end of the fit, divided by the evaluations: L-BFGS gradients and, if "
        "reached, Newton's Hessian products); bytes client -> workers "
        f"are the pickled task arguments (`W`, `b`), {one['per_evaluation_down'] // one['workers']:,} bytes "
        "per worker. One gradient with its intercept is "
        f"{gradient:,} bytes; the data are {data:,} bytes.",
        "",
        "## Scaling",
        "",
        f"Two workers took {two['median']:.3f} s per evaluation against {one['median']:.3f} s for one, "
        f"a speed-up of {speedup:.2f} on this machine's 2 cores; the machine is shared with other jobs "
        "(see the load above), so wall times are noisy and the second core was not always free. The "
        "workers' CPU time per evaluation does not depend on that load: an evaluation costs the rows a "
        f"worker holds divided by its throughput, {per_worker:,.0f} rows per CPU second per worker (the "
        f"slower of the runs), plus a latency floor of about {floor:.3f} s (task submission, the "
        "scheduler, gathering the results; measured on 2,000 rows), and moves "
        f"{gradient:,} bytes per worker each way, independent of the rows.",
        "",
        f"With 100 such workers, {args.rows:,} rows make {rows_each:,.0f} rows per worker: "
        f"{compute:.3f} s of compute against a latency floor of {floor:.3f} s (on this machine; a real "
        "network adds about a millisecond per hop): compute and floor break even at about "
        f"{max(1, int(np.ceil(args.rows / per_worker / max(floor, 1e-3))))} workers, and beyond that "
        "more workers do not make this size faster. The transfer "
        f"is {up / 1e6:.2f} MB up (gradients; summed on the workers 8 at a time, so the client receives at "
        f"most 8 of them) and {down / 1e6:.2f} MB down per evaluation, about {up * 8 / 1e9 * 1e3:.1f} ms at "
        "1 Gbit/s if it all went through one link: not the bottleneck. At "
        f"{big_rows:,} rows ({big_rows * args.features * 8 / 2**30:,.0f} GiB of float64, "
        f"{big_rows / workers * args.features * 8 / 2**30:.1f} GiB per worker), an evaluation would take "
        f"about {big_rows / workers / per_worker:.1f} s of compute plus the same floor and bytes: "
        "near-linear scaling, because what crosses the network is O(workers x classes x features) and "
        "not O(rows). A full fit is some 20-60 such evaluations (L-BFGS, then Newton-CG's Hessian "
        "products, each another pass of the same cost).",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=125_000)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--memory-per-worker", type=float, default=8)
    parser.add_argument("--output", type=Path, default=RESULTS / "DASK.md")
    parser.add_argument("--sparse", action="store_true", help="fit sparse text instead")
    parser.add_argument("--quick", action="store_true", help="--sparse on small sets (a smoke run)")
    parser.add_argument("--text-rows", type=int, default=50_000)
    parser.add_argument("--text-features", type=int, default=2**16)
    parser.add_argument("--text-classes", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=4, help="row chunks of a sparse set")
    args = parser.parse_args()
    started = machine()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.sparse:
        write_section(args.output, sparse_report(args, started), sparse=True)
        print(f"wrote {args.output}")
        return
    results = []
    for n_workers in args.workers:
        result = measure(n_workers, args)
        print(result, flush=True)
        results.append(result)
    write_section(args.output, report(results, args, started), sparse=False)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
