"""Twins: every coordinate map of ``npg_sym.geometry`` against ``npg_num.geometry`` (float64).

The SymPy side is lambdified to numpy (the bridge lives in tests only); the JAX side is
written from the formulas. Covered: the six Gaussian reparameterizations (forward map,
Jacobian, inverse, same distribution, Fisher pullback, natural vs vanilla step), the polar
map, and the mean parameters of the exponential families (with dm/dtheta = F, C10).
"""

from __future__ import annotations

import math
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import npg_num
import npg_sym

RTOL = 1e-10

means = st.floats(-2.0, 2.0)
stds = st.floats(0.3, 3.0)


def _coords(key: str, mu: float, sigma: float) -> np.ndarray:
    """The parameters of N(mu, sigma^2) in family ``key``, from the textbook formulas."""
    if key == "gaussian_mean_std":
        return np.array([mu, sigma])
    if key == "gaussian_mean_logstd":
        return np.array([mu, math.log(sigma)])
    if key == "gaussian_natural":
        return np.array([mu / sigma**2, -0.5 / sigma**2])
    raise AssertionError(key)


def _lambdified(expr, symbols):
    fn = sp.lambdify(symbols, expr, "numpy")
    return lambda v: np.asarray(fn(*np.asarray(v, dtype=float)), dtype=float)


@cache
def _exact(src: str, dst: str):
    """Lambdified exact forward map, Jacobian, inverse Jacobian and pulled-back Fisher."""
    rp = npg_sym.REPARAMETERIZATIONS[src, dst]
    return (
        _lambdified(sp.Matrix(rp.map.forward), rp.map.source),
        _lambdified(rp.jacobian(), rp.map.source),
        _lambdified(rp.map.inverse_jacobian(), rp.map.target),
        _lambdified(npg_sym.pullback(npg_sym.fisher(dst), rp.map), rp.map.source),
    )


@cache
def _exact_mean_parameters(key: str):
    return _lambdified(npg_sym.mean_parameters(key), npg_sym.FAMILIES[key].params)


@partial(jax.jit, static_argnames=("src", "dst"))
def _steps(src, dst, v, rewards, delta):
    """Bandit gradients and natural steps of one pair, in both coordinate systems."""
    rp = npg_num.REPARAMETERIZATIONS[src, dst]
    w = rp.map.forward(v)
    a = npg_num.jacobian(rp.map, v)
    g_v = npg_num.policy_gradient(src, v, rewards)
    g_w = npg_num.policy_gradient(dst, w, rewards)
    F_v, F_w = npg_num.fisher(src, v), npg_num.fisher(dst, w)
    d_v = npg_num.natural_step(g_v, lambda t: F_v @ t, delta, cg_iters=10).step
    d_w = npg_num.natural_step(g_w, lambda t: F_w @ t, delta, cg_iters=10).step
    return a, g_v, g_w, F_w, d_v, d_w


def test_registries_have_the_same_keys():
    assert set(npg_sym.REPARAMETERIZATIONS) == set(npg_num.REPARAMETERIZATIONS)
    assert set(npg_sym.SUFFICIENT_STATISTICS) == set(npg_num.SUFFICIENT_STATISTICS)
    pairs = {frozenset(k) for k in npg_sym.REPARAMETERIZATIONS}
    assert pairs == {
        frozenset({"gaussian_mean_std", "gaussian_mean_logstd"}),
        frozenset({"gaussian_mean_std", "gaussian_natural"}),
        frozenset({"gaussian_mean_logstd", "gaussian_natural"}),
    }
    for (src, dst), rp in npg_sym.REPARAMETERIZATIONS.items():
        assert (src, dst) in npg_sym.REPARAMETERIZATIONS and (dst, src) in npg_sym.REPARAMETERIZATIONS
        assert rp.map.source == npg_sym.FAMILIES[src].params
        assert rp.map.target == npg_sym.FAMILIES[dst].params


@given(mu=means, sigma=stds)
def test_maps_and_jacobians_are_twins(mu, sigma):
    for (src, dst), rp in npg_sym.REPARAMETERIZATIONS.items():
        v = _coords(src, mu, sigma)
        num = npg_num.REPARAMETERIZATIONS[src, dst].map
        w = np.asarray(num.forward(jnp.asarray(v)))
        np.testing.assert_allclose(w, _coords(dst, mu, sigma), rtol=RTOL, atol=1e-12, err_msg=f"{src}->{dst}")
        forward, jac, inv_jac, _ = _exact(src, dst)
        sym_w = forward(v).ravel()
        np.testing.assert_allclose(w, sym_w, rtol=RTOL, atol=1e-12, err_msg=f"{src}->{dst} forward")
        sym_a = jac(v)
        num_a = np.asarray(npg_num.jacobian(num, jnp.asarray(v)))
        np.testing.assert_allclose(num_a, sym_a, rtol=RTOL, atol=1e-12, err_msg=f"{src}->{dst} Jacobian")
        back = np.asarray(num.inverse(jnp.asarray(w)))
        np.testing.assert_allclose(back, v, rtol=RTOL, atol=1e-12, err_msg=f"{src}->{dst} inverse")
        sym_inv_a = inv_jac(w)
        np.testing.assert_allclose(sym_inv_a @ sym_a, np.eye(2), atol=1e-10)


@given(mu=means, sigma=stds, x=st.floats(-4.0, 4.0))
def test_a_map_keeps_the_distribution(mu, sigma, x):
    for (src, dst), rp in npg_num.REPARAMETERIZATIONS.items():
        v = jnp.asarray(_coords(src, mu, sigma))
        lp_v = npg_num.FAMILIES[src].log_prob(v, x)
        lp_w = npg_num.FAMILIES[dst].log_prob(rp.map.forward(v), x)
        np.testing.assert_allclose(lp_v, lp_w, rtol=RTOL, atol=1e-12, err_msg=f"{src}->{dst}")


@given(mu=means, sigma=stds)
def test_fisher_pulls_back(mu, sigma):
    """F_v = A^T F_w A, numerically, and against the exact pulled-back Fisher."""
    for (src, dst), rp in npg_num.REPARAMETERIZATIONS.items():
        v = jnp.asarray(_coords(src, mu, sigma))
        w = rp.map.forward(v)
        F_v = np.asarray(npg_num.fisher(src, v))
        pulled = np.asarray(npg_num.pullback(npg_num.fisher(dst, w), rp.map, v))
        np.testing.assert_allclose(pulled, F_v, rtol=1e-9, atol=1e-12, err_msg=f"{src}->{dst}")
        exact = _exact(src, dst)[3](np.asarray(v))
        np.testing.assert_allclose(pulled, exact, rtol=1e-9, atol=1e-12, err_msg=f"{src}->{dst} exact")


@given(mu=means, sigma=stds, r1=st.floats(-2.0, 2.0), r2=st.floats(-1.0, 1.0))
def test_natural_step_is_the_same_displacement(mu, sigma, r1, r2):
    """A d_v* = d_w* for the bandit gradient in every registered pair; A g_v = A A^T g_w."""
    rewards = jnp.asarray([0.3, r1, r2])
    delta = 0.01
    for src, dst in npg_num.REPARAMETERIZATIONS:
        v = jnp.asarray(_coords(src, mu, sigma))
        a, g_v, g_w, F_w, d_v, d_w = _steps(src, dst, v, rewards, delta)
        np.testing.assert_allclose(g_v, a.T @ g_w, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(a @ g_v, a @ a.T @ g_w, rtol=1e-9, atol=1e-11)
        if float(g_w @ jnp.linalg.solve(F_w, g_w)) < 1e-12:
            continue  # no ascent direction (g = 0): nothing to compare
        np.testing.assert_allclose(a @ d_v, d_w, rtol=1e-7, atol=1e-10, err_msg=f"{src}->{dst}")


def test_vanilla_step_is_not_the_same_displacement():
    """C9's counterexample: (mu, sigma) -> (mu, log sigma) at (0, 2), reward x + x^2 / 4."""
    rp = npg_num.get_reparameterization("gaussian_mean_std", "gaussian_mean_logstd")
    v = jnp.asarray([0.0, 2.0])
    w = rp.map.forward(v)
    rewards = jnp.asarray([0.0, 1.0, 0.25])
    a = npg_num.jacobian(rp.map, v)
    g_v = npg_num.policy_gradient("gaussian_mean_std", v, rewards)
    g_w = npg_num.policy_gradient("gaussian_mean_logstd", w, rewards)
    # g_v = (1, 2 r2 sigma) = (1, 1); g_w = (1, 2 r2 sigma^2) = (1, 2); A = diag(1, 1/sigma).
    np.testing.assert_allclose(g_v, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(g_w, [1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(a @ g_v, [1.0, 0.5], atol=1e-12)  # not g_w: same rate, other policy
    F_v, F_w = npg_num.fisher("gaussian_mean_std", v), npg_num.fisher("gaussian_mean_logstd", w)
    van_v = npg_num.vanilla_step(g_v, lambda t: F_v @ t, 0.01)
    van_w = npg_num.vanilla_step(g_w, lambda t: F_w @ t, 0.01)
    nat_v = npg_num.natural_step(g_v, lambda t: F_v @ t, 0.01)
    nat_w = npg_num.natural_step(g_w, lambda t: F_w @ t, 0.01)
    np.testing.assert_allclose(a @ nat_v.step, nat_w.step, rtol=1e-9, atol=1e-15)
    # The vanilla steps have the same KL size, yet are different displacements.
    np.testing.assert_allclose(0.5 * van_v.step @ F_v @ van_v.step, 0.01, rtol=1e-12)
    np.testing.assert_allclose(0.5 * van_w.step @ F_w @ van_w.step, 0.01, rtol=1e-12)
    mapped = np.asarray(a @ van_v.step)
    cosine = mapped @ np.asarray(van_w.step) / (np.linalg.norm(mapped) * np.linalg.norm(van_w.step))
    assert cosine < 0.99, f"vanilla steps of the two systems point the same way (cos {cosine})"


@given(r=st.floats(0.2, 3.0), phi=st.floats(-3.0, 3.0))
def test_polar_map_is_a_twin(r, phi):
    sym = npg_sym.polar_to_cartesian()
    num = npg_num.polar_to_cartesian()
    v = np.array([r, phi])
    w = np.asarray(num.forward(jnp.asarray(v)))
    np.testing.assert_allclose(w, [r * math.cos(phi), r * math.sin(phi)], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(w, _lambdified(sp.Matrix(sym.forward), sym.source)(v).ravel(), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(num.inverse(jnp.asarray(w)), v, rtol=RTOL, atol=1e-12)
    a = np.asarray(npg_num.jacobian(num, jnp.asarray(v)))
    np.testing.assert_allclose(a, _lambdified(sym.jacobian(), sym.source)(v), rtol=RTOL, atol=1e-12)
    G = np.asarray(npg_num.pullback(jnp.eye(2), num, jnp.asarray(v)))
    np.testing.assert_allclose(G, np.diag([1.0, r**2]), rtol=RTOL, atol=1e-12)


def test_polar_article_point():
    w = npg_num.polar_to_cartesian().forward(jnp.asarray([math.sqrt(2.0), math.pi / 4]))
    np.testing.assert_allclose(w, [1.0, 1.0], rtol=1e-15)


def _natural_point(key: str, draw) -> np.ndarray:
    if key == "bernoulli_logit":
        return np.array([draw(st.floats(-3.0, 3.0))])
    if key == "categorical_softmax3":
        return np.array([draw(st.floats(-2.0, 2.0)) for _ in range(3)])
    if key == "gaussian_unit_mean":
        return np.array([draw(st.floats(-2.0, 2.0))])
    return _coords(key, draw(means), draw(stds))


@partial(jax.jit, static_argnames="key")
def _mean_parameters_and_fisher(key, theta):
    def m(t):
        return npg_num.mean_parameters(key, t)

    return m(theta), jax.jacfwd(m)(theta), npg_num.fisher(key, theta)


@given(st.data())
def test_mean_parameters_are_twins_and_their_jacobian_is_the_fisher(data):
    for key in npg_sym.SUFFICIENT_STATISTICS:
        theta = _natural_point(key, data.draw)
        exact = _exact_mean_parameters(key)(theta).ravel()
        num, dm, F = _mean_parameters_and_fisher(key, jnp.asarray(theta))
        np.testing.assert_allclose(num, exact, rtol=1e-10, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(dm, F, rtol=1e-9, atol=1e-12, err_msg=key)


def test_bad_input_gets_one_plain_sentence():
    with pytest.raises(npg_sym.NPGInputError, match="no registered reparameterization"):
        npg_sym.get_reparameterization("gaussian_mean_std", "bernoulli_logit")
    with pytest.raises(npg_num.NPGInputError, match="no registered reparameterization"):
        npg_num.get_reparameterization("gaussian_natural", "nope")
    with pytest.raises(npg_sym.NPGInputError, match="not registered as an exponential family"):
        npg_sym.mean_parameters("gaussian_mean_std")
    with pytest.raises(npg_num.NPGInputError, match="not registered as an exponential family"):
        npg_num.mean_parameters("gaussian_mean_logstd", jnp.zeros(2))
    with pytest.raises(npg_sym.NPGInputError, match="must be a 2x2 matrix"):
        npg_sym.pullback(sp.eye(3), npg_sym.polar_to_cartesian())
    with pytest.raises(npg_num.NPGInputError, match="2x2"):
        npg_num.pullback(jnp.eye(3), npg_num.polar_to_cartesian(), jnp.ones(2))
    with pytest.raises(npg_sym.NPGInputError, match="takes 2 source values"):
        npg_sym.polar_to_cartesian().at((1,))
    with pytest.raises(npg_num.NPGInputError, match="square matrix"):
        npg_num.linear_map(jnp.ones((2, 3)))
    with pytest.raises(npg_num.NPGInputError, match="delta must be"):
        npg_num.vanilla_step(jnp.ones(2), lambda v: v, -1.0)


def test_geometry_doc_and_docstring_examples_run():
    """docs/geometry.md's and npg_sym.geometry's >>> examples print what they say."""
    import doctest
    from pathlib import Path

    import npg_sym.geometry

    doc = Path(__file__).resolve().parents[1] / "docs" / "geometry.md"
    result = doctest.testfile(str(doc), module_relative=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0, result
    result = doctest.testmod(npg_sym.geometry, verbose=False)
    assert result.attempted > 0 and result.failed == 0, result
