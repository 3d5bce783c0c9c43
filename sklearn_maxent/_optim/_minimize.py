"""The solver chain behind the estimator's ``solver`` parameter."""

import numpy as np

from .._model._objective import Objective
from .._model._softmax import single_threaded_blas
from ._certify import CERTIFY_MARGIN
from ._lbfgs import lbfgs
from ._monitor import SILENT
from ._newton import newton
from ._newton_cd import newton_cd
from ._sgd import sgd
from ._state import Result
from ._used_features import on_used_features

# The "auto" solver hands over from SAGA to L-BFGS once an epoch lowers the
# best loss by less than this fraction per full pass's cost (what an L-BFGS
# iteration costs) ...
AUTO_STALL_RATIO = 1e-2
# ... on sparse data, 1e-3 in two epochs running: there L-BFGS is slow while SAGA still
# gains, and one noisy epoch must not end the phase (benchmarks/results/CONSTANTS.md).
AUTO_STALL_RATIO_SPARSE = 1e-3
AUTO_STALL_PATIENCE_SPARSE = 2
# ... and after at most this share of max_iter in SAGA epochs, whatever they gain.
AUTO_SAGA_SHARE = 0.1
# What a SAGA epoch costs in full passes (X @ W and X.T @ G), as measured
# (benchmarks/results/CONSTANTS.md): a cost model, not a clock, so the same seed gives the
# same model on any machine.
SAGA_EPOCH_PASSES = 2.0
SAGA_EPOCH_PASSES_SPARSE = 3.0
# ... and starts with SGD only when the data make this many minibatches:
# on fewer, an L-BFGS iteration costs less than an SGD epoch's overhead.
AUTO_MIN_BATCHES = 10
# Largest gradient entry at which L-BFGS hands over to Newton steps, which then need far
# fewer passes than L-BFGS all the way (benchmarks/results/CONSTANTS.md).
NEWTON_HANDOFF = 1e-4
# ... or once the gradient's share of the certified gap is this (with an L2 penalty): strongly
# penalized text is in Newton's region long before its largest gradient entry says so.
NEWTON_GAP_HANDOFF = 1e-2
# Multiply-adds of one pass (entries of X times free classes) up to which the full-batch
# methods converge to precision (see converges_to_precision): a pass of well under 1 ms.
PRECISE_BELOW = 1e6
# ... for "newton-cd", whose step costs up to MAX_SWEEPS (100) sweeps over the working set's
# columns, not a pass (benchmarks/results/CONSTANTS.md).
PRECISE_BELOW_NEWTON_CD = PRECISE_BELOW / 100


def _minimize(
    objective,
    coef,
    intercept,
    *,
    solver,
    max_iter,
    tol,
    state=None,
    batch_size=None,
    n_iter_no_change=None,
    shuffle=True,
    rng=None,
    validation=None,
    monitor=SILENT,
    verbose=0,
):
    """Run a solver on ``objective`` from ``coef``, ``intercept``, in place, until the gap is certified.

    ``tol`` bounds the relative suboptimality ``(J - J*) / J*``, certified by
    a duality gap (:meth:`~sklearn_maxent._model._objective.Objective.certified_gap`)
    that every method checks when it may succeed, and stops on at once.
    ``"sgd"`` and ``"saga"`` run :func:`sgd` (SAGA: variance-reduced), which
    also stops when stalled, or on ``validation`` (early stopping, never
    certified); they check the gap only after epochs that lower the loss by
    less than ``CERTIFY_MARGIN * tol`` of it (a check is a pass of the data,
    too dear after every epoch). ``"lbfgs"`` runs :func:`lbfgs` to a gradient of
    ``NEWTON_HANDOFF``, then :func:`newton`. ``"newton-cd"`` runs
    :func:`~sklearn_maxent._optim._newton_cd.newton_cd` alone, and so does
    ``"auto"`` with an L1 part on host data (:func:`uses_newton_cd`); otherwise
    ``"auto"`` first runs SAGA
    epochs while each lowers the best loss by at least ``AUTO_STALL_RATIO``
    per pass's cost (when the data make at least ``AUTO_MIN_BATCHES``
    minibatches), then does as
    ``"lbfgs"`` (on sparse rows with an L2 penalty alone, goes straight on to
    :func:`newton`). All share the budget of ``max_iter`` iterations, of which the
    SAGA phase takes at most ``AUTO_SAGA_SHARE``.

    Where no certificate exists (no penalty, or unpenalized weights without
    bounds), ``tol`` bounds the largest gradient entry (projected on any
    bounds) instead; where a pass costs next to nothing the
    full-batch methods go on to the precision of the arithmetic
    (:func:`_stopping_rules`).

    ``state``, ``batch_size``, ``n_iter_no_change``, ``shuffle``, ``rng``
    and ``validation`` are those of :func:`sgd`, needed only by the solvers
    that run SGD epochs (``"sgd"``, ``"saga"``, ``"auto"``). ``monitor`` is
    told of every step (:mod:`~sklearn_maxent._optim._monitor`); when it asks
    for a stop, no further phase runs.

    Returns
    -------
    Result
        ``gap``: the certified gap of the result (nan without a penalty).
    """
    sgd_options = {
        "batch_size": batch_size,
        "n_iter_no_change": n_iter_no_change,
        "shuffle": shuffle,
        "rng": rng,
        "monitor": monitor,
        "verbose": verbose,
    }
    if solver in ("sgd", "saga"):
        result = sgd(
            objective,
            coef,
            intercept,
            state,
            max_iter=max_iter,
            tol=tol,
            validation=validation,
            certify_below=None if tol is None else CERTIFY_MARGIN * tol,
            variance_reduced=solver == "saga",
            **sgd_options,
        )
        return _with_gap(objective, coef, intercept, result)
    if solver == "newton-cd" or (solver == "auto" and uses_newton_cd(objective)):
        gap_tol, gradient_tol = _stopping_rules(objective, tol, PRECISE_BELOW_NEWTON_CD)
        result = newton_cd(
            objective,
            coef,
            intercept,
            max_iter=max_iter,
            tol=gradient_tol,
            gap_tol=gap_tol,
            monitor=monitor,
            verbose=verbose,
        )
        return _with_gap(objective, coef, intercept, result)
    gap_tol, gradient_tol = _stopping_rules(objective, tol)
    n_iter, curve = 0, []
    saga_phase = solver == "auto" and objective.n_samples >= AUTO_MIN_BATCHES * batch_size
    if saga_phase:
        # On large sparse float64 data SAGA runs on float32 copies, twice as fast; the chain
        # then certifies on the data as given.
        twin = objective.float32_twin()
        phase_coef, phase_intercept = (
            (coef, intercept) if twin is objective else _as(twin.dtype, coef, intercept)
        )
        result = sgd(
            twin,
            phase_coef,
            phase_intercept,
            state,
            max_iter=max(1, int(AUTO_SAGA_SHARE * max_iter)),
            tol=gap_tol,
            stall_ratio=AUTO_STALL_RATIO_SPARSE if objective.sparse_rows else AUTO_STALL_RATIO,
            stall_patience=AUTO_STALL_PATIENCE_SPARSE if objective.sparse_rows else 1,
            epoch_passes=SAGA_EPOCH_PASSES_SPARSE if objective.sparse_rows else SAGA_EPOCH_PASSES,
            certify_below=None if gap_tol is None else CERTIFY_MARGIN * gap_tol,
            variance_reduced=True,
            **sgd_options,
        )
        n_iter, curve = result.n_iter, list(result.loss_curve)
        if twin is not objective:
            coef[:], intercept[:] = phase_coef, phase_intercept
            gap = objective.certified_gap(coef, intercept)[1] if _certified(result, gap_tol) else np.nan
            result = Result(n_iter, result.converged, curve, gap)
        if _certified(result, gap_tol) or n_iter >= max_iter or monitor.stop_requested:
            return _with_gap(objective, coef, intercept, _ended(result, n_iter, curve, gap_tol))
    # L-BFGS is the cheaper way down to a moderate gradient; from there
    # Newton's quadratic convergence reaches a tight tol in a few steps. Not after SAGA
    # on sparse rows with an L2 penalty: there the model is as large as the data, and
    # L-BFGS's iterations, each working on m copies of it, cost more than the Newton steps
    # they save (benchmarks/results/CONSTANTS.md).
    if not (saga_phase and objective.sparse_rows and objective.penalty.quadratic):
        result = lbfgs(
            objective,
            coef,
            intercept,
            max_iter=max_iter - n_iter,
            tol=max(gradient_tol, NEWTON_HANDOFF),
            gap_tol=gap_tol,
            newton_gap=NEWTON_GAP_HANDOFF,
            monitor=monitor,
            verbose=verbose,
        )
        n_iter, curve = n_iter + result.n_iter, curve + result.loss_curve
        if _certified(result, gap_tol) or n_iter >= max_iter or monitor.stop_requested:
            return _with_gap(objective, coef, intercept, _ended(result, n_iter, curve, gap_tol))
    result = newton(
        objective,
        coef,
        intercept,
        max_iter=max_iter - n_iter,
        tol=gradient_tol,
        gap_tol=gap_tol,
        monitor=monitor,
        verbose=verbose,
    )
    return _with_gap(
        objective,
        coef,
        intercept,
        Result(n_iter + result.n_iter, result.converged, curve + result.loss_curve, result.gap),
    )


def minimize(objective, coef, intercept, **options):
    """Run a solver on ``objective`` from ``coef``, ``intercept``, in place (see :func:`_minimize`).

    BLAS runs on one thread throughout: the passes' own OpenMP threads use the cores
    (:func:`~sklearn_maxent._model._softmax.single_threaded_blas`). A final gap certified
    within ``tol`` is convergence, whatever rule stopped the solver (``tol`` bounds that gap).
    """
    with single_threaded_blas():
        used = objective.on_used_features() if _may_leave_out_features(objective, options) else None
        if used is None:
            result = _minimize(objective, coef, intercept, **options)
        else:
            result = on_used_features(_minimize, objective.penalty, *used, coef, intercept, options)
    tol = options.get("tol")
    if not result.converged and tol is not None and result.gap <= tol:
        result.converged = True
    return result


def _may_leave_out_features(objective, options):
    """Whether the fit may run on the features sparse host data use (:func:`on_used_features`).

    Not for plain SGD, whose averages and AdaGrad sums would have to follow, nor with early
    stopping, whose held-out rows may use the other features.
    """
    return isinstance(objective, Objective) and options["solver"] != "sgd" and not options.get("validation")


def uses_newton_cd(objective):
    """Whether ``"auto"`` runs proximal Newton with coordinate descent: an L1 part, on host data.

    There the penalty's kink makes the gradient-based chain stall short of a certificate
    (issue 21), while coordinate descent sets weights to exactly zero as it goes.
    """
    return objective.penalty.has_l1 and isinstance(objective, Objective)


def _stopping_rules(objective, tol, precise_below=PRECISE_BELOW):
    """What the full-batch methods stop on: ``(gap_tol, gradient_tol)``.

    Where one pass of the data costs at most ``precise_below`` multiply-adds,
    they go on to the arithmetic's precision whatever ``tol``: a pass takes
    well under a millisecond there, so the last few Newton steps cost less
    than the fit's own overhead, and the result no longer depends on the path
    taken (duplicated rows and integer weights, row order, warm starts give
    the same model to rounding, as ``check_estimator`` expects at
    ``rtol=1e-7``). Without a penalty no certificate exists, and ``tol``
    bounds the largest gradient entry. Otherwise the certificate decides.
    A gradient entry below about 100 rounding errors is noise (float32:
    1.2e-5), the least ``gradient_tol`` can be.
    """
    floor = 100 * float(np.finfo(objective.dtype).eps)
    if objective.pass_cost <= precise_below:
        return None, floor
    if not objective.penalty.certifiable or tol is None:
        return None, max(tol or 0.0, floor)
    return tol, floor


def _as(dtype, *arrays):
    """Copies of ``arrays`` in ``dtype``."""
    return tuple(array.astype(dtype) for array in arrays)


def _certified(result, gap_tol):
    """Whether a phase ended with its gap certified within ``gap_tol`` (never without one)."""
    return gap_tol is not None and result.gap <= gap_tol


def _ended(result, n_iter, curve, gap_tol):
    """The chain's result when a phase before the last ends it (certified, or out of iterations)."""
    return Result(n_iter, _certified(result, gap_tol), curve, result.gap)


def _with_gap(objective, coef, intercept, result):
    """``result`` with the certified gap of the final model, measured if the solver did not (one pass)."""
    if np.isnan(result.gap) and objective.penalty.certifiable:
        _, result.gap = objective.certified_gap(coef, intercept)
    return result
