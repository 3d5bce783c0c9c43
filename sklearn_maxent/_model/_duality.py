"""The dual of the training objective, and the certified gap the solvers stop on.

Row ``i``'s cross-entropy as a function of its scores is
``f_i(s) = log sum_k exp(s_k) - <Y_i, s>``, and the training problem is
``J* = min_{W, b} sum_i w_i f_i(x_i W + b) + g(W)`` with row weights ``w_i``
summing to one and ``g`` the elastic-net penalty. The conjugate of
log-sum-exp is the negative entropy on the simplex, so the Fenchel dual, with
one probability row ``Q_i`` per sample and ``V = w (Q - Y)``, is

    D(Q) = sum_i w_i H(Q_i) - g*(-X^T V),   each Q_i on the simplex, and sum_i V_i = 0

(the last constraint comes from the unpenalized intercept, so only with
one). It is the maximum-entropy problem itself: the entropy of the model's
expectations less a price, the penalty's conjugate, on the gap
``X^T V = E_est - E_obs`` between expected and observed feature counts.

Weak duality gives ``D(Q) <= J*`` for every feasible ``Q``, so

    (J(W, b) - J*) / J*  <=  (J(W, b) - D(Q)) / D(Q)     whenever D(Q) > 0:

a bound on the relative suboptimality that needs neither ``J*`` nor any
curvature constant. At the optimum the probabilities ``P`` are the dual
solution (strong duality), so a ``Q`` built from the current ``P`` makes the
bound go to zero as a solver converges:

* with an intercept, ``P``'s weighted mean must equal the targets' (the
  intercept's gradient vanishes only at the optimum): ``Q`` shifts every row
  of ``P`` by the difference of the means, and mixes in the targets' mean
  where that shift would leave the simplex (:func:`balance`, :func:`balanced`);
* without an L2 part the conjugate is finite only where ``|X^T V| <= l1``:
  ``V`` is scaled down, ``Q`` mixed with ``Y``, until it is;
* without any penalty no ``Q`` off the optimum is feasible: no certificate.

Without the intercept correction the gap equals ``||grad_W J||^2 / (2 l2)``
exactly (for an L2 penalty): the bound is the gradient-norm bound of an
``l2``-strongly convex function, computed without knowing anything else.

Everything here is a pure function of arrays, in float64 (the caller converts
the scores) but for the product ``X^T V``, made in the data's dtype. The
row-wise steps of :func:`dual_point_from_gradient` (:func:`balance`,
:func:`balanced`, :func:`entropy`) work in the namespace of the
probabilities they are given, so that device data (:mod:`~sklearn_maxent._array_api._device`)
is reduced where it lives; only per-class sums cross to NumPy
(:func:`~sklearn_maxent._array_api._host.to_numpy`). For that this module
uses scikit-learn's array API helpers (``array_api_compat``, ``_xlogy``),
the model's only import of scikit-learn. For
float32 data the bound therefore holds up to float32 rounding of the scores
and of that product, about 1e-7 of them: ten times below the default tol.
"""

import numpy as np
from scipy.linalg import get_blas_funcs
from scipy.special import xlogy
from sklearn.externals.array_api_compat import array_namespace
from sklearn.utils._array_api import _xlogy

from .._array_api._host import to_numpy
from ._softmax import _transpose_product, cross_entropy, softmax

# Golden-section search for the best scale of the dual point (best_scaled_dual): the inverse
# golden ratio, and the interval, relative to its length, at which the search stops.
_GOLDEN = (5.0**0.5 - 1.0) / 2.0  # a Python float: a NumPy scalar would pull device arrays to NumPy
_SEARCH_TOL = 1e-3


def entropy(proba):
    """Row-wise Shannon entropy ``-sum_k P_k log P_k`` (with ``0 log 0 = 0``), in ``proba``'s namespace."""
    if isinstance(proba, np.ndarray):
        return -xlogy(proba, proba).sum(axis=1)
    xp = array_namespace(proba)
    return -xp.sum(_xlogy(proba, proba, xp=xp), axis=1)


def balance(proba, targets, row_weights):
    """``(observed, shift, share)`` of the rows :func:`balanced` makes: ``ybar = sum_i w_i Y_i``,
    ``d = sum_i w_i P_i - ybar`` (the intercept's gradient) and ``t`` (:func:`share_needed`)."""
    observed = row_weights @ targets
    shift = row_weights @ proba - observed
    return observed, shift, share_needed(proba, observed, shift)


def share_needed(proba, observed, shift):
    """The smallest ``t`` in [0, 1] with ``(1 - t) (P - shift) + t * observed >= 0`` in every entry."""
    shifted = proba - shift
    negative = shifted < 0
    if isinstance(shifted, np.ndarray):  # boolean masks: no full-size temporaries
        if not negative.any():
            return 0.0
        below = shifted[negative]
        mean = np.broadcast_to(observed, shifted.shape)[negative]
        return float(np.max(-below / (mean - below)))
    xp = array_namespace(proba)
    if not bool(xp.any(negative)):
        return 0.0
    ones = xp.ones_like(shifted)
    room = xp.where(negative, observed - shifted, ones)  # > 0 where negative: observed >= 0
    return float(xp.max(xp.where(negative, -shifted / room, 0 * ones)))


def balanced(proba, observed, shift, share):
    """``Q = (1 - share) (P - shift) + share * observed``, clipped at 0 against the mix's rounding.

    With :func:`balance`'s values, rows on the simplex near ``P`` whose weighted mean is the
    targets': both terms have that mean and rows summing to one. The steps are separate so that
    data split over workers can compute ``shift`` and ``share`` as global sums and maxima.
    """
    expected = (1.0 - share) * (proba - shift) + share * observed
    if isinstance(expected, np.ndarray):
        return np.maximum(expected, 0.0, out=expected)
    return array_namespace(expected).clip(expected, min=0.0)


def expectation_terms(X, expected, targets, row_weights, reference_class, offset=None):
    """``sum_i w_i H(Q_i)`` (with the ``offset``'s term, :func:`data_conjugate_sum`) and ``X^T V``.

    ``V = w (Q - Y)``: these are the sums the dual value is made of.
    """
    residual = row_weights[:, None] * (expected - targets)
    residual = np.ascontiguousarray(residual[:, 1:] if reference_class else residual, dtype=X.dtype)
    entropy_sum = data_conjugate_sum(expected, targets, row_weights, offset)
    return entropy_sum, _transpose_product(X, residual).astype(np.float64)


def dual_value(entropy_sum, expectation_gap, penalty):
    """``D = sum_i w_i H(Q_i) - g*(-X^T V)`` from the sums of :func:`expectation_terms`.

    ``entropy_sum`` includes the offset's term where the scores have one
    (:func:`data_conjugate_sum`).
    """
    return entropy_sum - penalty.conjugate(-expectation_gap)


def primal_dual(X, scores, targets, row_weights, penalty, coef, fit_intercept, reference_class):
    """``J(W, b)`` and the dual value ``D(Q)`` of the point built from its probabilities.

    Parameters
    ----------
    X : ndarray, sparse matrix or ThreadedCSR of shape (n_samples, n_features)
        In its own dtype: the one product here, ``X^T V``, is made in it.
    scores : ndarray of shape (n_samples, n_classes), float64
        ``X W + b`` with the reference class's zero column, if any.
    targets : ndarray of shape (n_samples, n_classes), float64
    row_weights : ndarray of shape (n_samples,), float64
        Non-negative, summing to one.
    penalty : ElasticNet
    coef : ndarray of shape (n_features, n_free), float64
    fit_intercept, reference_class : bool

    Returns
    -------
    primal : float
    dual : float
        A lower bound of ``J*``; nan without a penalty (no certificate).
    """
    primal = cross_entropy(scores, targets, row_weights) + penalty.value(coef)
    proba = softmax(scores)
    expected = balanced(proba, *balance(proba, targets, row_weights)) if fit_intercept else proba
    _, expectation_gap = expectation_terms(X, expected, targets, row_weights, reference_class)
    return primal, best_scaled_dual(expected, targets, row_weights, expectation_gap, penalty)


def data_conjugate_sum(expected, targets, row_weights, offset=None):
    """``sum_i w_i (H(Q_i) + <Q_i - Y_i, o_i>)``: minus the data terms' conjugates at ``V``.

    With scores offset by ``o_i`` (the free columns of the scores), row
    ``i``'s loss is ``f_i(s + o_i)``, whose conjugate at ``v`` is
    ``f_i*(v) - <v, o_i>``: the offset adds a linear term to the dual.
    """
    total = float(row_weights @ entropy(expected))
    if offset is not None:
        free = slice(expected.shape[1] - offset.shape[1], None)
        difference = (expected[:, free] - targets[:, free]) * row_weights[:, None]
        total += float(np.vdot(difference, offset.astype(np.float64, copy=False)))
    return total


def dual_point_from_gradient(
    proba,
    targets,
    row_weights,
    gradient,
    column_means,
    observed_moments,
    penalty,
    fit_intercept,
    offset=None,
    screened=None,
):
    """``D(Q)`` as :func:`primal_dual` builds it, with ``X^T V`` from the gradient instead of a product,
    and the point's correlations ``X^T V`` (float64).

    ``Q = (1 - t) (P - d) + t ybar`` is affine in ``P``, so
    ``X^T w (Q - Y) = (1 - t) (X^T w (P - Y) - xbar d^T) + t (xbar ybar^T - X^T w Y)``:
    the data gradient the solver has, ``xbar = X^T w`` and the observed
    moments ``X^T w Y``, both fixed for the data. Scaling ``V`` scales it.

    Parameters
    ----------
    proba, targets : ndarray of shape (n_samples, n_classes), float64
    row_weights : ndarray of shape (n_samples,), float64
    gradient : ndarray of shape (n_features, n_free)
        ``X^T w (P - Y)`` (free columns), the data term's gradient.
    column_means : ndarray of shape (n_features,)
        ``X^T w``.
    observed_moments : ndarray of shape (n_features, n_free)
        ``X^T w Y`` (free columns).
    penalty : ElasticNet
    fit_intercept : bool
    offset : ndarray of shape (n_samples, n_free) or None
        The scores' offset (:func:`data_conjugate_sum`).
    screened : ndarray of bool of shape (n_features,) or None
        Features proved zero at the optimum (:func:`screened_features`): the dual of the
        problem without them, whose optimum is the same, drops their constraints, so their
        rows of ``gradient`` are ignored (taken as 0, whatever they hold).

    Returns
    -------
    value : float
        nan without a penalty.
    correlations : ndarray of shape (n_features, n_free)
        ``X^T V`` of the point whose value it is (the best scale's); 0 on screened rows.
    """
    free = slice(proba.shape[1] - gradient.shape[1], None)  # the reference class's column is not free
    # In place: on text data the arrays of coef_'s size (2**18 x 20) cost as much as the products.
    expected, gap = proba, np.array(gradient, dtype=np.float64, order="C")
    if screened is not None:
        gap[screened] = 0
    if fit_intercept:
        observed, shift, share = balance(proba, targets, row_weights)
        expected = balanced(proba, observed, shift, share)
        observed, shift = to_numpy(observed), to_numpy(shift)
        column_means = np.asarray(column_means, dtype=np.float64)
        _add_outer(gap, -1.0, column_means, shift[free])
        if share > 0:
            gap *= 1.0 - share
            _add_outer(gap, share, column_means, observed[free])
            gap -= share * observed_moments
        if screened is not None:
            gap[screened] = 0
    value, scale = best_scaled_dual(expected, targets, row_weights, gap, penalty, offset, with_scale=True)
    gap *= scale
    return value, gap


def _add_outer(matrix, scale, column, row):
    """``matrix += scale * outer(column, row)`` in place (C-ordered float64 ``matrix``): BLAS's rank-one
    update, where NumPy's ``outer`` makes a temporary of a text model's size (200,000 x 45)."""
    ger = get_blas_funcs("ger", (matrix,))
    ger(scale, np.asarray(row, dtype=np.float64), column, a=matrix.T, overwrite_a=True)


def best_scaled_dual(expected, targets, row_weights, expectation_gap, penalty, offset=None, with_scale=False):
    """The best dual value on the segment ``c Q + (1 - c) Y``, ``0 < c <= 1`` (:func:`scaled_dual`).

    With ``with_scale``, ``(value, c)``: the point's ``X^T V`` is ``c * expectation_gap``.
    """
    return scaled_dual(
        lambda c: data_conjugate_sum(mixed(expected, targets, c), targets, row_weights, offset),
        expectation_gap,
        penalty,
        with_scale,
    )


def mixed(expected, targets, c):
    """``c Q + (1 - c) Y``: a dual point on the segment from the targets to ``Q``."""
    return expected if c == 1 else c * expected + (1.0 - c) * targets


def scaled_dual(entropy_at, expectation_gap, penalty, with_scale=False):
    """``max_c D(c)`` over the segment ``Q(c) = c Q + (1 - c) Y``, ``0 < c <= 1``, or nan.

    ``entropy_at(c)`` is :func:`data_conjugate_sum` at ``Q(c)``, and ``X^T V`` scales with
    ``c``. Every point of the segment is feasible up to the penalty's
    :meth:`~sklearn_maxent._model._penalty.ElasticNet.feasible_scale`, and ``D`` is concave along it
    (entropy concave, the conjugate convex). Far from the optimum with a weak L2 part,
    ``D(1) = H - ||X^T V||^2 / (2 l2)`` is negative (no certificate at all), while a small
    ``c`` keeps most of the entropy at a fraction of the price: the bound is finite from the
    first epoch. Near the optimum ``c = 1`` is best, found in two evaluations. nan without a
    penalty (no feasible point but ``Y``'s own). With ``with_scale``, ``(value, c)`` (c nan
    with the value).
    """
    upper = penalty.feasible_scale(expectation_gap)
    if upper == 0:
        return (np.nan, np.nan) if with_scale else np.nan
    if penalty.quadratic:  # conjugate(c z) = c^2 conjugate(z): one pass over coef's size, not one a point
        price = penalty.conjugate(-expectation_gap)
        best = _concave_maximum(lambda c: entropy_at(c) - c * c * price, upper)
    else:
        best = _concave_maximum(lambda c: dual_value(entropy_at(c), c * expectation_gap, penalty), upper)
    return best if with_scale else best[0]


def _concave_maximum(function, upper):
    """The largest value of a concave ``function`` on ``(0, upper]``, and where, by golden-section search.

    Where ``function`` does not grow towards ``upper`` over its last ``_SEARCH_TOL`` of the
    interval, concavity puts the maximum at ``upper``: two evaluations, the usual case near an
    optimum.
    """
    at_upper = function(upper)
    if at_upper >= function(upper * (1.0 - _SEARCH_TOL)):
        return at_upper, upper
    low, high = 0.0, upper
    left, right = high - _GOLDEN * high, low + _GOLDEN * high
    at_left, at_right = function(left), function(right)
    while high - low > _SEARCH_TOL * upper:
        if at_left < at_right:
            low, left, at_left = left, right, at_right
            right = low + _GOLDEN * (high - low)
            at_right = function(right)
        else:
            high, right, at_right = right, left, at_left
            left = high - _GOLDEN * (high - low)
            at_left = function(left)
    return max((at_upper, upper), (at_left, left), (at_right, right), key=lambda pair: pair[0])


def relative_gap(primal, dual):
    """The certified bound ``(J - D) / D`` on ``(J - J*) / J*``: inf unless ``D > 0``, nan without ``D``."""
    if np.isnan(dual):
        return np.nan
    if not dual > 0:
        return np.inf
    return max(primal - dual, 0.0) / dual


def screened_features(correlations, l1, column_norms, gap, n_classes):
    """Gap-safe screening: the features whose weights are all zero at the optimum, proved from a dual point.

    Ndiaye, Fercoq, Gramfort and Salmon (2017), for the weighted multinomial problem. With
    ``Q_i = Y_i + V_i / w_i`` the data part of ``D`` is ``-sum_i w_i (-H(Q_i))``, and negative
    entropy's Bregman divergence on the simplex, ``KL``, is at least ``||q - p||_1^2 / 2``
    (Pinsker) ``>= ||q - p||_2^2`` (the entries of ``q - p`` sum to zero). So for the dual
    optimum ``V*`` (unique) and any feasible ``V``, concavity of the rest and the optimality
    of ``V*`` over the feasible set give

        sum_i ||V_i - V*_i||^2 / w_i  <=  D(V*) - D(V)  <=  J(W) - D(V) = gap,

    and per class ``(V_i - V*_i)_k^2 <= (K - 1) / K ||V_i - V*_i||^2`` (entries summing to
    zero; with one free column of a binary model the same with ``K = 2``). Cauchy-Schwarz
    with weights ``w_i`` bounds ``|x_j^T (V - V*)_k|`` by ``||x_j||_w r``,
    ``||x_j||_w^2 = sum_i w_i x_ij^2``, ``r = sqrt((K - 1) / K * gap)``. The optimality
    conditions (``-X^T V* in`` the penalty's subdifferential at ``W*``: ``l1_j sign(W*_jk) +
    l2_j W*_jk`` where non-zero, ``[-l1_j, l1_j]`` at zero) then put every ``W*_jk`` at 0
    where ``|x_j^T V*_k| < l1_j``, with or without an L2 part, with an offset or a prior
    model (linear terms of ``D``), and within bounds where they hold 0 (the caller's to
    check). Feature ``j`` is zero in every class if

        max_k |x_j^T V_k| + r ||x_j||_w < l1_j.

    Parameters
    ----------
    correlations : ndarray of shape (n_features, n_free)
        ``X^T V`` of a feasible dual point (:func:`dual_point_from_gradient`).
    l1 : ndarray of shape (n_features,)
        Each feature's L1 strength (0: never screened).
    column_norms : ndarray of shape (n_features,)
        ``||x_j||_w``.
    gap : float
        ``J(W) - D(V)`` for any ``W``: the absolute gap, in ``J``'s units (a weighted mean).
    n_classes : int
        ``K``, the reference class included.

    Returns
    -------
    ndarray of bool of shape (n_features,)
        Nothing where ``gap`` is not finite (no dual point).
    """
    if not np.isfinite(gap):
        return np.zeros(l1.shape, dtype=bool)
    radius = np.sqrt((n_classes - 1) / n_classes * max(gap, 0.0))
    return np.abs(correlations).max(axis=1, initial=0.0) + radius * column_norms < l1
