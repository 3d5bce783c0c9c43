"""The estimator skeleton that MaxEntClassifier, DaskMaxEntClassifier and MaxEntClassifierCV share.

:class:`MaxEntBase` holds what each of them would otherwise repeat: the
parameters' constraints, the validation of ``X`` and ``y``, the classes,
the fit sequence around the optimizer (warm start, prior, the callbacks'
task, the solver, the finite check, the solution, the convergence warning)
and the fitted attributes a model is made of. A parameter is declared once,
in :data:`PARAMETER_CONSTRAINTS`; an estimator repeats only its signature
and docstring, which scikit-learn reads from its own ``__init__``.
"""

import warnings
from contextlib import contextmanager, nullcontext
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._callbacks import end_fit_task, fit_task
from ._optim import all_finite, minimize
from ._targets import check_soft_labels, one_hot, sorted_labels

# The constraints of every parameter of the model, whichever estimator takes it.
PARAMETER_CONSTRAINTS = {
    "alpha": [Interval(Real, 0, None, closed="left")],
    "l1_ratio": [Interval(Real, 0, 1, closed="both")],
    "fit_intercept": ["boolean"],
    "solver": [StrOptions({"auto", "sgd", "saga", "lbfgs", "newton-cd"})],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"auto", "adaptive", "constant", "invscaling", "optimal", "adagrad"})],
    "eta0": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left"), None],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "verbose": ["verbose"],
    "average": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left"), "boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    "penalty_factor": ["array-like", None],
    "bounds": [tuple, list, None],
    "coef_prior": ["array-like", None],
}

# The fitted attributes a model is made of, whichever estimator fitted it: what
# DaskMaxEntClassifier.to_local hands to a MaxEntClassifier (feature_names_in_ where X had names).
MODEL_ATTRIBUTES = (
    "classes_",
    "class_count_",
    "coef_",
    "intercept_",
    "n_iter_",
    "loss_curve_",
    "best_loss_",
    "duality_gap_",
    "n_features_in_",
    "feature_names_in_",
)


def is_soft(y):
    """Whether ``y`` holds soft labels: 2-D with more than one column (one column is a label vector)."""
    shape = y.shape if sparse.issparse(y) else np.asarray(y).shape
    return len(shape) == 2 and shape[1] > 1


def _is_text(value):
    return isinstance(value, (str, bytes))


def check_numeric_features(X):
    """Reject text features, which ``validate_data`` would silently parse as numbers ("1.5" -> 1.5).

    Object arrays of numbers (and pandas object columns of numbers) stay
    accepted, as in scikit-learn; only str/bytes values are an error.
    """
    if sparse.issparse(X) or X is None:
        return
    if hasattr(X, "dtypes") and hasattr(X, "columns"):  # a DataFrame: check its non-numeric columns
        columns = [
            name
            for name, dtype in zip(X.columns, X.dtypes, strict=True)
            if getattr(dtype, "kind", "O") in "OSU" and any(map(_is_text, X[name].to_numpy()))
        ]
        if columns:
            raise ValueError(
                f"MaxEntClassifier needs numeric features, but columns {columns[:5]} of X hold strings; "
                "encode them first (e.g. OneHotEncoder)."
            )
        return
    array = X
    if isinstance(X, (list, tuple)):
        try:
            array = np.asarray(X)
        except ValueError:  # ragged: validate_data says so
            return
    kind = getattr(getattr(array, "dtype", None), "kind", None)
    if kind in ("S", "U") or (kind == "O" and any(map(_is_text, np.ravel(array)))):
        raise ValueError(
            f"MaxEntClassifier needs numeric features, but X holds strings (dtype {array.dtype}); "
            "convert them to numbers or encode them first (e.g. OneHotEncoder)."
        )


@contextmanager
def atomic_fitted_state(estimator):
    """Restore the estimator's fitted attributes if the block raises.

    Validation sets ``n_features_in_`` and ``feature_names_in_`` before the
    optimizer runs; a failure (or ``KeyboardInterrupt``) after that must not
    leave a half-updated model behind.
    """
    saved = {k: v for k, v in vars(estimator).items() if k.endswith("_") and not k.startswith("__")}
    try:
        yield
    except BaseException:
        for key in [k for k in vars(estimator) if k.endswith("_") and not k.startswith("__")]:
            if key not in saved:
                delattr(estimator, key)
        vars(estimator).update(saved)
        raise


@contextmanager
def overflow_is_an_error(advice):
    """Turn a floating-point overflow or invalid operation in the optimizer into a clear error.

    Non-finite intermediate values would otherwise end as NaN or useless
    weights, with numpy's ``RuntimeWarning`` as the only sign. ``advice()``
    says what to do about it.
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            yield
    except FloatingPointError as error:
        raise FloatingPointError(
            f"Floating-point error while fitting ({error}); the model was not updated. " + advice()
        ) from error


def check_finite_model(coef, intercept, advice=None):
    """A ``FloatingPointError`` for non-finite weights, before they are stored (``advice()`` appended)."""
    if not (all_finite(coef) and all_finite(intercept)):
        raise FloatingPointError(
            "The optimizer produced non-finite weights; the model was not updated."
            + ("" if advice is None else " " + advice())
        )


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


class MaxEntBase(BaseEstimator):
    """What the estimators of the model share; each subclass adds ``fit`` and the predictions.

    A subclass's ``_parameter_constraints`` are those of
    :data:`PARAMETER_CONSTRAINTS` for the parameters of its ``__init__``,
    but where it (or a parent) declares its own.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = {**PARAMETER_CONSTRAINTS, **getattr(cls, "_parameter_constraints", {})}
        cls._parameter_constraints = {
            name: declared[name] for name in cls._get_param_names() if name in declared
        }

    def _model_params(self):
        """This estimator's parameters that ``MaxEntClassifier`` takes, as set."""
        return {
            name: value
            for name, value in self.get_params(deep=False).items()
            if name in PARAMETER_CONSTRAINTS
        }

    # ------------------------------------------------------------ input

    def _validate_X_y(self, X, y, reset=True):
        """Validated ``X`` and ``y``, and whether ``y`` holds soft labels (one column per class).

        A 2-D ``y`` with one column stays a label vector (with scikit-learn's
        ``DataConversionWarning``); with more columns it is soft labels.
        """
        check_numeric_features(X)
        soft = is_soft(y)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            multi_output=soft,
            y_numeric=soft,
        )
        if soft:
            return X, check_soft_labels(y, X.dtype), True
        try:
            check_classification_targets(y)
        except TypeError:  # labels that cannot be sorted: say so
            sorted_labels(y)
            raise
        return X, y, False

    def _validate_X(self, X):
        """``X`` to predict on, validated against the fit (feature count and names)."""
        check_numeric_features(X)
        return validate_data(self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32])

    def _classes_and_targets(self, y, soft):
        """A fit's classes (at least two; ``arange(n_classes)`` for soft labels) and targets of ``y``."""
        classes = self._soft_classes(y) if soft else sorted_labels(y)
        self._check_two_classes(classes)
        return classes, y if soft else one_hot(y, classes)

    @staticmethod
    def _soft_classes(Y):
        return np.arange(Y.shape[1])

    def _check_two_classes(self, classes):
        if classes.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {classes.tolist()[0]!r}."
            )

    # ------------------------------------------------------------ fit sequence

    def _fit_model(self, objective, prior, classes, hook_data, attributes, advice=None, **options):
        """Minimize ``objective`` from the warm start; the solution, the solver's result and the task.

        ``hook_data`` is ``(X, y, sample_weight)`` for the callbacks, ``attributes(coef, intercept)``
        the fitted attributes of a solution they may ask for, and ``advice()`` what to do about a
        floating-point failure (None: no errors raised on overflow, a plain message on
        non-finite weights). ``options`` go to :func:`~sklearn_maxent._optim.minimize`.
        """
        coef, intercept = warm_start_parameters(self, objective.parameter_shape, classes, objective.dtype)
        coef = prior.start(coef, objective.penalty)

        def solution(coef):
            return prior.to_solution(coef, objective.penalty, objective.reference_class)

        task = fit_task(
            self,
            self.max_iter + 1,  # one more: L-BFGS-B's evaluations after its last iteration
            *hook_data,
            lambda coef, intercept: attributes(solution(coef), intercept),
        )
        with nullcontext() if advice is None else overflow_is_an_error(advice):
            result = minimize(
                objective,
                coef,
                intercept,
                max_iter=self.max_iter,
                tol=self.tol,
                monitor=task[1],
                verbose=self.verbose,
                **options,
            )
        check_finite_model(coef, intercept, advice)
        return solution(coef), intercept, result, task

    def _end_fit(self, task, result, stacklevel):
        """End the fit's task, and warn (at ``stacklevel`` from the caller) if it did not converge."""
        stopped_by_callback = end_fit_task(self, *task)
        if self.verbose:
            print(f"-- Certified relative gap: {self.duality_gap_:.3g}")
        if not (result.converged or stopped_by_callback):
            warnings.warn(self._not_converged_message(result), ConvergenceWarning, stacklevel=stacklevel + 1)
        return self

    def _not_converged_message(self, result):
        reached = (
            f"the largest gradient entry above tol={self.tol} (no certificate exists: alpha=0, or "
            "penalty_factor leaves unbounded features unpenalized)"
            if np.isnan(result.gap)
            else f"a certified relative gap (J - J*) / J* of {result.gap:.3g}, above tol={self.tol}"
        )
        why = (
            f"after {result.n_iter} iterations, the most max_iter={self.max_iter} allows"
            if result.n_iter >= self.max_iter
            else "where its progress stalled"
        )
        return (
            f"{type(self).__name__} failed to converge: it stopped {why}, at {reached}; "
            "increase max_iter or tol"
            + (", or try solver='auto'." if self.solver in ("sgd", "saga") else ".")
        )

    # ------------------------------------------------------------ fitted attributes

    def _attributes_of(self, classes, coef, intercept):
        """``classes_``, ``coef_`` and ``intercept_`` of the optimizer's model ``coef``, ``intercept``.

        ``coef_`` is a view of ``coef``, which the optimizers hand over (never
        to be changed again): transposing a text model's weights into a new
        array cost more than a ``partial_fit`` chunk's steps, and predictions
        and the next ``partial_fit`` read them in ``coef``'s layout.
        """
        if self.fit_intercept and classes.size > 2:
            intercept = intercept - intercept.mean()
        return {"classes_": classes, "coef_": coef.T, "intercept_": intercept}

    def _store_model(self, classes, class_count, coef, intercept, result):
        """The fitted attributes of :data:`MODEL_ATTRIBUTES` but the features', from a solver's result."""
        vars(self).update(self._attributes_of(classes, coef, intercept))
        self.class_count_ = class_count
        self.n_iter_ = int(result.n_iter)
        self.loss_curve_ = [float(v) for v in result.loss_curve]
        self.best_loss_ = min(self.loss_curve_, default=None)
        self.duality_gap_ = float(result.gap)
