"""One epoch of minibatch SGD or SAGA on dense arrays of another namespace, where they live (a GPU).

The compiled epoch (:mod:`sklearn_maxent._kernels.epoch`) reads NumPy and CSR
arrays on the CPU; :func:`run_epoch` is the same epoch in array API
operations on the device of ``X``, with the kernel's arguments (its
``scalars`` and ``settings`` arrays, the parameters updated in place), its
arithmetic and its status codes, so that ``sklearn_maxent._optim._epochs``
drives both alike. Softmax cross-entropy with row weights ``w_i n / b``,
Tsuruoka's cumulative L1 with each weight's ``applied`` penalty, the
iterate average, SAGA's residual table and mean gradient. It differs from
the kernel in form only:

* No lazy scale. On dense data every weight row moves at every step, so
  the L2 shrink goes into ``W`` itself, ``W <- (1 - eta l2) W - eta g``:
  the kernel's ``scale' V'`` with ``scale' = scale (1 - eta l2)`` and
  ``V' = V - (eta / scale') g``. The iterate average is the plain sum of
  the iterates (the kernel's ``correction + scale_sum V`` with ``scale_sum``
  kept at 0, in float64 where the device has it), so nothing is folded.
* SAGA's residual table is read and written in the epoch's row order:
  array API arrays cannot be assigned at integer indices, so the table is
  gathered into the order when the epoch starts and scattered back when it
  ends (``order`` must be a permutation of the rows, as the driver's is).
* Divergence is judged once, at the end, from every minibatch's loss: a
  check is a device-to-host synchronization, which would stall a GPU at
  every step. An epoch that diverged runs to its end on useless numbers,
  which the driver undoes anyway; only ``STALE_REFERENCE``, which must
  leave everything unchanged, reads the first minibatch's loss at once.

What crosses between host and device per epoch: in, the row order and the
parameters (``coef``, ``intercept``, with L1 the applied penalties, with
averaging the sums of the iterates: each the size of ``coef_``); out, the
same parameters and two numbers per minibatch (its loss and weight), plus,
when the epoch has a reference loss, one number after its first minibatch.
Nothing per minibatch: its rows are gathered on the device.

Only :mod:`._epochs` calls it; it imports the kernel's status codes and the
device objective's scores, nothing else of the optimizers.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils._array_api import _max_precision_float_dtype, get_namespace_and_device

from .._array_api._device import full_scores
from .._array_api._host import to_numpy
from .._kernels import epoch as kernel
from .._kernels.contract import EpochCounters, EpochSettings, diverged


def run_epoch(
    X, targets, row_weights, order, batch_size, coef, intercept, applied, scalars, settings, average, memory
):
    """One epoch of minibatch SGD (or SAGA) over ``order``, as the compiled kernel's ``run_epoch``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Dense, of any array API namespace, float32 or float64.
    targets : array of shape (n_samples, n_classes)
    row_weights : array of shape (n_samples,)
        Normalized to sum to one. ``X``, ``targets`` and ``row_weights`` in
        one namespace, dtype and device.
    order : ndarray of shape (n_rows,), NumPy
        Rows in the order of the epoch; with SAGA a permutation of all rows.
    batch_size : int
    coef : ndarray of shape (n_features, n_free), NumPy
        ``W``, updated in place (unless the epoch diverged).
    intercept : ndarray of shape (n_free,), NumPy
    applied : ndarray of shape (n_features, n_free), NumPy, or None
        L1 penalty each weight received (None without L1).
    scalars : ndarray of shape (8,), float64
        As the kernel's, in and out; ``scale`` and ``scale_sum`` come out as
        1 and 0.
    settings : ndarray of shape (14,), float64
        As the kernel's (see :class:`~sklearn_maxent._kernels.contract.EpochSettings`).
    average : tuple of ndarray or None
        ``(correction, intercept_sum)`` of the iterate average (float64 NumPy),
        updated in place; None without averaging.
    memory : tuple of arrays or None
        SAGA's ``(residuals, average, average_intercept)``, in ``X``'s
        namespace, updated in place; None for SGD.

    Returns
    -------
    status : int
        ``OK``, ``DIVERGED`` or ``STALE_REFERENCE``, as the kernel's.
    """
    xp, _, device = get_namespace_and_device(X)
    settings = EpochSettings(*settings.tolist())
    counters = EpochCounters(*scalars.tolist())
    model = _Model.on_device(xp, device, X.dtype, coef, intercept, applied, average, counters.scale_sum)
    epoch = _Epoch(xp, X, targets, row_weights, xp.asarray(order, device=device), settings, counters)
    saga = None if memory is None else _SagaTable(xp, memory, epoch.rows, settings.fit_intercept)
    with np.errstate(all="ignore"):  # NumPy-backed namespaces: the losses judge the epoch, as in the kernel
        for start in range(0, order.shape[0], batch_size):
            if not epoch.minibatch(start, min(start + batch_size, order.shape[0]), model, saga):
                return kernel.STALE_REFERENCE
    status = epoch.verdict(batch_size, scalars)
    if status == kernel.OK:
        model.to_host(coef, intercept, applied, average)
        if saga is not None:
            saga.to_rows(epoch.rows)
    return status


class _Epoch:
    """An epoch's data in its row order and its counters (the kernel's ``scalars``, on the host)."""

    def __init__(self, xp, X, targets, row_weights, rows, settings, counters):
        self.xp, self.X, self.rows, self.settings = xp, X, rows, settings
        # In the epoch's order once, so that a minibatch's are a slice (X's rows are gathered per minibatch).
        self.targets, self.row_weights = xp.take(targets, rows, axis=0), xp.take(row_weights, rows, axis=0)
        self.t, self.samples_seen, self.cumulative_l1 = (
            counters.t,
            counters.samples_seen,
            counters.cumulative_l1,
        )
        self.count, self.reference = counters.count, counters.reference
        self.batch_losses = []

    def minibatch(self, start, stop, model, saga):
        """The step of the minibatch at ``start:stop`` of the order; False if the reference is stale."""
        xp, settings = self.xp, self.settings
        X_batch = xp.take(self.X, self.rows[start:stop], axis=0)
        loss, weight_sum, residual = _loss_residual(
            xp,
            X_batch @ model.coef + model.intercept,
            self.targets[start:stop, :],
            self.row_weights[start:stop] * (self.X.shape[0] / (stop - start)),
            int(settings.reference_class),
        )
        given = self.reference == self.reference  # not NaN
        if start == 0 and given and diverged(float(loss) / float(weight_sum), self.reference, 2.0):
            return False
        self.batch_losses.append(xp.stack([loss, weight_sum]))
        if saga is None:
            direction = X_batch.T @ residual, xp.sum(residual, axis=0)
        else:
            direction = saga.direction(X_batch, residual, start, stop)
        step = settings.step(self.t, stop - start, self.samples_seen)
        self.t += 1
        if settings.l1 > 0:
            self.cumulative_l1 += step * settings.l1
        # As SGDClassifier: the iterate after the step that brings the samples seen
        # to average_start is the first averaged.
        averaging = 0 <= settings.average_start <= self.samples_seen + (stop - start)
        weight = (self.samples_seen + (stop - start)) ** settings.average_power if averaging else 0.0
        model.step(xp, settings, step, *direction, self.cumulative_l1, weight)
        self.count += weight
        if saga is None:  # the count only serves averaging, which SAGA does not do
            self.samples_seen += stop - start
        return True

    def verdict(self, batch_size, scalars):
        """``OK`` or ``DIVERGED``, from every minibatch's loss; ``scalars`` written as the kernel does."""
        losses, weight_sums = to_numpy(self.xp.stack(self.batch_losses)).T
        batch_loss = np.divide(losses, weight_sums, out=np.zeros_like(losses), where=weight_sums > 0)
        reference = batch_loss[0] if self.reference != self.reference else self.reference
        if diverged(batch_loss, reference, 100.0).any():
            return kernel.DIVERGED
        n_rows = self.rows.shape[0]
        sizes = np.diff(np.append(np.arange(0, n_rows, batch_size), n_rows))
        counters = EpochCounters(
            t=self.t,
            samples_seen=self.samples_seen,
            scale=1.0,
            cumulative_l1=self.cumulative_l1,
            scale_sum=0.0,
            count=self.count,
            reference=reference,
            total=losses @ sizes,
        )
        scalars[:] = counters
        return kernel.OK


def _loss_residual(xp, free_scores, targets, weights, reference_class):
    """``sum_i weights_i CE_i``, ``sum_i weights_i`` and residuals ``weights_i (P_i - Y_i)`` (free classes).

    The arithmetic of the kernels' ``row_cross_entropy_residual``: scores shifted by
    their row maximum, ``CE_i = log sum_k exp(s_ik) - <Y_i, s_i>``.
    """
    scores = full_scores(free_scores, xp, reference_class)
    shifted = scores - xp.max(scores, axis=1, keepdims=True)
    exponentials = xp.exp(shifted)
    norm = xp.sum(exponentials, axis=1)
    losses = xp.log(norm) - xp.sum(targets * shifted, axis=1)
    residual = weights[:, None] * (exponentials / norm[:, None] - targets)
    return xp.sum(weights * losses), xp.sum(weights), residual[:, reference_class:]


@dataclass
class _Model:
    """The parameters on the device, with the L1 and averaging state that moves with them."""

    coef: object
    intercept: object
    applied: object = None
    coef_sum: object = None
    intercept_sum: object = None

    @classmethod
    def on_device(cls, xp, device, dtype, coef, intercept, applied, average, scale_sum):
        """The host's parameters on ``device``; the average as plain sums (``correction + scale_sum W``)."""

        def moved(array, to_dtype=dtype):
            return (
                None
                if array is None
                else xp.asarray(np.ascontiguousarray(array), dtype=to_dtype, device=device)
            )

        model = cls(moved(coef), moved(intercept), moved(applied))
        if average is not None:
            precise = _max_precision_float_dtype(xp, device)
            correction, intercept_sum = average
            model.coef_sum = moved(correction + scale_sum * coef, precise)
            model.intercept_sum = moved(intercept_sum, precise)
        return model

    def step(self, xp, settings, step, grad, grad_intercept, cumulative_l1, average_weight):
        """One step: L2 shrink and gradient on ``coef``, the L1 charge, the intercept, the sums (the new
        iterate weighted by ``average_weight``; 0: not averaged)."""
        self.coef = (1.0 - step * settings.l2) * self.coef - step * grad
        if settings.l1 > 0:
            self._charge_l1(xp, cumulative_l1)
        if average_weight:
            self.coef_sum = self.coef_sum + average_weight * xp.astype(self.coef, self.coef_sum.dtype)
        if settings.fit_intercept:
            self.intercept = self.intercept - (step * settings.intercept_scale) * grad_intercept
        if average_weight:
            self.intercept_sum = self.intercept_sum + average_weight * xp.astype(
                self.intercept, self.intercept_sum.dtype
            )

    def _charge_l1(self, xp, cumulative):
        """Tsuruoka's cumulative L1 penalty on every weight (the kernel's ``charge_l1``)."""
        coef, applied = self.coef, self.applied
        down = xp.clip(coef - (cumulative + applied), min=0.0)
        up = xp.clip(coef + (cumulative - applied), max=0.0)
        charged = xp.where(coef > 0, down, xp.where(coef < 0, up, 0.0))
        self.applied = applied + (charged - coef)
        self.coef = charged

    def to_host(self, coef, intercept, applied, average):
        """Write the parameters into the host's arrays (the average's sums into its correction)."""
        coef[...] = to_numpy(self.coef)
        intercept[...] = to_numpy(self.intercept)
        if applied is not None:
            applied[...] = to_numpy(self.applied)
        if average is not None:
            average[0][...] = to_numpy(self.coef_sum)
            average[1][...] = to_numpy(self.intercept_sum)


class _SagaTable:
    """SAGA's residual table in the epoch's row order, and its mean gradient, on the device."""

    def __init__(self, xp, memory, rows, fit_intercept):
        self.xp = xp
        self.memory = memory
        self.fit_intercept = fit_intercept
        self.residuals = xp.take(memory[0], rows, axis=0)
        self.mean, self.mean_intercept = memory[1], memory[2]

    def direction(self, X_batch, residual, start, stop):
        """The SAGA direction of the minibatch at ``start:stop`` of the order; the table and mean move."""
        xp = self.xp
        b, n = stop - start, self.residuals.shape[0]
        stored = residual * b
        change = stored - self.residuals[start:stop, :]
        self.residuals[start:stop, :] = stored
        grad, grad_intercept = X_batch.T @ change, xp.sum(change, axis=0)
        direction = grad / b + self.mean, grad_intercept / b + self.mean_intercept
        self.mean = self.mean + grad / n
        if self.fit_intercept:  # as the kernel: without an intercept its mean stays 0
            self.mean_intercept = self.mean_intercept + grad_intercept / n
        return direction

    def to_rows(self, rows):
        """Write the table back by row, and the means, into the memory."""
        residuals, mean, mean_intercept = self.memory
        residuals[...] = self.xp.take(self.residuals, self.xp.argsort(rows), axis=0)
        mean[...] = self.mean
        mean_intercept[...] = self.mean_intercept
