"""The dual point's balanced rows in one call, as the package computes them in steps.

``Q = (1 - t) (P - d) + t * ybar`` with ``ybar = sum_i w_i Y_i``, ``d = sum_i w_i P_i - ybar``
(the intercept's gradient) and the smallest ``t`` in [0, 1] that makes every entry
non-negative: rows on the simplex near ``P`` whose weighted mean is ``ybar``.
"""

from sklearn_maxent._model._duality import balance, balanced


def balanced_expectations(proba, targets, row_weights):
    """``Q`` of ``proba`` (n_samples, n_classes) for ``targets`` and ``row_weights`` (summing to one)."""
    return balanced(proba, *balance(proba, targets, row_weights))
