"""Where training starts: zeros, or a previous fit's dense ``coef_`` and ``intercept_``.

Shared by :class:`~sklearn_maxent.MaxEntClassifier` (``fit`` with
``warm_start``, ``partial_fit``) and
:class:`~sklearn_maxent.dask.DaskMaxEntClassifier`; it imports nothing of the
package.
"""

import numpy as np
from scipy import sparse


def warm_start_parameters(estimator, shape, classes, dtype):
    """Zeros of ``shape`` (and intercepts), or with ``warm_start`` the previous solution.

    As in ``SGDClassifier``, a warm start whose classes or number of features
    differ from the previous fit is a ``ValueError``, not a silent cold start.
    """
    if not (estimator.warm_start and hasattr(estimator, "coef_")):
        return np.zeros(shape, dtype=dtype), np.zeros(shape[1], dtype=dtype)
    check_dense_coef(estimator, "fit with warm_start=True")
    if estimator.coef_.shape[1] != shape[0] or not np.array_equal(estimator.classes_, classes):
        raise ValueError(
            f"warm_start=True continues the previous fit, on {estimator.coef_.shape[1]} features and "
            f"classes {estimator.classes_.tolist()}, but the data has {shape[0]} features and classes "
            f"{classes.tolist()}; set warm_start=False to start afresh."
        )
    return estimator.coef_.T.astype(dtype, order="C"), estimator.intercept_.astype(dtype)


def check_dense_coef(estimator, call):
    """A ``ValueError`` for continuing training from a sparsified ``coef_``.

    As in scikit-learn, where ``partial_fit`` and a warm-started ``fit`` of
    ``SGDClassifier`` do not work after ``sparsify()``: training updates
    dense weights, and densifying silently would undo the user's choice.
    """
    if sparse.issparse(estimator.coef_):
        raise ValueError(f"coef_ is a sparse matrix (sparsify() was called); call densify() before {call}.")
