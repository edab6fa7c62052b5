"""Fisher-vector products for a policy theta -> distribution parameters over a batch of states.

The Fisher of the mean KL over N states (TRPO's metric), exactly as a matrix-free product:

    F v = Hess_{theta'} (1/N) sum_n KL(pi_theta(.|s_n) || pi_theta'(.|s_n)) |_{theta'=theta} v
        = (1/N) sum_n J_n^T F_out(s_n) J_n v,      J_n = d head_params(s_n) / d theta

Route ``"kl"`` differentiates the mean KL twice (forward-over-reverse: jvp of grad).
Route ``"gn"`` is the Gauss-Newton form (jvp, the head's closed-form output Fisher, vjp),
as kfac-jax computes it. Both are the exact Fisher, not the empirical one. ``make_fvp``
linearizes once, so repeated products (conjugate gradient) skip the primal pass.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from .errors import NPGInputError

__all__ = ["make_fvp", "fvp", "densify", "ROUTES"]

ROUTES = ("gn", "kl")


def _batch_size(tree) -> int:
    leaves = jax.tree.leaves(tree)
    if not leaves or jnp.ndim(leaves[0]) == 0:
        raise NPGInputError("policy_fn must return head parameters with a leading batch axis")
    return leaves[0].shape[0]


def make_fvp(
    policy_fn: Callable, head, theta, *, route: str = "gn", damping: float = 0.0
) -> Callable:
    """A function v -> (F + damping I) v at ``theta``.

    Parameters
    ----------
    policy_fn: flat theta -> head parameters with a leading batch axis (one row per state).
    head: a distribution head (``CATEGORICAL``, ``DIAG_GAUSSIAN``) with ``kl`` and
        ``fisher_vp``.
    theta: flat float parameter vector.
    route: ``"gn"`` (J^T F_out J) or ``"kl"`` (Hessian of the mean KL).
    damping: Tikhonov damping added to F, >= 0.
    """
    if route not in ROUTES:
        raise NPGInputError(f"unknown FVP route {route!r}; allowed routes: {', '.join(ROUTES)}")
    if isinstance(damping, (int, float)) and not damping >= 0:
        raise NPGInputError(f"damping must be >= 0, got {damping}")

    if route == "gn":
        out, jvp_fn = jax.linearize(policy_fn, theta)
        vjp_fn = jax.linear_transpose(jvp_fn, theta)
        inv_n = 1.0 / _batch_size(out)

        def matvec(v):
            w = head.fisher_vp(out, jvp_fn(v))
            (back,) = vjp_fn(jax.tree.map(lambda a: a * inv_n, w))
            return back + damping * v

        return matvec

    reference = jax.lax.stop_gradient(policy_fn(theta))
    _batch_size(reference)

    def mean_kl(t):
        return jnp.mean(head.kl(reference, policy_fn(t)))

    _, hvp = jax.linearize(jax.grad(mean_kl), theta)

    def matvec(v):
        return hvp(v) + damping * v

    return matvec


def fvp(policy_fn: Callable, head, theta, v, *, route: str = "gn", damping: float = 0.0):
    """(F + damping I) v, the Fisher of the mean KL at ``theta`` times ``v`` (see ``make_fvp``)."""
    return make_fvp(policy_fn, head, theta, route=route, damping=damping)(v)


def densify(matvec: Callable, dim: int, dtype=None):
    """The dense matrix of a linear map, one basis vector at a time (as kfac-jax's tests do)."""
    basis = jnp.eye(dim, dtype=dtype)
    return jax.vmap(matvec, out_axes=1)(basis)
