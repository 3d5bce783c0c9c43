"""The solver chain behind the estimator's ``solver`` parameter."""

import numpy as np

from ._lbfgs import lbfgs
from ._newton import newton
from ._sgd import sgd
from ._state import Result

# The "auto" solver hands over from SGD to L-BFGS once an epoch lowers the
# loss by less than this fraction ...
AUTO_STALL_RATIO = 1e-2
# ... on sparse data, 1e-3 in two epochs running: there L-BFGS is slow (on
# the benchmark's text set it was 14 % above the optimum after 13 iterations)
# while SAGA still gains 0.1-0.4 % an epoch, and one noisy SAGA epoch (a loss
# up 3.6 % at epoch 3 there) must not end the phase.
AUTO_STALL_RATIO_SPARSE = 1e-3
AUTO_STALL_PATIENCE_SPARSE = 2
# ... and starts with SGD only when the data make this many minibatches:
# on fewer, an L-BFGS iteration costs less than an SGD epoch's overhead.
AUTO_MIN_BATCHES = 10
# Largest gradient entry at which L-BFGS hands over to Newton steps: measured
# on digits and a 50,000 x 100 problem (tol=1e-10), handing over here took
# 32 and 79 passes, against 155 and 194 for L-BFGS all the way.
NEWTON_HANDOFF = 1e-4


def minimize(
    objective,
    coef,
    intercept,
    state,
    *,
    solver,
    batch_size,
    max_iter,
    tol,
    n_iter_no_change,
    shuffle,
    rng,
    validation=None,
    verbose=0,
):
    """Run a solver on ``objective`` from ``coef``, ``intercept``, in place.

    ``"sgd"`` and ``"saga"`` run :func:`sgd` (SAGA: variance-reduced) with
    its loss-based stopping rule, or with ``validation`` early stopping.
    ``"lbfgs"`` runs :func:`lbfgs` to a gradient of ``NEWTON_HANDOFF`` and
    :func:`newton` from there to ``tol``. ``"auto"`` first runs SAGA epochs
    while each lowers the loss by at least ``AUTO_STALL_RATIO`` (when the
    data make at least ``AUTO_MIN_BATCHES`` minibatches), then does as
    ``"lbfgs"``. All share the budget of ``max_iter`` iterations.

    Returns
    -------
    Result
    """
    sgd_options = {
        "batch_size": batch_size,
        "n_iter_no_change": n_iter_no_change,
        "shuffle": shuffle,
        "rng": rng,
        "verbose": verbose,
    }
    if solver in ("sgd", "saga"):
        return sgd(
            objective,
            coef,
            intercept,
            state,
            max_iter=max_iter,
            tol=tol,
            validation=validation,
            variance_reduced=solver == "saga",
            **sgd_options,
        )
    n_iter, curve = 0, []
    if solver == "auto" and objective.n_samples >= AUTO_MIN_BATCHES * batch_size:
        result = sgd(
            objective,
            coef,
            intercept,
            state,
            max_iter=max_iter,
            tol=None,
            stall_ratio=AUTO_STALL_RATIO_SPARSE if objective.is_sparse else AUTO_STALL_RATIO,
            stall_patience=AUTO_STALL_PATIENCE_SPARSE if objective.is_sparse else 1,
            variance_reduced=True,
            **sgd_options,
        )
        n_iter, curve = result.n_iter, list(result.loss_curve)
    # Below about 100 rounding errors a gradient entry is noise (float32: 1.2e-5).
    tol = max(0.0 if tol is None else tol, 100 * float(np.finfo(objective.dtype).eps))
    if n_iter >= max_iter:
        return Result(n_iter, False, curve)
    # L-BFGS is the cheaper way down to a moderate gradient; from there
    # Newton's quadratic convergence reaches a tight tol in a few steps.
    lbfgs_tol = max(tol, NEWTON_HANDOFF)
    result = lbfgs(objective, coef, intercept, max_iter=max_iter - n_iter, tol=lbfgs_tol, verbose=verbose)
    n_iter, curve, converged = n_iter + result.n_iter, curve + result.loss_curve, False
    # newton() first measures the gradient: with it already within tol it
    # takes no step, so that one pass decides for both methods.
    if n_iter < max_iter:
        result = newton(objective, coef, intercept, max_iter=max_iter - n_iter, tol=tol, verbose=verbose)
        n_iter, curve, converged = n_iter + result.n_iter, curve + result.loss_curve, result.converged
    return Result(n_iter, converged, curve)
