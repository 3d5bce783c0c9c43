"""What a user sees: every estimator's default ``fit``, timed side by side in one process.

Each estimator keeps its defaults except the penalty, which is the same for all: ``C`` for
LogisticRegression, ``alpha = 1 / (C n_train)`` for MaxEntClassifier and SGDClassifier, and
``lambda_1 = alpha`` for cyanure (its objective is the mean loss plus ``lambda_1 / 2 ||W||^2``, as
ours). ``C = 1`` on the dense and synthetic sets; 1, 10 and 100 on the docstring corpus
("realtext", real_text.py), its synthetic twin ("texttwin") and its hashed variant ("realhash",
2**20 columns of which a training set uses a few); ``--Cs`` sets one list for all.
The estimators: ``MaxEntClassifier()``, ``LogisticRegression()`` (lbfgs),
``LogisticRegression(solver="saga")``, ``SGDClassifier(loss="log_loss")`` and, where it imports
(the ``benchmark`` extra), cyanure's ``LogisticRegression()`` (multinomial for more than two
classes) at its default ``tol`` and at ``tol=1e-6``; its ``tol`` is a relative duality gap, as ours.

For each: fit time (median of ``--repeats`` fits, each with its own random seed; a fit slower
than ``SLOW_FIT`` seconds is timed once), the relative gap ``(J - J*) / J*`` of the model it
returns, test accuracy and log-loss, and the ratio of its time to the fastest LogisticRegression
default. ``J*`` is run.py's tight reference fit, kept per data set and ``C`` in
``default_fit.json`` with a fingerprint of the data, so that reruns do not refit it; at ``C = 1``
the committed ``results.json`` of run.py serves too; otherwise it is fitted here (long on the
text sets at large ``C``). Runs at one BLAS/OpenMP thread and at the machine's default, and writes
the tables first into ``results/RESULTS.md`` (between the ``default-fit`` markers) and into
``results/default_fit.json``, after every data set.

Usage, from the repository root::

    python benchmarks/default_fit.py                      # every data set, both thread settings
    python benchmarks/default_fit.py --datasets digits dense --repeats 1
    python benchmarks/default_fit.py --datasets realtext --Cs 1 --repeats 1
    python benchmarks/default_fit.py --quick --datasets realtext texttwin --repeats 1
"""

import argparse
import hashlib
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import threadpoolctl
from run import (
    DATASETS,
    DEFAULT_FIT_BEGIN,
    DEFAULT_FIT_END,
    load_dataset,
    machine,
    objective,
    reference,
    timed_fit,
    write_section,
)
from run import C as DEFAULT_C
from scipy import sparse
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import accuracy_score, log_loss

from sklearn_maxent import MaxEntClassifier

try:
    from cyanure.estimators import LogisticRegression as CyanureLogisticRegression
except ImportError as error:  # not installed, or no wheel for this platform
    CyanureLogisticRegression, CYANURE_MISSING = None, f"cyanure does not import ({error})"
else:
    CYANURE_MISSING = None
    # It logs every multinomial fit at INFO level.
    logging.getLogger("Cyanure").setLevel(logging.WARNING)

RESULTS = Path(__file__).parent / "results"
BEGIN, END = DEFAULT_FIT_BEGIN, DEFAULT_FIT_END
CERTIFIED_TOL = 1e-9
THREAD_SETTINGS = {"1": (1,), "default": (None,), "both": (1, None)}
# The text corpora span the regularization where solvers part ways (issue 20); the rest stay at C = 1.
TEXT_CS = (1.0, 10.0, 100.0)
DEFAULT_CS = {"realtext": TEXT_CS, "texttwin": TEXT_CS, "realhash": TEXT_CS}
CYANURE_TIGHT_TOL = 1e-6


def dataset_Cs(name, Cs=None):
    """The ``C`` values ``name`` is fitted at: ``Cs`` when given, else its default."""
    return tuple(Cs) if Cs else DEFAULT_CS.get(name, (DEFAULT_C,))


def _cyanure_estimators(alpha, threads):
    """cyanure's LogisticRegression at its default tol and at 1e-6, or none where it does not import."""
    if CyanureLogisticRegression is None:
        return {}
    # lambda_1 multiplies the l2 penalty added to the mean loss: it is our alpha. Its default
    # n_threads=-1 takes every core; the one-thread runs give it one.
    common = {"lambda_1": alpha, "n_threads": threads or -1}
    return {
        "cyanure LogisticRegression()": CyanureLogisticRegression(**common),
        f"cyanure LogisticRegression(tol={CYANURE_TIGHT_TOL:g})": CyanureLogisticRegression(
            tol=CYANURE_TIGHT_TOL, **common
        ),
    }


def estimators(C, n_train, threads=None):
    """The estimators compared, by label, all with the penalty of ``C`` on ``n_train`` rows.

    Parameters
    ----------
    C : float
        LogisticRegression's ``C``; the others get ``alpha = 1 / (C * n_train)``.
    n_train : int
    threads : int or None
        The run's thread limit, passed to the estimators that do not follow threadpoolctl.

    Returns
    -------
    dict
    """
    alpha = 1.0 / (C * n_train)
    return {
        "MaxEntClassifier()": MaxEntClassifier(alpha=alpha),
        "LogisticRegression()": LogisticRegression(C=C),
        'LogisticRegression(solver="saga")': LogisticRegression(C=C, solver="saga"),
        'SGDClassifier(loss="log_loss")': SGDClassifier(loss="log_loss", alpha=alpha),
        **_cyanure_estimators(alpha, threads),
    }


def sklearn_layout(estimator):
    """``estimator``, or for cyanure's a view with ``coef_`` laid out as scikit-learn's.

    cyanure's ``coef_`` is ``(n_features, n_classes)`` (squeezed for two classes) and its
    ``intercept_`` a row; ``run.objective`` reads ``(n_classes, n_features)`` and a vector.
    """
    if CyanureLogisticRegression is None or not isinstance(estimator, CyanureLogisticRegression):
        return estimator
    coef = np.asarray(estimator.coef_).T.reshape(-1, estimator.n_features_in_)
    return SimpleNamespace(coef_=coef, intercept_=np.ravel(estimator.intercept_), classes_=estimator.classes_)


def fingerprint(X, y):
    """A short digest of the data: a cached ``J*`` serves only the data it was fitted on."""
    digest = hashlib.blake2b(digest_size=16)
    parts = (X.data, X.indices, X.indptr) if sparse.issparse(X) else (np.ascontiguousarray(X),)
    for part in (*parts, np.asarray(y)):
        digest.update(part.tobytes())
    return digest.hexdigest()


def _run_py_optimum(name, alpha, out):
    """``J*`` of run.py's results in ``out`` for the same data set and ``alpha``, or None."""
    path = out / "results.json"
    if not path.exists():
        return None
    earlier = json.loads(path.read_text())["datasets"].get(name)
    if earlier and earlier["info"]["alpha"] == alpha:
        return earlier["reference"]["j_star"]
    return None


def j_star(name, C, X, y, out, references):
    """The optimum at ``C``: cached in ``references``, from run.py's results, or a tight fit.

    Parameters
    ----------
    name : str
    C : float
    X, y : training data
    out : Path
        Where run.py's ``results.json`` may be.
    references : dict
        ``J*`` by data set and ``C``, with the data's fingerprint; a new one is added to it.

    Returns
    -------
    float
    """
    alpha = 1.0 / (C * X.shape[0])
    key, data = f"{name} C={C:g}", fingerprint(X, y)
    cached = references.get(key)
    if cached and cached["fingerprint"] == data and cached["alpha"] == alpha:
        return cached["j_star"]
    value, source = _run_py_optimum(name, alpha, out), "run.py results.json"
    if value is None and name in DEFAULT_CS:  # the text sets
        print(f"  {name} C={C:g}: fitting J* (a certified fit)", flush=True)
        start = time.perf_counter()
        value, gap = certified_optimum(X, y, alpha)
        seconds = time.perf_counter() - start
        source = f"MaxEntClassifier(tol={CERTIFIED_TOL:g}): certified gap {gap:.1e}, {seconds:.1f} s"
    if value is None:
        print(f"  {name} C={C:g}: fitting J* (run.py's tight reference fits)", flush=True)
        start = time.perf_counter()
        value = reference(X, y, alpha, C=C)["j_star"]
        source = f"reference fits here, {time.perf_counter() - start:.1f} s"
    references[key] = {"C": C, "alpha": alpha, "fingerprint": data, "j_star": value, "source": source}
    return value


def certified_optimum(X, y, alpha):
    """``J`` of a fit whose duality gap certifies it within ``CERTIFIED_TOL`` of ``J*``, and that gap.

    On the text sets run.py's LogisticRegression(tol=1e-10) reference would run for hours at
    C=100; the certificate (a dual point, ``D <= J*``) needs no second solver to be trusted.
    """
    estimator = MaxEntClassifier(alpha=alpha, tol=CERTIFIED_TOL, max_iter=10_000, random_state=0)
    timed_fit(estimator, X, y)
    return objective(estimator, X, y, alpha), estimator.duality_gap_


# A fit slower than this (seconds) is timed once: LogisticRegression's lbfgs takes two minutes a
# fit on the text sets, and a single fit of the faster ones varies by +-30 % with its seed.
SLOW_FIT = 60.0


def measure(estimator, data, alpha, optimum, repeats):
    """Fit time (median), gap, test accuracy and log-loss of ``estimator`` on ``data``."""
    X_train, X_test, y_train, y_test = data
    times = [timed_fit(estimator, X_train, y_train)]
    if times[0] < SLOW_FIT:
        times += [timed_fit(estimator, X_train, y_train) for _ in range(repeats - 1)]
    fitted = sklearn_layout(estimator)
    return {
        "time": statistics.median(times),
        "gap": (objective(fitted, X_train, y_train, alpha) - optimum) / optimum,
        "accuracy": accuracy_score(y_test, estimator.predict(X_test)),
        "log_loss": log_loss(y_test, estimator.predict_proba(X_test), labels=estimator.classes_),
    }


def run_C(name, C, data, repeats, threads, optimum):
    """Every estimator's default fit at ``C``, printed as it comes, with its ratio to LR's best."""
    n_train = data[0].shape[0]
    alpha = 1.0 / (C * n_train)
    rows = {}
    for label, estimator in estimators(C, n_train, threads).items():
        rows[label] = row = measure(estimator, data, alpha, optimum, repeats)
        print(f"  {name:8s} C={C:<4g} {label:40s} {row['time']:8.3f} s  gap {row['gap']:.1e}", flush=True)
    fastest_lr = min(row["time"] for label, row in rows.items() if label.startswith("LogisticRegression"))
    for row in rows.values():
        row["ratio"] = row["time"] / fastest_lr
    return {"C": C, "alpha": alpha, "j_star": optimum, "rows": rows}


def run_dataset(name, Cs, repeats, threads, out, references, quick=False, save=lambda result: None):
    """A data set at each of ``Cs``; ``J*`` from (and into) ``references``; ``save`` after each ``C``."""
    data = load_dataset(name, quick=quick)
    X_train, _, y_train, _ = data
    result = {"shape": [*X_train.shape], "dtype": str(X_train.dtype), "fits": {}}
    for C in dataset_Cs(name, Cs):
        optimum = j_star(name, C, X_train, y_train, out, references)
        result["fits"][f"{C:g}"] = run_C(name, C, data, repeats, threads, optimum)
        save(result)
    return result


def _markers(section):
    """The RESULTS.md markers of a section: the default one, or ``section``'s own."""
    if section is None:
        return BEGIN, END
    return tuple(marker.replace("default-fit", f"default-fit-{section}") for marker in (BEGIN, END))


def markdown(report):
    """The default-fit section of RESULTS.md: one table per thread setting."""
    begin, _ = _markers(report.get("section"))
    lines = [
        begin,
        "## Default fits: what a user sees" + (f" ({report['section']})" if report.get("section") else ""),
        "",
        f"Command: `{report['command']}`. Every estimator with its defaults but the penalty: `C` for"
        " LogisticRegression, `alpha = 1 / (C n_train)` for MaxEntClassifier and SGDClassifier,"
        " `lambda_1 = alpha` for cyanure; fit time is the median of"
        f" {report['repeats']} fits (one where the first took over {SLOW_FIT:g} s);"
        " gap is `(J - J*) / J*` of the returned model; ratio is the time"
        " over the fastest LogisticRegression default's at the same `C`. Machine: "
        f"{report['machine']['cpu']}, {report['machine']['cores']} cores.",
    ]
    if report.get("skipped"):
        lines += ["", f"Not run: {report['skipped']}."]
    for threads, datasets in report["runs"].items():
        lines += ["", f"### {threads}", ""]
        lines += ["| data set | C | estimator | fit time (s) | ratio | gap | test accuracy | test log-loss |"]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for name, result in datasets.items():
            shape = "x".join(map(str, result["shape"]))
            for fit in result["fits"].values():
                for label, row in fit["rows"].items():
                    lines.append(
                        f"| {name} ({shape} {result['dtype']}) | {fit['C']:g} | `{label}` |"
                        f" {row['time']:.3f} | {row['ratio']:.2f} | {row['gap']:.1e} |"
                        f" {row['accuracy']:.4f} | {row['log_loss']:.4f} |"
                    )
    return "\n".join([*lines, "", _markers(report.get("section"))[1]])


def write(report, out):
    """``default_fit.json``, and the default-fit section of ``RESULTS.md`` (first, or replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / _json_name(report.get("section"))).write_text(json.dumps(report, indent=1))
    write_section(out / "RESULTS.md", *_markers(report.get("section")), markdown(report))


def _json_name(section):
    return "default_fit.json" if section is None else f"default_fit_{section}.json"


def earlier_references(out, section=None):
    """The ``J*`` cache of an earlier run's json in ``out``, or an empty one."""
    path = out / _json_name(section)
    return json.loads(path.read_text()).get("references", {}) if path.exists() else {}


def main(argv=None):
    """Parse the arguments; run every data set at each thread setting, writing after each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS), metavar="NAME")
    parser.add_argument(
        "--Cs",
        nargs="+",
        type=float,
        metavar="C",
        help="C values for every data set (default: 1; 1 10 100 for realtext, texttwin and realhash)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="run.py's small data sets: a smoke test, into results/quick"
    )
    parser.add_argument("--out", type=Path, help="output directory (default benchmarks/results[/quick])")
    parser.add_argument("--threads", choices=THREAD_SETTINGS, default="both", help="thread settings to run")
    parser.add_argument(
        "--section", help="a RESULTS.md section (and json) of its own, e.g. 'text'; default: the main one"
    )
    parser.add_argument("--no-cyanure", action="store_true", help="leave cyanure's rows out")
    args = parser.parse_args(argv)
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    report = {
        "command": "python benchmarks/default_fit.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeats": args.repeats,
        "machine": machine(),
        "skipped": CYANURE_MISSING and f"{CYANURE_MISSING}: its rows are left out",
        "section": args.section,
        "references": earlier_references(out, args.section),
        "runs": {},
    }
    if args.no_cyanure:
        global CyanureLogisticRegression
        CyanureLogisticRegression = None
        report["skipped"] = "cyanure left out (--no-cyanure)"
    elif CYANURE_MISSING:
        print(f"{CYANURE_MISSING}; its rows are left out (pip install -e '.[benchmark]')")
    for threads in THREAD_SETTINGS[args.threads]:
        label = "1 thread (BLAS and OpenMP)" if threads else "the machine's default threads"
        print(f"== {label}")
        runs = report["runs"][label] = {}
        with threadpoolctl.threadpool_limits(threads):
            for name in args.datasets:

                def save(result, name=name, runs=runs):
                    # After every C: an interrupted run keeps its tables and its J* cache.
                    runs[name] = result
                    write(report, out)

                run_dataset(name, args.Cs, args.repeats, threads, out, report["references"], args.quick, save)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
