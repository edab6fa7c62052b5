"""Twins: every npg_sym result, lambdified, equals its npg_num twin in float64 (rtol 1e-9).

Tier 1 of the test suite (sym <-> num), in the distrax habit: each family is checked
against an independent implementation. The numeric side computes expectations by exact
sums or Gauss-Hermite quadrature and KL in closed form; the symbolic side by exact sums and
exact Gaussian integrals.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import npg_num
import npg_sym
from bridge import (
    as_vector,
    direction_for,
    num_bandit_step_fn,
    num_policy_gradient_fn,
    params_for,
    rewards_for,
    sym_bandit_fns,
    sym_fisher_fns,
    sym_kl_fn,
    sym_log_prob_fn,
    sym_quadratic_term_fn,
    sym_surrogate_fns,
)

KEYS = sorted(npg_sym.FAMILIES)
RTOL = 1e-9
ATOL = 1e-12


def close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def test_registries_have_equal_keys():
    assert set(npg_sym.FAMILIES) == set(npg_num.FAMILIES)
    for key in KEYS:
        assert npg_sym.FAMILIES[key].dim == npg_num.FAMILIES[key].dim, key


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("sym_route", ["score", "kl", "hessian"])
@given(data=st.data())
def test_fisher_twins(key, sym_route, data):
    theta = data.draw(params_for(key))
    expected = np.asarray(sym_fisher_fns(key)[sym_route](*theta), dtype=np.float64)
    for num_route in npg_num.FISHER_ROUTES:
        close(npg_num.fisher(key, jnp.asarray(theta), num_route), expected)


@pytest.mark.parametrize("key", KEYS)
@given(data=st.data())
def test_log_prob_twins(key, data):
    fam = npg_num.FAMILIES[key]
    theta = data.draw(params_for(key))
    if fam.support is not None:
        x = data.draw(st.sampled_from(fam.support))
    else:
        x = data.draw(st.floats(-5, 5, allow_nan=False))
    expected = sym_log_prob_fn(key)(*theta, x)
    close(fam.log_prob(jnp.asarray(theta), x), expected)
    # The family's own formula and its head agree (the route the FVPs take).
    action = jnp.asarray(x) if fam.support is not None else jnp.asarray([x])
    close(fam.head.log_prob(fam.to_head(jnp.asarray(theta)), action), expected)


@pytest.mark.parametrize("key", KEYS)
@given(data=st.data())
def test_kl_twins(key, data):
    fam = npg_num.FAMILIES[key]
    theta, other = data.draw(params_for(key)), data.draw(params_for(key))
    expected = sym_kl_fn(key)(*theta, *other)
    actual = fam.head.kl(fam.to_head(jnp.asarray(theta)), fam.to_head(jnp.asarray(other)))
    close(actual, expected)


@functools.lru_cache(maxsize=None)
def _quadratic_terms(key: str):
    """jit of (theta, d) -> (1/2 d^2/deps^2 KL(theta || theta + eps d) at 0, 1/2 d^T F d),
    numerically: compiled once per family, not traced op by op for every example."""
    fam = npg_num.FAMILIES[key]

    def terms(theta, d):
        ref = fam.to_head(theta)

        def along(eps):
            return fam.head.kl(ref, fam.to_head(theta + eps * d))

        return (0.5 * jax.grad(jax.grad(along))(jnp.zeros((), theta.dtype)),
                0.5 * d @ npg_num.fisher(key, theta) @ d)

    return jax.jit(terms)


@pytest.mark.parametrize("key", KEYS)
@given(data=st.data())
def test_quadratic_taylor_term_twins(key, data):
    """T_2 of KL(theta || theta + eps d): symbolic vs 1/2 d^2/deps^2 of the numeric KL, and
    1/2 d^T F d with the numeric Fisher."""
    theta, d = data.draw(params_for(key)), data.draw(direction_for(key))
    expected = sym_quadratic_term_fn(key)(*theta, *d)
    second, quadratic = _quadratic_terms(key)(jnp.asarray(theta), jnp.asarray(d))
    close(second, expected)
    close(quadratic, expected)


@pytest.mark.parametrize("key", KEYS)
@given(data=st.data())
def test_policy_gradient_twins(key, data):
    theta, rewards = data.draw(params_for(key)), data.draw(rewards_for(key))
    g_fn, _, _ = sym_bandit_fns(key)
    expected = as_vector(g_fn(*theta, *rewards, 0.1))
    close(num_policy_gradient_fn(key)(jnp.asarray(theta), jnp.asarray(rewards)), expected)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("route", npg_num.ROUTES)
@given(data=st.data())
def test_natural_step_twins(key, route, data):
    """The exact KKT step and beta vs FVP + CG (run to convergence: dim iterations)."""
    theta, rewards = data.draw(params_for(key)), data.draw(rewards_for(key))
    delta = data.draw(st.floats(1e-4, 0.5))
    g, result = num_bandit_step_fn(key, route)(jnp.asarray(theta), jnp.asarray(rewards), delta)
    F = np.asarray(npg_num.fisher(key, jnp.asarray(theta)))
    g = np.asarray(g)
    # Q = 0 exactly when the rewards make every action equally good; no step is defined.
    assume(float(g @ g) > 1e-10 and float(g @ np.linalg.pinv(F) @ g) > 1e-6 * float(g @ g))
    _, step_fn, beta_fn = sym_bandit_fns(key)
    assert bool(result.accepted)
    close(result.beta, beta_fn(*theta, *rewards, delta), rtol=1e-8)
    close(result.step, as_vector(step_fn(*theta, *rewards, delta)), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=6)
@given(data=st.data())
def test_expected_reward_and_surrogate_twins(key, data):
    """The values, not only the gradient: eta(theta) and L_theta(theta') of the bandit
    (npg_num.reward_fn inside both), against npg_sym's closed forms, for theta' within a
    step of theta (0.1 per coordinate at most). Gaussian families integrate the ratio by
    Gauss-Hermite quadrature, exact for polynomials only: far from theta it is an
    approximation (relative error 3e-3 at sigma' = 2 sigma, below 1e-10 at a step of
    0.3 per coordinate)."""
    theta = data.draw(params_for(key))
    other = theta + 0.1 * data.draw(direction_for(key))
    rewards = data.draw(rewards_for(key))
    eta_fn, surrogate_fn = sym_surrogate_fns(key)
    eta = npg_num.expected_reward(key, jnp.asarray(theta), jnp.asarray(rewards))
    close(eta, eta_fn(*theta, *rewards))
    value = npg_num.surrogate(key, jnp.asarray(theta), jnp.asarray(other), jnp.asarray(rewards))
    close(value, surrogate_fn(*theta, *other, *rewards), rtol=1e-8, atol=1e-10)
    close(npg_num.surrogate(key, jnp.asarray(theta), jnp.asarray(theta), jnp.asarray(rewards)),
          eta)  # L_theta(theta) = eta(theta): the advantages average to 0
