"""The training objective ``J(W, b)`` on one data set.

``J(W, b) = sum_i w_i CE_i(W, b) + penalty(W)`` with row weights
``w_i = s_i / sum_j s_j``: each row's sample weight times its class weight,
``s_i``, normalized to sum to one, so that a sample weight of 2 is exactly a
repeated row. This module binds the data to the softmax core and the
penalty; the optimizers only ever see :class:`Objective`.

Three kinds of weights meet here, and the package's private names keep them
apart, one name per concept:

* the model: ``coef`` (``W``, of shape (n_features, n_free)) and
  ``intercept`` (``b``), together its parameters. Prose says "weights" for
  ``W`` alone, as scikit-learn's documentation of ``coef_`` does; names never
  do (SGD's lazily scaled ``W`` is :class:`~sklearn_maxent._optim._lazy.LazyCoef`).
* weights of rows: ``sample_weight`` is scikit-learn's parameter, the
  user's weights (and in :mod:`~sklearn_maxent._model._softmax`'s pure functions,
  whatever weights of rows they are given); ``row_weights`` are the weights
  of the rows in ``J``, sample weight times class weight
  (:func:`~sklearn_maxent._targets.with_class_weights`): ``s_i`` where the
  estimators make them, ``w_i`` once normalized to sum to one
  (:attr:`Objective.row_weights`, the arguments of
  :mod:`~sklearn_maxent._model._duality`, the Dask workers' blocks).
* weights of classes: ``class_weight`` is scikit-learn's parameter (a dict,
  ``"balanced"`` or None), ``class_weights`` its vector over the classes
  (:func:`~sklearn_maxent._targets.compute_class_weights`).
"""

from functools import cached_property

import numpy as np
from scipy import sparse

from . import _duality
from ._softmax import (
    ThreadedCSR,
    _transpose_product,
    cross_entropy,
    linear_hessian_diagonal,
    linear_hessian_product,
    linear_loss_gradient,
    linear_proba,
    linear_scores,
)

# Rows with at most this share of non-zeros count as sparse, in CSR or in a dense array: the
# minibatch size, the intercept's step and the solver chain's hand-off follow the data, not
# the container (the same estimator on the same data takes the same route).
SPARSE_ROWS_DENSITY = 0.1

# Passes (multiply-adds of X W) above which the Hessian's products run in float32 on sparse
# float64 data; at most this the solver chain goes to rounding precision (its PRECISE_BELOW).
FLOAT32_HESSIAN_ABOVE = 1e6


def has_sparse_rows(X):
    """Whether at most ``SPARSE_ROWS_DENSITY`` of ``X``'s entries are non-zero (NumPy or CSR ``X``)."""
    if X.size == 0 and not sparse.issparse(X):
        return False
    nonzeros = X.nnz if sparse.issparse(X) else np.count_nonzero(X)
    return nonzeros <= SPARSE_ROWS_DENSITY * X.shape[0] * X.shape[1]


class SmoothPart:
    """``smooth_value_gradient`` from a class's ``data_loss_gradient`` and ``penalty``.

    Shared by :class:`Objective` and the Dask objective (whose data terms are
    sums over workers), as the optimizers call it.
    """

    @property
    def hessian_dtype(self):
        """The dtype of the directions ``hessian_product_and_diagonal``'s product takes: the data's."""
        return self.dtype

    def float32_twin(self):
        """The problem on float32 copies of the data, for phases bound by memory traffic: itself here."""
        return self

    def smooth_value_gradient(self, coef, intercept):
        """Full data loss plus the L2 part of the penalty, and its gradient."""
        loss, grad_coef, grad_intercept = self.data_loss_gradient(coef, intercept)
        penalty = self.penalty
        return loss + penalty.smooth_value(coef), grad_coef + penalty.smooth_gradient(coef), grad_intercept


class CertifiedPart(SmoothPart):
    """``certified_gap`` from ``data_loss_gradient``, ``_certificate_rows`` and ``_moments``.

    Shared by :class:`Objective` and the device objective
    (:class:`~sklearn_maxent._array_api._device.DeviceObjective`), which differ only in
    where the rows are reduced.
    """

    def certified_gap(self, coef, intercept):
        """``J(W, b)`` and a certified bound on ``(J(W, b) - J*) / J*`` (:mod:`._duality`).

        One loss-and-gradient pass (for :class:`Objective`, none where the
        solver has just made it: see :meth:`Objective.data_loss_gradient`) and
        one probability pass
        (in the data's dtype; the dual's own arithmetic in float64). ``X^T V``
        comes from the gradient and two fixed moments of the data
        (:func:`~sklearn_maxent._model._duality.dual_point_from_gradient`), made at the
        first call: no product of its own.

        Returns
        -------
        value : float
        gap : float
            nan without a penalty (no certificate exists), inf where the dual
            point is still useless (``D <= 0``).
        """
        primal, dual = self.primal_dual(coef, intercept)
        return primal, _duality.relative_gap(primal, dual)

    def primal_dual(self, coef, intercept):
        """``J(W, b)`` and the dual value of the point :meth:`certified_gap` builds from ``(W, b)``.

        The dual value is a lower bound of ``J*`` whatever ``(W, b)``: a solver may keep
        the best of several (nan without a penalty).
        """
        loss, gradient, _ = self.data_loss_gradient(coef, intercept)
        primal = loss + self.penalty.value(coef)
        proba, targets, row_weights = self._certificate_rows(coef, intercept)
        return primal, self.dual_of(proba, gradient, targets, row_weights)

    def dual_of(self, expected, gradient, targets=None, row_weights=None):
        """The dual value of the point built from rows ``expected`` whose data gradient is ``gradient``.

        ``expected`` (n_samples, n_classes), float64, has rows summing to one, and
        ``gradient = X^T w (expected - Y)`` (free columns); entries below 0 are allowed
        (a linearized step of the probabilities), the intercept's balancing mixes them away
        (:func:`~sklearn_maxent._model._duality.dual_point_from_gradient`). ``targets`` and
        ``row_weights`` in float64, if at hand. A lower bound of ``J*`` (nan without a penalty).
        """
        return self.dual_point_of(expected, gradient, targets, row_weights)[0]

    def dual_point_of(self, expected, gradient, targets=None, row_weights=None, screened=None):
        """:meth:`dual_of`'s value and the point's ``X^T V``, ignoring the ``screened`` features.

        See :func:`~sklearn_maxent._model._duality.dual_point_from_gradient`.
        """
        if targets is None:
            targets, row_weights = self.targets.astype(np.float64), self.row_weights.astype(np.float64)
        column_means, observed_moments = self._moments
        return _duality.dual_point_from_gradient(
            expected,
            targets,
            row_weights,
            gradient,
            column_means,
            observed_moments,
            self.penalty,
            self.fit_intercept,
            self.offset,
            screened,
        )


class Objective(CertifiedPart):
    """The weighted, penalized cross-entropy of a linear softmax model.

    Parameters
    ----------
    X : ndarray or scipy sparse CSR matrix of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples, n_classes)
        Rows are probability distributions, in the dtype of ``X``.
    row_weights : ndarray of shape (n_samples,)
        Non-negative, with a positive sum; normalized here to sum to one.
    penalty : ElasticNet
    fit_intercept : bool
    reference_class : bool
        The binary logistic model: class 0's score is fixed at 0.
    offset : ndarray of shape (n_samples, n_free) or None
        Added to the free scores ``X W + b`` of each row (in the dtype of
        ``X``); None for none.
    sparse_rows : bool or None
        :attr:`sparse_rows` of the data this objective was derived from (its
        rows, features or dtype); None to judge ``X``.
    """

    def __init__(
        self, X, targets, row_weights, penalty, fit_intercept, reference_class, offset=None, sparse_rows=None
    ):
        self.X = X
        self.targets = targets
        self.row_weights = (row_weights / row_weights.sum()).astype(X.dtype, copy=False)
        # As given, so that subset() normalizes its rows' share of them afresh.
        self._given_row_weights = row_weights
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.reference_class = reference_class
        self.offset = offset
        # What the full-batch passes multiply by: sparse X keeps its transpose for threaded X.T @ R.
        self._full_X = ThreadedCSR(X) if sparse.issparse(X) else X
        self._last_pass = None  # ((coef, intercept), data_loss_gradient's result) at the last point
        self._sparse_rows = sparse_rows

    @property
    def is_sparse(self):
        """Whether ``X`` is sparse (CSR): SGD then touches only the weight rows a minibatch uses."""
        return sparse.issparse(self.X)

    @property
    def sparse_rows(self):
        """Whether the rows are mostly zeros (:func:`has_sparse_rows`), whatever the container; an
        objective derived from another (:meth:`subset`, :meth:`on_used_features`, its float32 twin)
        keeps its judgement: the route is the data's as given."""
        if self._sparse_rows is None:
            self._sparse_rows = has_sparse_rows(self.X)
        return self._sparse_rows

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def pass_cost(self):
        """Multiply-adds of one pass over the data (``X W``): non-zeros times free classes."""
        size = self.X.nnz if self.is_sparse else self.X.size
        return size * self.parameter_shape[1]

    @property
    def hessian_dtype(self):
        """float32 for large sparse float64 data, else the data's (:meth:`hessian_product_and_diagonal`).

        Newton-CG's products need about the precision of its forcing term (0.5 to about 1e-3), and
        float32 halves their memory traffic (twice as fast on text: benchmarks/results/CONSTANTS.md);
        passes of at most ``FLOAT32_HESSIAN_ABOVE`` stay exact, for fits taken to rounding precision.
        """
        if self.dtype == np.float64 and self.is_sparse and self.pass_cost > FLOAT32_HESSIAN_ABOVE:
            return np.dtype(np.float32)
        return self.dtype

    def float32_twin(self):
        """This problem on float32 copies of the data where :attr:`hessian_dtype` is float32, else itself.

        SAGA's epochs are memory-bound too: a solver may run a phase on the twin, whose optimum
        differs from this one's by float32's rounding of the data, and go on from there.
        """
        return self if self.hessian_dtype == self.dtype else self._float32_twin

    @cached_property
    def _float32_twin(self):
        def low(array):
            return None if array is None else array.astype(np.float32)

        return self._derived(
            low(self.X), low(self.targets), self._given_row_weights, self.penalty, low(self.offset)
        )

    def _derived(self, X, targets, row_weights, penalty, offset):
        """An objective on data derived from this one's: its intercept, reference class and route."""
        return Objective(
            X,
            targets,
            row_weights,
            penalty,
            self.fit_intercept,
            self.reference_class,
            offset,
            self.sparse_rows,
        )

    @property
    def parameter_shape(self):
        """Shape of ``W``: (n_features, n_classes - reference_class)."""
        return self.X.shape[1], self.targets.shape[1] - self.reference_class

    def subset(self, rows):
        """The same objective on ``rows`` only (their row weights renormalized)."""
        return self._derived(
            self.X[rows],
            self.targets[rows],
            self._given_row_weights[rows],
            self.penalty,
            None if self.offset is None else self.offset[rows],
        )

    def on_used_features(self):
        """This objective on the features some row has an entry of, and which those are (a mask);
        None where ``X`` is dense, or uses every feature or none.

        An unused feature's weights add nothing to any score: the data loss
        does not depend on them, and their optimum is the penalty's own
        minimizer (:meth:`~sklearn_maxent._model._penalty.ElasticNet.own_minimizer`).
        The objective returned leaves them out, and their penalty with them;
        its ``X`` shares its values and row pointers with this one's.
        """
        if not self.is_sparse:
            return None
        X = self.X
        used = np.bincount(X.indices, minlength=X.shape[1]) > 0
        if used.all() or not used.any():
            return None
        position = np.cumsum(used, dtype=X.indices.dtype) - 1  # a used feature's new column
        columns = sparse.csr_matrix(
            (X.data, position[X.indices], X.indptr), shape=(X.shape[0], int(used.sum()))
        )
        columns.has_sorted_indices = X.has_sorted_indices  # renumbering in order keeps the order
        objective = self._derived(
            columns, self.targets, self._given_row_weights, self.penalty.on_features(used), self.offset
        )
        return objective, used

    def data_loss_gradient(self, coef, intercept):
        """Weighted cross-entropy on all rows and its gradient.

        The result at the last point asked for is kept: a solver checks the
        certificate (:meth:`certified_gap`) where it has just evaluated the
        gradient, and that check then costs one pass less. Callers must not modify
        the arrays returned.

        Returns
        -------
        loss : float
        grad_coef : ndarray of shape (n_features, n_free)
        grad_intercept : ndarray of shape (n_free,)
            Zero when the model has no intercept.
        """
        if self._last_pass is not None:
            (last_coef, last_intercept), result = self._last_pass
            if np.array_equal(coef, last_coef) and np.array_equal(intercept, last_intercept):
                return result
        result = self._loss_gradient(self._full_X, self.targets, self.row_weights, coef, intercept)
        self._last_pass = (np.copy(coef), np.copy(intercept)), result
        return result

    def _loss_gradient(self, X, targets, row_weights, coef, intercept):
        loss, grad_coef, grad_intercept = linear_loss_gradient(
            X, targets, row_weights, coef, intercept, self.reference_class, self.offset
        )
        if not self.fit_intercept:
            grad_intercept[:] = 0
        return loss, grad_coef, grad_intercept

    def data_loss(self, coef, intercept):
        """The weighted cross-entropy ``sum_i w_i CE_i``: ``J`` without its penalty."""
        scores = linear_scores(self.X, coef, intercept, self.reference_class, self.offset)
        return cross_entropy(scores, self.targets, self.row_weights)

    def value(self, coef, intercept):
        """``J(W, b)``, the full objective including the L1 part."""
        return self.data_loss(coef, intercept) + self.penalty.value(coef)

    def _certificate_rows(self, coef, intercept):
        """The rows :meth:`certified_gap` reduces: probabilities, targets and row weights, in float64."""
        proba = linear_proba(self._full_X, coef, intercept, self.reference_class, self.offset).astype(
            np.float64
        )
        return proba, self.targets.astype(np.float64), self.row_weights.astype(np.float64)

    @cached_property
    def _moments(self):
        """``X^T w`` and the observed moments ``X^T w Y`` (free columns), in float64: fixed for the data."""
        ones_and_targets = np.hstack([np.ones((self.n_samples, 1), self.dtype), self.targets])
        weighted = self.row_weights[:, None] * ones_and_targets
        moments = _transpose_product(self._full_X, np.ascontiguousarray(weighted)).astype(np.float64)
        return moments[:, 0], moments[:, 1 + self.reference_class :]

    def accuracy(self, coef, intercept):
        """Weighted share of rows whose most probable class is the target's."""
        scores = linear_scores(self.X, coef, intercept, self.reference_class, self.offset)
        hits = scores.argmax(axis=1) == self.targets.argmax(axis=1)
        return float(np.vdot(hits.astype(self.dtype), self.row_weights))

    def hessian_product_and_diagonal(self, coef, intercept):
        """The Hessian of :meth:`smooth_value_gradient` at a point, as a function, and its diagonal.

        Both come from one pass over the data (the probabilities at the point).

        Returns
        -------
        product : callable
            ``product(coef_dir, intercept_dir, out=None) -> (hess_coef, hess_intercept)``,
            directions and results in :attr:`hessian_dtype`; ``hess_coef`` is written into
            ``out`` where given (C-ordered).
        diag_coef : ndarray of shape (n_features, n_free)
        diag_intercept : ndarray of shape (n_free,)
            Zero when the model has no intercept.
        """
        proba = linear_proba(self._full_X, coef, intercept, self.reference_class, self.offset)
        penalty = self.penalty
        dtype = self.hessian_dtype
        X = self._full_X if dtype == self.dtype else self.float32_twin()._full_X
        proba_h, row_weights_h = proba.astype(dtype, copy=False), self.row_weights.astype(dtype, copy=False)

        def product(coef_dir, intercept_dir, out=None):
            hess_coef, hess_intercept = linear_hessian_product(
                X, proba_h, row_weights_h, coef_dir, intercept_dir, self.reference_class, out
            )
            penalty.add_smooth_gradient(coef_dir, hess_coef)
            if not self.fit_intercept:
                hess_intercept[:] = 0
            return hess_coef, hess_intercept

        diag_coef, diag_intercept = linear_hessian_diagonal(
            self._full_X, proba, self.row_weights, self.reference_class
        )
        diag_coef += penalty.l2_weights
        if not self.fit_intercept:
            diag_intercept[:] = 0
        return product, diag_coef, diag_intercept
