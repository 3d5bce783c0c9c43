"""The softmax core: the maximum-entropy model's math on plain arrays.

Notation follows the project's seed note ("Softmax", Zhiliang Tian, 2016):
scores ``S = X W + b`` (one row per sample, one column per class),
probabilities ``P_k = exp(S_k) / sum_j exp(S_j)`` (equation 1), the Jacobian
``dP_i/dS_j = P_i (delta_ij - P_j)`` (equation 7) and the gradient of the
negative log-likelihood with respect to the scores, ``P - Y``: the model's
expectation minus the observed one, ``E_est - E_obs`` (equation 13).

Everything here is a pure function of its arguments. Nothing validates input
(the estimator does that once, before any of this runs) and nothing knows of
scikit-learn. Every function keeps the dtype of its inputs, so float32 data is
computed in float32.
"""

import numpy as np
from scipy import sparse

from ._kernels import cross_entropy_residual, effective_n_threads


def log_softmax(scores):
    """Row-wise ``log P`` by log-sum-exp: finite for scores as large as 1e300.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    log_proba : ndarray of shape (n_samples, n_classes)
    """
    # Shifting by the row maximum makes the largest exponent exp(0) = 1, so
    # nothing overflows and at least one term of every sum is 1.
    shifted = scores - scores.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(scores):
    """Row-wise softmax, equation (1), shifted by the row maximum.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Rows are probability distributions.
    """
    proba = scores - scores.max(axis=1, keepdims=True)
    np.exp(proba, out=proba)
    proba /= proba.sum(axis=1, keepdims=True)
    return proba


def softmax_jacobian(proba):
    """Jacobian of the softmax, equation (7): ``J[..., i, j] = P_i (delta_ij - P_j)``.

    Parameters
    ----------
    proba : ndarray of shape (..., n_classes)

    Returns
    -------
    jacobian : ndarray of shape (..., n_classes, n_classes)
    """
    identity = np.eye(proba.shape[-1], dtype=proba.dtype)
    return proba[..., :, None] * (identity - proba[..., None, :])


def cross_entropy(scores, targets, sample_weight=None):
    """Weighted cross-entropy ``sum_i s_i * (-sum_k Y_ik log P_ik)``.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)
    targets : ndarray of shape (n_samples, n_classes)
        One-hot rows or any probability distributions (soft labels).
    sample_weight : ndarray of shape (n_samples,), default=None
        Unit weights when None.

    Returns
    -------
    loss : float
    """
    per_sample = -np.einsum("ik,ik->i", targets, log_softmax(scores))
    if sample_weight is None:
        return float(per_sample.sum())
    return float(np.vdot(per_sample, sample_weight))


def cross_entropy_and_residual(scores, targets, sample_weight, out=None):
    """Weighted cross-entropy and its gradient with respect to the scores.

    The gradient of ``-log P_y`` with respect to ``S`` is ``P - Y``
    (equation 12 with the sign of equation 13): what the model expects minus
    what was observed. One exponentiation serves the loss and the gradient,
    in one compiled pass over each row
    (:func:`sklearn_maxent._kernels.cross_entropy_residual`).

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)
    targets : ndarray of shape (n_samples, n_classes)
        Rows are probability distributions (one-hot for hard labels).
    sample_weight : ndarray of shape (n_samples,)
    out : ndarray or None
        Where to write the residual; ``out=scores`` (C-contiguous) reuses the
        scores' memory. None: a new array.

    Returns
    -------
    loss : float
        ``sum_i s_i CE_i``.
    residual : ndarray of shape (n_samples, n_classes)
        ``s_i * (P_i - Y_i)``, row ``i`` scaled by its weight.
    """
    dtype = scores.dtype
    if out is None:
        out = np.array(scores, dtype=dtype, order="C")
    elif out is not scores:
        out[...] = scores
    losses = np.empty(len(out))
    cross_entropy_residual(
        out,
        np.ascontiguousarray(targets, dtype=dtype),
        np.ascontiguousarray(sample_weight, dtype=dtype),
        losses,
        effective_n_threads(),
    )
    return float(losses.sum()), out


def linear_scores(X, coef, intercept, reference_class):
    """Scores ``S = X W + b`` of a linear model, for dense or sparse ``X``.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    coef : ndarray or scipy sparse matrix of shape (n_features, n_free)
    intercept : ndarray of shape (n_free,)
    reference_class : bool
        When True the model has a first class whose score is fixed at 0 (the
        binary logistic model: ``n_free = 1`` column for two classes) and a
        zero column is put in front of the free scores.

    Returns
    -------
    scores : ndarray of shape (n_samples, n_free + reference_class)
    """
    scores = X @ coef
    if sparse.issparse(scores):  # sparse X times sparsified weights; the scores are used dense
        scores = scores.toarray()
    scores += intercept
    if reference_class:
        scores = np.hstack([np.zeros_like(scores[:, :1]), scores])
    return scores


def linear_loss_residual(X, targets, sample_weight, coef, intercept, reference_class):
    """Weighted cross-entropy of a linear softmax model and its score gradient.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples, n_classes)
    sample_weight : ndarray of shape (n_samples,)
    coef : ndarray of shape (n_features, n_free)
    intercept : ndarray of shape (n_free,)
    reference_class : bool
        See :func:`linear_scores`.

    Returns
    -------
    loss : float
        ``sum_i s_i CE_i``.
    residual : ndarray of shape (n_samples, n_free)
        ``s_i (P_i - Y_i)`` for the free classes: the gradient with respect
        to the scores, whose product with ``X^T`` is the gradient in ``W``.
    """
    scores = np.ascontiguousarray(linear_scores(X, coef, intercept, reference_class))
    loss, residual = cross_entropy_and_residual(scores, targets, sample_weight, out=scores)
    return loss, residual[:, 1:] if reference_class else residual


def linear_loss_gradient(X, targets, sample_weight, coef, intercept, reference_class):
    """Weighted cross-entropy of a linear softmax model and its gradient.

    Parameters are those of :func:`linear_loss_residual`.

    Returns
    -------
    loss : float
        ``sum_i s_i CE_i``.
    grad_coef : ndarray of shape (n_features, n_free)
        ``X^T R`` with ``R = s (P - Y)``: E_est - E_obs of every feature.
    grad_intercept : ndarray of shape (n_free,)
        ``sum_i R_i``.
    """
    loss, residual = linear_loss_residual(X, targets, sample_weight, coef, intercept, reference_class)
    return loss, np.asarray(X.T @ residual), residual.sum(axis=0)


def softmax_jacobian_product(proba, direction):
    """Apply the softmax Jacobian of equation (7) to a direction, row by row.

    ``(J d)_i = sum_j P_i (delta_ij - P_j) d_j = P_i (d_i - <P, d>)``, without
    forming the ``n_classes x n_classes`` Jacobian.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
    direction : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
    """
    return proba * (direction - np.einsum("ik,ik->i", proba, direction)[:, None])


def linear_hessian_product(X, proba, sample_weight, coef_dir, intercept_dir, reference_class):
    """Hessian of the weighted cross-entropy of a linear softmax model times a direction.

    The Hessian with respect to the scores is the softmax Jacobian (the
    gradient ``P - Y`` differentiated once more), so the product is
    ``X^T (s * J (X V + v))`` for a direction ``(V, v)`` in parameter space.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    proba : ndarray of shape (n_samples, n_classes)
        Probabilities at the point where the Hessian is taken.
    sample_weight : ndarray of shape (n_samples,)
    coef_dir : ndarray of shape (n_features, n_free)
    intercept_dir : ndarray of shape (n_free,)
    reference_class : bool
        See :func:`linear_scores`.

    Returns
    -------
    hess_coef : ndarray of shape (n_features, n_free)
    hess_intercept : ndarray of shape (n_free,)
    """
    direction = linear_scores(X, coef_dir, intercept_dir, reference_class)
    product = softmax_jacobian_product(proba, direction)
    product *= sample_weight[:, None]
    if reference_class:
        product = product[:, 1:]
    return np.asarray(X.T @ product), product.sum(axis=0)


def linear_hessian_diagonal(X, proba, sample_weight, reference_class, block_rows=8192):
    """Diagonal of the Hessian in :func:`linear_hessian_product`.

    The diagonal of the softmax Jacobian is ``P_k (1 - P_k)``, so the entry of
    weight ``(j, k)`` is ``sum_i s_i x_ij^2 P_ik (1 - P_ik)`` and that of
    intercept ``k`` is ``sum_i s_i P_ik (1 - P_ik)``. Dense rows are squared a
    block at a time, to need no copy of ``X``.

    Returns
    -------
    diag_coef : ndarray of shape (n_features, n_free)
    diag_intercept : ndarray of shape (n_free,)
    """
    curvature = proba * (1 - proba) * sample_weight[:, None]
    if reference_class:
        curvature = curvature[:, 1:]
    if sparse.issparse(X):
        diag_coef = np.asarray(X.multiply(X).T @ curvature)
    else:
        diag_coef = np.zeros((X.shape[1], curvature.shape[1]), dtype=curvature.dtype)
        for start in range(0, X.shape[0], block_rows):
            block = X[start : start + block_rows]
            diag_coef += (block * block).T @ curvature[start : start + block_rows]
    return diag_coef, curvature.sum(axis=0)
