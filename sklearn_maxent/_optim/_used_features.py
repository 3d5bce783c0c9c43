"""Sparse data's unused features left out of a fit: their weights settle in closed form.

A feature that no row has an entry of adds nothing to any score, so its
weights' optimum is the penalty's own minimizer. A training set seldom uses a
whole vocabulary (a vectorizer fitted on more text, hashed features, a
cross-validation fold), and every model-sized pass of the solvers (conjugate
gradients' vectors, the certificates, the writes of ``X.T @ U``) would pay
for those weights: 46 % of the synthetic text twin's features are unused.
"""

import numpy as np

from ._monitor import StepMonitor


def on_used_features(run, penalty, part, used, coef, intercept, options):
    """``run(part, part_coef, intercept, **options)`` on the features an objective's rows use.

    ``part, used`` are the objective's ``on_used_features()``, ``penalty`` its
    penalty: the solver chain ``run`` optimizes the ``used`` features' weights (a mask),
    and every other weight goes to the penalty's own minimizer, all in
    ``coef`` in place. ``options`` are ``run``'s; its monitor sees whole
    models, and SGD's ``state`` ends in the whole model's shape. The result
    is the whole problem's: the other weights add their penalty to ``J`` and
    to the dual value alike (:func:`_as_whole`).
    """
    unused = ~used
    unused_penalty = penalty.on_features(unused)
    coef[unused] = unused_penalty.own_minimizer(coef[unused])
    part_coef = coef[used]
    monitor = options.get("monitor")
    if monitor is not None:
        options = {**options, "monitor": _WholeModels(monitor, coef, used)}
    result = run(part, part_coef, intercept, **options)
    coef[used] = part_coef
    state = options.get("state")
    if state is not None and state.applied_l1 is not None:
        # Whatever L1 a later step charges them, the weights at the penalty's minimizer stay.
        applied = np.zeros_like(coef)
        applied[used] = state.applied_l1
        state.applied_l1 = applied
    rest = unused_penalty.value(coef[unused])
    return _as_whole(result, rest, part.value(part_coef, intercept)) if rest else result


def _as_whole(result, rest, part_value):
    """``result`` of the part as the whole problem's, whose ``J`` and dual value are both larger by
    ``rest``: its losses shifted, its relative gap ``(J - D) / D`` divided anew (``part_value``: the
    part's final ``J``). Only where bounds keep unused weights off 0."""
    result.loss_curve = [loss + rest for loss in result.loss_curve]
    if np.isfinite(result.gap):
        dual = part_value / (1.0 + result.gap)
        result.gap = result.gap * dual / (dual + rest)
    return result


class _WholeModels(StepMonitor):
    """``monitor``, told of the models of a fit on the ``used`` rows of ``coef`` as whole models."""

    def __init__(self, monitor, coef, used):
        self.monitor = monitor
        self.coef = coef
        self.used = used

    @property
    def stop_requested(self):
        return self.monitor.stop_requested

    def begin(self, phase):
        self.monitor.begin(phase)

    def end(self, model):
        return self.monitor.end(lambda: self._whole(*model()))

    def abandon(self):
        self.monitor.abandon()

    def _whole(self, part_coef, intercept):
        coef = self.coef.copy()
        coef[self.used] = part_coef
        return coef, intercept
