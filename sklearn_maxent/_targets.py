"""Training targets and row weights, from labels or soft labels, class and sample weights.

The objective trains on one probability row per sample (one-hot for a
label) and one row weight per sample: its sample weight times its class
weight, which the objective normalizes to sum to one (the names are those
of :mod:`~sklearn_maxent._model._objective`). Both estimators make them here from
``y``, ``sample_weight``, ``class_weight`` and ``label_smoothing``:
:class:`~sklearn_maxent.MaxEntClassifier` on the whole data,
:class:`~sklearn_maxent.dask.DaskMaxEntClassifier` on each partition. Both
estimators import this module; it imports nothing of the package.
"""

import numpy as np
from scipy import sparse
from sklearn.utils.class_weight import compute_class_weight

# How far from 1 a row of soft labels may sum (rounding of probabilities saved as text, float32).
SOFT_LABEL_TOLERANCE = 1e-6


def check_soft_labels(Y, dtype):
    """``Y`` as soft labels in ``dtype``: rows non-negative and summing to 1 within 1e-6."""
    if sparse.issparse(Y):
        Y = Y.toarray()
    Y = np.asarray(Y, dtype=np.float64)
    negative = np.flatnonzero((Y < 0).any(axis=1))
    if negative.size:
        raise ValueError(
            f"Soft labels must be non-negative, but {negative.size} rows have negative entries "
            f"(first: row {negative[0]}, {Y[negative[0]].tolist()})."
        )
    sums = Y.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > SOFT_LABEL_TOLERANCE)
    if off.size:
        multilabel = np.isin(Y, (0, 1)).all()
        raise ValueError(
            f"Soft labels must sum to 1 in every row (within {SOFT_LABEL_TOLERANCE:g}), but {off.size} "
            f"rows do not (first: row {off[0]} sums to {sums[off[0]]:.9g})."
            + (
                " This looks like a multilabel indicator matrix: MaxEntClassifier predicts one "
                "class per sample and does not support multilabel targets."
                if multilabel
                else ""
            )
        )
    return Y.astype(dtype)


def sorted_labels(values, what="y"):
    """``np.unique(values)``, with a clear error for labels of types that cannot be ordered."""
    try:
        return np.unique(values)
    except TypeError as error:
        types = sorted({type(v).__name__ for v in np.asarray(values, dtype=object).ravel()})
        raise TypeError(
            f"{what} mixes labels of types {types} that cannot be sorted ({error}); "
            "use labels of one type (e.g. all str)."
        ) from error


def one_hot(y, classes):
    """One-hot targets of labels ``y``; a label outside ``classes`` is a ``ValueError``."""
    unknown = np.setdiff1d(sorted_labels(y), classes)
    if unknown.size:
        raise ValueError(f"y contains labels {unknown.tolist()} that are not in classes {classes.tolist()}.")
    targets = np.zeros((len(y), classes.size))
    targets[np.arange(len(y)), np.searchsorted(classes, y)] = 1
    return targets


def compute_class_weights(class_weight, classes, class_count):
    """The weight of every class in ``classes`` for the ``class_weight`` parameter, or None.

    ``"balanced"`` is ``total / (n_classes * count_k)`` of the weighted class
    counts ``class_count`` (classes not seen weigh 1); a dict must map classes
    to finite, non-negative weights.
    """
    if class_weight is None:
        return None
    if class_weight == "balanced":
        seen = class_count > 0
        class_weights = np.ones(classes.size)
        class_weights[seen] = class_count.sum() / (classes.size * class_count[seen])
        return class_weights
    class_weights = compute_class_weight(class_weight, classes=classes, y=classes)
    if not (np.isfinite(class_weights).all() and (class_weights >= 0).all()):
        raise ValueError(
            f"class_weight must map classes to finite, non-negative weights, got {class_weight!r}."
        )
    return class_weights


def with_class_weights(sample_weight, targets, class_weights):
    """The row weights: ``sample_weight`` times each row's class weight, in its dtype.

    A row's class weight is its target's mean class weight: that of its
    label for one-hot targets. ``class_weights`` None leaves
    ``sample_weight`` as it is.
    """
    if class_weights is None:
        return sample_weight
    return sample_weight * (targets @ class_weights).astype(sample_weight.dtype)


def smoothed_targets(targets, label_smoothing, dtype):
    """``(1 - eps) * targets + eps / n_classes`` in ``dtype``: the targets trained on."""
    return ((1 - label_smoothing) * targets + label_smoothing / targets.shape[1]).astype(dtype)
