"""The one-state policy of ``npg_sym.bandit``, numerically: eta, the surrogate, its gradient.

    eta(theta) = E_theta[r(x)],   A(x) = r(x) - eta(theta)
    L_theta(theta') = eta(theta) + E_theta[pi_theta'(x) / pi_theta(x) A(x)]
    g = grad_theta' L_theta(theta') at theta' = theta  (= grad eta)

``rewards`` are r_k per outcome for finite families, and (r0, r1, r2) for the polynomial
reward r0 + r1 x + r2 x^2 over the real line (the same convention as npg_sym).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .families import expectation, get_family

__all__ = ["reward_fn", "expected_reward", "surrogate", "policy_gradient"]


def reward_fn(family, rewards):
    fam = get_family(family)
    rewards = jnp.asarray(rewards)
    if fam.support is not None:
        return lambda x: rewards[jnp.asarray(x, jnp.int32)]
    return lambda x: rewards[0] + rewards[1] * x + rewards[2] * x**2


def expected_reward(family, theta, rewards):
    return expectation(family, theta, reward_fn(family, rewards))


def surrogate(family, theta, other, rewards):
    """L_theta(other), an importance-weighted expectation under the current theta.

    Finite families sum exactly. Gaussian families integrate by Gauss-Hermite quadrature
    under pi_theta, exact for polynomial integrands; the ratio pi_other / pi_theta is not
    one, so the value is exact at other = theta (and its gradient there: the policy
    gradient) and an approximation that degrades as other moves away from theta
    (``tests/test_twins.py`` measures how far).
    """
    fam = get_family(family)
    r = reward_fn(fam, rewards)
    eta = expected_reward(fam, theta, rewards)

    def weighted_advantage(x):
        ratio = jnp.exp(fam.log_prob(other, x) - fam.log_prob(theta, x))
        return ratio * (r(x) - eta)

    return eta + expectation(fam, theta, weighted_advantage)


def policy_gradient(family, theta, rewards):
    """g = grad of the surrogate at theta (equal to grad eta: the policy gradient theorem)."""
    theta = jnp.asarray(theta)
    return jax.grad(lambda other: surrogate(family, jax.lax.stop_gradient(theta), other, rewards))(
        theta
    )
