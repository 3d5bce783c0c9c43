"""Preconditioned conjugate gradients in place, for Newton systems of millions of parameters.

``scipy.sparse.linalg.cg`` allocates a new vector at every operation; with a model of
200,000 features x 46 classes (73 MB a vector) its own arithmetic cost as much as the
Hessian products it waits on (benchmarks/results/CONSTANTS.md). Here every vector is
updated in its buffer and the operator writes into one.
"""

import numpy as np
from scipy.linalg.blas import daxpy


def conjugate_gradients(matvec, rhs, inverse_diagonal, rtol, maxiter):
    """Solve ``A x = rhs`` by conjugate gradients with a Jacobi preconditioner, from ``x = 0``.

    Parameters
    ----------
    matvec : callable
        ``matvec(vector, out)`` writes ``A @ vector`` into ``out`` (float64 vectors);
        ``A`` symmetric positive definite.
    rhs : ndarray of shape (n,), float64
    inverse_diagonal : ndarray of shape (n,), float64
        The preconditioner ``M^-1``, the inverse of ``A``'s diagonal.
    rtol : float
        Stop once the residual's norm is at most ``rtol * ||rhs||``, as ``scipy.sparse.linalg.cg``.
    maxiter : int

    Returns
    -------
    x : ndarray of shape (n,), float64
        Also where a direction of no positive curvature ends the iteration early (rounding
        error on a singular ``A``): the last iterate, a descent direction whenever one step was taken.
    """
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    preconditioned = residual * inverse_diagonal
    direction = preconditioned.copy()
    product = np.empty_like(rhs)
    rho = float(np.dot(residual, preconditioned))
    target = rtol * float(np.sqrt(np.dot(rhs, rhs)))
    for _ in range(maxiter):
        if np.sqrt(np.dot(residual, residual)) <= target:
            break
        matvec(direction, product)
        curvature = float(np.dot(direction, product))
        if not curvature > 0:
            break
        step = rho / curvature
        daxpy(direction, x, a=step)
        daxpy(product, residual, a=-step)
        np.multiply(residual, inverse_diagonal, out=preconditioned)
        rho, previous = float(np.dot(residual, preconditioned)), rho
        direction *= rho / previous
        direction += preconditioned
    return x
