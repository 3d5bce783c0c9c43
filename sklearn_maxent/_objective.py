"""The training objective ``J(W, b)`` on one data set.

``J(W, b) = sum_i w_i CE_i(W, b) + penalty(W)`` with weights ``w_i = s_i / sum_j s_j``:
the sample weights normalized to sum to one, so that a weight of 2 is exactly
a repeated row. This module binds the data to the softmax core and the
penalty; the optimizers only ever see :class:`Objective`.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._softmax import (
    ThreadedCSR,
    cross_entropy,
    linear_hessian_diagonal,
    linear_hessian_product,
    linear_loss_gradient,
    linear_loss_residual,
    linear_proba,
    linear_scores,
)


@dataclass
class Minibatch:
    """Rows of the data, restricted to the features they use.

    ``X`` has one column per entry of ``features`` (all features, ``slice(None)``,
    for dense data), so a step costs the minibatch's non-zeros, not
    ``n_features``. ``weights`` are scaled by ``n_samples / n_rows`` so that
    loss and gradient are unbiased estimates of the full ones.
    """

    X: object
    features: object
    targets: np.ndarray
    weights: np.ndarray


class SmoothPart:
    """``smooth_value_gradient`` from a class's ``data_loss_gradient`` and ``penalty``.

    Shared by :class:`Objective` and the Dask objective (whose data terms are
    sums over workers), as the optimizers call it.
    """

    def smooth_value_gradient(self, coef, intercept):
        """Full data loss plus the L2 part of the penalty, and its gradient."""
        loss, grad_coef, grad_intercept = self.data_loss_gradient(coef, intercept)
        l2 = self.penalty.l2
        loss += 0.5 * l2 * float(np.vdot(coef, coef))
        grad_coef += l2 * coef
        return loss, grad_coef, grad_intercept


class Objective(SmoothPart):
    """The weighted, penalized cross-entropy of a linear softmax model.

    Parameters
    ----------
    X : ndarray or scipy sparse CSR matrix of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples, n_classes)
        Rows are probability distributions, in the dtype of ``X``.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative, with a positive sum.
    penalty : ElasticNet
    fit_intercept : bool
    reference_class : bool
        The binary logistic model: class 0's score is fixed at 0.
    """

    def __init__(self, X, targets, sample_weight, penalty, fit_intercept, reference_class):
        self.X = X
        self.targets = targets
        self.weights = (sample_weight / sample_weight.sum()).astype(X.dtype, copy=False)
        self._sample_weight = sample_weight
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.reference_class = reference_class
        # Scratch space of minibatch(): a slot per feature, reused by every call.
        self._slots = np.zeros(X.shape[1], dtype=np.intp) if sparse.issparse(X) else None
        # What the full-batch passes multiply by: sparse X keeps its transpose for threaded X.T @ R.
        self._full_X = ThreadedCSR(X) if sparse.issparse(X) else X

    @property
    def is_sparse(self):
        """Whether minibatches are restricted to the features they use (sparse ``X``)."""
        return self._slots is not None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def parameter_shape(self):
        """Shape of ``W``: (n_features, n_classes - reference_class)."""
        return self.X.shape[1], self.targets.shape[1] - self.reference_class

    def subset(self, rows):
        """The same objective on ``rows`` only (their weights renormalized)."""
        return Objective(
            self.X[rows],
            self.targets[rows],
            self._sample_weight[rows],
            self.penalty,
            self.fit_intercept,
            self.reference_class,
        )

    def minibatch(self, rows):
        """The :class:`Minibatch` of ``rows`` (sorted or not)."""
        weights = self.weights[rows] * self.dtype.type(self.n_samples / len(rows))
        X = self.X[rows]
        features = slice(None)
        if self._slots is not None:
            X, features = self._compact_columns(X)
        return Minibatch(X, features, self.targets[rows], weights)

    def _compact_columns(self, X):
        """Renumber the columns of CSR ``X`` to the distinct features it uses, in O(nnz)."""
        positions = np.arange(X.nnz)
        # Each feature's slot ends up holding one of its positions (whichever
        # write lands last); that position stands for the feature.
        self._slots[X.indices] = positions
        representative = self._slots[X.indices]
        is_representative = representative == positions
        features = X.indices[is_representative]
        compact = (np.cumsum(is_representative) - 1)[representative]
        X = sparse.csr_matrix((X.data, compact, X.indptr), shape=(X.shape[0], features.size))
        return X, features

    def minibatch_loss_gradient(self, batch, coef_rows, intercept):
        """Loss and gradient estimates on a minibatch; ``coef_rows`` is ``W[batch.features]``.

        Returns
        -------
        loss : float
        grad_rows : ndarray of shape (n_batch_features, n_free)
        grad_intercept : ndarray of shape (n_free,)
        """
        return self._loss_gradient(batch.X, batch.targets, batch.weights, coef_rows, intercept)

    def minibatch_loss_residual(self, batch, coef_rows, intercept):
        """Loss estimate and the rows' score gradients ``n w_i (P_i - Y_i)`` on a minibatch.

        Scaled so that the full gradient is the mean over all rows of
        ``x_i`` times the row's residual: what SAGA stores per row.
        """
        loss, residual = linear_loss_residual(
            batch.X, batch.targets, batch.weights, coef_rows, intercept, self.reference_class
        )
        residual *= self.dtype.type(len(batch.weights))
        return loss, residual

    def data_loss_gradient(self, coef, intercept):
        """Weighted cross-entropy on all rows and its gradient.

        Returns
        -------
        loss : float
        grad_coef : ndarray of shape (n_features, n_free)
        grad_intercept : ndarray of shape (n_free,)
            Zero when the model has no intercept.
        """
        return self._loss_gradient(self._full_X, self.targets, self.weights, coef, intercept)

    def _loss_gradient(self, X, targets, weights, coef, intercept):
        loss, grad_coef, grad_intercept = linear_loss_gradient(
            X, targets, weights, coef, intercept, self.reference_class
        )
        if not self.fit_intercept:
            grad_intercept[:] = 0
        return loss, grad_coef, grad_intercept

    def value(self, coef, intercept):
        """``J(W, b)``, the full objective including the L1 part."""
        scores = linear_scores(self.X, coef, intercept, self.reference_class)
        return cross_entropy(scores, self.targets, self.weights) + self.penalty.value(coef)

    def accuracy(self, coef, intercept):
        """Weighted share of rows whose most probable class is the target's."""
        scores = linear_scores(self.X, coef, intercept, self.reference_class)
        hits = scores.argmax(axis=1) == self.targets.argmax(axis=1)
        return float(np.vdot(hits.astype(self.dtype), self.weights))

    def hessian_product_and_diagonal(self, coef, intercept):
        """The Hessian of :meth:`smooth_value_gradient` at a point, as a function, and its diagonal.

        Both come from one pass over the data (the probabilities at the point).

        Returns
        -------
        product : callable
            ``product(coef_dir, intercept_dir) -> (hess_coef, hess_intercept)``.
        diag_coef : ndarray of shape (n_features, n_free)
        diag_intercept : ndarray of shape (n_free,)
            Zero when the model has no intercept.
        """
        proba = linear_proba(self._full_X, coef, intercept, self.reference_class)
        l2 = self.penalty.l2

        def product(coef_dir, intercept_dir):
            hess_coef, hess_intercept = linear_hessian_product(
                self._full_X, proba, self.weights, coef_dir, intercept_dir, self.reference_class
            )
            hess_coef += l2 * coef_dir
            if not self.fit_intercept:
                hess_intercept[:] = 0
            return hess_coef, hess_intercept

        diag_coef, diag_intercept = linear_hessian_diagonal(
            self._full_X, proba, self.weights, self.reference_class
        )
        diag_coef += l2
        if not self.fit_intercept:
            diag_intercept[:] = 0
        return product, diag_coef, diag_intercept
