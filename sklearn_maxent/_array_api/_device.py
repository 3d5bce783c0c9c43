"""The softmax model's math on arrays of any array-API namespace, where they live (a GPU).

The NumPy core (:mod:`~sklearn_maxent._model._softmax` and its compiled kernels) is
faster on the CPU; this module has the same formulas as ``xp`` operations
for arrays of another namespace (PyTorch, CuPy, ``array-api-strict``):
log-softmax, softmax, and :class:`DeviceObjective`, the objective of
:class:`~sklearn_maxent._model._objective.Objective` for every solver (the
minibatch epochs are :mod:`~sklearn_maxent._optim._device_epochs`). The data stay
on their device; what crosses to the host per pass is of the size of
``coef_`` (the weights in, the gradient out), as in ``LogisticRegression``'s
array API support, since the solvers keep the parameters in NumPy.

It imports the model's objective (whose certificate it shares) and the core's ``out=``
helper, nothing of the optimizers, and of scikit-learn only its array API helpers.
"""

from functools import cached_property

import numpy as np
from scipy import sparse
from sklearn.utils._array_api import _max_precision_float_dtype, get_namespace_and_device

from .._model._objective import CertifiedPart
from .._model._softmax import written_into
from ._host import to_numpy


def namespace(X):
    """``(xp, device)`` of ``X``; ``(numpy, None)`` for NumPy arrays and sparse matrices (NumPy paths)."""
    if isinstance(X, np.ndarray) or sparse.issparse(X):
        return np, None
    xp, _, device = get_namespace_and_device(X)
    return xp, device


def log_softmax(scores, xp):
    """Row-wise ``log P`` by log-sum-exp, shifted by the row maximum, as :func:`._softmax.log_softmax`."""
    shifted = scores - xp.max(scores, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(scores, xp):
    """Row-wise softmax, equation (1), shifted by the row maximum."""
    exponentials = xp.exp(scores - xp.max(scores, axis=1, keepdims=True))
    return exponentials / xp.sum(exponentials, axis=1, keepdims=True)


def full_scores(free_scores, xp, reference_class):
    """The free classes' scores with the reference class's zero column first, if there is one."""
    if not reference_class:
        return free_scores
    zeros = xp.zeros((free_scores.shape[0], 1), dtype=free_scores.dtype, device=free_scores.device)
    return xp.concat([zeros, free_scores], axis=1)


class DeviceObjective(CertifiedPart):
    """:class:`._objective.Objective` on dense arrays of another namespace, where they live.

    ``X``, the targets and the row weights stay in their namespace and on
    their device; the methods take and return the parameters as NumPy arrays
    (``coef`` of shape (n_features, n_free), ``intercept`` of shape
    (n_free,)), as the full-batch solvers hold them. The arithmetic is that of
    the NumPy core, in ``xp`` operations: the same formulas (equations 1, 7
    and 12 of the notes), not the same rounding.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Dense, float32 or float64.
    targets : array of shape (n_samples, n_classes)
        Rows are probability distributions, in ``X``'s dtype and namespace.
    row_weights : array of shape (n_samples,)
        Non-negative, with a positive sum.
    penalty : ElasticNet
    fit_intercept, reference_class : bool
        As in :class:`~sklearn_maxent._model._objective.Objective`.
    """

    is_sparse = False
    sparse_rows = False  # dense device arrays take the dense route

    offset = None  # scores offset by the estimator's offset or prior are fitted on the host

    def __init__(self, X, targets, row_weights, penalty, fit_intercept, reference_class):
        self.xp, _, self.device = get_namespace_and_device(X)
        self.X = X
        self.targets = targets
        self.row_weights = row_weights / self.xp.sum(row_weights)
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.reference_class = reference_class

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def dtype(self):
        """The data's dtype as NumPy names it (the solvers' parameters are NumPy arrays of it)."""
        return np.dtype("float32" if self.X.dtype == self.xp.float32 else "float64")

    @property
    def pass_cost(self):
        return self.X.shape[0] * self.X.shape[1] * self.parameter_shape[1]

    @property
    def parameter_shape(self):
        return self.X.shape[1], self.targets.shape[1] - self.reference_class

    def _on_device(self, array):
        return self.xp.asarray(np.ascontiguousarray(array, dtype=self.dtype), device=self.device)

    def zeros(self, shape):
        """Zeros of ``shape`` in the data's dtype, namespace and device (SAGA's memory)."""
        return self.xp.zeros(shape, dtype=self.X.dtype, device=self.device)

    def subset(self, rows):
        """The same objective on ``rows`` only (a NumPy index array), their row weights renormalized."""
        on_device = self.xp.asarray(rows, device=self.device)
        X, targets, row_weights = (
            self.xp.take(array, on_device, axis=0) for array in (self.X, self.targets, self.row_weights)
        )
        return DeviceObjective(
            X, targets, row_weights, self.penalty, self.fit_intercept, self.reference_class
        )

    def _scores(self, coef, intercept):
        free = self.X @ self._on_device(coef) + self._on_device(intercept)
        return full_scores(free, self.xp, self.reference_class)

    def _free(self, array):
        return array[:, 1:] if self.reference_class else array

    def data_loss_gradient(self, coef, intercept):
        """Weighted cross-entropy on all rows and its gradient ``X^T w (P - Y)``, as NumPy."""
        xp = self.xp
        log_proba = log_softmax(self._scores(coef, intercept), xp)
        loss = -xp.sum(self.row_weights * xp.sum(self.targets * log_proba, axis=1))
        residual = self._free(self.row_weights[:, None] * (xp.exp(log_proba) - self.targets))
        return float(loss), to_numpy(self.X.T @ residual), self._intercept_part(residual)

    def data_loss(self, coef, intercept):
        """The weighted cross-entropy on all rows: ``J`` without its penalty."""
        xp = self.xp
        log_proba = log_softmax(self._scores(coef, intercept), xp)
        return float(-xp.sum(self.row_weights * xp.sum(self.targets * log_proba, axis=1)))

    def value(self, coef, intercept):
        """``J(W, b)``, the full objective including the L1 part."""
        return self.data_loss(coef, intercept) + self.penalty.value(coef)

    def accuracy(self, coef, intercept):
        """Weighted share of rows whose most probable class is the target's.

        The hits cross to the host (one boolean a row) and are weighted there
        by the NumPy objective's dot product: early stopping keeps the best
        epoch, and accuracies are often tied, which the last bit of their sum
        decides (a device sum broke a tie of 0.7 the other way on 40 rows).
        """
        xp = self.xp
        hits = xp.argmax(self._scores(coef, intercept), axis=1) == xp.argmax(self.targets, axis=1)
        return float(np.vdot(to_numpy(hits).astype(self.dtype), self._host_row_weights))

    @cached_property
    def _host_row_weights(self):
        return to_numpy(self.row_weights).astype(self.dtype)

    def _certificate_rows(self, coef, intercept):
        """Probabilities, targets and row weights for the certificate, reduced on the device in float64."""
        proba = softmax(self._scores(coef, intercept), self.xp)
        return self._precise(proba), self._precise(self.targets), self._precise(self.row_weights)

    def _precise(self, array):
        """``array`` in float64 where the device has it (the dual's arithmetic, as on the CPU; not on MPS)."""
        return self.xp.astype(array, _max_precision_float_dtype(self.xp, self.device))

    @cached_property
    def _moments(self):
        """``X^T w`` and the observed moments ``X^T w Y`` (free columns), as float64 NumPy."""
        column_means = to_numpy(self.X.T @ self.row_weights)
        observed = to_numpy(self.X.T @ (self.row_weights[:, None] * self.targets))
        return column_means, observed[:, int(self.reference_class) :]

    def hessian_product_and_diagonal(self, coef, intercept):
        """The Hessian's product and diagonal at a point, as :class:`._objective.Objective` gives them."""
        xp = self.xp
        proba = self._free(softmax(self._scores(coef, intercept), xp))
        weighted = self.row_weights[:, None] * proba
        penalty = self.penalty

        def product(coef_dir, intercept_dir, out=None):
            # The softmax Jacobian row by row, restricted to the free classes:
            # s_i P_ik (d_ik - <P_i, d_i>) with d = X V + v.
            direction = self.X @ self._on_device(coef_dir) + self._on_device(intercept_dir)
            jacobian = weighted * (direction - xp.sum(proba * direction, axis=1, keepdims=True))
            hess_coef = to_numpy(self.X.T @ jacobian) + penalty.smooth_gradient(coef_dir)
            hess_coef = written_into(out, hess_coef)
            return hess_coef, self._intercept_part(jacobian)

        curvature = weighted * (1 - proba)
        diag_coef = to_numpy((self.X * self.X).T @ curvature) + penalty.l2_weights
        return product, diag_coef, self._intercept_part(curvature)

    def _intercept_part(self, per_row):
        """The column sums of ``per_row`` (an intercept's derivative), zero without an intercept."""
        if not self.fit_intercept:
            return np.zeros(per_row.shape[1])
        return to_numpy(self.xp.sum(per_row, axis=0))
