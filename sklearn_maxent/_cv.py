"""MaxEntClassifierCV: ``alpha`` (and ``l1_ratio``) chosen by cross-validated, warm-started paths.

The estimator layer, beside :class:`~sklearn_maxent.MaxEntClassifier`: each
fold's path is a sequence of ``MaxEntClassifier`` fits with ``warm_start``,
from the most to the least penalized ``alpha``, each certified to ``tol``;
the folds' paths run in threads (the compiled kernels release the GIL).
Layering stays one-way: this module uses the estimator and its skeleton
(:mod:`~sklearn_maxent._base`), the targets and options helpers, and the
model layer's BLAS thread switch; never the optimizer.
"""

from numbers import Integral

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.callback import CallbackSupportMixin
from sklearn.metrics import check_scoring, get_scorer_names, log_loss
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from threadpoolctl import threadpool_info, threadpool_limits

from ._base import MaxEntBase, atomic_fitted_state, is_soft
from ._classifier import MaxEntClassifier
from ._model._softmax import single_threaded_blas
from ._options import check_offset, check_penalty_factor
from ._targets import check_soft_labels, compute_class_weights, with_class_weights

# An int ``alphas`` spans LogisticRegressionCV's Cs=10 range, C in [1e-4, 1e4] (L2) ...
_C_RANGE = (-4, 4)
# ... or with an L1 part, alpha_max (where every weight is zero) down to this fraction of it, as glmnet.
_L1_PATH_DEPTH = 1e-4


class MaxEntClassifierCV(CallbackSupportMixin, ClassifierMixin, MaxEntBase):
    """Maximum-entropy classifier with ``alpha`` (and ``l1_ratio``) chosen by cross-validation.

    The counterpart of ``LogisticRegressionCV`` for
    :class:`~sklearn_maxent.MaxEntClassifier`: for every fold (and
    ``l1_ratio``) it fits the path of ``alphas`` from the most to the least
    penalized, each fit warm-started from the previous one and certified to
    ``tol`` by its duality gap, scores every path point on the held-out
    rows, picks the ``alpha`` (and ``l1_ratio``) of the best mean score, and
    refits on all the data from the mean of the folds' solutions there.

    Parameters
    ----------
    alphas : int or array-like of float, default=10
        The grid of penalty strengths. An array is used as given on every
        fold and for the refit (as ``GridSearchCV`` over ``alpha`` would),
        sorted from the largest. An int ``n`` makes a log grid of ``n``
        points: with ``l1_ratio=0``, ``LogisticRegressionCV``'s ``Cs=n``
        range, ``alpha = 1 / (C * S)`` for ``C`` in ``logspace(-4, 4, n)``,
        with ``S`` the sum of the row weights (sample times class weights;
        the number of rows when unweighted) of each fit's own training
        rows, so that every fold fits the same models as
        ``LogisticRegressionCV``'s at the same ``C`` (``alphas_`` holds the
        refit's, ``1 / (C * S)`` on all rows; fold ``k`` fits
        ``alphas_ * S / S_k``). With ``l1_ratio > 0``, from ``alpha_max``,
        the least ``alpha`` whose model has every weight zero (from the
        gradient at the intercept-only model of all the rows, at
        ``coef_ = 0``), down to ``alpha_max * 1e-4``, the same on every fold.
    l1_ratios : array-like of float in [0, 1], default=None
        Elastic-net mixings to search; None is ``[0.0]`` (L2 only).
    cv : int, cross-validation generator or iterable, default=None
        As in ``LogisticRegressionCV``: None is 5-fold ``StratifiedKFold``
        (on the argmax of soft labels), an int that many folds.
    scoring : str or callable, default=None
        A scikit-learn scorer; None is ``"neg_log_loss"`` (with soft labels,
        the mean cross-entropy against them; a given scorer sees their
        argmax). Also what :meth:`score` returns.
    refit : bool, default=True
        Refit on all the data at the best ``alpha`` and ``l1_ratio``,
        starting from the mean of the folds' solutions there. If False, the
        model is the mean of the folds' solutions at each fold's own best
        point, and ``alpha_`` and ``l1_ratio_`` the means of those (as
        ``LogisticRegressionCV``).
    n_jobs : int, default=None
        Threads running the folds' paths (``joblib``'s threading backend).
    fit_intercept, solver, batch_size, learning_rate, eta0, power_t, max_iter, tol, \
n_iter_no_change, shuffle, random_state, class_weight, verbose, average, early_stopping, \
validation_fraction, label_smoothing, penalty_factor, bounds, coef_prior
        As in :class:`~sklearn_maxent.MaxEntClassifier`, for every fit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (``arange(n_classes)`` for soft labels).
    alphas_ : ndarray of shape (n_l1_ratios, n_alphas)
        The grid of each ``l1_ratio``, from the largest ``alpha``; for the
        L2 grid of an int ``alphas``, the refit's values (see ``alphas``).
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
    alpha_ : float
        The chosen ``alpha`` (of ``alphas_``, as the refit uses it).
    l1_ratio_ : float
        The chosen ``l1_ratio``.
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_alphas)
        The held-out score of every fold's path point.
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_alphas, n_free, n_features + fit_intercept)
        Every fold's path: ``coef_`` (``n_free`` rows: 1 for two classes),
        with ``intercept_`` as the last column when ``fit_intercept``.
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_alphas)
        Iterations of every path point's fit.
    duality_gaps_ : ndarray of shape (n_folds, n_l1_ratios, n_alphas)
        The certified relative gap ``(J - J*) / J*`` of every path point's
        fit (nan where no certificate exists).
    duality_gap_ : float
        The refit's certified gap (nan with ``refit=False``).
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    MaxEntClassifier : the model, at one ``alpha``.
    sklearn.linear_model.LogisticRegressionCV : the same search for ``LogisticRegression``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_maxent import MaxEntClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MaxEntClassifierCV(alphas=5).fit(X, y)
    >>> clf.scores_.shape  # folds x l1_ratios x alphas
    (5, 1, 5)
    >>> float(clf.alpha_) in clf.alphas_[0]
    True
    >>> clf.predict(X[[0, 50, 100]])
    array([0, 1, 2])
    """

    _parameter_constraints: dict = {
        "alphas": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "refit": ["boolean"],
        "n_jobs": [Integral, None],
    }  # and MaxEntClassifier's of the others (MaxEntBase); the search sets alpha, l1_ratio, warm_start

    def __init__(
        self,
        *,
        alphas=10,
        l1_ratios=None,
        cv=None,
        scoring=None,
        refit=True,
        n_jobs=None,
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
        self.alphas = alphas
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
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
        return tags

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, offset=None, groups=None):
        """Fit every fold's path, choose ``alpha`` and ``l1_ratio``, and refit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse input is used as CSR.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or soft labels (rows of probabilities), as in
            :meth:`MaxEntClassifier.fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows, for every fit and the held-out scores.
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, in the fits and the held-out
            predictions, as in :meth:`MaxEntClassifier.fit`.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware splitter (``cv=GroupKFold()``).

        Returns
        -------
        self : MaxEntClassifierCV
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.model_selection import GroupKFold
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifierCV
        >>> X, y = load_iris(return_X_y=True)
        >>> groups = np.arange(len(y)) % 3
        >>> clf = MaxEntClassifierCV(alphas=[1e-1, 1e-2], cv=GroupKFold(3)).fit(X, y, groups=groups)
        >>> clf.scores_.shape
        (3, 1, 2)
        """
        with atomic_fitted_state(self):
            X, y, soft = self._validate_X_y(X, y)
            classes, targets = self._classes_and_targets(y, soft)
            raw_weight = sample_weight
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            offset = check_offset(offset, X.shape[0], classes.size, X.dtype)
            check_penalty_factor(self.penalty_factor, X.shape[1])
            l1_ratios = self._l1_ratios()
            labels = targets.argmax(axis=1) if soft else y
            folds = list(check_cv(self.cv, labels, classifier=True).split(X, labels, groups))
            base = MaxEntClassifier(**self._model_params())
            grids = self._grids(base, X, y, targets, classes, sample_weight, offset, l1_ratios)
            data = _FoldData(X, y, targets, classes, soft, sample_weight, offset, self._scorer())
            tasks = [
                (train, test, l1_ratio, alphas * self._fold_scale(data, train, l1_ratio))
                for train, test in folds
                for l1_ratio, alphas in zip(l1_ratios, grids, strict=True)
            ]
            root = self._init_callback_context(max_subtasks=len(tasks) + int(self.refit))
            hooks = {
                "X": X,
                "y": y,
                "metadata": None if raw_weight is None else {"sample_weight": raw_weight},
            }
            root.call_on_fit_task_begin(estimator=self, **hooks)
            # Made here, not in the threads: a context's children are numbered as they are made.
            contexts = [_point_contexts(root, alphas.size) for *_, alphas in tasks]
            paths = _run_paths(self, base, data, tasks, contexts)
            self._store_paths(paths, len(folds), l1_ratios, grids, classes)
            self._model_ = self._final_model(base, data, classes, l1_ratios, grids, root)
            root.call_on_fit_task_end(estimator=self, **hooks)
            self.coef_, self.intercept_ = self._model_.coef_, self._model_.intercept_
            self.duality_gap_ = float(getattr(self._model_, "duality_gap_", np.nan))
        return self

    def _l1_ratios(self):
        if self.l1_ratios is None:
            return np.array([0.0])
        l1_ratios = np.asarray(self.l1_ratios, dtype=np.float64).ravel()
        if l1_ratios.size == 0 or not ((l1_ratios >= 0) & (l1_ratios <= 1)).all():
            raise ValueError(
                f"l1_ratios must be a non-empty list of numbers in [0, 1]; got {self.l1_ratios!r}."
            )
        return l1_ratios

    def _grids(self, base, X, y, targets, classes, sample_weight, offset, l1_ratios):
        """Every ``l1_ratio``'s grid of ``alpha``, from the largest (the refit's, see ``alphas``)."""
        if not isinstance(self.alphas, Integral):
            alphas = np.sort(np.asarray(self.alphas, dtype=np.float64).ravel())[::-1]
            if alphas.size == 0 or not (np.isfinite(alphas).all() and (alphas >= 0).all()):
                raise ValueError(
                    f"alphas must be an int or non-empty non-negative finite numbers; got {self.alphas!r}."
                )
            return [alphas] * l1_ratios.size
        Cs = np.logspace(*_C_RANGE, self.alphas)
        weight_sum = self._weight_sum(targets, classes, sample_weight)
        grids = []
        for l1_ratio in l1_ratios:
            if l1_ratio == 0:
                grids.append(1.0 / (Cs * weight_sum))
            else:
                alpha_max = _alpha_max(base, X, y, sample_weight, offset, l1_ratio)
                grids.append(alpha_max * np.logspace(0, np.log10(_L1_PATH_DEPTH), self.alphas))
        return grids

    def _weight_sum(self, targets, classes, sample_weight):
        """``S``, the sum of the row weights (sample times class weights) a fit on these rows uses."""
        class_count = sample_weight.astype(np.float64) @ targets
        class_weights = compute_class_weights(self.class_weight, classes, class_count)
        return float(with_class_weights(sample_weight, targets, class_weights).sum())

    def _fold_scale(self, data, train, l1_ratio):
        """Fold ``train``'s alphas over the refit's: ``S / S_k`` on an int ``alphas``'s L2 grid, else 1."""
        if not isinstance(self.alphas, Integral) or l1_ratio > 0:
            return 1.0
        fold = self._weight_sum(data.targets[train], data.classes, data.sample_weight[train])
        return self._weight_sum(data.targets, data.classes, data.sample_weight) / fold

    def _scorer(self):
        """The held-out score of a model: ``scoring``'s scorer, or by default :func:`_neg_log_loss`."""
        if self.scoring in (None, "neg_log_loss"):
            return _neg_log_loss
        return check_scoring(self, scoring=self.scoring)

    def _store_paths(self, paths, n_folds, l1_ratios, grids, classes):
        """``scores_``, ``coefs_paths_``, ``n_iter_``, ``duality_gaps_`` and the grids, from the paths."""
        shape = (n_folds, l1_ratios.size, grids[0].size)
        for name in ("scores", "n_iter", "duality_gaps"):
            setattr(self, f"{name}_", np.array([path[name] for path in paths]).reshape(shape))
        self.coefs_paths_ = np.array([path["coefs"] for path in paths]).reshape(
            *shape, *paths[0]["coefs"].shape[1:]
        )
        self.alphas_ = np.array(grids)
        self.l1_ratios_ = l1_ratios
        self.classes_ = classes

    def _final_model(self, base, data, classes, l1_ratios, grids, root):
        """The refit at the best mean score (a subtask of ``root``), or without ``refit`` the mean of
        each fold's best model."""
        if self.refit:
            best_l1, best_alpha = np.unravel_index(
                np.argmax(self.scores_.mean(axis=0)), self.scores_.shape[1:]
            )
            self.alpha_ = float(grids[best_l1][best_alpha])
            self.l1_ratio_ = float(l1_ratios[best_l1])
            start = self.coefs_paths_[:, best_l1, best_alpha].mean(axis=0)
            model = _with_coefficients(base, classes, start, data.X.shape[1], self.fit_intercept)
            model.set_params(alpha=self.alpha_, l1_ratio=self.l1_ratio_, warm_start=True)
            _fit_in(root.subcontext(task_name="refit"), self, model, *data.rows(slice(None)))
            return model.set_params(warm_start=False)
        best = [np.unravel_index(np.argmax(fold), fold.shape) for fold in self.scores_]
        self.alpha_ = float(np.mean([grids[k][j] for k, j in best]))
        self.l1_ratio_ = float(np.mean([l1_ratios[k] for k, _ in best]))
        mean = np.mean([self.coefs_paths_[i, k, j] for i, (k, j) in enumerate(best)], axis=0)
        model = _with_coefficients(base, classes, mean, data.X.shape[1], self.fit_intercept)
        return model.set_params(alpha=self.alpha_, l1_ratio=self.l1_ratio_)

    # ------------------------------------------------------------ predict

    def _checked(self, X):
        """``X`` validated against the fit (feature count and names)."""
        check_is_fitted(self)
        return self._validate_X(X)

    def decision_function(self, X, offset=None):
        """Scores ``X W + b`` of the final model, as :meth:`MaxEntClassifier.decision_function`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifierCV
        >>> X, y = load_iris(return_X_y=True)
        >>> MaxEntClassifierCV(alphas=3).fit(X, y).decision_function(X[:2]).shape
        (2, 3)
        """
        X = self._checked(X)
        return self._model_.decision_function(X, offset=offset)

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
        >>> from sklearn_maxent import MaxEntClassifierCV
        >>> X, y = load_iris(return_X_y=True)
        >>> MaxEntClassifierCV(alphas=3).fit(X, y).predict(X[[0, 50, 100]])
        array([0, 1, 2])
        """
        X = self._checked(X)
        return self._model_.predict(X, offset=offset)

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

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifierCV
        >>> X, y = load_iris(return_X_y=True)
        >>> MaxEntClassifierCV(alphas=3).fit(X, y).predict_proba(X[:1]).sum().round(6)
        np.float64(1.0)
        """
        X = self._checked(X)
        return self._model_.predict_proba(X, offset=offset)

    def predict_log_proba(self, X, offset=None):
        """Log of the class probabilities, by log-sum-exp.

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
        >>> from sklearn_maxent import MaxEntClassifierCV
        >>> X, y = load_iris(return_X_y=True)
        >>> MaxEntClassifierCV(alphas=3).fit(X, y).predict_log_proba(X[:2]).shape
        (2, 3)
        """
        X = self._checked(X)
        return self._model_.predict_log_proba(X, offset=offset)

    def score(self, X, y, sample_weight=None, offset=None):
        """The ``scoring`` of the final model on ``X``, ``y`` (``neg_log_loss`` by default), as in LRCV.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Labels, or soft labels (scored by their cross-entropy by default).
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`.

        Returns
        -------
        score : float

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_maxent import MaxEntClassifierCV
        >>> X, y = load_iris(return_X_y=True)
        >>> bool(MaxEntClassifierCV(alphas=3).fit(X, y).score(X, y) < 0)  # minus the log-loss
        True
        """
        X = self._checked(X)
        soft = is_soft(y)
        scorer = self._scorer()
        if soft:
            y = check_soft_labels(y, X.dtype)
            y = y if scorer is _neg_log_loss else y.argmax(axis=1)
        else:
            y = np.asarray(y)
        model = self._model_
        if offset is not None:
            model = _WithOffset(model, check_offset(offset, X.shape[0], self.classes_.size, X.dtype))
        return _held_out_score(scorer, model, X, y, sample_weight)


class _FoldData:
    """The validated data every fold's path reads: rows are sliced per fold, nothing is copied here.

    ``y_scored`` is what the scorer compares to: ``y``, or the argmax of
    soft labels for a scorer that takes labels.
    """

    def __init__(self, X, y, targets, classes, soft, sample_weight, offset, scorer):
        self.X, self.y, self.targets, self.classes = X, y, targets, classes
        self.sample_weight, self.offset, self.scorer = sample_weight, offset, scorer
        self.y_scored = y.argmax(axis=1) if soft and scorer is not _neg_log_loss else y

    def rows(self, index):
        """``X``, ``y``, ``sample_weight`` and ``offset`` of the rows ``index``."""
        offset = None if self.offset is None else self.offset[index]
        return self.X[index], self.y[index], self.sample_weight[index], offset


def _run_paths(search, base, data, tasks, contexts):
    """Every fold's path, ``(train, test, l1_ratio, alphas)`` of ``tasks``, in ``search.n_jobs`` threads.

    ``contexts``: each task's callback contexts, one per path point.

    BLAS stays on one thread throughout, as in every fit (held here, so that
    the fits' own switches in concurrent threads cannot undo each other);
    with several threads each one's kernels share the OpenMP threads.
    """
    workers = min(effective_n_jobs(search.n_jobs), len(tasks))
    kernel_threads = max(1, _openmp_threads() // workers) if workers > 1 else None
    with single_threaded_blas():
        return Parallel(n_jobs=workers, prefer="threads")(
            delayed(_fold_path)(search, base, data, *task, points, kernel_threads)
            for task, points in zip(tasks, contexts, strict=True)
        )


def _openmp_threads():
    """The OpenMP threads a kernel may use here (``OMP_NUM_THREADS``, ``threadpool_limits``), or 1."""
    return min((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"), default=1)


def _point_contexts(root, n_points):
    """A fold path's subtask of the callback context ``root``, and its subtasks, one per path point."""
    path = root.subcontext(task_name="fold-path", max_subtasks=n_points)
    return path, [path.subcontext(task_name="path-point") for _ in range(n_points)]


def _fit_in(context, search, model, X, y, sample_weight, offset):
    """``model.fit`` as the subtask ``context`` of ``search``'s fit, with its callbacks propagated."""
    with context.propagate_callback_context(model):
        context.call_on_fit_task_begin(estimator=search, X=X, y=y)
        model.fit(X, y, sample_weight=sample_weight, offset=offset)
    context.call_on_fit_task_end(estimator=search, X=X, y=y)


def _fold_path(search, base, data, train, test, l1_ratio, alphas, contexts, kernel_threads=None):
    """One fold's path: ``base`` fitted at every ``alpha`` in turn, each fit warm-started from the last.

    Returns the held-out scores, the coefficients (intercept last), the
    iterations and the certified gaps of every path point. ``contexts``: the
    path's callback context and its points' (:func:`_point_contexts`).
    ``kernel_threads`` limits this thread's OpenMP threads (a per-thread
    setting).
    """
    if kernel_threads is not None:
        with threadpool_limits(limits=kernel_threads, user_api="openmp"):
            return _fold_path(search, base, data, train, test, l1_ratio, alphas, contexts)
    model = clone(base).set_params(l1_ratio=l1_ratio, warm_start=True)
    X, y, sample_weight, offset = data.rows(train)
    X_test, _, weight_test, offset_test = data.rows(test)
    path_context, point_contexts = contexts
    path_context.call_on_fit_task_begin(estimator=search, X=X, y=y)
    path = {"scores": [], "coefs": [], "n_iter": [], "duality_gaps": []}
    for alpha, context in zip(alphas, point_contexts, strict=True):
        _fit_in(context, search, model.set_params(alpha=alpha), X, y, sample_weight, offset)
        _check_fold_classes(model.classes_, data.classes)
        scored = model if offset_test is None else _WithOffset(model, offset_test)
        path["scores"].append(_held_out_score(data.scorer, scored, X_test, data.y_scored[test], weight_test))
        path["coefs"].append(_stacked(model))
        path["n_iter"].append(model.n_iter_)
        path["duality_gaps"].append(model.duality_gap_)
    path_context.call_on_fit_task_end(estimator=search, X=X, y=y)
    path["coefs"] = np.array(path["coefs"])
    return path


def _check_fold_classes(fold_classes, classes):
    if not np.array_equal(fold_classes, classes):
        missing = np.setdiff1d(classes, fold_classes).tolist()
        raise ValueError(
            f"A fold's training rows lack the classes {missing}, so its models cannot be compared with the "
            "others; use fewer folds or a stratified splitter (cv=StratifiedKFold(n_splits))."
        )


def _stacked(model):
    """``coef_`` with ``intercept_`` as its last column when fitted (a row of ``coefs_paths_``)."""
    if not model.fit_intercept:
        return np.array(model.coef_)
    return np.hstack([model.coef_, model.intercept_[:, None]])


def _with_coefficients(base, classes, stacked, n_features, fit_intercept):
    """A clone of ``base`` holding the model ``stacked`` (see :func:`_stacked`), to warm-start or predict."""
    model = clone(base)
    model.classes_ = classes
    model.coef_ = np.ascontiguousarray(stacked[:, :n_features])
    model.intercept_ = (
        stacked[:, n_features].copy() if fit_intercept else np.zeros(stacked.shape[0], stacked.dtype)
    )
    model.n_features_in_ = n_features
    return model


def _alpha_max(base, X, y, sample_weight, offset, l1_ratio):
    """The least ``alpha`` at which ``l1_ratio``'s model has every weight zero (``coef_ = 0`` optimal).

    At ``W = 0`` the L2 part's gradient vanishes, so zero is optimal iff every
    data gradient entry is within the L1 part's pull, ``alpha * l1_ratio *
    penalty_factor_j``; the data gradient is that of the intercept-only
    model, fitted with the weights bounded to zero.
    """
    probe = clone(base).set_params(
        alpha=1.0, l1_ratio=0.0, bounds=(0, 0), coef_prior=None, solver="lbfgs", early_stopping=False
    )
    probe.fit(X, y, sample_weight=sample_weight, offset=offset)
    gradient = np.abs(probe.expectation_gap(X, y, sample_weight=sample_weight, offset=offset)).max(axis=0)
    factor = check_penalty_factor(base.penalty_factor, X.shape[1])
    factor = np.ones(X.shape[1]) if factor is None else factor
    penalized = factor > 0
    largest = float((gradient[penalized] / factor[penalized]).max(initial=0.0))
    if not largest > 0:
        raise ValueError(
            "The weights' gradient at coef_ = 0 is zero, so every alpha gives an all-zero model and an "
            "L1 grid from alpha_max is empty; pass alphas as an array."
        )
    return largest / l1_ratio


def _held_out_score(scorer, model, X, y, sample_weight):
    return float(scorer(model, X, y, sample_weight=sample_weight))


def _neg_log_loss(model, X, y, sample_weight=None):
    """Minus the mean log-loss of ``model`` on ``X``: scikit-learn's ``neg_log_loss`` with every class.

    Unlike the ``"neg_log_loss"`` scorer it takes held-out rows of one class
    (the labels are ``model.classes_``), and soft labels ``y`` (their
    cross-entropy).
    """
    if y.ndim == 2:
        return float(np.average((y * model.predict_log_proba(X)).sum(axis=1), weights=sample_weight))
    return -log_loss(y, model.predict_proba(X), labels=model.classes_, sample_weight=sample_weight)


class _WithOffset(ClassifierMixin, BaseEstimator):
    """A fitted model whose predictions add the held-out rows' ``offset``: what a scorer is given.

    Scorers call ``predict_proba(X)`` and the like with no metadata, so
    the fold's offset rides along with the model.
    """

    def __init__(self, model, offset):
        self.model = model
        self.offset = offset

    @property
    def classes_(self):
        return self.model.classes_

    def __sklearn_is_fitted__(self):
        return True

    def decision_function(self, X):
        return self.model.decision_function(X, offset=self.offset)

    def predict(self, X):
        return self.model.predict(X, offset=self.offset)

    def predict_proba(self, X):
        return self.model.predict_proba(X, offset=self.offset)

    def predict_log_proba(self, X):
        return self.model.predict_log_proba(X, offset=self.offset)
