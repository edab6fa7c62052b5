"""The registry of small analytic policy families, numerically (JAX).

The keys are those of ``npg_sym.FAMILIES``; each family's log-probability is written here
from its formula, independently of the SymPy twin, and also as a head (``to_head``: theta
-> the parameters of a ``Categorical`` or ``DiagGaussian``), so that the Fisher-vector
products written for networks serve these families unchanged.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from .distributions import CATEGORICAL, DIAG_GAUSSIAN, Categorical, DiagGaussian
from .errors import NPGInputError

__all__ = ["Family", "FAMILIES", "get_family", "family_policy", "quadrature", "expectation"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class Family(NamedTuple):
    """A family pi_theta(x) over a flat float parameter vector theta."""

    name: str
    dim: int
    head: Categorical | DiagGaussian
    to_head: Callable  # theta -> head parameters of one distribution
    log_prob: Callable  # (theta, x) -> log pi_theta(x), from the family's own formula
    support: tuple[int, ...] | None  # finite outcomes, None for the real line
    in_domain: Callable  # theta -> bool (sigma > 0, eta2 < 0, ...)
    description: str


def _normal_log_prob(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - jnp.log(std) - _LOG_SQRT_2PI


def _gaussian_head(mean, log_std):
    return (jnp.reshape(mean, (1,)), jnp.reshape(log_std, (1,)))


def _always(theta):
    return jnp.all(jnp.isfinite(theta))


def _build() -> dict[str, Family]:
    fams = [
        Family(
            "bernoulli_logit", 1, CATEGORICAL,
            lambda th: jnp.stack([jnp.zeros_like(th[0]), th[0]]),
            lambda th, x: x * th[0] - jax.nn.softplus(th[0]),
            (0, 1), _always, "Bernoulli with p = sigmoid(t)",
        ),
        Family(
            "categorical_softmax3", 3, CATEGORICAL,
            lambda th: th,
            lambda th, x: th[jnp.asarray(x, jnp.int32)] - jax.nn.logsumexp(th),
            (0, 1, 2), _always, "categorical with softmax logits (t1, t2, t3)",
        ),
        Family(
            "gaussian_unit_mean", 1, DIAG_GAUSSIAN,
            lambda th: _gaussian_head(th[0], jnp.zeros_like(th[0])),
            lambda th, x: _normal_log_prob(x, th[0], 1.0),
            None, _always, "normal N(mu, 1)",
        ),
        Family(
            "gaussian_mean_std", 2, DIAG_GAUSSIAN,
            lambda th: _gaussian_head(th[0], jnp.log(th[1])),
            lambda th, x: _normal_log_prob(x, th[0], th[1]),
            None, lambda th: _always(th) & (th[1] > 0), "normal N(mu, sigma^2), sigma > 0",
        ),
        Family(
            "gaussian_mean_logstd", 2, DIAG_GAUSSIAN,
            lambda th: _gaussian_head(th[0], th[1]),
            lambda th, x: _normal_log_prob(x, th[0], jnp.exp(th[1])),
            None, _always, "normal N(mu, exp(2 s))",
        ),
        Family(
            "gaussian_natural", 2, DIAG_GAUSSIAN,
            # mean = -eta1 / (2 eta2), variance = -1 / (2 eta2).
            lambda th: _gaussian_head(-th[0] / (2 * th[1]), 0.5 * jnp.log(-0.5 / th[1])),
            lambda th, x: (
                th[0] * x + th[1] * x**2 + th[0] ** 2 / (4 * th[1])
                + 0.5 * jnp.log(-2 * th[1]) - _LOG_SQRT_2PI
            ),
            None, lambda th: _always(th) & (th[1] < 0),
            "normal in natural parameters (eta1, eta2), eta2 < 0",
        ),
    ]
    return {f.name: f for f in fams}


FAMILIES: Mapping[str, Family] = MappingProxyType(_build())


def get_family(family: str | Family) -> Family:
    """The family itself, or the registered one with this key (clear error otherwise)."""
    if isinstance(family, Family):
        return family
    try:
        return FAMILIES[family]
    except (KeyError, TypeError):
        allowed = ", ".join(sorted(FAMILIES))
        raise NPGInputError(f"unknown family key {family!r}; allowed keys: {allowed}") from None


def family_policy(family: str | Family) -> Callable:
    """theta -> head parameters with a batch axis of one state: the family as a policy."""
    fam = get_family(family)
    return lambda theta: jax.tree.map(lambda a: a[None], fam.to_head(theta))


def quadrature(family: str | Family, theta):
    """Outcomes and weights (xs, ws) with E_theta[f] = sum_i ws_i f(xs_i).

    Exact for finite families (the probabilities come from the family's ``log_prob``);
    Gauss-Hermite with 16 nodes for the Gaussians (exact for polynomials of degree <= 31).
    """
    fam = get_family(family)
    if fam.support is not None:
        xs = jnp.asarray(fam.support)
        return xs, jnp.exp(jax.vmap(lambda x: fam.log_prob(theta, x))(xs))
    actions, weights = fam.head.quadrature(fam.to_head(theta))
    return actions[:, 0], weights


def expectation(family: str | Family, theta, f: Callable):
    """E_{x ~ pi_theta}[f(x)] by ``quadrature``; ``f`` maps one outcome to a pytree."""
    xs, ws = quadrature(family, theta)
    values = jax.vmap(f)(xs)
    return jax.tree.map(lambda v: jnp.tensordot(ws, v, axes=1), values)
