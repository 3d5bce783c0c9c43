"""MaxEntClassifier: validation, encoding and the scikit-learn glue.

The estimator validates and encodes its input, builds an
:class:`~sklearn_maxent._model._objective.Objective`, hands it to an optimizer from
:mod:`sklearn_maxent._optim` and stores the result. It does no math itself.
What it shares with the Dask and CV estimators lives in
:mod:`~sklearn_maxent._base` (parameters, validation, the fit sequence,
fitted attributes) and below: :mod:`~sklearn_maxent._targets` (labels,
soft labels, class and sample weights into targets and row weights).
"""

from functools import partial

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._array_api import check_same_namespace, move_to, supported_float_dtypes
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._array_api import _device as on_device
from ._array_api._namespace import (
    check_fitted_namespace,
    fitted_on_host,
    input_namespace,
    on_device_objective,
    to_host,
)
from ._base import (
    MaxEntBase,
    atomic_fitted_state,
    check_dense_coef,
    check_finite_model,
    overflow_is_an_error,
)
from ._callbacks import end_fit_task, fit_task
from ._model._objective import Objective, has_sparse_rows
from ._model._softmax import linear_scores, log_softmax, softmax
from ._optim import SGDState, StepSchedule, sgd
from ._options import Prior, check_offset, check_penalty_factor
from ._targets import (
    compute_class_weights,
    one_hot,
    smoothed_targets,
    sorted_labels,
    with_class_weights,
)

# batch_size="auto" for SAGA: BLAS works better on larger dense blocks, while on sparse rows a
# minibatch mean divides a rare feature's gradient (benchmarks/results/CONSTANTS.md).
_AUTO_BATCH_DENSE = 1024
_AUTO_BATCH_SPARSE = 256
# batch_size="auto" with learning_rate="optimal", whose step grows with the minibatch's rows:
# small minibatches stay stable (benchmarks/results/CONSTANTS.md).
_AUTO_BATCH_OPTIMAL = 16


def _floating_point_advice(X, eta0):
    """What to do about a floating-point failure in fitting, blaming the features only when plausible.

    Feature scale is the plausible cause where a product of four features
    can overflow the dtype (SGD's step-size estimate forms ``||x||^4``):
    magnitudes above about 1e77 in float64, 4e9 in float32. Below that, a
    step set by hand is the next suspect; otherwise the solver failed on
    moderate data, which is a bug to report.
    """
    largest = float(abs(X).max()) if X.shape[0] * X.shape[1] else 0.0
    if largest > float(np.finfo(X.dtype).max) ** 0.25:
        return f"The largest feature magnitude is {largest:.3g}: scale the features (e.g. StandardScaler)."
    if eta0 != "auto":
        return f"The features are moderate (largest magnitude {largest:.3g}): lower eta0={eta0!r}."
    return (
        f"The features are moderate (largest magnitude {largest:.3g}), so scaling them will not help: "
        "this is a numerical failure of the solver; please report it, and try another solver."
    )


class MaxEntClassifier(CallbackSupportMixin, ClassifierMixin, MaxEntBase):
    """Maximum-entropy (softmax, multinomial logistic regression) classifier.

    Minimizes the weighted, penalized cross-entropy

    .. math::

        J(W, b) = \\frac{1}{\\sum_i s_i} \\sum_i s_i \\, CE_i(W, b)
                  + \\alpha \\left(\\frac{1 - \\rho}{2} \\|W\\|_2^2 + \\rho \\|W\\|_1\\right)

    where ``CE_i = -log P(y_i | x_i)``, ``P = softmax(X W + b)``, ``s_i`` is the
    sample weight times the class weight, ``rho`` is ``l1_ratio`` and the
    intercept ``b`` is not penalized. The gradient with respect to the scores
    is ``P - Y``, the model's expectation minus the observed one, so
    ``dJ/dW = X^T (P - Y) / sum(s) + penalty gradient``.

    Normalizing by the sum of the weights (not by ``n_samples``) makes a weight
    of 2 exactly a repeated row, and ``alpha = 1 / (C * sum_i s_i)`` (that is
    ``1 / (C * n_samples)`` for unit weights), with ``l1_ratio=0``, gives
    exactly the model of ``LogisticRegression(C=C)``.

    Beyond that model: per-feature penalties (``penalty_factor``), bounds on
    the weights (``bounds``), a prior model the penalty shrinks towards
    (``coef_prior``), and a per-sample ``offset`` added to the scores, given
    to :meth:`fit`, :meth:`partial_fit` and every prediction method. The
    objective is then

    .. math::

        \\frac{1}{\\sum_i s_i} \\sum_i s_i \\, CE_i(X W + b + o) + \\alpha \\sum_j f_j
        \\left(\\frac{1 - \\rho}{2} \\|W_j - W^0_j\\|_2^2 + \\rho \\|W_j - W^0_j\\|_1\\right)
        \\quad \\text{subject to lower} \\le W \\le \\text{upper},

    with ``W_j`` feature ``j``'s weights, ``f`` the factors, ``W^0`` the prior
    and ``o`` the offset.

    With two classes the model is the logistic one, the softmax with the
    first class's score fixed at 0: ``coef_`` has one row and
    ``decision_function`` one column, as in ``LogisticRegression``.

    Parameters
    ----------
    alpha : float, default=1e-4
        Strength of the penalty, >= 0.
    l1_ratio : float, default=0.0
        Elastic-net mixing, in [0, 1]: 0 is a pure L2 penalty, 1 pure L1.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalized) intercept per class.
    solver : {"auto", "saga", "sgd", "lbfgs", "newton-cd"}, default="auto"
        ``"sgd"``: minibatch SGD only, stopping on the training loss as
        ``SGDClassifier`` does. ``"saga"``: minibatch SAGA only
        (variance-reduced SGD, which converges with a constant step), same
        stopping rule. ``"lbfgs"``: full-batch L-BFGS on the same gradient
        (L-BFGS-B with split weights when ``l1_ratio > 0``) to a gradient of
        1e-4, then Newton-CG steps to ``tol``. ``"newton-cd"``: proximal
        Newton steps (glmnet's scheme): the second-order model of the loss
        plus the penalty minimized by coordinate descent over a working set
        of features, then a line search; the one made for ``l1_ratio > 0``,
        whose exact zeros it sets as it goes (NumPy and scipy.sparse data
        only; it copies ``X`` once, to columns). ``"auto"``: ``"newton-cd"``
        when ``l1_ratio > 0`` (on NumPy or scipy.sparse data); otherwise SAGA
        epochs while each lowers the loss by at least 1 % (on sparse data,
        until two in a row lower it by less than 0.1 %), then as
        ``"lbfgs"``; it skips SAGA when the data make fewer than 10
        minibatches.
    batch_size : int or "auto", default="auto"
        Rows per minibatch; ``"auto"`` is 16 with the ``"optimal"`` schedule
        (whose step grows with the minibatch's rows, which stays stable for
        small minibatches only), else 1024 for dense and 256 for sparse data,
        as measured best for SAGA; at most ``n_samples``. 1 is plain SGD.
    learning_rate : {"auto", "adaptive", "constant", "invscaling", "optimal", "adagrad"}, default="auto"
        Step-size schedule of SGD and SAGA, as in ``SGDClassifier``:
        ``"constant"`` keeps ``eta0``; ``"invscaling"`` uses
        ``eta0 / (t + 1) ** power_t`` with ``t`` the minibatch step count;
        ``"adaptive"`` keeps ``eta0`` while the loss improves and divides it
        by 5 when it stalls for ``n_iter_no_change`` epochs. ``"optimal"``
        (plain SGD and ``partial_fit`` only): ``SGDClassifier``'s, a row's
        step ``1 / (alpha (t0 + s))`` after ``s`` samples, with
        ``t0 = 1 / (alpha eta0)``, so that the model is about the penalized
        mean of all the gradients seen; a minibatch of ``b`` rows takes ``b``
        rows' steps at once, so a chunk of one row moves the model as one
        row of any chunk does, and its iterates are averaged with growing
        weights (see ``average``). ``"auto"``: ``"optimal"`` in
        ``partial_fit`` on scipy.sparse input (the recipe for text streams,
        see :meth:`partial_fit`), ``"adaptive"`` in ``fit`` and on dense arrays;
        the first ``partial_fit`` call decides, the later ones continue its
        schedule. ``"adagrad"``
        (plain SGD and ``partial_fit`` only, not with ``average``): each
        feature's weights take their own step ``eta0 / sqrt(G_j)``, ``G_j``
        the sum of their squared gradients so far (kept across
        ``partial_fit`` calls), so rare features, as words in text, learn as
        fast as frequent ones; the L1 term is then a proximal step per
        feature. Lazy on sparse input: a step still costs the minibatch's
        non-zeros. Whatever the
        schedule, a step is at most ``1 / (2 * alpha * (1 - l1_ratio))``, and
        an epoch that blows the loss up (non-finite, or twice the previous
        epoch's) is undone and retried with a step 10 times smaller.
    eta0 : float or "auto", default="auto"
        Initial step size, > 0 (with ``"optimal"``, a row's). With
        ``learning_rate="adagrad"``, ``"auto"`` is 0.5 (a weight's first move
        along its normalized gradient; 0.3 to 1 did about as well on text
        streams). With ``"optimal"``, ``"auto"`` is ``SGDClassifier``'s
        ``alpha ** -0.25``, at most ``5 / L``, ``L = (||x||^2 + 0.01) / 2``
        the curvature bound of a mean row (0.01: the intercept's scale on
        sparse data, 1 on dense), so that unscaled data start safely.
        Otherwise ``"auto"`` derives it from the data, so no
        tuning is needed: ``1 / L_b`` bounds the curvature of a minibatch
        loss (per sample ``(||x_i||^2 + 1) / 2``, since the softmax Hessian's
        eigenvalues are at most 1/2) and is a safe step; as Bottou recommends,
        1, 2, 4, ... 64 times it are tried for one pass over 20 random
        minibatches and the best is kept. SAGA (``"saga"``, ``"auto"``'s
        first phase) halves a step so chosen, down to ``1 / (3 L_b)``, where
        its epoch loss swings undamped or the gradient its memory holds grows
        over an epoch; a given ``eta0`` is kept.
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.
    max_iter : int, default=1000
        Iterations at most: SGD or SAGA epochs, plus L-BFGS iterations, plus
        Newton steps (each of which runs conjugate gradients on Hessian-vector
        products, each about one pass over the data); with ``"newton-cd"``
        its proximal Newton steps (each up to 100 coordinate-descent sweeps
        over the working set's columns).
    tol : float or None, default=1e-6
        Certified bound on the relative suboptimality ``(J - J*) / J*`` at
        which every solver stops: the fit ends as soon as a duality gap
        proves ``J`` within ``tol`` of the optimum (``duality_gap_``). The
        gap comes from the dual of the max-ent problem, the entropy of a
        point built from the current probabilities less the penalty's
        conjugate of its expectation gap ``E_est - E_obs`` (weak duality: it
        is below ``J*``), and costs one pass over the data per check; solvers
        check only when it may succeed. 1e-6 is about where nothing a user
        observes changes any more: accuracy, log-loss and probabilities to
        about 1e-3 of their own size.
        Two exceptions: with ``alpha=0`` no certificate exists, and ``tol``
        bounds the largest gradient entry instead; and where one pass costs
        at most 1e6 multiply-adds (``n_samples * n_features * n_classes``),
        ``"auto"`` and ``"lbfgs"`` converge to the arithmetic's precision
        anyway, since there it costs less than the fit's overhead and makes
        the result independent of the path (row order, duplicated rows);
        ``"newton-cd"``, whose steps cost up to 100 sweeps, does so where a
        pass costs at most 1e4.
        ``"sgd"`` and ``"saga"`` also stop when stalled (see
        ``n_iter_no_change``); with ``early_stopping`` on the validation
        accuracy instead, which must improve by ``tol``. None: no
        stopping rule, ``"sgd"`` and ``"saga"`` run ``max_iter`` epochs.
    n_iter_no_change : int, default=5
        Epochs without improvement before ``"sgd"`` or ``"saga"`` stops or,
        with ``"adaptive"``, lowers its step. ``"sgd"`` judges the epoch's
        mean loss, which must fall by ``tol`` (as ``SGDClassifier``);
        ``"saga"`` the objective measured by the certificate's pass, which
        must fall at all.
    shuffle : bool, default=True
        Whether to shuffle the rows before every SGD epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling and the step-size estimate.
    warm_start : bool, default=False
        Start ``fit`` from the previous ``coef_`` and ``intercept_`` (which
        needs the same classes and features; otherwise a ``ValueError``). As
        in ``SGDClassifier``, the step-size schedule and ``t_`` start afresh
        in every ``fit``; ``partial_fit`` always continues them.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.
        ``"balanced"`` uses ``n_samples / (n_classes * np.bincount(y))``,
        weighted by the sample weights; in ``partial_fit`` the counts are
        those of all the rows seen so far (``class_count_``).
    verbose : int, default=0
        Print one line per epoch when > 0.
    average : bool, int or "auto", default="auto"
        Averaged SGD, as in ``SGDClassifier``: the model is the mean of the
        SGD iterates (from the start with True, or once ``average`` samples
        were seen), which removes most of SGD's noise; ``partial_fit`` goes
        on from the last iterate. With ``learning_rate="optimal"`` the
        iterate after ``s`` samples weighs ``s ** 4`` in the mean
        (polynomial-decay averaging), which forgets the early, large steps
        that a plain mean keeps. Kept lazily, so it costs the touched rows
        only. Needs ``solver="sgd"`` (or ``partial_fit``). ``"auto"``: on
        with ``"optimal"``, off otherwise.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the data and stop SGD
        when the accuracy on it has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; the weights of the best epoch are kept.
        Training is then SGD only (``solver="auto"`` runs as ``"sgd"``;
        ``"lbfgs"`` is an error), as in ``SGDClassifier``. Not used by
        ``partial_fit``.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping, in (0, 1).
    label_smoothing : float, default=0.0
        Train on ``(1 - label_smoothing) * Y + label_smoothing / n_classes``
        instead of the targets ``Y`` (one-hot labels or soft labels), as
        PyTorch's ``CrossEntropyLoss`` does; in [0, 1). Class weights are
        those of the unsmoothed targets.
    penalty_factor : array-like of shape (n_features,), default=None
        Non-negative factor of each feature's penalty, as glmnet's
        ``penalty.factor``: feature ``j``'s weights are penalized by
        ``penalty_factor[j] * alpha``, and a 0 leaves it unpenalized. Unlike
        glmnet the factors are not rescaled to sum to ``n_features``. None
        is all ones. With a 0 factor and no bound on that feature no
        duality gap certifies the fit, and ``tol`` bounds the largest
        gradient entry, as with ``alpha=0``.
    bounds : tuple (lower, upper), default=None
        Bounds on ``coef_``: each None, a scalar or an array broadcastable to
        ``coef_``'s shape (``-inf`` / ``inf`` entries for none), with
        ``lower <= upper``; the intercept is free. ``bounds=(0, None)`` gives
        non-negative weights (monotone scorecards). L-BFGS and Newton honour
        them exactly (L-BFGS-B's bounds, projected Newton steps); SGD, SAGA
        and ``partial_fit`` project every step on them.
    coef_prior : array-like of shape (1, n_features) or (n_classes, n_features), default=None
        A model to shrink towards, of ``coef_``'s shape: the penalty is on
        ``coef_ - coef_prior``, so ``alpha`` sets how far the data may move
        the model from it (a Gaussian prior centred on a background model,
        the classic way to adapt a maximum-entropy model to a new domain).
        ``bounds`` still bound ``coef_`` itself. None is all zeros.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    class_count_ : ndarray of shape (n_classes,)
        Rows seen of each class, weighted by the sample weights; summed over
        ``partial_fit`` calls.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes. In the dtype of the training data.
        With more than two classes and no L2 part in the penalty, adding
        the same number to a feature's weights in every class may leave
        ``J`` unchanged; ``fit`` then returns the canonical solution: with
        ``alpha=0`` the centred one (each feature's weights sum to 0 over
        the classes), as ``LogisticRegression`` does; with ``l1_ratio=1``
        the one closest to centred among those of equal ``J`` that keeps
        every exact zero (``LogisticRegression(solver="saga")`` returns
        wherever its path ends). ``partial_fit`` does not shift. A sparse
        CSR matrix after :meth:`sparsify`.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts; centered to sum to 0 for more than two classes (the
        softmax is unchanged by a common shift).
    n_iter_ : int
        Iterations (as counted by ``max_iter``) of the last ``fit``, or of
        the last ``partial_fit`` call.
    t_ : int
        SGD steps (minibatch updates) made so far.
    duality_gap_ : float
        The certified bound on ``(J - J*) / J*`` where the last ``fit``
        ended (see ``tol``); nan for ``alpha=0``, where no certificate exists,
        and after ``partial_fit``, which sees one chunk of the data.
    loss_curve_ : list of float
        Objective after every SGD epoch, L-BFGS iteration and Newton step of
        the last ``fit`` (SGD values are the mean minibatch loss of the
        epoch); ``partial_fit`` appends one value per call.
    best_loss_ : float or None
        Smallest value of ``loss_curve_``; None with early stopping.
    validation_scores_ : list of float or None
        Held-out accuracy after every epoch, with early stopping; else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; None without early stopping.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : the same model, full-batch solvers.
    sklearn.linear_model.SGDClassifier : SGD, one-vs-rest for more than two classes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_maxent import MaxEntClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, 50, 100]])
    array([0, 1, 2])
    >>> clf.predict_proba(X[:1]).round(2)
    array([[0.98, 0.02, 0.  ]])
    >>> round(clf.score(X, y), 2)
    0.97
    """

    # _parameter_constraints: every parameter's, from _base.PARAMETER_CONSTRAINTS (MaxEntBase).

    def __init__(
        self,
        *,
        alpha=1e-4,
        l1_ratio=0.0,
        fit_intercept=True,
        solver="auto",
        batch_size="auto",
        learning_rate="auto",
        eta0="auto",
        power_t=0.5,
        max_iter=1000,
        tol=1e-6,
        n_iter_no_change=5,
        shuffle=True,
        random_state=None,
        warm_start=False,
        class_weight=None,
        verbose=0,
        average="auto",
        early_stopping=False,
        validation_fraction=0.1,
        label_smoothing=0.0,
        penalty_factor=None,
        bounds=None,
        coef_prior=None,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.class_weight = class_weight
        self.verbose = verbose
        self.average = average
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.label_smoothing = label_smoothing
        self.penalty_factor = penalty_factor
        self.bounds = bounds
        self.coef_prior = coef_prior

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the model to ``X``, ``y`` from scratch (or warm-started).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse input is used as CSR and never densified.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels of any type, or soft labels: rows that are
            probability distributions over the classes (non-negative, summing
            to 1 within 1e-6), for which ``classes_`` is ``arange(n_classes)``.
            The gradient is ``P - Y`` either way; a one-hot ``Y`` is the same
            as its labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; unit weights when None.
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to each row's scores ``X W + b`` (a base margin, as
            XGBoost's, or a GLM offset): one column per class, or for two
            classes a single column added to ``classes_[1]``'s score. The
            prediction methods take the rows' offsets too. Route it through
            a ``Pipeline`` or ``GridSearchCV`` with
            ``set_fit_request(offset=True)`` (and ``set_predict_request``,
            ``set_predict_proba_request``, ``set_score_request``...) under
            ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        self : MaxEntClassifier
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
        >>> MaxEntClassifier(alpha=0.1).fit(X, ["no", "no", "yes", "yes"]).predict([[3.0]])
        array(['yes'], dtype='<U3')

        Soft labels, one column per class:

        >>> Y = np.array([[0.9, 0.1], [0.7, 0.3], [0.3, 0.7], [0.1, 0.9]])
        >>> MaxEntClassifier(alpha=0.1).fit(X, Y).classes_
        array([0, 1])
        """
        if self.warm_start:
            check_fitted_namespace(self, X, "fit")
        namespace = input_namespace(X)
        if namespace is None:
            return self._fit(X, y, sample_weight, offset)
        with fitted_on_host(self, then=namespace):
            self._fit(*to_host(X, y, sample_weight, offset), self._device_work(namespace, X))
        return self

    def _device_work(self, namespace, X):
        """``on_device`` for :meth:`_fit` and :meth:`_partial_fit`: None where the work stays on the host.

        AdaGrad's steps are the compiled epoch's only (the device port has none).
        """
        return None if self.learning_rate == "adagrad" else (*namespace, X)

    def _fit(self, X, y, sample_weight, offset=None, on_device=None):
        """:meth:`fit` on NumPy or sparse input; with ``on_device`` (``(xp, device, X)``) its work there.

        Validation and label encoding run on the NumPy ``X``; with
        ``on_device`` every pass and epoch of the optimization runs on the
        device's ``X`` instead (``solver="auto"`` skips its SAGA phase there).
        """
        with atomic_fitted_state(self):
            X, y, soft = self._validate_X_y(X, y, reset=True)
            classes, targets = self._classes_and_targets(y, soft)
            row_weights, class_count = self._row_weights(X, targets, classes, sample_weight)
            offset = check_offset(offset, X.shape[0], classes.size, X.dtype)
            prior = Prior.checked(self.coef_prior, self.bounds, X.shape[1], classes.size)
            rng = check_random_state(self.random_state)
            objective, validation = self._training_objectives(
                X, targets, row_weights, offset, prior, rng, on_device
            )
            solver = self._fit_solver(objective, validation)
            state = self._new_sgd_state(stream=False)
            coef, intercept, result, task = self._fit_model(
                objective,
                prior,
                classes,
                (X, y, sample_weight),
                partial(self._attributes_of, classes),
                advice=partial(_floating_point_advice, X, self.eta0),
                state=state,
                solver=solver,
                validation=validation.accuracy if validation else None,
                batch_size=self._batch_size(X, state.schedule.kind),
                n_iter_no_change=self.n_iter_no_change,
                shuffle=self.shuffle,
                rng=rng,
            )
            self._store(classes, class_count, coef, intercept, state, result, validation is not None)
        return self._end_fit(task, result, stacklevel=4)

    def _fit_solver(self, objective, validation):
        """``solver`` as :meth:`fit` runs it: ``"sgd"`` for ``"auto"`` with early stopping, and
        ``"lbfgs"`` for ``"auto"`` on a device; a ``ValueError`` where it cannot run."""
        solver = "sgd" if validation is not None and self.solver == "auto" else self.solver
        learning_rate = self._learning_rate(stream=False)
        if learning_rate in ("adagrad", "optimal") and solver in ("auto", "saga"):
            raise ValueError(
                f"learning_rate={learning_rate!r} steps plain SGD, not solver={solver!r}'s SAGA: "
                "use solver='sgd' or partial_fit."
            )
        if not isinstance(objective, Objective) and solver == "newton-cd":
            raise ValueError(
                "solver='newton-cd' reads the columns of NumPy or scipy.sparse data; fit on "
                "host arrays, or use solver='lbfgs' for data on a device."
            )
        if not isinstance(objective, Objective) and solver == "auto":
            # No SAGA phase on a device: its epoch is many small array calls where a full
            # pass is one large product (benchmarks/results/CONSTANTS.md).
            return "lbfgs"
        return solver

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None, offset=None):
        """One epoch of minibatch SGD on ``X``, ``y``, continuing the previous ones.

        On scipy.sparse input the defaults take ``SGDClassifier``'s ``"optimal"``
        schedule a row at a time, in minibatches of 16, and offer the mean of
        the iterates weighted towards the recent ones (``learning_rate``,
        ``batch_size``, ``average`` and ``eta0`` at ``"auto"``; the first
        call decides). What to expect from them:

        * One pass over a shuffled stream, in chunks of any sizes (single
          rows too): about the accuracy of the batch optimum (``fit``) and of
          ``SGDClassifier``'s pass, with steady progress from chunk to chunk
          (measured on real and synthetic text:
          ``benchmarks/results/RESULTS.md``, streaming). A stream in a
          meaningful order (by class, by time) is learned in that order.
        * Several passes: the steps go on shrinking as ``1 / (alpha s)`` and
          the average follows the recent iterates, so each pass comes closer
          to ``fit``'s optimum on the data seen; ``fit`` gets there far
          sooner when the data fit in memory.
        * Whatever the schedule, a call whose steps blow the loss up, or
          leave the chunk's own rows far worse than they found them (a loss
          above twice theirs plus one nat), is undone and retried with a
          step ten times smaller, so no call stores a blown-up model; a step
          that only oscillates is not caught.

        On dense arrays the defaults are ``fit``'s: the calibrated
        ``"adaptive"`` step, minibatches of 1024 rows (256 for mostly-zero
        rows), no averaging.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or soft labels as in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All the classes the stream will contain; required on the first
            call with labels (with soft labels it is ``arange(n_classes)``),
            and must match ``classes_`` on later calls.
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        self : MaxEntClassifier
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_maxent import MaxEntClassifier
        >>> rng = np.random.default_rng(0)
        >>> clf = MaxEntClassifier(random_state=0)
        >>> for _ in range(5):  # chunks of a stream
        ...     X = rng.normal(size=(100, 2))
        ...     clf = clf.partial_fit(X, (X[:, 0] > 0).astype(int), classes=[0, 1])
        >>> clf.predict([[3.0, 0.0], [-3.0, 0.0]])
        array([1, 0])
        >>> clf.t_  # SGD steps so far, one minibatch of 100 rows per call
        5
        """
        check_fitted_namespace(self, X, "partial_fit")
        namespace = input_namespace(X)
        if namespace is None:
            return self._partial_fit(X, y, classes, sample_weight, offset)
        with fitted_on_host(self, then=namespace):
            self._partial_fit(*to_host(X, y, classes, sample_weight, offset), self._device_work(namespace, X))
        return self

    def _partial_fit(self, X, y, classes, sample_weight, offset, on_device=None):
        """:meth:`partial_fit` on NumPy or sparse input; with ``on_device`` (``(xp, device, X)``) there."""
        first_call = not hasattr(self, "classes_")
        if not first_call:
            # _fit_context skips parameter validation in partial_fit once fitted; a
            # set_params(alpha=-1) between calls must not go unchecked.
            self._validate_params()
            check_dense_coef(self, "partial_fit")
        with atomic_fitted_state(self):
            X, y, soft = self._validate_X_y(X, y, reset=first_call)
            if soft and classes is None and first_call:
                classes = self._soft_classes(y)
            classes = self._partial_fit_classes(classes, first_call)
            targets = self._soft_targets_of(y, classes) if soft else one_hot(y, classes)
            row_weights, class_count = self._row_weights(
                X, targets, classes, sample_weight, None if first_call else self.class_count_
            )
            offset = check_offset(offset, X.shape[0], classes.size, X.dtype)
            prior = Prior.checked(self.coef_prior, self.bounds, X.shape[1], classes.size)
            objective = self._placed(self._objective(X, targets, row_weights, offset, prior), on_device)
            rng = check_random_state(self.random_state)
            if first_call:
                coef = np.zeros(objective.parameter_shape, dtype=X.dtype)
                intercept = np.zeros(coef.shape[1], dtype=X.dtype)
                state = self._new_sgd_state(stream=sparse.issparse(X))
            else:
                state = self._sgd_state_.copy()
                if state.iterate is None or objective.penalty.bounded:
                    coef = self.coef_.T.astype(X.dtype, order="C")
                else:  # sgd goes on from the iterate; a copy of the model would not be read
                    coef = np.zeros(objective.parameter_shape, dtype=X.dtype)
                intercept = self.intercept_.astype(X.dtype)
            coef = prior.start(coef, objective.penalty)
            task, monitor = fit_task(
                self,
                1,
                X,
                y,
                sample_weight,
                lambda coef, intercept: self._attributes_of(classes, prior.to_model(coef), intercept),
                name="partial_fit",
            )
            advice = partial(_floating_point_advice, X, self.eta0)
            with overflow_is_an_error(advice):
                result = sgd(
                    objective,
                    coef,
                    intercept,
                    state,
                    batch_size=self._batch_size(X, state.schedule.kind),
                    max_iter=1,
                    tol=None,
                    n_iter_no_change=self.n_iter_no_change,
                    shuffle=self.shuffle,
                    rng=rng,
                    rescore=True,
                    monitor=monitor,
                    verbose=self.verbose,
                )
            check_finite_model(coef, intercept, advice)
            self._store(
                classes, class_count, prior.to_model(coef), intercept, state, result, early_stopping=False
            )
            self.duality_gap_ = np.nan  # one chunk of the data certifies nothing
        end_fit_task(self, task, monitor)
        return self

    # ------------------------------------------------------------ predict

    def decision_function(self, X, offset=None):
        """Scores ``X W + b``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]`` (that of
            ``classes_[0]`` being 0), as in ``LogisticRegression``.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
        >>> clf.decision_function(X[:1]).shape
        (1, 3)
        """
        scores = self._scores(X, "decision_function", offset)
        return scores[:, 1] if self._is_binary() else scores

    def predict(self, X, offset=None):
        """Most probable class of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
        >>> clf.predict(X[[0, 50, 100]])
        array([0, 1, 2])
        """
        scores = self._scores(X, "predict", offset)
        namespace = input_namespace(scores)
        if namespace is None:
            return self.classes_[scores.argmax(axis=1)]
        xp, _ = namespace
        best = xp.argmax(scores, axis=1)
        if isinstance(self.classes_, np.ndarray):  # labels that are not numbers stay in NumPy
            return self.classes_[to_host(best)[0]]
        return xp.take(self.classes_, best, axis=0)

    def predict_proba(self, X, offset=None):
        """Class probabilities, the softmax of the scores.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
        >>> clf.predict_proba(X[:1]).round(3)
        array([[0.975, 0.025, 0.   ]])
        """
        scores = self._scores(X, "predict_proba", offset)
        namespace = input_namespace(scores)
        return softmax(scores) if namespace is None else on_device.softmax(scores, namespace[0])

    def predict_log_proba(self, X, offset=None):
        """Log of the class probabilities, by log-sum-exp (finite where ``log(proba)`` is not).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
        >>> bool((clf.predict_log_proba(X * 1e6) > -float("inf")).all())  # where proba underflows to 0
        True
        """
        scores = self._scores(X, "predict_log_proba", offset)
        namespace = input_namespace(scores)
        return log_softmax(scores) if namespace is None else on_device.log_softmax(scores, namespace[0])

    def score(self, X, y, sample_weight=None, offset=None):
        """Mean accuracy of :meth:`predict` on ``X`` against ``y``, as ``ClassifierMixin.score``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        score : float

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
        >>> clf = MaxEntClassifier(alpha=0.1).fit(X, [0, 0, 1, 1])
        >>> clf.score(X, [0, 0, 1, 1])
        1.0
        >>> clf.score(X, [0, 0, 1, 1], offset=[-9.0, -9.0, -9.0, -9.0])  # pushed towards classes_[0]
        0.5
        """
        return accuracy_score(y, self.predict(X, offset=offset), sample_weight=sample_weight)

    def expectation_gap(self, X, y, sample_weight=None, offset=None):
        """Model expectation minus observed expectation of every feature, per class.

        The maximum-entropy constraint made visible: with ``P`` the model's
        probabilities and ``Y`` the targets, this is
        ``sum_i s_i x_i (P_i - Y_i) / sum_i s_i``, the gradient of the
        (unpenalized) weighted cross-entropy with respect to the weights,
        equation (13) of the notes, ``E_est - E_obs``, summed over the data.
        Training drives it to the penalty's pull: at the optimum of an L2
        penalty it equals ``-alpha * coef_``, and it tends to 0 as ``alpha``
        does (a maximum-entropy model matches the data's feature
        expectations). Sample, class weights and label smoothing are those of
        training.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Labels in ``classes_``, or soft labels.
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        gap : ndarray of shape (n_classes, n_features) or (1, n_features)
            Laid out as ``coef_``: for two classes, the gap of ``classes_[1]``
            (that of ``classes_[0]`` is its negative).

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=1e-2).fit(X, y)
        >>> gap = clf.expectation_gap(X, y)
        >>> bool(abs(gap + clf.alpha * clf.coef_).max() < 1e-8)
        True
        """
        check_is_fitted(self)
        namespace = input_namespace(X)
        if namespace is None:
            return self._expectation_gap(X, y, sample_weight, offset)
        with fitted_on_host(self):
            gap = self._expectation_gap(*to_host(X, y, sample_weight, offset))
        return move_to(gap, xp=namespace[0], device=namespace[1])

    def _expectation_gap(self, X, y, sample_weight, offset):
        """:meth:`expectation_gap` on NumPy or sparse input."""
        X, y, soft = self._validate_X_y(X, y, reset=False)
        targets = self._soft_targets_of(y, self.classes_) if soft else one_hot(y, self.classes_)
        row_weights, _ = self._row_weights(X, targets, self.classes_, sample_weight)
        offset = check_offset(offset, X.shape[0], self.classes_.size, X.dtype)
        # The data term's gradient in W: that of the model itself, with no change of variables.
        objective = self._objective(X, targets, row_weights, offset, Prior(None, None, None))
        coef = self.coef_.toarray() if sparse.issparse(self.coef_) else self.coef_
        _, grad_coef, _ = objective.data_loss_gradient(coef.T.astype(X.dtype), self.intercept_)
        return np.ascontiguousarray(grad_coef.T)

    # ------------------------------------------------------------ coef_ storage

    def sparsify(self):
        """Store ``coef_`` as a scipy sparse CSR matrix, as ``SGDClassifier`` and ``LogisticRegression`` do.

        For an L1 model with mostly zero weights this shrinks the model (in
        memory, pickle and skops files); ``predict`` on sparse input then
        multiplies sparse by sparse. That is not faster by itself: the dense
        product already costs only the non-zeros of ``X`` times the number of
        classes (benchmarks/results/CONSTANTS.md). Predictions stay the same
        (the scores agree to rounding). As in scikit-learn, training does not
        continue from sparse weights: ``partial_fit`` and ``fit`` with
        ``warm_start=True`` raise a ``ValueError`` until :meth:`densify` is
        called (a ``fit`` from scratch works, and stores dense weights).
        ``intercept_`` stays dense, and the ONNX export
        (``sklearn_maxent.onnx``) stores dense weights.

        Returns
        -------
        self : MaxEntClassifier
            The estimator, with ``coef_`` a CSR matrix of the same dtype:
            ``scipy.sparse.csr_matrix``, or ``csr_array`` under
            ``sklearn.set_config(sparse_interface="sparray")``, as in scikit-learn.

        Notes
        -----
        Worth it when most weights are zero: CSR stores one value and one
        index per non-zero, so below about half zeros it takes more memory
        than the dense array.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=0.05, l1_ratio=1, random_state=0).fit(X / 16, y)
        >>> labels = clf.predict(X / 16)
        >>> clf.sparsify().coef_.format, clf.coef_.shape
        ('csr', (10, 64))
        >>> bool(clf.coef_.nnz < 0.5 * 10 * 64)  # most weights are zero
        True
        >>> bool((clf.predict(X / 16) == labels).all())
        True
        """
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before sparsifying.")
        # The sparse type scikit-learn's configuration asks for (sparse_interface,
        # scikit-learn >= 1.9), as SparseCoefMixin does; scipy matrices before.
        as_csr = sparse.csr_array if get_config().get("sparse_interface") == "sparray" else sparse.csr_matrix
        self.coef_ = as_csr(self.coef_)
        return self

    def densify(self):
        """Store ``coef_`` as a dense array again (undoes :meth:`sparsify`; otherwise a no-op).

        Needed before ``partial_fit`` or a warm-started ``fit`` continue
        from sparsified weights.

        Returns
        -------
        self : MaxEntClassifier
            The estimator, with ``coef_`` a C-contiguous ndarray of the same dtype.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MaxEntClassifier(alpha=1e-2, l1_ratio=1, random_state=0).fit(X, y)
        >>> coef = clf.coef_.copy()
        >>> clf = clf.sparsify().densify()
        >>> type(clf.coef_).__name__, bool((clf.coef_ == coef).all())
        ('ndarray', True)
        >>> clf = clf.partial_fit(X, y)  # training continues from dense weights
        """
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before densifying.")
        if sparse.issparse(self.coef_):
            self.coef_ = np.ascontiguousarray(self.coef_.toarray())
        return self

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _soft_targets_of(Y, classes):
        if Y.shape[1] != classes.size:
            raise ValueError(
                f"Soft labels have {Y.shape[1]} columns but the model has {classes.size} classes "
                f"{classes.tolist()}: one column per class is needed."
            )
        return Y

    def _partial_fit_classes(self, classes, first_call):
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            classes = self._check_classes_argument(classes)
            self._check_two_classes(classes)
            return classes
        if classes is not None and not np.array_equal(self.classes_, self._check_classes_argument(classes)):
            raise ValueError(
                f"classes={sorted_labels(classes).tolist()} is not the same as on the first "
                f"call to partial_fit, {self.classes_.tolist()}."
            )
        return self.classes_

    @staticmethod
    def _check_classes_argument(classes):
        """partial_fit's ``classes``, sorted and deduplicated: a 1-D array of labels, without NaN or None."""
        classes = np.asarray(classes)
        if classes.ndim != 1:
            raise ValueError(f"classes must be a 1-D array of labels, got an array of shape {classes.shape}.")
        unique = sorted_labels(classes, "classes")
        if any(v is None or v != v for v in unique.tolist()):  # v != v: NaN
            raise ValueError(f"classes must not contain NaN or None, got {classes.tolist()}.")
        return unique

    def _row_weights(self, X, targets, classes, sample_weight, previous_class_count=None):
        """The row weights (sample weights times class weights), and the weighted class counts.

        A row's class weight is its target's mean class weight: that of its
        label for one-hot targets. ``"balanced"`` class weights are
        ``total / (n_classes * count_k)`` of the weighted class counts
        (soft labels count fractionally), accumulated over ``partial_fit``
        calls so a stream is balanced by its class frequencies so far.
        """
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        class_count = sample_weight.astype(np.float64) @ targets
        if previous_class_count is not None:
            class_count = class_count + previous_class_count
        class_weights = compute_class_weights(self.class_weight, classes, class_count)
        row_weights = with_class_weights(sample_weight, targets, class_weights)
        if not row_weights.sum() > 0:
            raise ValueError("The sample weights (times the class weights) sum to zero.")
        return row_weights, class_count

    def _objective(self, X, targets, row_weights, offset, prior):
        """The training objective of ``D`` (``W = W0 + D``, see ``prior``), in the dtype of ``X``.

        Label smoothing applied to ``targets``; ``offset`` from
        :func:`~sklearn_maxent._options.check_offset`.
        """
        targets = smoothed_targets(targets, self.label_smoothing, X.dtype)
        factor = check_penalty_factor(self.penalty_factor, X.shape[1])
        penalty = prior.penalty(float(self.alpha), float(self.l1_ratio), factor)
        offset = prior.offset(X, offset, X.dtype)
        return Objective(X, targets, row_weights, penalty, self.fit_intercept, targets.shape[1] == 2, offset)

    def _training_objectives(self, X, targets, row_weights, offset, prior, rng, on_device=None):
        """The objective to train on and, with early stopping, the held-out one to score.

        With ``on_device`` (``(xp, device, X)``) they are device objectives on
        the device's ``X`` (its rows of each split), where the device covers them.
        """
        if self.average != "auto" and self.average and self.solver != "sgd":
            raise ValueError(f"average={self.average!r} averages SGD iterates: use solver='sgd'.")
        if not self.early_stopping:
            return self._placed(self._objective(X, targets, row_weights, offset, prior), on_device), None
        if self.solver in ("lbfgs", "newton-cd"):
            raise ValueError(
                f"early_stopping=True stops SGD epochs: use solver='auto' or 'sgd', not {self.solver!r}."
            )
        train, held_out = train_test_split(
            np.arange(X.shape[0]),
            test_size=self.validation_fraction,
            stratify=targets.argmax(axis=1),
            random_state=rng,
        )
        for part, rows in (("training", train), ("validation", held_out)):
            if not row_weights[rows].sum() > 0:
                raise ValueError(
                    f"The sample weights of the early-stopping {part} split sum to zero; "
                    "change validation_fraction or random_state."
                )
        return tuple(
            self._placed(
                self._objective(
                    X[rows], targets[rows], row_weights[rows], None if offset is None else offset[rows], prior
                ),
                on_device,
                rows,
            )
            for rows in (train, held_out)
        )

    @staticmethod
    def _placed(objective, on_device, rows=None):
        """``objective``, or with ``on_device`` (``(xp, device, X)``) its twin on that ``X`` (``rows``)."""
        return objective if on_device is None else on_device_objective(objective, *on_device, rows)

    def _learning_rate(self, stream):
        """``learning_rate`` with ``"auto"`` resolved: ``"optimal"`` for a ``stream`` (``partial_fit``
        starting on a scipy.sparse ``X``, whose small minibatches cost only their non-zeros),
        ``"adaptive"`` otherwise."""
        if self.learning_rate != "auto":
            return self.learning_rate
        return "optimal" if stream else "adaptive"

    def _average(self, learning_rate):
        """``average`` with ``"auto"`` resolved for ``learning_rate``: on for ``"optimal"`` only."""
        if self.average == "auto":
            return learning_rate == "optimal"
        return self.average

    def _batch_size(self, X, learning_rate):
        """``batch_size`` with ``"auto"`` resolved for ``X`` and ``learning_rate``."""
        if self.batch_size != "auto":
            return self.batch_size
        if learning_rate == "optimal":
            return min(_AUTO_BATCH_OPTIMAL, X.shape[0])
        return min(_AUTO_BATCH_SPARSE if has_sparse_rows(X) else _AUTO_BATCH_DENSE, X.shape[0])

    def _new_sgd_state(self, stream):
        """A fresh SGD state, its schedule and averaging resolved for a ``stream`` or not (see
        :meth:`_learning_rate`)."""
        learning_rate = self._learning_rate(stream)
        average = self._average(learning_rate)
        if average and learning_rate == "adagrad":
            raise ValueError(
                f"average={self.average!r} does not average AdaGrad's steps: use another learning_rate."
            )
        eta0 = None if self.eta0 == "auto" else float(self.eta0)
        schedule = StepSchedule(learning_rate, eta0, float(self.power_t))
        return SGDState(schedule, average_start=int(average) if average else None)

    def _store(self, classes, class_count, coef, intercept, state, result, early_stopping):
        self._store_model(classes, class_count, coef, intercept, result)
        self._store_sgd_state(state, early_stopping)

    def _store_sgd_state(self, state, early_stopping):
        """What ``partial_fit`` continues from, and MLPClassifier's history attributes: best_loss_
        without early stopping, validation scores with it."""
        self.t_ = state.t
        self._sgd_state_ = state
        if early_stopping:
            self.best_loss_ = None
            self.validation_scores_ = list(state.validation_scores)
            self.best_validation_score_ = max(self.validation_scores_, default=None)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _is_binary(self):
        return self.classes_.shape[0] == 2

    def _device_scores(self, X, offset, xp, device_):
        """:meth:`_scores` for ``X`` of another array namespace, where it lives: one product."""
        X = validate_data(self, X, reset=False, dtype=supported_float_dtypes(xp, device_))
        # coef_ and intercept_ are in X's namespace and on its device (check_same_namespace).
        coef_t = xp.astype(xp.permute_dims(self.coef_, (1, 0)), X.dtype)
        free = X @ coef_t + xp.astype(self.intercept_, X.dtype)
        if offset is not None:
            offset = check_offset(to_host(offset)[0], X.shape[0], self.classes_.shape[0], np.float64)
            free = free + xp.astype(move_to(offset, xp=xp, device=device_), X.dtype)
        scores = on_device.full_scores(free, xp, self._is_binary())
        if not bool(xp.all(xp.isfinite(scores))):
            raise FloatingPointError(
                f"The scores X @ coef_.T + intercept_ overflow the dtype {scores.dtype}; scale the features."
            )
        return scores

    def _scores(self, X, method, offset=None):
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="coef_", method=method)
        namespace = input_namespace(X)
        if namespace is not None:
            return self._device_scores(X, offset, *namespace)
        X = self._validate_X(X)
        offset = check_offset(offset, X.shape[0], self.classes_.size, X.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = linear_scores(X, self.coef_.T, self.intercept_, self._is_binary(), offset)
        if not np.isfinite(scores).all():
            rows = np.flatnonzero(~np.isfinite(scores).all(axis=1))
            raise FloatingPointError(
                f"The scores X @ coef_.T + intercept_ overflow the dtype {scores.dtype} in {rows.size} rows "
                f"(first: row {rows[0]}); scale the features."
            )
        return scores
