"""What a solver tells its caller of its steps: the hook under the estimator's callbacks.

A solver calls ``monitor.begin(phase)`` as a step starts (``phase``:
``"sgd-epoch"``, ``"saga-epoch"``, ``"lbfgs-iter"``, ``"newton-iter"`` or
``"newton-cd-iter"``; a
step already begun goes on) and ``monitor.end(model)`` as it ends, where
``model()`` returns the model the solver offers at that point,
``(coef, intercept)``, computed only if the monitor asks for it. ``end``
returns True to ask for a stop: the solver ends its phase there and
:func:`~sklearn_maxent._optim.minimize` runs no further phase.
``monitor.abandon()`` ends a step begun but never finished: L-BFGS-B's
evaluations after its last iteration, an SGD epoch retried past its
back-offs, a Newton step whose line search found no step.

:class:`StepMonitor` itself is the silent monitor of a fit without
callbacks: it does nothing and never stops. Nothing here knows of
scikit-learn: the estimator's monitor (``sklearn_maxent._callbacks``) maps
steps onto scikit-learn's callback tasks.
"""


class StepMonitor:
    """A monitor that does nothing: see the module's docstring for the protocol."""

    stop_requested = False

    def begin(self, phase):
        """A step of ``phase`` starts (unless one is under way)."""

    def end(self, model):
        """The step under way ended at the model ``model()``; True asks the solver to stop."""
        return False

    def abandon(self):
        """The step under way, if any, ends unfinished."""


SILENT = StepMonitor()
