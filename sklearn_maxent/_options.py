"""The user's penalty factors, bounds, prior model and score offsets: checked, in the optimizer's shapes.

Shared by :class:`~sklearn_maxent.MaxEntClassifier` and
:class:`~sklearn_maxent.dask.DaskMaxEntClassifier`; it imports only the
penalty. The user gives them in ``coef_``'s shape, (n_free, n_features)
with ``n_free`` 1 for two classes (the score of ``classes_[1]``) and
``n_classes`` otherwise; the optimizer's ``W`` is its transpose.

A prior model ``W0`` is a change of variables, not a penalty of its own:
with ``W = W0 + D``,

    CE(X W + b + o) + g(W - W0)  =  CE(X D + b + (o + X W0)) + g(D),

so every solver (the compiled SGD and SAGA epochs included) fits ``D`` on
scores offset by ``X W0``, within the bounds shifted by ``-W0``, and the
model is ``W0 + D`` (:class:`Prior`). An all-zero prior, all-one factors
and infinite bounds are dropped, so they give today's model bit for bit.
"""

import numpy as np

from ._model._penalty import ElasticNet, clip_into


def check_penalty_factor(penalty_factor, n_features):
    """``penalty_factor`` as float64 of shape (n_features,), or None where it is all ones (or None)."""
    if penalty_factor is None:
        return None
    factor = np.asarray(penalty_factor, dtype=np.float64)
    if factor.shape != (n_features,):
        raise ValueError(
            f"penalty_factor must have one entry per feature, shape ({n_features},); "
            f"got shape {factor.shape}."
        )
    if not (np.isfinite(factor).all() and (factor >= 0).all()):
        raise ValueError("penalty_factor must be finite and non-negative (0 leaves a feature unpenalized).")
    return None if (factor == 1).all() else factor


def check_bounds(bounds, coef_shape):
    """``bounds`` as ``(lower, upper)`` of ``W``'s shape (the transpose of ``coef_shape``), each or None.

    Each side is None, a scalar or an array broadcastable to ``coef_``'s
    shape; ``-inf`` / ``inf`` entries mean no bound, and a side with none is
    None.
    """
    if bounds is None:
        return None, None
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise ValueError(
            f"bounds must be a pair (lower, upper), each None, a scalar or an array; got {bounds!r}."
        )
    sides = []
    for name, side, unbounded in (("lower", bounds[0], -np.inf), ("upper", bounds[1], np.inf)):
        if side is None:
            sides.append(None)
            continue
        values = np.asarray(side, dtype=np.float64)
        try:
            values = np.broadcast_to(values, coef_shape)
        except ValueError:
            raise ValueError(
                f"The {name} bound of shape {values.shape} does not broadcast to coef_'s shape {coef_shape}."
            ) from None
        if np.isnan(values).any() or (values == -unbounded).any():
            raise ValueError(f"The {name} bound must not be NaN nor {-unbounded}.")
        sides.append(None if (values == unbounded).all() else np.ascontiguousarray(values.T))
    lower, upper = sides
    if lower is not None and upper is not None and (lower > upper).any():
        feature, row = np.argwhere(lower > upper)[0]
        raise ValueError(f"bounds: lower > upper for coef_[{row}, {feature}]; every lower must be <= upper.")
    return lower, upper


def check_coef_prior(coef_prior, coef_shape):
    """``coef_prior`` as float64 of ``W``'s shape, or None where it is all zeros (or None)."""
    if coef_prior is None:
        return None
    prior = np.asarray(coef_prior, dtype=np.float64)
    if prior.shape != coef_shape:
        raise ValueError(f"coef_prior must have coef_'s shape {coef_shape}; got shape {prior.shape}.")
    if not np.isfinite(prior).all():
        raise ValueError("coef_prior must be finite.")
    return None if not prior.any() else np.ascontiguousarray(prior.T)


def check_offset(offset, n_samples, n_classes, dtype):
    """The score offset per row as ``(n_samples, n_free)`` in ``dtype``, or None.

    ``(n_samples, n_classes)``: one per class. For two classes the model has
    one score, ``classes_[1]``'s against ``classes_[0]``'s: an offset of shape
    ``(n_samples,)`` is added to it, and one of ``(n_samples, 2)`` adds the
    difference of its columns.
    """
    if offset is None:
        return None
    values = np.asarray(offset)
    check_offset_dtype(values.dtype)
    check_offset_shape(values.shape, n_samples, n_classes)
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("offset must be finite (no NaN or infinity).")
    if n_classes == 2:
        values = values.reshape(n_samples, -1)
        values = values[:, 1:] - values[:, :1] if values.shape[1] == 2 else values
    return np.ascontiguousarray(values, dtype=dtype)


def check_offset_dtype(dtype):
    """A ``TypeError`` unless an offset of ``dtype`` holds real numbers."""
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"offset must be an array of real numbers; got dtype {dtype}.")


def check_offset_shape(shape, n_samples, n_classes):
    """A ``ValueError`` unless ``shape`` is one :func:`check_offset` takes."""
    shapes = [(n_samples, n_classes)] + ([(n_samples,), (n_samples, 1)] if n_classes == 2 else [])
    if tuple(shape) not in shapes:
        raise ValueError(
            f"offset must have shape {' or '.join(map(str, shapes))} for {n_samples} samples and "
            f"{n_classes} classes; got shape {tuple(shape)}."
        )


class Prior:
    """The change of variables ``W = W0 + D`` of a prior model ``W0``, and the bounds on ``W``.

    Parameters
    ----------
    coef : ndarray of shape (n_features, n_free) or None
        ``W0``, from :func:`check_coef_prior`; None for none (the identity).
    lower, upper : ndarray of shape (n_features, n_free) or None
        The bounds on ``W``, from :func:`check_bounds`.
    """

    def __init__(self, coef, lower, upper):
        self.coef = coef
        self.lower = lower
        self.upper = upper

    @classmethod
    def checked(cls, coef_prior, bounds, n_features, n_classes):
        """The estimators' ``coef_prior`` and ``bounds``, checked for ``n_features`` and ``n_classes``."""
        coef_shape = (1 if n_classes == 2 else n_classes, n_features)
        return cls(check_coef_prior(coef_prior, coef_shape), *check_bounds(bounds, coef_shape))

    def penalty(self, alpha, l1_ratio, factor):
        """The penalty on ``D``, within the bounds shifted by ``-W0``."""
        lower, upper = self.lower, self.upper
        if self.coef is not None:
            lower = None if lower is None else lower - self.coef
            upper = None if upper is None else upper - self.coef
        return ElasticNet(alpha, l1_ratio, factor, lower, upper)

    def offset(self, X, offset, dtype):
        """The scores' offset for ``D``: ``offset + X W0`` (one product), or ``offset`` as it is."""
        if self.coef is None:
            return offset
        prior_scores = np.asarray(X @ self.coef.astype(dtype))
        return prior_scores if offset is None else prior_scores + offset

    def to_difference(self, coef):
        """``D = W - W0`` of a model ``W`` (a warm start), in ``coef``'s dtype."""
        return coef if self.coef is None else (coef - self.coef).astype(coef.dtype)

    def start(self, coef, penalty):
        """``D`` of a starting model ``coef``; a ``ValueError`` where it is outside the bounds.

        ``penalty`` is :meth:`penalty`'s, with the bounds on ``D``. A cold
        start (all zeros) is projected on them: only a model the user made (a
        warm start, or ``partial_fit``'s last one) can be infeasible, and
        changing it silently would hide the change of bounds.
        """
        difference = self.to_difference(coef)
        if not penalty.bounded:
            return difference
        if coef.any() and not np.array_equal(penalty.project(difference.copy()), difference):
            raise ValueError(
                "The model to continue from (warm_start=True, or an earlier partial_fit) lies outside "
                "bounds; fit from scratch (warm_start=False), or widen the bounds."
            )
        return penalty.project(difference)

    def to_solution(self, difference, penalty, reference_class):
        """``W`` of a solver's solution ``D``: canonically shifted (see ``coef_``), then :meth:`to_model`.

        Without a reference class, shifts of a feature's weights common to
        all classes may leave the objective unchanged;
        ``penalty.canonical_shift`` picks one solution among them.
        """
        if not reference_class:
            difference = penalty.canonical_shift(difference)
        return self.to_model(difference)

    def to_model(self, difference):
        """``W = W0 + D``, in ``difference``'s dtype, within the bounds (``W0 + D`` may round out of them)."""
        if self.coef is None:
            return difference
        return clip_into((difference + self.coef).astype(difference.dtype), self.lower, self.upper)
