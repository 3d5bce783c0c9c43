"""Data-parallel training on a Dask cluster: :class:`DaskMaxEntClassifier`.

The data stay on the workers. Each worker computes, on the partitions it
holds, the weighted cross-entropy and its ``E_est - E_obs`` gradient
``X_p^T (s_p (P_p - Y_p))`` (weighted sums, not means); the client sums the
workers' results (a tree reduction for more than ``_FAN_IN`` workers) and
takes the full-batch step. The optimizer is the one ``MaxEntClassifier``
runs with ``solver="lbfgs"`` (L-BFGS-B to a gradient of 1e-4, with the L1
part as split ``W+ / W-`` bounds, then Newton-CG steps to ``tol``), run on the
client on an objective whose data terms are evaluated on the cluster, with
the penalty added on the client. So the model is the optimum of
``MaxEntClassifier(solver="lbfgs").fit`` on the concatenated data, up to
the order in which partial sums are added.

What crosses the network per gradient evaluation: the weights ``W`` and
intercept (``K x d`` numbers, ``K`` free classes, ``d`` features) go to every
worker inside its task, and every worker sends back one gradient of the same
size plus the loss; ``O(workers x K x d)`` numbers in all, independent of
the number of rows. A Hessian-vector product of the Newton phase moves the
same amounts (the probabilities at the Newton point are computed once per
step and kept on the workers).

Sparse data: a dask array whose chunks are ``scipy.sparse`` matrices of
whole rows (CSR; other formats converted once per chunk, on its worker).
Each worker stacks the chunks it holds into one CSR matrix, kept as a
:class:`~sklearn_maxent._model._softmax.ThreadedCSR` with the transpose
``MaxEntClassifier`` keeps, so that its passes are the same compiled sparse
products and a pass's ``K x d`` gradient is made once per worker; the data
are never densified.

Layering: the estimator is built on ``MaxEntClassifier``'s skeleton
(:mod:`~sklearn_maxent._base`: parameters, the fit sequence, the model's
attributes); the targets and their weights are made as
``MaxEntClassifier`` makes them (:mod:`~sklearn_maxent._targets`), and so
are the penalty factors, bounds, prior model and offsets checked and turned
into the penalty and the scores' offset (:mod:`~sklearn_maxent._options`:
each worker adds the offset, plus ``X_p W0`` for a prior, to its partitions'
scores); the optimizers are :mod:`sklearn_maxent._optim`'s, and
``MaxEntClassifier`` itself is needed only for
:meth:`~DaskMaxEntClassifier.to_local` and for predicting.

Requires the ``dask`` extra: ``pip install "sklearn-maxent[dask]"``.
"""

import copy
import warnings

import numpy as np
from scipy import sparse

try:
    import dask
    import dask.array as da
    from dask.base import is_dask_collection
    from distributed import default_client, wait
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sklearn_maxent.dask needs dask[array] and distributed; install them with "
        'pip install "sklearn-maxent[dask]".'
    ) from error

from sklearn.base import ClassifierMixin
from sklearn.callback import CallbackSupportMixin, with_callbacks
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import MODEL_ATTRIBUTES, MaxEntBase
from ._classifier import MaxEntClassifier
from ._model import _duality
from ._model._objective import SmoothPart
from ._model._softmax import (
    ThreadedCSR,
    cross_entropy,
    linear_hessian_diagonal,
    linear_hessian_product,
    linear_loss_gradient,
    linear_proba,
    linear_scores,
    written_into,
)
from ._options import Prior, check_offset, check_offset_dtype, check_offset_shape, check_penalty_factor
from ._targets import (
    check_soft_labels,
    compute_class_weights,
    one_hot,
    smoothed_targets,
    with_class_weights,
)

__all__ = ["DaskMaxEntClassifier"]

# At most this many partial results are gathered to the client; more are first
# summed on the workers, this many at a time (a tree reduction).
_FAN_IN = 8


# ---------------------------------------------------------------- worker side
#
# Everything below up to the estimator runs on the workers, on one partition
# (a "block") or on all the blocks one worker holds.


class _RawBlock:
    """One partition as given, held by a worker: ``X`` in the training dtype, ``y``, weights and offset.

    ``X`` is a C-ordered array, or a CSR matrix for sparse chunks.
    """

    __slots__ = ("X", "offset", "sample_weight", "y")

    def __init__(self, X, y, sample_weight, offset):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.offset = offset


class _Block:
    """One partition ready for training, held by a worker: targets, row weights and the scores' offset.

    As :class:`~sklearn_maxent._model._objective.Objective`'s: ``X`` is a C-ordered
    array or a :class:`~sklearn_maxent._model._softmax.ThreadedCSR`; ``offset`` is
    None or ``(n_rows, n_free)`` in ``X``'s dtype, the user's offset plus
    ``X W0`` of a prior model.
    """

    __slots__ = ("X", "offset", "row_weights", "targets")

    def __init__(self, X, targets, row_weights, offset):
        self.X = X
        self.targets = targets
        self.row_weights = row_weights
        self.offset = offset

    @property
    def n_rows(self):
        return self.X.shape[0]


def _raw_block(X, y, sample_weight, offset, dtype):
    """A partition as given: ``X`` in the training dtype, raw labels, sample weights and offset."""
    X = _block_matrix(X, dtype)
    y = np.asarray(y)
    if sample_weight is None:
        sample_weight = np.ones(X.shape[0], dtype=dtype)
    sample_weight = np.asarray(sample_weight, dtype=dtype).reshape(-1)
    offset = None if offset is None else np.asarray(offset, dtype=np.float64)
    return _RawBlock(X, y, sample_weight, offset)


def _block_matrix(X, dtype):
    """A chunk of ``X`` in the training dtype: CSR if sparse (other formats converted), else C-ordered."""
    if sparse.issparse(X):
        return sparse.csr_matrix(X, dtype=dtype)
    return np.ascontiguousarray(X, dtype=dtype)


def _summarize(block, soft):
    """What the client needs to know of a partition: problems, labels, weighted counts, stored entries."""
    problems = []
    n_rows = block.X.shape[0]
    sample_weight = block.sample_weight
    entries = block.X.data if sparse.issparse(block.X) else block.X
    if not np.isfinite(entries).all():
        problems.append("X contains NaN or infinity")
    if sample_weight.shape[0] != n_rows or block.y.shape[0] != n_rows:
        problems.append("X, y and sample_weight partitions have different numbers of rows")
    elif not (np.isfinite(sample_weight).all() and (sample_weight >= 0).all()):
        problems.append("sample_weight contains negative or non-finite values")
    if block.offset is not None and not np.isfinite(block.offset).all():
        problems.append("offset contains NaN or infinity")
    summary = {"rows": n_rows, "entries": entries.size, "problems": problems}
    if soft:
        try:
            Y = check_soft_labels(block.y, np.float64)
        except ValueError as error:
            problems.append(str(error).rstrip("."))
        summary["counts"] = sample_weight.astype(np.float64) @ Y if not problems else None
    else:
        labels, inverse = np.unique(block.y, return_inverse=True)
        summary["labels"] = labels
        summary["counts"] = np.bincount(
            inverse.ravel(), weights=sample_weight.astype(np.float64), minlength=labels.size
        )
    return summary


def _concatenated(blocks):
    """One ``_RawBlock`` of the rows of ``blocks`` (whose ``X`` are CSR), in their order."""
    offsets = [b.offset for b in blocks]
    return _RawBlock(
        sparse.vstack([b.X for b in blocks], format="csr"),
        np.concatenate([b.y for b in blocks]),
        np.concatenate([b.sample_weight for b in blocks]),
        None if offsets[0] is None else np.concatenate(offsets),
    )


def _final_block(soft, classes, class_weights, row_weight_sum, label_smoothing, prior, *raw_blocks):
    """Partitions ready for training, as one block: smoothed targets, row weights normalized over all
    data, offset.

    Computed as ``MaxEntClassifier`` does: a row's weight is its sample weight
    times its target's mean class weight, divided by the sum over all rows;
    the offset is the user's plus ``X W0`` (``prior``, a
    :class:`~sklearn_maxent._options.Prior`). Several ``raw_blocks`` (sparse)
    are concatenated first.
    """
    block = raw_blocks[0] if len(raw_blocks) == 1 else _concatenated(raw_blocks)
    dtype = block.X.dtype
    targets = block.y.astype(np.float64) if soft else one_hot(block.y, classes)
    row_weights = with_class_weights(block.sample_weight, targets, class_weights)
    row_weights = (row_weights / dtype.type(row_weight_sum)).astype(dtype, copy=False)
    offset = check_offset(block.offset, block.X.shape[0], classes.size, dtype)
    offset = prior.offset(block.X, offset, dtype)
    # Sparse rows as MaxEntClassifier's passes take them: with X.T kept for the threaded X.T @ R.
    X = ThreadedCSR(block.X) if sparse.issparse(block.X) else block.X
    return _Block(X, smoothed_targets(targets, label_smoothing, dtype), row_weights, offset)


def _worker_loss_gradient(coef, intercept, reference_class, *blocks):
    """Loss and gradient summed over one worker's blocks, and the rows they hold."""
    loss = 0.0
    grad_coef = np.zeros(coef.shape, dtype=np.float64)
    grad_intercept = np.zeros(intercept.shape, dtype=np.float64)
    rows = 0
    for block in blocks:
        block_loss, block_coef, block_intercept = linear_loss_gradient(
            block.X, block.targets, block.row_weights, coef, intercept, reference_class, block.offset
        )
        loss += block_loss
        grad_coef += block_coef
        grad_intercept += block_intercept
        rows += block.n_rows
    return loss, grad_coef, grad_intercept, rows


def _worker_proba(coef, intercept, reference_class, *blocks):
    """The probabilities of every block at a point, kept on the worker for Hessian products."""
    return [linear_proba(b.X, coef, intercept, reference_class, b.offset) for b in blocks]


def _worker_hessian_product(coef_dir, intercept_dir, reference_class, probas, *blocks):
    """The data term's Hessian times a direction, summed over one worker's blocks."""
    hess_coef = np.zeros(coef_dir.shape, dtype=np.float64)
    hess_intercept = np.zeros(intercept_dir.shape, dtype=np.float64)
    rows = 0
    for proba, block in zip(probas, blocks, strict=True):
        block_coef, block_intercept = linear_hessian_product(
            block.X, proba, block.row_weights, coef_dir, intercept_dir, reference_class
        )
        hess_coef += block_coef
        hess_intercept += block_intercept
        rows += block.n_rows
    return 0.0, hess_coef, hess_intercept, rows


def _worker_hessian_diagonal(reference_class, probas, *blocks):
    """The data term's Hessian diagonal (Newton's preconditioner), summed over one worker's blocks."""
    diag_coef, diag_intercept, rows = 0.0, 0.0, 0
    for proba, block in zip(probas, blocks, strict=True):
        block_coef, block_intercept = linear_hessian_diagonal(
            block.X, proba, block.row_weights, reference_class
        )
        diag_coef = diag_coef + block_coef.astype(np.float64)
        diag_intercept = diag_intercept + block_intercept.astype(np.float64)
        rows += block.n_rows
    return 0.0, diag_coef, diag_intercept, rows


def _certificate_probas(coef, intercept, reference_class, *blocks):
    """Each block's probabilities (float64), kept on the worker for the certificate's rounds."""
    return [linear_proba(b.X, coef, intercept, reference_class, b.offset).astype(np.float64) for b in blocks]


def _worker_certificate_means(coef, intercept, reference_class, probas, *blocks):
    """The certificate's first round: ``sum w CE``, ``sum w P`` and ``sum w Y`` over one worker's blocks."""
    loss, expected, observed, rows = 0.0, 0.0, 0.0, 0
    for proba, block in zip(probas, blocks, strict=True):
        row_weights, targets = block.row_weights.astype(np.float64), block.targets.astype(np.float64)
        scores = linear_scores(block.X, coef, intercept, reference_class, block.offset).astype(np.float64)
        loss += cross_entropy(scores, targets, row_weights)
        expected = expected + row_weights @ proba
        observed = observed + row_weights @ targets
        rows += block.n_rows
    return loss, expected, observed, rows


def _worker_share(observed, shift, probas, *blocks):
    """The largest share of the targets' mean any of one worker's rows needs (see ``_duality``)."""
    return max(_duality.share_needed(proba, observed, shift) for proba in probas)


def _worker_expectation_terms(balance, reference_class, probas, *blocks):
    """``sum w H(Q)`` (with the offset's term) and ``X^T w (Q - Y)`` over one worker's blocks.

    ``Q`` balanced; the offset's term is
    :func:`~sklearn_maxent._model._duality.data_conjugate_sum`'s.
    """
    entropy_sum, gap, rows = 0.0, 0.0, 0
    for proba, block in zip(probas, blocks, strict=True):
        row_weights, targets = block.row_weights.astype(np.float64), block.targets.astype(np.float64)
        expected = proba if balance is None else _duality.balanced(proba, *balance)
        block_entropy, block_gap = _duality.expectation_terms(
            block.X, expected, targets, row_weights, reference_class, block.offset
        )
        entropy_sum += block_entropy
        gap = gap + block_gap
        rows += block.n_rows
    return entropy_sum, gap, np.zeros(1), rows


def _worker_mixed_entropy(balance, scale, probas, *blocks):
    """``data_conjugate_sum`` at ``scale Q + (1 - scale) Y`` over one worker's blocks (``Q`` balanced)."""
    total = 0.0
    for proba, block in zip(probas, blocks, strict=True):
        row_weights, targets = block.row_weights.astype(np.float64), block.targets.astype(np.float64)
        expected = proba if balance is None else _duality.balanced(proba, *balance)
        total += _duality.data_conjugate_sum(
            _duality.mixed(expected, targets, scale), targets, row_weights, block.offset
        )
    return total


def _sum_results(*results):
    """Sum ``(loss, grad_coef, grad_intercept, rows)`` tuples: a node of the tree reduction."""
    loss, grad_coef, grad_intercept, rows = results[0]
    grad_coef, grad_intercept = grad_coef.copy(), grad_intercept.copy()
    for other in results[1:]:
        loss += other[0]
        grad_coef += other[1]
        grad_intercept += other[2]
        rows += other[3]
    return loss, grad_coef, grad_intercept, rows


def _predict_block(X, offset=None, *, model, method):
    """``method`` of the local ``model`` on one partition of ``X`` (and of the offset)."""
    return getattr(model, method)(X, offset=offset)


# ---------------------------------------------------------------- client side


class _DistributedObjective(SmoothPart):
    """The training objective of ``MaxEntClassifier`` with its data terms on the cluster.

    Offers what :func:`sklearn_maxent._optim.lbfgs` and
    :func:`~sklearn_maxent._optim.newton` use of an
    :class:`~sklearn_maxent._model._objective.Objective`: ``dtype``, ``penalty``,
    ``fit_intercept``, ``reference_class``, ``smooth_value_gradient`` and
    ``hessian_product_and_diagonal`` (the L2 part added on the client, by
    :class:`~sklearn_maxent._model._objective.SmoothPart`). Each data evaluation is
    one task per worker on the blocks it holds, plus a tree reduction.
    ``shape`` is ``(n_samples, n_features, n_free)``; ``n_entries`` the
    entries of ``X`` the blocks store (their non-zeros, for sparse blocks).
    """

    def __init__(self, client, blocks, shape, n_entries, dtype, penalty, fit_intercept, reference_class):
        self.client = client
        self.blocks = blocks
        self.n_samples, self.n_features, self.n_free = shape
        self.n_entries = n_entries
        self.dtype = np.dtype(dtype)
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.reference_class = reference_class
        self.n_evaluations = 0
        self._grouping = None

    def _groups(self):
        """The blocks grouped by the worker that holds them (each block exactly once).

        Asked of the scheduler again only when the set of workers changed (as
        the client last heard): a task is only steered to its worker
        (``allow_other_workers``), so a stale grouping costs transfers,
        never correctness.
        """
        workers = frozenset(self.client.scheduler_info().get("workers", {}))
        if self._grouping is None or self._grouping[0] != workers:
            self._grouping = (workers, _by_worker(self.client, self.blocks))
        return self._grouping[1]

    def _submit(self, function, args, groups, extra=None):
        futures = []
        for i, (worker, blocks) in enumerate(groups.items()):
            leading = args if extra is None else (*args, extra[i])
            futures.append(self.client.submit(function, *leading, *blocks, pure=False, **_placement(worker)))
        return futures

    def _reduce(self, futures):
        """Sum the workers' results: on the workers ``_FAN_IN`` at a time, the last few here."""
        while len(futures) > _FAN_IN:
            futures = [
                self.client.submit(_sum_results, *futures[i : i + _FAN_IN], pure=False)
                for i in range(0, len(futures), _FAN_IN)
            ]
        loss, grad_coef, grad_intercept, rows = _sum_results(*self.client.gather(futures))
        if rows != self.n_samples:
            raise RuntimeError(
                f"The workers' results cover {rows} rows, but the training data has {self.n_samples}; "
                "the model was not updated."
            )
        return loss, grad_coef, grad_intercept

    def data_loss_gradient(self, coef, intercept):
        """Weighted cross-entropy over all partitions and its gradient (as ``Objective``'s)."""
        self.n_evaluations += 1
        args = (np.asarray(coef), np.asarray(intercept), self.reference_class)
        loss, grad_coef, grad_intercept = self._reduce(
            self._submit(_worker_loss_gradient, args, self._groups())
        )
        self._project_intercept(grad_intercept)
        return loss, grad_coef.astype(self.dtype, copy=False), grad_intercept.astype(self.dtype, copy=False)

    def _project_intercept(self, values):
        """Zero an intercept's gradient without an intercept; else take out its mean over classes.

        Without a reference class the softmax ignores a shift common to all
        intercepts, so the exact gradient and Hessian products have
        zero-mean intercept parts (every row of ``P - Y`` sums to 0). The sums
        over partitions leave a rounding residue in that direction, on
        which the Hessian has no curvature; left in, it is a floor that
        conjugate gradients cannot get under, and Newton's CG runs to its
        iteration cap. Taking it out is exact.
        """
        if not self.fit_intercept:
            values[:] = 0
        elif not self.reference_class:
            values -= values.mean()

    @property
    def parameter_shape(self):
        return self.n_features, self.n_free

    @property
    def pass_cost(self):
        """Multiply-adds of one pass over the data (``X W``): stored entries times free classes."""
        return self.n_entries * self.n_free

    def certified_gap(self, coef, intercept):
        """``J`` and its certified relative gap, as ``Objective.certified_gap``, from sums over workers.

        The dual point needs global means and a global maximum before its
        entropy can be summed, so it takes three rounds, on probabilities
        computed once and kept on the workers; each moves a few ``K``-vectors,
        the last a gradient-sized array per worker. Each point that the search
        for the dual point's best scale tries (:func:`~sklearn_maxent._model._duality.scaled_dual`)
        takes one more round, of one number per worker. The blocks' offsets enter the scores
        and, as a linear term, the dual (``_worker_expectation_terms``); the
        bounds and penalty factors enter through the penalty's ``conjugate``
        and ``feasible_scale``.
        """
        coef64, intercept64 = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
        groups = self._groups()
        probas = self._submit(_certificate_probas, (coef64, intercept64, self.reference_class), groups)
        args = (coef64, intercept64, self.reference_class)
        loss, expected, observed = self._reduce(
            self._submit(_worker_certificate_means, args, groups, extra=probas)
        )
        primal = loss + self.penalty.value(coef64)
        balance = None
        if self.fit_intercept:
            shift = expected - observed
            share = max(
                self.client.gather(self._submit(_worker_share, (observed, shift), groups, extra=probas))
            )
            balance = (observed, shift, share)

        entropy_sum, gap, _ = self._reduce(
            self._submit(_worker_expectation_terms, (balance, self.reference_class), groups, probas)
        )

        def entropy_at(scale):
            if scale == 1:
                return entropy_sum
            return sum(
                self.client.gather(self._submit(_worker_mixed_entropy, (balance, scale), groups, probas))
            )

        return primal, _duality.relative_gap(primal, _duality.scaled_dual(entropy_at, gap, self.penalty))

    def hessian_product_and_diagonal(self, coef, intercept):
        """The Hessian of :meth:`smooth_value_gradient` as a function, and its diagonal.

        The probabilities at the point are computed once and stay on the
        workers; each product sends the direction and gets back a gradient-sized
        result per worker, and the diagonal is one more such reduction.
        """
        product, groups, probas = self._hessian(coef, intercept)
        _, diag_coef, diag_intercept = self._reduce(
            self._submit(_worker_hessian_diagonal, (self.reference_class,), groups, extra=probas)
        )
        diag_coef = diag_coef.astype(self.dtype, copy=False) + self.penalty.l2_weights
        diag_intercept = diag_intercept.astype(self.dtype, copy=False)
        if not self.fit_intercept:
            diag_intercept[:] = 0
        return product, diag_coef, diag_intercept

    def _hessian(self, coef, intercept):
        groups = self._groups()
        probas = self._submit(
            _worker_proba, (np.asarray(coef), np.asarray(intercept), self.reference_class), groups
        )
        penalty = self.penalty

        def product(coef_dir, intercept_dir, out=None):
            self.n_evaluations += 1
            args = (np.asarray(coef_dir), np.asarray(intercept_dir), self.reference_class)
            _, hess_coef, hess_intercept = self._reduce(
                self._submit(_worker_hessian_product, args, groups, extra=probas)
            )
            hess_coef = hess_coef.astype(self.dtype, copy=False) + penalty.smooth_gradient(coef_dir)
            hess_coef = written_into(out, hess_coef)
            self._project_intercept(hess_intercept)
            return hess_coef, hess_intercept.astype(self.dtype, copy=False)

        return product, groups, probas


def _by_worker(client, futures):
    """``futures`` grouped by the worker that holds each (None: by none), each exactly once, in order."""
    who_has = client.who_has(futures)
    groups = {}
    for future in futures:
        holders = sorted(who_has.get(future.key, ()))
        groups.setdefault(holders[0] if holders else None, []).append(future)
    return groups


def _placement(worker):
    """``submit``'s keywords steering a task to ``worker`` (None: anywhere); another may still run it."""
    return {} if worker is None else {"workers": [worker], "allow_other_workers": True}


def _is_dask_dataframe(X):
    return is_dask_collection(X) and hasattr(X, "to_dask_array")


# What the chunks of a dask array X may be, said by every TypeError about them.
_TAKEN_CHUNKS = (
    "DaskMaxEntClassifier takes chunks that are numpy arrays of numbers, or scipy.sparse matrices "
    "(CSR, or converted to CSR once per chunk) of whole rows: one chunk across the columns, as "
    "da.from_array(X_csr, chunks=(rows, n_features), asarray=False) or "
    "dask_ml.feature_extraction.text.HashingVectorizer make them"
)


def _check_chunks(X):
    """A ``TypeError`` for chunks of the dask array ``X`` that the workers cannot take, told by its meta.

    Only ``X._meta`` is read, so the error comes before any work is scheduled.
    """
    meta = X._meta
    if sparse.issparse(meta) and len(X.chunks[1]) > 1:
        raise TypeError(
            f"X's sparse chunks split its columns ({len(X.chunks[1])} chunks across them). "
            f"{_TAKEN_CHUNKS}; X.rechunk({{1: -1}}) joins them."
        )
    if not (sparse.issparse(meta) or isinstance(meta, np.ndarray)):
        kind = f"{type(meta).__module__.partition('.')[0]}.{type(meta).__name__}"
        raise TypeError(f"X's chunks are {kind}. {_TAKEN_CHUNKS}.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X's chunks hold {X.dtype} values. {_TAKEN_CHUNKS}; text must be vectorized first.")


def _as_dask_array(X, name):
    """A dask array of ``X`` (dask array, dask dataframe or series), chunk sizes known."""
    if _is_dask_dataframe(X):
        return X.to_dask_array(lengths=True)
    if isinstance(X, da.Array):
        if any(np.isnan(size) for size in X.chunks[0]):
            X = X.copy()
            X.compute_chunk_sizes()
        return X
    raise TypeError(
        f"{name} must be a dask array or dask dataframe, not {type(X).__name__}; "
        "wrap in-memory data with dask.array.from_array (or use MaxEntClassifier)."
    )


def _aligned(values, row_chunks, name):
    """``y``, ``sample_weight`` or ``offset`` as a dask array in the row chunks of ``X``, ``row_chunks``.

    Dask input of the same length is rechunked to them (exact: rows are
    matched by position), an in-memory array sent in them; a 2-D one gets one
    chunk across its columns, so that each partition of ``X`` has one block
    of it.
    """
    n_rows = sum(row_chunks)
    if is_dask_collection(values):
        values = _as_dask_array(values, name)
    else:
        values = np.asarray(values)
        if values.ndim == 0:
            raise ValueError(f"{name} must be an array of one value per row of X, not a scalar.")
    if values.shape[0] != n_rows:
        raise ValueError(
            f"X has {n_rows} rows but {name} has {values.shape[0]}: they must have the same length."
        )
    if not isinstance(values, da.Array):
        return da.from_array(values, chunks=(row_chunks, *((s,) for s in values.shape[1:])))
    if values.chunks[0] != tuple(row_chunks) or any(len(c) > 1 for c in values.chunks[1:]):
        values = values.rechunk((row_chunks, *(-1 for _ in values.shape[1:])))
    return values


def _training_arrays(X, y, sample_weight, offset):
    """``fit``'s inputs as dask arrays in ``X``'s row chunks, checked, and ``X``'s feature names (or None)."""
    feature_names = None
    if _is_dask_dataframe(X):
        columns = np.asarray(X.columns, dtype=object)
        if columns.size and all(isinstance(c, str) for c in columns):
            feature_names = columns
    if isinstance(X, da.Array):
        _check_chunks(X)
    X = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), but it has shape {X.shape}.")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X has shape {X.shape}: fit needs at least one sample and one feature.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    y = _aligned(y, X.chunks[0], "y")
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is raveled.",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y[:, 0]
    if y.ndim > 2:
        raise ValueError(f"y must be 1-D labels or 2-D soft labels, not of shape {y.shape}.")
    if sample_weight is not None:
        sample_weight = _aligned(sample_weight, X.chunks[0], "sample_weight")
        if sample_weight.ndim != 1:
            raise ValueError(f"sample_weight must be 1-D, not of shape {sample_weight.shape}.")
    if offset is not None:
        offset = _aligned(offset, X.chunks[0], "offset")
        check_offset_dtype(offset.dtype)
    return X, y, sample_weight, offset, feature_names


def _raw_blocks(client, dtype, X, y, sample_weight, offset):
    """Futures of the partitions as given (``_RawBlock``), each computed where its inputs are."""
    parts = [
        [None] * X.numblocks[0] if values is None else values.to_delayed().ravel()
        for values in (X, y, sample_weight, offset)
    ]
    return client.compute(
        [dask.delayed(_raw_block, pure=True)(*part, dtype) for part in zip(*parts, strict=True)]
    )


def _raise_problems(summaries):
    for i, summary in enumerate(summaries):
        if summary["problems"]:
            raise ValueError(f"Invalid training data in partition {i}: {'; '.join(summary['problems'])}.")


class DaskMaxEntClassifier(CallbackSupportMixin, ClassifierMixin, MaxEntBase):
    """Maximum-entropy classifier trained data-parallel on a Dask cluster.

    The model and the objective are those of
    :class:`~sklearn_maxent.MaxEntClassifier`:

    .. math::

        J(W, b) = \\frac{1}{\\sum_i s_i} \\sum_i s_i \\, CE_i(W, b)
                  + \\alpha \\left(\\frac{1 - \\rho}{2} \\|W\\|_2^2 + \\rho \\|W\\|_1\\right)

    (generalized, as there, by ``penalty_factor``, ``bounds``, ``coef_prior``
    and a per-sample ``offset``), and the optimum is the one
    ``MaxEntClassifier(solver="lbfgs")`` finds on the concatenated data.
    The data never leave the workers: ``fit`` persists the partitions where
    they are computed, every worker evaluates the loss
    and the gradient ``X_p^T s_p (P_p - Y_p)`` (sums, not means) on the
    partitions it holds, and the client adds the workers' results and the
    penalty and takes the full-batch L-BFGS-B step (then Newton-CG steps, whose
    Hessian-vector products are evaluated the same way). Per evaluation,
    ``O(workers x n_classes x n_features)`` numbers cross the network, whatever
    the number of rows. A worker lost during ``fit`` is handled by Dask (its
    partitions are recomputed from their task graph, its tasks rerun); when
    Dask gives up, ``fit`` raises and the estimator is left as it was.

    Follows the convention of LightGBM's and XGBoost's Dask estimators: the
    default ``distributed`` client unless ``client`` is given, lazy dask
    arrays out of ``predict`` and ``predict_proba`` for dask input, and
    :meth:`to_local` for a plain fitted ``MaxEntClassifier`` to serve.

    Parameters
    ----------
    alpha : float, default=1e-4
        Strength of the penalty, >= 0; as in ``MaxEntClassifier``.
    l1_ratio : float, default=0.0
        Elastic-net mixing, in [0, 1]; as in ``MaxEntClassifier``.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalized) intercept per class.
    solver : {"lbfgs"}, default="lbfgs"
        ``"lbfgs"``: full-batch L-BFGS(-B) to a gradient of 1e-4, then
        Newton-CG steps to ``tol``, each gradient a pass over the cluster's
        data; ``MaxEntClassifier``'s ``"lbfgs"``. The minibatch solvers of
        ``MaxEntClassifier`` (``"sgd"``, ``"saga"``, and the SAGA phase of
        ``"auto"``) are sequential over rows and are not offered.
    max_iter : int, default=1000
        L-BFGS iterations plus Newton steps, at most.
    tol : float, default=1e-6
        Certified bound on the relative suboptimality ``(J - J*) / J*`` at
        which the fit stops, as in ``MaxEntClassifier``; each check is a few
        reductions over the workers (``duality_gap_``).
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_`` (same classes and
        features needed, else a ``ValueError``).
    class_weight : dict, "balanced" or None, default=None
        As in ``MaxEntClassifier``; ``"balanced"`` counts the classes over all
        partitions.
    verbose : int, default=0
        Print the optimizer's progress when > 0.
    label_smoothing : float, default=0.0
        As in ``MaxEntClassifier``, in [0, 1).
    penalty_factor : array-like of shape (n_features,), default=None
        Non-negative factor of each feature's penalty (0: unpenalized); as in
        ``MaxEntClassifier``.
    bounds : tuple (lower, upper), default=None
        Bounds on ``coef_``, each None, a scalar or an array broadcastable to
        its shape; as in ``MaxEntClassifier``, honoured exactly (L-BFGS-B's
        bounds, projected Newton steps).
    coef_prior : array-like of shape (1, n_features) or (n_classes, n_features), default=None
        The model the penalty shrinks towards; as in ``MaxEntClassifier``.
        The workers add ``X_p coef_prior.T`` to their partitions' offsets once,
        in ``fit``.
    client : distributed.Client or None, default=None
        The client to train with; None uses ``distributed.default_client()``
        at ``fit`` time.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    class_count_ : ndarray of shape (n_classes,)
        Rows of each class, weighted by the sample weights.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts; centered to sum to 0 for more than two classes.
    n_iter_ : int
        L-BFGS iterations plus Newton steps of the last ``fit``.
    n_evaluations_ : int
        Passes over the cluster's data (gradient evaluations and Hessian
        products) of the last ``fit``.
    duality_gap_ : float
        The certified bound on ``(J - J*) / J*`` where the fit ended; nan for
        ``alpha=0``.
    loss_curve_ : list of float
        Objective after every iteration.
    best_loss_ : float or None
        Smallest value of ``loss_curve_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` is a dask dataframe with string
        column names.

    Notes
    -----
    Parameters of ``MaxEntClassifier`` left out, and why: ``batch_size``,
    ``learning_rate``, ``eta0``, ``power_t``, ``n_iter_no_change``,
    ``shuffle``, ``random_state``, ``average``, ``early_stopping`` and
    ``validation_fraction`` only concern minibatch SGD/SAGA, which visits
    the rows one minibatch after another and so does not run data-parallel
    (for streaming through a dask array, ``dask_ml.wrappers.Incremental``
    with ``MaxEntClassifier``'s ``partial_fit`` does that on one worker at a
    time).

    See Also
    --------
    sklearn_maxent.MaxEntClassifier : the same model on one machine.

    Examples
    --------
    >>> from sklearn_maxent.dask import DaskMaxEntClassifier
    >>> DaskMaxEntClassifier(alpha=1e-3)
    DaskMaxEntClassifier(alpha=0.001)

    With a cluster running (the default ``distributed`` client; see the
    user guide's Dask page), and ``X``, ``y`` dask arrays generated on its workers:

    >>> clf = DaskMaxEntClassifier(alpha=1e-3).fit(X, y)
    >>> clf.predict(X)  # lazy  # doctest: +ELLIPSIS
    dask.array<...>
    >>> float((clf.predict(X) == y).mean().compute()) > 0.95
    True
    >>> clf.to_local()
    MaxEntClassifier(alpha=0.001, solver='lbfgs')
    """

    _parameter_constraints: dict = {
        "solver": [StrOptions({"lbfgs"})],
        "client": "no_validation",
    }  # and MaxEntClassifier's of the others (MaxEntBase)

    def __init__(
        self,
        *,
        alpha=1e-4,
        l1_ratio=0.0,
        fit_intercept=True,
        solver="lbfgs",
        max_iter=1000,
        tol=1e-6,
        warm_start=False,
        class_weight=None,
        verbose=0,
        label_smoothing=0.0,
        penalty_factor=None,
        bounds=None,
        coef_prior=None,
        client=None,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.class_weight = class_weight
        self.verbose = verbose
        self.label_smoothing = label_smoothing
        self.penalty_factor = penalty_factor
        self.bounds = bounds
        self.coef_prior = coef_prior
        self.client = client

    def __getstate__(self):
        # A client holds connections and cannot be pickled; a fitted model can.
        state = super().__getstate__()
        state["client"] = None
        return state

    def _get_client(self):
        return self.client if self.client is not None else default_client()

    # ------------------------------------------------------------------ fit

    @with_callbacks
    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the model on the cluster; the data stay on the workers.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Training data, partitioned by rows. A dask array's chunks are
            numpy arrays of numbers or ``scipy.sparse`` matrices of whole
            rows (one chunk across the columns; CSR, other formats are
            converted to CSR once per chunk); anything else is a
            ``TypeError`` before any work is scheduled.
        y : dask array or dask Series of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or soft labels (rows that are probability
            distributions, one column per class). Partitions not aligned
            with those of ``X`` are rechunked to them; an in-memory array of
            the same length is sent to the cluster in ``X``'s chunks.
        sample_weight : dask array or array-like of shape (n_samples,), default=None
            Non-negative weights, aligned as ``y``.
        offset : dask array or array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to each row's scores, as in ``MaxEntClassifier.fit`` (for
            two classes one column, added to ``classes_[1]``'s score); aligned
            as ``y``. Each worker adds it to the scores of its partitions.

        Returns
        -------
        self : DaskMaxEntClassifier
            The fitted estimator.

        Examples
        --------
        >>> from sklearn_maxent.dask import DaskMaxEntClassifier
        >>> DaskMaxEntClassifier().fit(X, y).classes_
        array([0, 1])
        """
        self._validate_params()
        client = self._get_client()
        X, y, sample_weight, offset, feature_names = _training_arrays(X, y, sample_weight, offset)
        factor = check_penalty_factor(self.penalty_factor, X.shape[1])
        dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        soft = y.ndim == 2
        raw = _raw_blocks(client, dtype, X, y, sample_weight, offset)
        blocks = []
        try:
            summaries = client.gather([client.submit(_summarize, b, soft, pure=False) for b in raw])
            _raise_problems(summaries)
            classes, class_count = self._classes_and_counts(summaries, soft, y)
            prior = Prior.checked(self.coef_prior, self.bounds, X.shape[1], classes.size)
            if offset is not None:
                check_offset_shape(offset.shape, X.shape[0], classes.size)
            blocks = self._final_blocks(
                client, raw, soft, classes, class_count, prior, sparse.issparse(X._meta)
            )
            del raw
            objective = _DistributedObjective(
                client,
                blocks,
                (int(X.shape[0]), X.shape[1], classes.size - (classes.size == 2)),
                sum(s["entries"] for s in summaries),
                dtype,
                prior.penalty(float(self.alpha), float(self.l1_ratio), factor),
                bool(self.fit_intercept),
                classes.size == 2,
            )
            coef, intercept, result, task = self._fit_model(
                objective,
                prior,
                classes,
                (X, y, sample_weight),
                lambda coef, intercept: self._callback_attributes(
                    classes, coef, intercept, X.shape[1], feature_names
                ),
                solver="lbfgs",
            )
        finally:
            client.cancel(blocks)
        self._store(classes, class_count, coef, intercept, result, objective, feature_names)
        return self._end_fit(task, result, stacklevel=3)

    def _final_blocks(self, client, raw, soft, classes, class_count, prior, by_worker):
        """The partitions ready for training (futures of ``_Block``), made where they are.

        With ``by_worker`` (sparse chunks) each worker's partitions become one block: a pass's
        fixed cost, a gradient of ``n_features x n_free`` written, sent and summed, is then paid
        once per worker, not once per partition.
        """
        class_weights = compute_class_weights(self.class_weight, classes, class_count)
        total = float(class_count.sum() if class_weights is None else class_count @ class_weights)
        if not total > 0:
            raise ValueError("The sample weights (times the class weights) sum to zero.")
        args = (soft, classes, class_weights, total, float(self.label_smoothing), prior)
        parts = _by_worker(client, raw).items() if by_worker else [(None, [b]) for b in raw]
        blocks = [
            client.submit(_final_block, *args, *part, pure=False, **_placement(worker))
            for worker, part in parts
        ]
        wait(blocks)
        return blocks

    def _store(self, classes, class_count, coef, intercept, result, objective, feature_names):
        """The fitted attributes of the model ``coef`` (``W``), ``intercept``, and the local model."""
        self._store_model(classes, class_count, coef, intercept, result)
        self.coef_ = np.ascontiguousarray(self.coef_)
        self.n_evaluations_ = objective.n_evaluations
        self.n_features_in_ = int(coef.shape[0])
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._local_model_ = self._build_local()

    def _classes_and_counts(self, summaries, soft, y):
        if soft:
            classes = np.arange(y.shape[1])
            class_count = np.sum([s["counts"] for s in summaries], axis=0)
        else:
            classes = np.unique(np.concatenate([s["labels"] for s in summaries]))
            class_count = np.zeros(classes.size)
            for s in summaries:
                class_count[np.searchsorted(classes, s["labels"])] += s["counts"]
        self._check_two_classes(classes)
        return classes, class_count

    # ------------------------------------------------------------ serving

    def _callback_attributes(self, classes, coef, intercept, n_features, feature_names):
        """What predicting needs of the optimizer's model ``coef``, ``intercept`` (for callbacks)."""
        attributes = {**self._attributes_of(classes, coef, intercept), "n_features_in_": int(n_features)}
        local = MaxEntClassifier(fit_intercept=self.fit_intercept)
        vars(local).update(attributes)
        if feature_names is not None:
            local.feature_names_in_ = feature_names
        return {**attributes, "_local_model_": local}

    def _build_local(self):
        """A ``MaxEntClassifier`` of this estimator's parameters holding copies of its model."""
        local = MaxEntClassifier(**self._model_params())
        for name in MODEL_ATTRIBUTES:
            if hasattr(self, name):
                setattr(local, name, copy.copy(getattr(self, name)))
        # What partial_fit continues from: a fresh SGD state, as after a full-batch fit.
        local._store_sgd_state(local._new_sgd_state(stream=False), early_stopping=False)
        return local

    def to_local(self):
        """A plain fitted :class:`~sklearn_maxent.MaxEntClassifier` with this model, for serving.

        Returns
        -------
        model : MaxEntClassifier
            A copy with ``classes_``, ``coef_``, ``intercept_``, ``n_iter_``,
            ``n_features_in_`` (and ``feature_names_in_``), ``class_count_``,
            ``loss_curve_`` and ``best_loss_`` set; it predicts on in-memory
            data with no cluster.

        Examples
        --------
        >>> local = clf.to_local()  # a fitted MaxEntClassifier
        >>> bool((local.predict(X_numpy) == clf.predict(X_numpy)).all())
        True
        """
        check_is_fitted(self)
        return copy.deepcopy(self._local_model_)

    def _apply(self, X, method, offset):
        """``method`` of the local model on ``X`` and ``offset``: lazily per partition for dask input."""
        check_is_fitted(self)
        model = self._local_model_
        if not is_dask_collection(X):
            return getattr(model, method)(X, offset=offset)
        n_classes = self.classes_.size
        one_column = method == "predict" or (method == "decision_function" and n_classes == 2)
        dtype = self.classes_.dtype if method == "predict" else self.coef_.dtype
        if _is_dask_dataframe(X):
            return _apply_to_partitions(X, offset, model, method, () if one_column else (n_classes,), dtype)
        if not isinstance(X, da.Array):
            raise ValueError(f"X must be a 2-D dask array or dask dataframe, not {type(X).__name__}.")
        _check_chunks(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), but it has shape {X.shape}.")
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        operands = [X, "ij"]
        if offset is not None:
            X = _as_dask_array(X, "X")  # its row chunk sizes known, to align the offset with
            offset = _aligned(offset, X.chunks[0], "offset")
            operands = [X, "ij", offset, "i" if offset.ndim == 1 else "ik"]
        # The columns of X and of the offset are one chunk each (contracted); the output's are new.
        out = "i" if one_column else "ic"
        return da.blockwise(
            _predict_block,
            out,
            *operands,
            model=model,
            method=method,
            concatenate=True,
            new_axes={} if one_column else {"c": n_classes},
            dtype=dtype,
            meta=np.empty((0,) * len(out), dtype=dtype),
        )

    def decision_function(self, X, offset=None):
        """Scores ``X W + b`` (plus ``offset``), lazily for dask input.

        Parameters
        ----------
        X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
            Chunks as in :meth:`fit` (numpy arrays or ``scipy.sparse``
            matrices of whole rows); in-memory data as in ``MaxEntClassifier``.
        offset : dask array or array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`fit`. For a dask ``X`` it
            is aligned with ``X``'s partitions as ``y`` is in ``fit`` (for a
            dask DataFrame their lengths are computed first); for an
            in-memory ``X``, an in-memory array.

        Returns
        -------
        scores : dask array or ndarray of shape (n_samples,) or (n_samples, n_classes)
            As ``MaxEntClassifier.decision_function``.

        Examples
        --------
        >>> clf.decision_function(X)  # doctest: +ELLIPSIS
        dask.array<...>
        >>> clf.decision_function(X_numpy).shape  # numpy in, numpy out
        (4,)
        >>> import numpy as np
        >>> shifted = clf.decision_function(X_numpy, offset=np.ones(4))  # two classes: one column
        >>> bool(np.allclose(shifted, clf.decision_function(X_numpy) + 1))
        True
        """
        return self._apply(X, "decision_function", offset)

    def predict(self, X, offset=None):
        """Most probable class of each row, lazily for dask input.

        Parameters
        ----------
        X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
            As in :meth:`decision_function`.
        offset : dask array or array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`decision_function`.

        Returns
        -------
        labels : dask array or ndarray of shape (n_samples,)

        Examples
        --------
        >>> labels = clf.predict(X)  # lazy
        >>> labels.compute().shape
        (2000,)
        """
        return self._apply(X, "predict", offset)

    def predict_proba(self, X, offset=None):
        """Class probabilities, lazily for dask input.

        Parameters
        ----------
        X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
            As in :meth:`decision_function`.
        offset : dask array or array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`decision_function`.

        Returns
        -------
        proba : dask array or ndarray of shape (n_samples, n_classes)

        Examples
        --------
        >>> proba = clf.predict_proba(X)
        >>> bool(abs(proba.sum(axis=1) - 1).max().compute() < 1e-12)
        True
        """
        return self._apply(X, "predict_proba", offset)

    def predict_log_proba(self, X, offset=None):
        """Log of the class probabilities, lazily for dask input.

        Parameters
        ----------
        X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
            As in :meth:`decision_function`.
        offset : dask array or array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`decision_function`.

        Returns
        -------
        log_proba : dask array or ndarray of shape (n_samples, n_classes)

        Examples
        --------
        >>> clf.predict_log_proba(X)  # doctest: +ELLIPSIS
        dask.array<...>
        """
        return self._apply(X, "predict_log_proba", offset)

    def score(self, X, y, sample_weight=None, offset=None):
        """Mean accuracy (weighted by ``sample_weight``), computed on the cluster for dask input.

        Parameters
        ----------
        X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
            As in :meth:`decision_function`.
        y : dask array, dask Series or array-like of shape (n_samples,)
        sample_weight : dask array or array-like of shape (n_samples,), default=None
        offset : dask array or array-like of shape (n_samples, n_classes) or (n_samples,), default=None
            Added to the rows' scores, as in :meth:`decision_function`.

        Returns
        -------
        score : float

        Examples
        --------
        >>> clf.score(X, y) > 0.95
        True
        """
        if not is_dask_collection(X):
            return self._local_model_.score(X, y, sample_weight=sample_weight, offset=offset)
        predicted = _as_dask_array(self.predict(X, offset=offset), "predictions")
        y = _aligned(y, predicted.chunks[0], "y")
        hits = (predicted == y).astype(np.float64)
        if sample_weight is None:
            return float(hits.mean().compute())
        sample_weight = _aligned(sample_weight, predicted.chunks[0], "sample_weight")
        return float(((hits * sample_weight).sum() / sample_weight.sum()).compute())


def _apply_to_partitions(X, offset, model, method, columns, dtype):
    """``method`` of ``model`` on each partition of the dask DataFrame ``X``, concatenated lazily.

    Whole pandas partitions, so that feature names are checked as in
    ``MaxEntClassifier``; ``columns`` is ``()`` or ``(n_classes,)``, the
    output's shape past the rows. An offset is aligned with the partitions,
    whose lengths are computed for that (one pass over ``X``).
    """
    parts = X.to_delayed()
    lengths, offsets = [np.nan] * len(parts), [None] * len(parts)
    if offset is not None:
        lengths = [int(n) for n in X.map_partitions(len).compute()]
        offsets = _aligned(offset, tuple(lengths), "offset").to_delayed().ravel()
    return da.concatenate(
        [
            da.from_delayed(
                dask.delayed(_predict_block)(part, part_offset, model=model, method=method),
                shape=(n_rows, *columns),
                dtype=dtype,
            )
            for part, part_offset, n_rows in zip(parts, offsets, lengths, strict=True)
        ],
        axis=0,
    )
