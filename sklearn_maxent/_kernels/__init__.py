"""Compiled kernels (Cython, built by meson-python) under the softmax core and the optimizers.

They do one pass or one epoch on plain arrays and return; every decision
(stopping, schedules, back-off, messages) stays in Python above them. Only
:mod:`sklearn_maxent._model` and :mod:`sklearn_maxent._optim` import them.
"""

try:
    from . import _cg as cg
    from . import _epoch as epoch
    from ._coordinate import csc_sweeps, dense_sweeps
    from ._csr import csr_dense_product, csr_transposed_product
    from ._rowwise import (
        cross_entropy_residual,
        curvature,
        dense_hessian_diagonal,
        dense_pass,
        dense_product,
        effective_n_threads,
        jacobian_product,
        softmax_rows,
    )
except ImportError as error:  # a source checkout that was never built
    raise ImportError(
        "sklearn_maxent's compiled kernels are not built (" + str(error) + "). Install the package with "
        "'pip install .' (it needs a C compiler), or for development build it in place with "
        "'pip install meson-python meson ninja cython numpy scipy' then "
        "'pip install --no-build-isolation --editable .'."
    ) from error

__all__ = [
    "cg",
    "cross_entropy_residual",
    "csc_sweeps",
    "csr_dense_product",
    "csr_transposed_product",
    "curvature",
    "dense_hessian_diagonal",
    "dense_pass",
    "dense_product",
    "dense_sweeps",
    "effective_n_threads",
    "epoch",
    "jacobian_product",
    "softmax_rows",
]
