"""What a user sees: every estimator's default ``fit``, timed side by side in one process.

Each estimator keeps its defaults except the penalty, which is the same for all (``C = 1``,
``alpha = 1 / n_train``): ``MaxEntClassifier()``, ``LogisticRegression()`` (lbfgs),
``LogisticRegression(solver="saga")`` and ``SGDClassifier(loss="log_loss")``. For each: fit time
(median of ``--repeats``), the relative gap ``(J - J*) / J*`` of the model it returns, test
accuracy and log-loss, and the ratio of its time to the fastest LogisticRegression default. ``J*``
comes from the tight reference fits of the committed ``results.json`` (``run.py``) for the same
seeded data, or from a tight fit here when that is missing. Runs at one BLAS/OpenMP thread and at
the machine's default, and writes the tables first into ``results/RESULTS.md`` (between the
``default-fit`` markers) and into ``results/default_fit.json``.

Usage, from the repository root::

    python benchmarks/default_fit.py                      # every data set, both thread settings
    python benchmarks/default_fit.py --datasets digits dense --repeats 1
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import threadpoolctl
from run import (
    DATASETS,
    DEFAULT_FIT_BEGIN,
    DEFAULT_FIT_END,
    C,
    load_dataset,
    machine,
    objective,
    reference,
    timed_fit,
)
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import accuracy_score, log_loss

from sklearn_maxent import MaxEntClassifier

RESULTS = Path(__file__).parent / "results"
BEGIN, END = DEFAULT_FIT_BEGIN, DEFAULT_FIT_END


def estimators(alpha):
    return {
        "MaxEntClassifier()": MaxEntClassifier(alpha=alpha),
        "LogisticRegression()": LogisticRegression(C=C),
        'LogisticRegression(solver="saga")': LogisticRegression(C=C, solver="saga"),
        'SGDClassifier(loss="log_loss")': SGDClassifier(loss="log_loss", alpha=alpha),
    }


def j_star(name, X, y, alpha, out):
    """The optimum from run.py's results in ``out`` when they are of the same data, else a tight fit."""
    path = out / "results.json"
    if path.exists():
        earlier = json.loads(path.read_text())["datasets"].get(name)
        if earlier and earlier["info"]["alpha"] == alpha:
            return earlier["reference"]["j_star"]
    return reference(X, y, alpha)["j_star"]


def run_dataset(name, repeats, out):
    X_train, X_test, y_train, y_test = load_dataset(name, quick=False)
    alpha = 1.0 / (C * X_train.shape[0])
    optimum = j_star(name, X_train, y_train, alpha, out)
    rows = {}
    for label, estimator in estimators(alpha).items():
        times = [timed_fit(estimator, X_train, y_train) for _ in range(repeats)]
        rows[label] = {
            "time": statistics.median(times),
            "gap": (objective(estimator, X_train, y_train, alpha) - optimum) / optimum,
            "accuracy": accuracy_score(y_test, estimator.predict(X_test)),
            "log_loss": log_loss(y_test, estimator.predict_proba(X_test), labels=estimator.classes_),
        }
        row = rows[label]
        print(f"  {name:8s} {label:36s} {row['time']:8.3f} s  gap {row['gap']:.1e}", flush=True)
    fastest_lr = min(row["time"] for label, row in rows.items() if label.startswith("LogisticRegression"))
    for row in rows.values():
        row["ratio"] = row["time"] / fastest_lr
    return {"shape": [*X_train.shape], "dtype": str(X_train.dtype), "alpha": alpha, "rows": rows}


def markdown(report):
    lines = [
        BEGIN,
        "## Default fits: what a user sees",
        "",
        f"Command: `{report['command']}`. Every estimator with its defaults but the penalty"
        " (`C = 1`, `alpha = 1 / n_train`); fit time is the median of"
        f" {report['repeats']} fits; gap is `(J - J*) / J*` of the returned model; ratio is the time"
        " over the fastest LogisticRegression default's. Machine: "
        f"{report['machine']['cpu']}, {report['machine']['cores']} cores.",
    ]
    for threads, datasets in report["runs"].items():
        lines += ["", f"### {threads}", ""]
        lines += ["| data set | estimator | fit time (s) | ratio | gap | test accuracy | test log-loss |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for name, result in datasets.items():
            shape = "x".join(map(str, result["shape"]))
            for label, row in result["rows"].items():
                lines.append(
                    f"| {name} ({shape} {result['dtype']}) | `{label}` | {row['time']:.3f} |"
                    f" {row['ratio']:.2f} | {row['gap']:.1e} | {row['accuracy']:.4f} |"
                    f" {row['log_loss']:.4f} |"
                )
    return "\n".join([*lines, "", END])


def write(report, out):
    out.mkdir(parents=True, exist_ok=True)
    (out / "default_fit.json").write_text(json.dumps(report, indent=1))
    path = out / "RESULTS.md"
    text = path.read_text() if path.exists() else "# MaxEntClassifier benchmarks\n"
    if BEGIN in text:
        before, rest = text.split(BEGIN, 1)
        text = before + markdown(report) + rest.split(END, 1)[1]
    else:
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{markdown(report)}\n{body}"
    path.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS), metavar="NAME")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="output directory (default benchmarks/results)"
    )
    args = parser.parse_args(argv)
    report = {
        "command": "python benchmarks/default_fit.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeats": args.repeats,
        "machine": machine(),
        "runs": {},
    }
    for threads in (1, None):
        label = "1 thread (BLAS and OpenMP)" if threads else "the machine's default threads"
        print(f"== {label}")
        with threadpoolctl.threadpool_limits(threads):
            report["runs"][label] = {
                name: run_dataset(name, args.repeats, args.out) for name in args.datasets
            }
    write(report, args.out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
