"""Step sizes of minibatch SGD and SAGA: curvature bounds, ``1 / L_b`` and Bottou's calibration.

The data may be NumPy, CSR, or dense of another namespace (a
:class:`~sklearn_maxent._array_api._device.DeviceObjective`'s), reduced where they live.
"""

import numpy as np
from scipy import sparse

from .._array_api._device import namespace
from .._array_api._host import to_numpy

# Step of the intercept relative to the weights' on sparse data (see intercept_step_scale).
SPARSE_INTERCEPT_STEP = 0.01
# AdaGrad's eta0 (learning_rate="adagrad", eta0="auto"): a row's first step moves it by this
# much along its normalized gradient, a scale of the weights rather than of the data's curvature;
# 0.5 is within the plateau of text streams' accuracy (benchmarks/results/CONSTANTS.md).
ADAGRAD_ETA0 = 0.5
# The "optimal" schedule's first step of a row (eta0="auto") is at most this many times
# 1 / L, L a mean row's curvature bound: on the text streams of benchmarks/streaming.py a
# step of 1 / L learned too slowly in one pass, SGDClassifier's alpha ** -0.25 (4 to 10 / L
# there) was the noisier the weaker the penalty.
OPTIMAL_CURVATURE_STEPS = 5.0


def curvature_bound(X, fit_intercept, batch_size, l2, max_squared_norm, top_eigenvalue):
    """Smoothness constant of a minibatch cross-entropy gradient.

    The Hessian of the softmax cross-entropy with respect to the scores,
    ``diag(P) - P P^T``, has eigenvalues at most 1/2, so one sample's loss is
    ``L_i = (||x_i||^2 + fit_intercept) / 2``-smooth and the full loss
    ``L = top_eigenvalue(X^T X / n) / 2``-smooth. For minibatches of ``b``
    samples drawn without replacement the expected smoothness interpolates
    between the two (Gower et al., 2019, "SGD: general analysis and improved
    rates", Proposition 3.8):
    ``L_b = (n - b) / (b (n - 1)) * L_max + n (b - 1) / (b (n - 1)) * L``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Only its number of rows is used.
    fit_intercept : bool
    batch_size : int
    l2 : float
        Largest L2 strength of any weight (:attr:`~sklearn_maxent._model._penalty.ElasticNet.largest_l2`),
        added to the bound.
    max_squared_norm : float
        ``max_i ||x_i||^2``.
    top_eigenvalue : float
        Largest eigenvalue of ``X^T X / n`` (with the intercept column).

    Returns
    -------
    float
    """
    n = X.shape[0]
    l_max = 0.5 * (max_squared_norm + fit_intercept)
    l_full = 0.5 * top_eigenvalue
    if n <= 1:
        return l_max + l2
    b = min(batch_size, n)
    return (n - b) / (b * (n - 1)) * l_max + n * (b - 1) / (b * (n - 1)) * l_full + l2


def top_eigenvalue(X, intercept_scale, rng, n_rows=2_000, n_power_iter=20):
    """Estimate the largest eigenvalue of ``X^T X / n`` by power iteration.

    A random subsample of ``n_rows`` rows keeps it a small fraction of an
    epoch; the intercept enters as a column of ``sqrt(intercept_scale)``
    (0: no intercept; see :func:`intercept_step_scale`). The iterate is a
    NumPy vector: for ``X`` of another namespace it crosses to its device
    and back at each iteration (``n_features`` numbers each way).
    """
    xp, device = namespace(X)
    if X.shape[0] > n_rows:
        rows = np.sort(rng.randint(0, X.shape[0], n_rows))
        X = X[rows] if xp is np else xp.take(X, xp.asarray(rows, device=device), axis=0)
    has_intercept = intercept_scale > 0
    column = float(np.sqrt(intercept_scale))
    v = rng.standard_normal(X.shape[1] + has_intercept)
    eigenvalue = 0.0
    for _ in range(n_power_iter):
        length = np.linalg.norm(v)
        if length == 0:  # X^T X v = 0: all-zero rows (and no intercept), whose top eigenvalue is 0
            return 0.0
        v /= length
        v_there = v if xp is np else xp.asarray(v, dtype=X.dtype, device=device)
        Xv = X @ v_there[: X.shape[1]]
        if has_intercept:
            Xv = Xv + column * v_there[-1]
        w = to_numpy(X.T @ Xv)
        if has_intercept:
            w = np.concatenate([w, [column * float(xp.sum(Xv))]])
        eigenvalue = float(np.vdot(v, w)) / X.shape[0]
        v = w
    return eigenvalue


def intercept_step_scale(objective):
    """The intercept's step, relative to the weights' (0 without an intercept).

    On sparse data every step moves the intercept, while a feature moves only
    in the few minibatches that contain it; at the weights' step the
    intercept's noise then swamps what the rare features learn. As
    ``SGDClassifier`` does (its ``SPARSE_INTERCEPT_DECAY``), the intercept
    takes steps 100 times smaller there. Any fixed positive scale leaves the
    optimum unchanged (it is a diagonal preconditioner).
    """
    if not objective.fit_intercept:
        return 0.0
    return SPARSE_INTERCEPT_STEP if objective.sparse_rows else 1.0


def default_step(objective, batch_size, rng):
    """``1 / L_b`` for minibatches of ``batch_size``: a step that needs no tuning.

    A row whose row weight is ``w_i`` (the row weights sum to one) counts
    ``n w_i`` times in a minibatch estimate, so its curvature bound is scaled
    by that, and the full-data bound by the largest such factor.
    """
    X = objective.X
    xp, _ = namespace(X)
    row_scale = objective.row_weights * objective.n_samples
    intercept_scale = intercept_step_scale(objective)
    bound = curvature_bound(
        X,
        False,
        batch_size,
        objective.penalty.largest_l2,
        float(xp.max(row_scale * (_squared_row_norms(X, xp) + intercept_scale))),
        float(xp.max(row_scale)) * top_eigenvalue(X, intercept_scale, rng),
    )
    # No curvature at all (all-zero rows, no intercept, no L2 part): the
    # gradient of the smooth part is zero everywhere, so any step is safe.
    return 1.0 / bound if bound > 0 else 1.0


def _squared_row_norms(X, xp):
    """``||x_i||^2`` of every row of ``X``, in ``xp``, its namespace."""
    if sparse.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    if xp is np:
        return np.einsum("ij,ij->i", X, X)
    return xp.sum(X * X, axis=1)


def max_step(objective):
    """The largest step SGD takes: ``1 / (2 l2)``, where the L2 shrink alone halves the weights.

    Beyond ``2 / l2`` the penalty term by itself diverges; the cap keeps the
    lazy L2 scale positive. With per-feature factors ``l2`` is the largest
    weight's strength, so that every row's decay ``1 - step l2 f_j`` is at
    least 1/2.
    """
    largest = objective.penalty.largest_l2
    return 0.5 / largest if largest > 0 else np.inf


def optimal_eta0(objective):
    """A row's first step of the ``"optimal"`` schedule: ``SGDClassifier``'s, within the data's curvature.

    ``SGDClassifier`` takes ``alpha ** -0.25``, Bottou's heuristic for a
    typical weight of ``1 / sqrt(sqrt(alpha))``, whatever the data's scale;
    the step is at most :data:`OPTIMAL_CURVATURE_STEPS` times ``1 / L``,
    ``L = (||x||^2 + intercept scale) / 2`` the curvature bound of a mean row
    (see :func:`curvature_bound`), so that unscaled data start safely.
    """
    X = objective.X
    xp, _ = namespace(X)
    intercept_scale = intercept_step_scale(objective)
    curvatures = 0.5 * (_squared_row_norms(X, xp) + intercept_scale)
    mean_curvature = float(xp.sum(objective.row_weights * curvatures))
    step = OPTIMAL_CURVATURE_STEPS / mean_curvature if mean_curvature > 0 else 1.0
    alpha = objective.penalty.alpha
    return min(step, alpha**-0.25) if alpha > 0 else step


def optimal_t0(penalty, eta0):
    """``t0`` of the ``"optimal"`` schedule, in samples, for a first step ``eta0``; inf without a penalty."""
    return 1.0 / (penalty.alpha * eta0) if penalty.alpha > 0 else np.inf
