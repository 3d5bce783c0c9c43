"""scikit-learn's callbacks (``sklearn.callback``) told of the optimizer's steps.

A fit is the root task of scikit-learn's callback context (as in
``LogisticRegression``); each step of the optimizer (an SGD or SAGA epoch,
an L-BFGS iteration, a Newton step) is one subtask, named by its phase
(``"saga-epoch"``, ``"lbfgs-iter"``, ...). At the end of a step the callbacks
may look at the model as it stands (``fitted_estimator``, built only if a
callback asks for it) and ask the fit to stop; it then ends there, without a
``ConvergenceWarning``.

Layering: the estimator layer. :class:`CallbackMonitor` is the optimizer's
:class:`~sklearn_maxent._optim._monitor.StepMonitor`; the optimizer knows
nothing of scikit-learn's callbacks.
"""

from ._optim._monitor import SILENT, StepMonitor


class CallbackMonitor(StepMonitor):
    """The optimizer's steps as subtasks of the callback context ``context``.

    Parameters
    ----------
    estimator : estimator
        The estimator being fitted, passed to the hooks.
    context : sklearn.callback.CallbackContext
        The fit's root task.
    attributes : callable
        ``attributes(coef, intercept)`` -> the fitted attributes (``coef_``,
        ``intercept_``, ``classes_``) of the optimizer's model.
    max_steps : int
        The root task's ``max_subtasks``; steps past it are not reported.
    **hook_data
        ``X``, ``y`` and ``metadata``, passed to the hooks.
    """

    def __init__(self, estimator, context, attributes, max_steps, **hook_data):
        self.estimator = estimator
        self.context = context
        self.attributes = attributes
        self.max_steps = max_steps
        self.hook_data = hook_data
        self.step = None
        self.n_steps = 0
        self.stop_requested = False

    def begin(self, phase):
        if self.step is not None or self.n_steps >= self.max_steps:
            return
        self.step = self.context.subcontext(task_name=phase)
        self.n_steps += 1
        self.step.call_on_fit_task_begin(estimator=self.estimator, **self.hook_data)

    def end(self, model):
        if self.step is None:
            return False
        step, self.step = self.step, None
        stop = step.call_on_fit_task_end(
            estimator=self.estimator,
            reconstruction_attributes=lambda: self.attributes(*model()),
            **self.hook_data,
        )
        self.stop_requested = self.stop_requested or bool(stop)
        return bool(stop)

    def abandon(self):
        if self.step is not None:
            step, self.step = self.step, None
            step.call_on_fit_task_end(estimator=self.estimator)


def fit_task(estimator, max_steps, X, y, sample_weight, attributes, name="fit"):
    """Begin the root task ``name``; returns it and the optimizer's monitor (silent without callbacks)."""
    context = estimator._init_callback_context(task_name=name, max_subtasks=max_steps)
    hook_data = {
        "X": X,
        "y": y,
        "metadata": None if sample_weight is None else {"sample_weight": sample_weight},
    }
    context.call_on_fit_task_begin(estimator=estimator, **hook_data)
    if not getattr(estimator, "_skl_callbacks", None):
        return context, SILENT
    return context, CallbackMonitor(estimator, context, attributes, max_steps, **hook_data)


def end_fit_task(estimator, context, monitor):
    """End the fit's root task (with the estimator as fitted); True if a callback stopped the fit."""
    hook_data = getattr(monitor, "hook_data", {})
    context.call_on_fit_task_end(estimator=estimator, reconstruction_attributes={}, **hook_data)
    return monitor.stop_requested
