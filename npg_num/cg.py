"""Conjugate gradient for A x = b with a matrix-free, symmetric positive-definite A.

Jittable (``lax.while_loop``), vmappable, stops at ``max_iters`` or when the residual
norm ||b - A x|| (the recurrence's) falls to ``tol``; stops early, without updating, on
non-positive curvature p^T A p <= 0, which a positive-definite A never produces.
``jax.scipy.sparse.linalg.cg`` reports neither its residual nor its iteration count,
which the natural step needs.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .errors import NPGInputError

__all__ = ["CGResult", "cg"]


class CGResult(NamedTuple):
    x: jax.Array  # the approximate solution
    residual: jax.Array  # ||b - A x|| by the CG recurrence
    iterations: jax.Array  # iterations performed
    curvature_ok: jax.Array  # False when p^T A p <= 0 (or non-finite) stopped CG


def cg(
    matvec: Callable, b, *, x0=None, max_iters: int = 10, tol: float = 1e-10
) -> CGResult:
    """Solve A x = b by conjugate gradient (Hestenes & Stiefel 1952).

    Parameters
    ----------
    matvec: v -> A v for a symmetric positive-definite A.
    b: right-hand side (flat array).
    x0: starting point (default 0).
    max_iters: at most this many iterations (each one matvec).
    tol: stop when ||r|| <= tol.
    """
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise NPGInputError(f"max_iters must be a positive integer, got {max_iters!r}")
    if isinstance(tol, (int, float)) and not tol >= 0:
        raise NPGInputError(f"tol must be >= 0, got {tol}")
    b = jnp.asarray(b)
    x = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, b.dtype)
    r = b - matvec(x) if x0 is not None else b
    rr = jnp.vdot(r, r)
    tol2 = jnp.asarray(tol, rr.dtype) ** 2

    def cond(state):
        _, _, _, rr, k, ok = state
        return (k < max_iters) & (rr > tol2) & ok

    def body(state):
        x, r, p, rr, k, _ = state
        ap = matvec(p)
        pap = jnp.vdot(p, ap)
        ok = jnp.isfinite(pap) & (pap > 0)
        alpha = jnp.where(ok, rr / jnp.where(ok, pap, 1.0), 0.0)
        x_new = x + alpha * p
        r_new = r - alpha * ap
        rr_new = jnp.vdot(r_new, r_new)
        p_new = r_new + (rr_new / jnp.where(rr > 0, rr, 1.0)) * p
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        return (
            keep(x_new, x), keep(r_new, r), keep(p_new, p), keep(rr_new, rr), k + ok, ok
        )

    init = (x, r, r, rr, jnp.asarray(0, jnp.int32), jnp.asarray(True))
    x, _, _, rr, k, ok = jax.lax.while_loop(cond, body, init)
    return CGResult(x=x, residual=jnp.sqrt(rr), iterations=k, curvature_ok=ok)
