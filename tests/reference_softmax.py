"""The weighted cross-entropy and its gradient in the scores, from the package's one-pass kernel.

The gradient of ``-log P_y`` in the scores ``S`` is ``P - Y`` (equation 12 with the sign of
equation 13); the kernel makes the loss and the residual from one exponentiation per row.
"""

import numpy as np

from sklearn_maxent._model._softmax import _cross_entropy_residual


def cross_entropy_and_residual(scores, targets, sample_weight):
    """``sum_i s_i CE_i`` and the residual ``s_i (P_i - Y_i)`` (a new array) of ``scores``."""
    residual = np.array(scores, order="C")
    intercept = np.zeros(residual.shape[1], scores.dtype)
    loss = _cross_entropy_residual(residual, intercept, targets, sample_weight, False)
    return loss, residual
