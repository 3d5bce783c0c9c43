"""Minibatch size and the default fit on text: SAGA's progress per epoch, and what "auto" makes of it.

On the docstring corpus ("realtext", real_text.py) or its twin ("texttwin") at one ``C``
(``alpha = 1 / (C n_train)``), one thread setting (the machine's default):

* ``solver="saga"`` with ``tol=None`` for 5, 10 and 20 epochs at each batch size: the relative
  gap ``(J - J*) / J*`` it reaches (``J*`` from a certified ``MaxEntClassifier(tol=1e-9)`` fit,
  or given) and the time;
* the default fit (``solver="auto"``) at each batch size, and LogisticRegression(solver="saga"),
  run in turn ``--repeats`` times, with the certified gap.

Prints its tables (markdown). Usage, from the repository root::

    python benchmarks/saga_batch.py --dataset realtext --C 1
    python benchmarks/saga_batch.py --dataset texttwin --C 1 --batch-sizes 256 16 1
"""

import argparse

from real_text import load_real_text, load_text_twin
from run import objective, timed_fit
from sklearn.linear_model import LogisticRegression

from sklearn_maxent import MaxEntClassifier

LOADERS = {"realtext": load_real_text, "texttwin": load_text_twin}
EPOCHS = (5, 10, 20)


def saga_epochs(X, y, alpha, j_star, batch_sizes):
    """Rows of (batch size, epochs, seconds, relative gap) for plain SAGA epochs."""
    rows = []
    for batch_size in batch_sizes:
        for epochs in EPOCHS:
            params = {"solver": "saga", "batch_size": batch_size, "max_iter": epochs, "tol": None}
            clf = MaxEntClassifier(alpha=alpha, random_state=0, **params)
            seconds = timed_fit(clf, X, y)
            rows.append((batch_size, epochs, seconds, (objective(clf, X, y, alpha) - j_star) / j_star))
    return rows


def default_fits(X, y, alpha, C, batch_sizes, repeats):
    """Rows of (label, seconds of each repeat, certified gap) for the default fit and LR saga, in turn."""
    makers = {"LogisticRegression(solver='saga')": lambda: LogisticRegression(C=C, solver="saga")}
    for batch_size in batch_sizes:
        makers[f"MaxEntClassifier(batch_size={batch_size})"] = lambda b=batch_size: MaxEntClassifier(
            alpha=alpha, batch_size=b, random_state=0
        )
    times = {label: [] for label in makers}
    gaps = {}
    for _ in range(repeats):
        for label, make in makers.items():
            clf = make()
            times[label].append(timed_fit(clf, X, y))
            gaps[label] = getattr(clf, "duality_gap_", float("nan"))
    return [(label, times[label], gaps[label]) for label in makers]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=list(LOADERS), default="realtext")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[256, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--j-star", type=float, help="J* if known (else a certified fit finds it)")
    args = parser.parse_args()
    X, _, y, _ = LOADERS[args.dataset]()
    alpha = 1.0 / (args.C * X.shape[0])
    j_star = args.j_star
    if j_star is None:
        reference = MaxEntClassifier(alpha=alpha, tol=1e-9, random_state=0)
        timed_fit(reference, X, y)
        j_star = objective(reference, X, y, alpha)
    print(f"{args.dataset} {X.shape[0]}x{X.shape[1]}, C = {args.C:g}, J* = {j_star:.10g}\n")
    print("| batch size | SAGA epochs | time (s) | relative gap |\n|---|---|---|---|")
    for batch_size, epochs, seconds, gap in saga_epochs(X, y, alpha, j_star, args.batch_sizes):
        print(f"| {batch_size} | {epochs} | {seconds:.1f} | {gap:.2e} |")
    print("\n| default fit | times (s), in turn | certified gap |\n|---|---|---|")
    for label, seconds, gap in default_fits(X, y, alpha, args.C, args.batch_sizes, args.repeats):
        print(f"| `{label}` | {' / '.join(f'{s:.1f}' for s in seconds)} | {gap:.2e} |")


if __name__ == "__main__":
    main()
