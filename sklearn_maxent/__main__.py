"""The demo: the ``sklearn-maxent`` command, or ``python -m sklearn_maxent``.

Tunes ``Pipeline(StandardScaler, MaxEntClassifier)`` by ``GridSearchCV`` over
``alpha`` on a data set bundled with scikit-learn, then fits
``LogisticRegression`` at the matching ``C = 1 / (alpha * n_train)`` and
prints both side by side: the same model, found by a different solver.
"""

import argparse
import time

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier, __version__

LOADERS = {
    "digits": datasets.load_digits,
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="sklearn-maxent",
        description=(
            "Train MaxEntClassifier on a data set bundled with scikit-learn, tune alpha by "
            "cross-validation, and compare it with LogisticRegression at the matching C "
            "(C = 1 / (alpha * n_train)): test accuracy, log-loss and fit time."
        ),
    )
    parser.add_argument("--dataset", choices=sorted(LOADERS), default="digits", help="default: digits")
    parser.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=[1e-4, 1e-3, 1e-2, 1e-1],
        help="penalty strengths to search (default: 1e-4 1e-3 1e-2 1e-1)",
    )
    parser.add_argument("--cv", type=int, default=5, help="cross-validation folds (default: 5)")
    parser.add_argument("--test-size", type=float, default=0.25, help="held-out share (default: 0.25)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the split and the solver")
    return parser.parse_args(argv)


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def run(args):
    """Tune, fit and compare; return the table's rows as dicts."""
    X, y = LOADERS[args.dataset](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, stratify=y, random_state=args.seed
    )
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MaxEntClassifier(random_state=args.seed)),
        {"maxentclassifier__alpha": args.alphas},
        cv=args.cv,
        scoring="neg_log_loss",
    )
    search.fit(X_train, y_train)
    alpha = search.best_params_["maxentclassifier__alpha"]
    C = 1.0 / (alpha * len(y_train))
    models = [
        ("MaxEntClassifier", f"alpha={alpha:g}", MaxEntClassifier(alpha=alpha, random_state=args.seed)),
        ("LogisticRegression", f"C={C:.4g}", LogisticRegression(C=C, max_iter=10_000)),
        # The default tol=1e-4 stops LogisticRegression short of the optimum;
        # converged tightly, it shows that both find the same model.
        ("LogisticRegression", f"C={C:.4g} tol=1e-10", LogisticRegression(C=C, tol=1e-10, max_iter=10_000)),
    ]
    rows = []
    for name, params, classifier in models:
        model = make_pipeline(StandardScaler(), classifier)
        seconds = timed_fit(model, X_train, y_train)
        proba = model.predict_proba(X_test)
        rows.append(
            {
                "model": name,
                "params": params,
                "accuracy": accuracy_score(y_test, model.predict(X_test)),
                "log_loss": log_loss(y_test, proba, labels=model.classes_),
                "fit_seconds": seconds,
                "proba": proba,
                "predictions": model.predict(X_test),
            }
        )
    return rows


def print_table(args, rows):
    print(f"sklearn-maxent {__version__}: {args.dataset}, alpha tuned by {args.cv}-fold GridSearchCV")
    print()
    header = f"{'model':<20} {'penalty':<22} {'test accuracy':>13} {'test log-loss':>13} {'fit time (s)':>12}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['model']:<20} {row['params']:<22} {row['accuracy']:>13.4f} "
            f"{row['log_loss']:>13.4f} {row['fit_seconds']:>12.3f}"
        )
    ours, *others = rows
    print()
    for other in others:
        agree = np.mean(ours["predictions"] == other["predictions"])
        gap = np.abs(ours["proba"] - other["proba"]).max()
        print(
            f"vs {other['model']} {other['params']}: predictions agree on {agree:.1%} of test rows, "
            f"largest probability difference {gap:.1e}"
        )


def main(argv=None):
    args = parse_args(argv)
    rows = run(args)
    print_table(args, rows)
    return rows


def cli():
    """The ``sklearn-maxent`` command: the demo, exiting 0 (``main`` returns its rows, for tests)."""
    main()


if __name__ == "__main__":
    main()
