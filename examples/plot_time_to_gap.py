"""
==============================================================
Time to a given accuracy, against LogisticRegression
==============================================================

How far from the optimum does a fit stop, and how long did it take? On scikit-learn's
digits (1,797 x 64, 10 classes, standardized), both estimators fit the same objective at
the matching penalty, ``C = 1 / (alpha * n_samples)``, for ``tol`` from 1e-1 to 1e-9. The
gap of a fitted model is its relative distance ``(J - J*) / J*`` from the best model any fit
found. On the left, the gap against ``tol``: :class:`~sklearn_maxent.MaxEntClassifier`'s
``tol`` is a promise on the gap, kept and certified (the dashed line, ``duality_gap_``, is the
bound it proved itself), while ``LogisticRegression``'s bounds the gradient and says little
about the gap. On the right, the time each fit took against the gap it reached.

Both run on one thread, so that a busy machine slows them alike (with threads competing for
too few cores, a fit here took 100 times longer). A whole fit takes a fraction of a second
and single timings are noisy: the benchmark page has the figures on larger data.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import log_softmax
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_maxent import MaxEntClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
alpha = 1e-3
Y = np.eye(10)[y]


def objective(coef, intercept):
    """Mean cross-entropy plus alpha/2 ||W||^2: what both estimators minimize here."""
    log_p = log_softmax(X @ coef.T + intercept, axis=1)
    return -(Y * log_p).sum(axis=1).mean() + alpha / 2 * (coef**2).sum()


def timed_fit(estimator):
    """The best of three fit times, the fitted objective, and the fitted estimator."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
        times.append(time.perf_counter() - start)
    return min(times), objective(estimator.coef_, estimator.intercept_), estimator


tols = np.logspace(-1, -9, 9)
maxent = [timed_fit(MaxEntClassifier(alpha=alpha, tol=tol, random_state=0)) for tol in tols]
logistic = [timed_fit(LogisticRegression(C=1 / (alpha * len(y)), tol=tol, max_iter=10_000)) for tol in tols]
best = min(value for _, value, _ in maxent + logistic)

fig, (ax_tol, ax_time) = plt.subplots(1, 2, figsize=(11, 4.5))
for results, label, marker in ((maxent, "MaxEntClassifier", "o"), (logistic, "LogisticRegression", "s")):
    seconds, values = np.array([result[:2] for result in results]).T
    # The best fit's own gap is 0: drawn at 1e-16, the precision of the arithmetic.
    gaps = np.maximum((values - best) / best, 1e-16)
    ax_tol.plot(tols, gaps, marker=marker, label=f"{label}: gap reached")
    order = np.argsort(gaps)[::-1]
    ax_time.plot(gaps[order], seconds[order], marker=marker, label=label)
certified = [model.duality_gap_ for _, _, model in maxent]
ax_tol.plot(tols, certified, "C0--", label="MaxEntClassifier: duality_gap_")
ax_tol.plot(tols, tols, "k:", label="gap = tol")
ax_tol.set(xscale="log", yscale="log", xlabel="tol", ylabel="relative gap (J - J*) / J*")
ax_tol.set_title("What tol promises")
ax_tol.invert_xaxis()
ax_tol.legend(fontsize=8)
ax_time.set(xscale="log", yscale="log", xlabel="relative gap reached", ylabel="fit time, best of 3 (s)")
ax_time.set_title(f"Time to a gap (digits, alpha = {alpha:g})")
ax_time.invert_xaxis()
ax_time.legend(fontsize=8)
fig.tight_layout()
plt.show()
