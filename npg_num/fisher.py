"""Dense Fisher matrices: for the registry's families (three routes) and for small policies.

    F = E[s s^T]  (route "score")  = -E[Hess log pi]  (route "hessian")
      = Hess_{theta'} KL(pi_theta || pi_theta')  (route "kl")  = J^T F_out J  (route "gn")

Expectations use ``families.quadrature``: exact sums for finite outcomes, 16-node
Gauss-Hermite for Gaussians. These are oracles for tests and small problems; training
uses matrix-free products (``fvp``).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp

from .errors import NPGInputError
from .families import expectation, family_policy, get_family
from .fvp import densify, make_fvp

__all__ = ["fisher", "FISHER_ROUTES", "policy_fisher"]

FISHER_ROUTES = ("score", "hessian", "kl", "gn")


@partial(jax.jit, static_argnames=("name", "route"))
def _fisher(name: str, theta, route: str):
    fam = get_family(name)
    if route == "score":

        def outer(x):
            s = jax.grad(fam.log_prob)(theta, x)
            return jnp.outer(s, s)

        return expectation(fam, theta, outer)
    if route == "hessian":
        return -expectation(fam, theta, lambda x: jax.hessian(fam.log_prob)(theta, x))
    if route == "kl":
        reference = fam.to_head(theta)
        return jax.hessian(lambda t: fam.head.kl(reference, fam.to_head(t)))(theta)
    return densify(make_fvp(family_policy(fam), fam.head, theta, route="gn"), fam.dim, theta.dtype)


def fisher(key: str, theta, route: str = "score"):
    """The dense Fisher of family ``key`` at ``theta`` by one of ``FISHER_ROUTES``."""
    fam = get_family(key)
    if route not in FISHER_ROUTES:
        allowed = ", ".join(FISHER_ROUTES)
        raise NPGInputError(f"unknown Fisher route {route!r}; allowed routes: {allowed}")
    theta = jnp.asarray(theta)
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(float)
    if theta.shape != (fam.dim,):
        raise NPGInputError(
            f"family {key!r} takes a flat theta of shape ({fam.dim},); got shape {theta.shape}"
        )
    return _fisher(fam.name, theta, route)


def policy_fisher(policy_fn: Callable, head, theta):
    """The exact Fisher of the mean KL of a policy over a batch, by its definition.

        F = (1/N) sum_n E_{a ~ pi(.|s_n)}[s_n(a) s_n(a)^T],   s_n(a) = grad log pi_theta(a|s_n)

    The expectation enumerates the actions (categorical) or uses the head's Gauss-Hermite
    rule (diagonal Gaussian, small action dimension; 4 nodes per axis are exact, since
    s s^T is a polynomial of degree 4 in the action). Cost: O(N M P^2); a test oracle.
    """
    params = policy_fn(theta)
    actions, weights = head.quadrature(jax.lax.stop_gradient(params), nodes_per_axis=4)

    def log_probs(t):
        p = policy_fn(t)
        expand = jax.tree.map(lambda a: a[:, None], p)
        return head.log_prob(expand, actions)  # [N, M]

    jac = jax.jacrev(log_probs)(theta)  # [N, M, P]
    n = weights.shape[0]
    return jnp.einsum("nm,nmp,nmq->pq", weights, jac, jac) / n
