"""One pass of ``partial_fit`` over a text stream: accuracy as it goes, time, against SGDClassifier.

Each training set (the docstring corpus "realtext" of real_text.py and its synthetic twin
"texttwin") is shuffled (seeded) and streamed once through ``partial_fit``, in chunks of 1,000 rows
(the last one shorter) and in chunks of random sizes from 1 to 5,000 rows, at ``C`` of 1 and 10
(``alpha = 1 / (C n_train)``). The streamers keep their defaults but the penalty and a
``random_state``: ``MaxEntClassifier(alpha=alpha)`` and ``SGDClassifier(loss="log_loss",
alpha=alpha)`` (one-vs-rest), and with ``--candidates`` the other recipes weighed for
``partial_fit``'s default. The test accuracy is measured after every chunk (not timed); the table
gives it after each tenth of the pass (the first chunk that completes the tenth), the final one,
the largest fall from one chunk to the next, and the time of the pass's ``partial_fit`` calls
(median of ``--repeats`` passes, one of each streamer in turn), also as a ratio to
SGDClassifier's on the same stream. The batch optimum is ``MaxEntClassifier(alpha=alpha).fit`` on the
whole training set.

Writes the table into ``results/RESULTS.md`` (between the ``streaming`` markers) and
``results/streaming.json`` after every stream; with ``--section NAME``, into a section and a json
of its own.

Usage, from the repository root::

    python benchmarks/streaming.py --candidates        # both corpora, C = 1 and 10, both chunkings
    python benchmarks/streaming.py --datasets texttwin --Cs 1 --repeats 3
    python benchmarks/streaming.py --repeats 3 --section defaults   # the default and SGDClassifier
    python benchmarks/streaming.py --quick             # the small corpus, into results/quick
"""

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from real_text import load_real_text, load_text_twin
from run import STREAMING_BEGIN, STREAMING_END, machine, write_section
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score

from sklearn_maxent import MaxEntClassifier

RESULTS = Path(__file__).parent / "results"
LOADERS = {"realtext": load_real_text, "texttwin": load_text_twin}
CS = (1.0, 10.0)
FIXED_CHUNK = 1_000
LARGEST_RANDOM_CHUNK = 5_000
CHUNKINGS = (f"{FIXED_CHUNK:,}", f"random 1 to {LARGEST_RANDOM_CHUNK:,}")
SEED = 0
DEFAULT, SGD = "MaxEntClassifier()", 'SGDClassifier(loss="log_loss")'
# Targets of issue 25 for the default: at least SGDClassifier's final accuracy, within this of the
# batch optimum's, no fall from one chunk to the next above this, and at most SGDClassifier's time.
ACCURACY_MARGIN = 0.01
LARGEST_FALL = 0.02


def streamers(alpha, candidates):
    """The streaming estimators compared, by label: factories of fresh estimators at ``alpha``."""
    made = {
        DEFAULT: lambda: MaxEntClassifier(alpha=alpha, random_state=SEED),
        SGD: lambda: SGDClassifier(loss="log_loss", alpha=alpha, random_state=SEED),
    }
    if not candidates:
        return made
    options = {
        'learning_rate="adaptive"': {"learning_rate": "adaptive"},  # the default before issue 25
        'learning_rate="adagrad"': {"learning_rate": "adagrad"},
        'learning_rate="invscaling"': {"learning_rate": "invscaling"},
        'learning_rate="adaptive", batch_size=16, average=True': {
            "learning_rate": "adaptive",
            "batch_size": 16,
            "average": True,
        },
        "average=False": {"average": False},
        "eta0=alpha ** -0.25": {"eta0": alpha**-0.25},  # SGDClassifier's first step, uncapped
    }
    for label, option in options.items():
        made[f"MaxEntClassifier({label})"] = lambda option=option: MaxEntClassifier(
            alpha=alpha, random_state=SEED, **option
        )
    return made


def chunks(n_rows, chunking, seed=SEED):
    """The row indices of each chunk of one shuffled pass over ``n_rows`` rows."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_rows)
    if chunking == CHUNKINGS[0]:
        sizes = np.full(-(-n_rows // FIXED_CHUNK), FIXED_CHUNK)
    else:
        sizes = rng.integers(1, LARGEST_RANDOM_CHUNK + 1, n_rows)  # more than enough
    bounds = np.minimum(np.concatenate([[0], np.cumsum(sizes)]), n_rows)
    return [order[start:stop] for start, stop in itertools.pairwise(bounds) if stop > start]


def one_pass(estimator, data, parts, classes):
    """``partial_fit`` on each chunk; the seconds it took and the test accuracy after each chunk."""
    X_train, X_test, y_train, y_test = data
    seconds, accuracies = 0.0, []
    for rows in parts:
        X, y = X_train[rows], y_train[rows]
        start = time.perf_counter()
        estimator.partial_fit(X, y, classes=classes)
        seconds += time.perf_counter() - start
        accuracies.append(accuracy_score(y_test, estimator.predict(X_test)))
    return seconds, accuracies


def after_each_tenth(accuracies, parts):
    """The accuracy after the first chunk that completes each tenth of the pass."""
    seen = np.cumsum([len(rows) for rows in parts])
    return [accuracies[int(np.searchsorted(seen, seen[-1] * k / 10))] for k in range(1, 11)]


def summary(passes, parts):
    """A streamer's row of the table from its ``passes`` (``one_pass`` results): the accuracies of
    the first, the median time of all."""
    times = [seconds for seconds, _ in passes]
    accuracies = passes[0][1]
    return {
        "time": statistics.median(times),
        "times": times,
        "accuracy_by_chunk": accuracies,
        "accuracy_by_tenth": after_each_tenth(accuracies, parts),
        "final": accuracies[-1],
        "largest_fall": max([0.0, *(a - b for a, b in itertools.pairwise(accuracies))]),
    }


def batch_optimum(data, alpha):
    """Test accuracy and fit time of ``MaxEntClassifier(alpha=alpha).fit`` on the whole training set."""
    X_train, X_test, y_train, y_test = data
    start = time.perf_counter()
    model = MaxEntClassifier(alpha=alpha).fit(X_train, y_train)
    return {"time": time.perf_counter() - start, "final": accuracy_score(y_test, model.predict(X_test))}


def targets(stream, optimum):
    """How the default meets issue 25's targets on one stream (differences: positive is better)."""
    default, sgd = stream["rows"][DEFAULT], stream["rows"][SGD]
    return {
        "minus_sgd": default["final"] - sgd["final"],
        "minus_optimum": default["final"] - optimum["final"],
        "largest_fall": default["largest_fall"],
        "time_ratio": default["time"] / sgd["time"],
        "met": bool(
            default["final"] >= sgd["final"]
            and default["final"] >= optimum["final"] - ACCURACY_MARGIN
            and default["largest_fall"] <= LARGEST_FALL
            and default["time"] <= sgd["time"]
        ),
    }


def run_stream(data, alpha, chunking, candidates, repeats):
    """Every streamer over one chunking of ``data``, printed as it comes; the ``repeats`` passes
    run in turn (one of each streamer, then again), so that a change of load slows all alike."""
    classes = np.unique(data[2])
    parts = chunks(data[0].shape[0], chunking)
    makers = streamers(alpha, candidates)
    passes = {label: [] for label in makers}
    for _ in range(repeats):
        for label, make in makers.items():
            passes[label].append(one_pass(make(), data, parts, classes))
    rows = {label: summary(runs, parts) for label, runs in passes.items()}
    for label, row in rows.items():
        row["time_ratio"] = row["time"] / rows[SGD]["time"]
        print(f"    {label:60s} final {row['final']:.4f} fall {row['largest_fall']:.4f} {row['time']:.2f} s")
    return {"n_chunks": len(parts), "rows": rows}


def run_dataset(name, Cs, candidates, repeats, quick, report, out):
    """A corpus at each of ``Cs`` and both chunkings, into ``report``, written after each stream."""
    data = LOADERS[name](quick=quick)
    result = report["datasets"][name] = {
        "shape": list(data[0].shape),
        "n_classes": int(np.unique(data[2]).size),
        "n_test": data[1].shape[0],
        "fits": {},
    }
    for C in Cs:
        alpha = 1.0 / (C * data[0].shape[0])
        print(f"== {name} C={C:g}: batch optimum", flush=True)
        fit = result["fits"][f"{C:g}"] = {"C": C, "alpha": alpha, "optimum": batch_optimum(data, alpha)}
        fit["streams"] = {}
        for chunking in CHUNKINGS:
            print(f"  chunks of {chunking}", flush=True)
            stream = fit["streams"][chunking] = run_stream(data, alpha, chunking, candidates, repeats)
            stream["targets"] = targets(stream, fit["optimum"])
            write(report, out)


def _tenths(row):
    return " ".join(f"{value:.3f}" for value in row["accuracy_by_tenth"])


def markdown(report):
    """The streaming section of RESULTS.md: the passes, then the default against the targets."""
    m = report["machine"]
    section = report.get("section")
    begin, end = _markers(section)
    lines = [
        begin,
        "## Streaming: one pass of `partial_fit`"
        + (f" ({report['section']})" if report.get("section") else ""),
        "",
        f"Command: `{report['command']}`. {__doc__.split(chr(10) * 2)[1].replace(chr(10), ' ')} Machine:"
        f" {m['cpu']}, {m['cores']} cores, load average {m['load_average_before'][0]:.2f} before the run"
        f" (other processes slow the timings down; the ratios are of passes run in turn); Python"
        f" {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, scikit-learn {m['scikit-learn']},"
        f" sklearn_maxent {m['sklearn_maxent']}.",
        "",
        "| data set | C | chunks | estimator | accuracy after each tenth of the pass | final"
        " | largest fall | pass (s) | time / SGDClassifier's |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in report["datasets"].items():
        shape = "x".join(map(str, result["shape"]))
        for fit in result["fits"].values():
            optimum = fit["optimum"]
            corpus = f"{name} ({shape}, {result['n_classes']} classes)"
            lines.append(
                f"| {corpus} | {fit['C']:g} | all | `MaxEntClassifier().fit` (batch optimum) | |"
                f" {optimum['final']:.4f} | | {optimum['time']:.2f} (fit) | |"
            )
            for chunking, stream in fit.get("streams", {}).items():
                for label, row in stream["rows"].items():
                    cells = (_tenths(row), f"{row['final']:.4f}", f"{row['largest_fall']:.4f}")
                    lines.append(
                        f"| {name} | {fit['C']:g} | {chunking} ({stream['n_chunks']}) | `{label}` | "
                        + " | ".join(cells)
                        + f" | {row['time']:.2f} | {row['time_ratio']:.2f} |"
                    )
    lines += [
        "",
        f"`MaxEntClassifier()` against the targets of issue 25: final accuracy at least SGDClassifier's"
        f" and at most {ACCURACY_MARGIN:g} below the batch optimum's, no fall above {LARGEST_FALL:g} from"
        " one chunk to the next, time at most SGDClassifier's.",
        "",
        "| data set | C | chunks | final - SGDClassifier's | final - optimum's | largest fall"
        " | time / SGDClassifier's | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in report["datasets"].items():
        for fit in result["fits"].values():
            for chunking, stream in fit.get("streams", {}).items():
                t = stream["targets"]
                cells = (f"{t['minus_sgd']:+.4f}", f"{t['minus_optimum']:+.4f}", f"{t['largest_fall']:.4f}")
                met = "yes" if t["met"] else "no"
                lines.append(
                    f"| {name} | {fit['C']:g} | {chunking} | "
                    + " | ".join(cells)
                    + f" | {t['time_ratio']:.2f} | {met} |"
                )
    return "\n".join([*lines, "", end])


def write(report, out):
    """``streaming.json``, and the streaming section of ``RESULTS.md`` (added, or replaced); with a
    ``section``, a json and a section of its own."""
    out.mkdir(parents=True, exist_ok=True)
    report["machine"]["load_average_after"] = os.getloadavg()
    section = report.get("section")
    (out / ("streaming.json" if section is None else f"streaming_{section}.json")).write_text(
        json.dumps(report, indent=1)
    )
    write_section(out / "RESULTS.md", *_markers(section), markdown(report))


def _markers(section):
    """The RESULTS.md markers of a section: the streaming one, or ``section``'s own."""
    if section is None:
        return STREAMING_BEGIN, STREAMING_END
    return tuple(
        marker.replace("streaming", f"streaming-{section}") for marker in (STREAMING_BEGIN, STREAMING_END)
    )


def main(argv=None):
    """Parse the arguments; stream every data set at each ``C`` and chunking, writing after each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(LOADERS), default=list(LOADERS), metavar="NAME")
    parser.add_argument("--Cs", nargs="+", type=float, default=list(CS), metavar="C")
    parser.add_argument("--candidates", action="store_true", help="also the recipes weighed for the default")
    parser.add_argument("--repeats", type=int, default=1, help="passes timed per streamer (median)")
    parser.add_argument("--quick", action="store_true", help="the small corpora, into results/quick")
    parser.add_argument("--out", type=Path, help="output directory (default benchmarks/results[/quick])")
    parser.add_argument("--section", help="a RESULTS.md section (and json) of its own; default: the main one")
    args = parser.parse_args(argv)
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    arguments = argv if argv is not None else sys.argv[1:]
    report = {"command": " ".join(["python benchmarks/streaming.py", *arguments]), "machine": machine()}
    report["section"] = args.section
    report["datasets"] = {}
    for name in args.datasets:
        run_dataset(name, args.Cs, args.candidates, args.repeats, args.quick, report, out)


if __name__ == "__main__":
    main()
