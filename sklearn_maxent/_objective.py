"""The training objective ``J(W, b)`` on one data set.

``J(W, b) = sum_i w_i CE_i(W, b) + penalty(W)`` with weights ``w_i = s_i / sum_j s_j``:
the sample weights normalized to sum to one, so that a weight of 2 is exactly
a repeated row. This module binds the data to the softmax core and the
penalty; the optimizers only ever see :class:`Objective`.
"""

import numpy as np

from ._softmax import cross_entropy, linear_hessian_product, linear_loss_gradient, linear_scores, softmax


class Objective:
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
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.reference_class = reference_class

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

    def data_loss_gradient(self, coef, intercept, rows=None):
        """Weighted cross-entropy and its gradient, on all rows or an estimate from ``rows``.

        On a minibatch the weights are scaled by ``n_samples / len(rows)``,
        making loss and gradient unbiased estimates of the full ones.

        Returns
        -------
        loss : float
        grad_coef : ndarray of shape (n_features, n_free)
        grad_intercept : ndarray of shape (n_free,)
            Zero when the model has no intercept.
        """
        if rows is None:
            X, targets, weights = self.X, self.targets, self.weights
        else:
            X, targets = self.X[rows], self.targets[rows]
            weights = self.weights[rows] * self.X.dtype.type(self.n_samples / len(rows))
        loss, grad_coef, grad_intercept = linear_loss_gradient(
            X, targets, weights, coef, intercept, self.reference_class
        )
        if not self.fit_intercept:
            grad_intercept[:] = 0
        return loss, grad_coef, grad_intercept

    def smooth_value_gradient(self, coef, intercept):
        """Full data loss plus the L2 part of the penalty, and its gradient."""
        loss, grad_coef, grad_intercept = self.data_loss_gradient(coef, intercept)
        l2 = self.penalty.l2
        loss += 0.5 * l2 * float(np.vdot(coef, coef))
        grad_coef += l2 * coef
        return loss, grad_coef, grad_intercept

    def value(self, coef, intercept):
        """``J(W, b)``, the full objective including the L1 part."""
        scores = linear_scores(self.X, coef, intercept, self.reference_class)
        return cross_entropy(scores, self.targets, self.weights) + self.penalty.value(coef)

    def hessian_product(self, coef, intercept):
        """The Hessian of :meth:`smooth_value_gradient` at a point, as a function.

        Returns
        -------
        product : callable
            ``product(coef_dir, intercept_dir) -> (hess_coef, hess_intercept)``.
        """
        proba = softmax(linear_scores(self.X, coef, intercept, self.reference_class))
        l2 = self.penalty.l2

        def product(coef_dir, intercept_dir):
            hess_coef, hess_intercept = linear_hessian_product(
                self.X, proba, self.weights, coef_dir, intercept_dir, self.reference_class
            )
            hess_coef += l2 * coef_dir
            if not self.fit_intercept:
                hess_intercept[:] = 0
            return hess_coef, hess_intercept

        return product
