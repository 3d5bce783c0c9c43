"""Epochs run from zero weights, and two runs' results and states compared: what the kernel tests share.

``tests/test_epoch_kernel.py`` compares the compiled epochs with the NumPy
reference epochs, ``tests/test_device_epochs.py`` the device epochs with the
compiled ones; both run several epochs in a row from equal states, on the
same seeded row orders, and compare everything the runs carry.
"""

import numpy as np
import pytest

from sklearn_maxent._optim._state import SAGAMemory


def run_epochs(epoch, objective, state, n_epochs=3, batch_size=8, seed=1, saga=False):
    """``n_epochs`` epochs of ``epoch`` from zero weights, each on its own seeded row order."""
    coef = np.zeros(objective.parameter_shape, dtype=objective.dtype)
    intercept = np.zeros(coef.shape[1], dtype=objective.dtype)
    if saga and state.memory is None:
        state.memory = SAGAMemory.empty(objective)
    rng = np.random.RandomState(seed)
    losses = [
        epoch(objective, coef, intercept, state, batch_size, rng.permutation(objective.n_samples))
        for _ in range(n_epochs)
    ]
    return coef, intercept, losses


def assert_close(actual, expected, rtol, scale=None):
    """Equal to ``rtol`` relative to ``scale``, by default the largest expected entry."""
    expected = np.asarray(expected, dtype=np.float64)
    atol = rtol * max(np.abs(expected).max(initial=0.0) if scale is None else scale, 1e-30)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol)


def assert_same_results(actual, expected, rtol):
    """Two runs' ``(coef, intercept, losses)``, in the data's dtype, equal to ``rtol``."""
    coef, intercept, losses = actual
    assert None not in expected[2]
    assert coef.dtype == intercept.dtype == expected[0].dtype
    assert_close(coef, expected[0], rtol)
    # An intercept near 0 carries the rounding of the scores, on the scale of the weights.
    assert_close(intercept, expected[1], rtol, max(np.abs(expected[0]).max(), np.abs(expected[1]).max()))
    assert_close(losses, expected[2], rtol)


def assert_same_states(actual, expected, rtol, to_numpy=np.asarray):
    """Two runs' SGD states equal to ``rtol``; ``to_numpy`` brings ``actual``'s SAGA memory to NumPy."""
    assert (actual.t, actual.samples_seen) == (expected.t, expected.samples_seen)
    assert actual.schedule.eta0 == expected.schedule.eta0
    assert actual.data_loss == pytest.approx(expected.data_loss, rel=rtol)
    assert actual.cumulative_l1 == pytest.approx(expected.cumulative_l1, rel=1e-12)
    if expected.applied_l1 is not None:
        assert_close(actual.applied_l1, expected.applied_l1, rtol)
    else:
        assert actual.applied_l1 is None
    if expected.adagrad_sums is not None:
        assert_close(actual.adagrad_sums, expected.adagrad_sums, rtol)
    if expected.memory is not None:
        # The mean gradients are means of the stored residuals, which nearly cancel: they
        # are as accurate as the residuals are.
        scale = np.abs(expected.memory.residuals).max()
        for name in ("residuals", "average", "average_intercept"):
            assert_close(to_numpy(getattr(actual.memory, name)), getattr(expected.memory, name), rtol, scale)
