"""The natural step: the trust-region problem solved with Fisher-vector products and CG.

    x  ~= (F + damping I)^-1 g                  (conjugate gradient, ``cg_iters`` products)
    q  =  x^T (F + damping I) x                 (one more product, also gives the residual)
    beta = sqrt(2 delta / q),    step = beta x  (so that 1/2 step^T F step = delta)

Guard (``trust_region_step``, the one guard every natural step goes through, K-FAC's
included): a non-positive or non-finite q, or a non-finite g or x, gives
``accepted=False``, a zero step and beta = 0; never NaN. The caller keeps its parameters
and counts it.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .cg import cg
from .errors import NPGInputError

__all__ = ["StepResult", "natural_step", "trust_region_step"]


class StepResult(NamedTuple):
    step: jax.Array  # beta * x, or zeros when rejected
    beta: jax.Array  # sqrt(2 delta / q), or 0 when rejected
    direction: jax.Array  # x, the CG solution of (F + damping I) x = g
    q: jax.Array  # x^T (F + damping I) x
    cg_residual: jax.Array  # ||g - (F + damping I) x||, recomputed, not the recurrence's
    cg_iterations: jax.Array
    expected_improvement: jax.Array  # g . step, the linear model's predicted gain
    accepted: jax.Array  # False when the guard rejected the step


def _check_scalar(name: str, value, *, positive: bool) -> None:
    if isinstance(value, bool):
        raise NPGInputError(f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or (value <= 0 if positive else value < 0):
            allowed = "a finite number > 0" if positive else "a finite number >= 0"
            raise NPGInputError(f"{name} must be {allowed}, got {value}")


def natural_step(
    g,
    fvp: Callable,
    delta: float,
    *,
    damping: float = 0.0,
    cg_iters: int = 10,
    cg_tol: float = 1e-10,
) -> StepResult:
    """The step of argmax g^T d s.t. 1/2 d^T F d <= delta, with F given by products.

    Parameters
    ----------
    g: the policy gradient (flat array).
    fvp: v -> F v (undamped; ``damping`` is added here).
    delta: trust-region radius in mean KL, > 0.
    damping: Tikhonov damping of F, >= 0.
    cg_iters: conjugate-gradient iterations (Fisher-vector products), >= 1.
    cg_tol: CG stops early when its residual norm reaches this.

    Call it inside ``jax.jit`` (as the trainer does): ``fvp`` is a fresh closure on every
    eager call, so the CG loop would be traced and compiled again each time.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> r = natural_step(jnp.array([3.0, 4.0]), lambda v: v, 0.5)
    >>> [round(float(s), 6) for s in r.step], round(float(r.beta), 6)
    ([0.6, 0.8], 0.2)
    """
    _check_scalar("delta", delta, positive=True)
    _check_scalar("damping", damping, positive=False)
    g = jnp.asarray(g)

    def matvec(v):
        return fvp(v) + damping * v

    sol = cg(matvec, g, max_iters=cg_iters, tol=cg_tol)
    return trust_region_step(g, sol.x, matvec(sol.x), delta, sol.iterations)


def trust_region_step(g, x, ax, delta, iterations=0) -> StepResult:
    """The guarded step along a direction x that solves A x = g for some curvature A
    (the damped Fisher by CG, K-FAC's factored Fisher, ...), with ``ax`` = A x:

        q = x^T A x,   beta = sqrt(2 delta / q),   step = beta x

    so that 1/2 step^T A step = delta. The guard: a non-positive or non-finite q, or a
    non-finite g or x, gives ``accepted=False``, a zero step and beta = 0, never NaN.
    ``cg_residual`` is ||g - A x|| (how well x solves the system); ``iterations`` is
    reported as ``cg_iterations``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> r = trust_region_step(jnp.array([1.0]), jnp.array([jnp.nan]), jnp.array([1.0]), 0.1)
    >>> bool(r.accepted), float(r.beta), float(r.step[0])
    (False, 0.0, 0.0)
    """
    g, x, ax = jnp.asarray(g), jnp.asarray(x), jnp.asarray(ax)
    q = jnp.vdot(x, ax)
    accepted = (
        jnp.isfinite(q) & (q > 0) & jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(g))
    )
    safe_q = jnp.where(accepted, q, 1.0)
    beta = jnp.where(accepted, jnp.sqrt(2.0 * delta / safe_q), 0.0)
    step = jnp.where(accepted, beta * x, 0.0)
    return StepResult(
        step=step,
        beta=beta,
        direction=x,
        q=q,
        cg_residual=jnp.linalg.norm(g - ax),
        cg_iterations=jnp.asarray(iterations, jnp.int32),
        expected_improvement=jnp.where(accepted, jnp.vdot(g, step), 0.0),
        accepted=accepted,
    )
