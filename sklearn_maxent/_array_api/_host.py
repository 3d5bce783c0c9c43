"""Small arrays of any array-API namespace brought to the host, as float64 NumPy.

What crosses from device data to the solvers (per-class sums, a gradient), which
keep their parameters in NumPy. It imports nothing of the package, so the model
may use it.
"""

import numpy as np
from sklearn.utils._array_api import move_to


def to_numpy(array):
    """A small array (per-class sums, a gradient) of any namespace as float64 NumPy."""
    if not isinstance(array, np.ndarray):
        array = move_to(array, xp=np, device="cpu")
    return np.asarray(array, dtype=np.float64)
