"""Preconditioned conjugate gradients in place, for Newton systems of millions of parameters.

``scipy.sparse.linalg.cg`` allocates a new vector at every operation; with a model of
200,000 features x 46 classes (73 MB a vector) its own arithmetic cost as much as the
Hessian products it waits on (benchmarks/results/CONSTANTS.md). Here every vector is
updated in its buffer, by the fused, threaded passes of the compiled kernel, and the
operator writes into one.
"""

import numpy as np

from .._kernels import cg, effective_n_threads


def conjugate_gradients(matvec, rhs, inverse_diagonal, rtol, maxiter, refine=None):
    """Solve ``A x = rhs`` by conjugate gradients with a Jacobi preconditioner, from ``x = 0``.

    Parameters
    ----------
    matvec : callable
        ``matvec(vector, out)`` writes ``A @ vector`` into ``out`` (vectors of ``rhs``'s dtype);
        ``A`` symmetric positive definite.
    rhs : ndarray of shape (n,), float32 or float64
        Its dtype is that of every vector of the iteration (their dot products are float64).
    inverse_diagonal : ndarray of shape (n,)
        The preconditioner ``M^-1``, the inverse of ``A``'s diagonal.
    rtol : float
        Stop once the residual's norm is at most ``rtol * ||rhs||``, as ``scipy.sparse.linalg.cg``.
    maxiter : int
    refine : callable or None
        ``refine(x)``, called once where the residual first meets ``rtol``, returns the relative
        residual to go on to from there (``rtol`` or more: stop).

    Returns
    -------
    x : ndarray of shape (n,), ``rhs``'s dtype
        Also where a direction of no positive curvature ends the iteration early (rounding
        error on a singular ``A``): the last iterate, a descent direction whenever one step was taken.
    """
    threads = effective_n_threads(rhs.size)
    inverse_diagonal = np.ascontiguousarray(inverse_diagonal, dtype=rhs.dtype)
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    direction = residual * inverse_diagonal
    product = np.empty_like(rhs)
    rho = cg.dot(residual, direction, threads)
    squared_residual = cg.dot(residual, residual, threads)
    rhs_norm = float(np.sqrt(squared_residual))
    target = rtol * rhs_norm
    for _ in range(maxiter):
        if np.sqrt(squared_residual) <= target:
            if refine is None:
                break
            target = min(target, refine(x) * rhs_norm)
            refine = None
            if np.sqrt(squared_residual) <= target:
                break
        matvec(direction, product)
        curvature = cg.dot(direction, product, threads)
        if not curvature > 0:
            break
        new_rho, squared_residual = cg.advance(
            rho / curvature, direction, product, x, residual, inverse_diagonal, threads
        )
        cg.next_direction(new_rho / rho, direction, residual, inverse_diagonal, threads)
        rho = new_rho
    return x
