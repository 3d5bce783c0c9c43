"""Optimizers for :class:`~sklearn_maxent._model._objective.Objective`.

Four methods on the same ``E_est - E_obs`` gradient:

* :func:`sgd` - minibatch stochastic gradient descent, plain or
  variance-reduced (SAGA): cheap epochs that make fast early progress on
  large data, and (plain) the only choice for streams (``partial_fit``),
  where the full data is never seen at once.
* :func:`lbfgs` - full-batch L-BFGS(-B): converges fast to a moderate
  gradient where SGD's noise would stall it.
* :func:`newton_cd` - proximal Newton steps with compiled coordinate descent inside
  (glmnet's scheme), for the L1 and elastic-net penalty: exact zeros as it goes, a
  certificate that closes. A :class:`~._newton_cd.NewtonCDSolver` with the same named steps.
* :func:`newton` - Newton-CG steps judged by the gradient near the optimum: from there
  to the precision of the arithmetic, past the point where the loss stops
  changing in floating point. It runs a :class:`~._newton.NewtonSolver`,
  whose named steps (setup, Newton system, inner solve, line search,
  convergence check) are those of scikit-learn's Newton solver for GLMs.

:func:`minimize` chains them (the estimator's ``solver="auto"``). Nothing
here knows of scikit-learn but its array API helpers (``_device_epochs``);
the caller owns validation, encoding and warnings.

Modules, one concept each; imports go down this list only:

* ``_minimize`` - the solver chain behind ``solver=``;
* ``_used_features`` - a fit on the features sparse data use, the others' weights in closed form;
* ``_sgd`` - the SGD/SAGA driver (the epoch loop, back-off, the step's calibration);
* ``_sgd_stopping`` - when SGD/SAGA stops: the verdict on each epoch;
* ``_newton_cd`` - proximal Newton with coordinate descent (the compiled sweeps of
  ``sklearn_maxent._kernels._coordinate``), a solver object and its entry point;
* ``_lbfgs``, ``_newton`` - the full-batch methods (``_newton`` the Newton loop and a solver object
  with one method per step, and the function the chain calls);
* ``_epochs`` - one SGD or SAGA epoch, the inner loop the driver calls (one call of
  the compiled kernel ``sklearn_maxent._kernels.epoch``, or for a device objective
  of its array API port);
* ``_device_epochs`` - that port: the compiled epoch in array API operations;
* ``_steps`` - step sizes from curvature bounds;
* ``_state`` - what the solvers carry between calls (schedules, SGD state, results);
* ``_lazy`` - SGD's lazy penalty steps and iterate average (``LazyCoef``,
  ``IterateAverage``);
* ``_monitor`` - what a solver tells its caller of each step (the hook under the
  estimator's callbacks), and the silent monitor.

All of them reach the data only through :class:`~sklearn_maxent._model._objective.Objective`,
and name things as its module docstring lists (``coef`` and ``intercept`` for
the model, ``row_weights`` for the weights of the rows).
"""

from ._epochs import all_finite
from ._lbfgs import lbfgs
from ._minimize import minimize
from ._newton import newton
from ._newton_cd import newton_cd
from ._sgd import sgd
from ._state import Result, SGDState, StepSchedule

__all__ = [
    "Result",
    "SGDState",
    "StepSchedule",
    "all_finite",
    "lbfgs",
    "minimize",
    "newton",
    "newton_cd",
    "sgd",
]
