"""Twins: npg_sym.mdp (exact, rational) against npg_num.mdp (float64) on random small MDPs.

Hypothesis draws a rational MDP (2-3 states, 2-3 actions, P and mu from small integer
weights, R in quarters, gamma in tenths) and rational policies with positive entries; the
softmax logits are theta = log pi, so both halves describe the same policy. Every quantity
of the issue is compared: eta, V, Q, A, rho, g, F, the surrogate, max TV, max KL, C, the
bound M, F^+ g, eta*.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from npg_num import NPGInputError as NumInputError
from npg_num import mdp as N
from npg_sym import NPGInputError as SymInputError
from npg_sym import mdp as M

RTOL, ATOL = 1e-9, 1e-10


def weights(n, low=0):
    """n non-negative integer weights with a positive sum."""
    return st.lists(st.integers(low, 4), min_size=n, max_size=n).filter(lambda w: sum(w) > 0)


def simplex(w):
    total = sum(w)
    return [sp.Rational(v, total) for v in w]


@st.composite
def rational_mdps(draw, max_states=3, max_actions=3):
    S = draw(st.integers(2, max_states))
    A = draw(st.integers(2, max_actions))
    P = [[simplex(draw(weights(S))) for _ in range(A)] for _ in range(S)]
    R = [[sp.Rational(draw(st.integers(-4, 4)), 4) for _ in range(A)] for _ in range(S)]
    gamma = sp.Rational(draw(st.integers(1, 9)), 10)
    mu = simplex(draw(weights(S, low=1)))
    return M.finite_mdp(P, R, gamma, mu)


@st.composite
def policies(draw, S, A):
    return sp.Matrix([simplex(draw(weights(A, low=1))) for _ in range(S)])


@st.composite
def mdp_and_policies(draw):
    m = draw(rational_mdps())
    S, A = m.num_states, m.num_actions
    return m, draw(policies(S, A)), draw(policies(S, A))


def twin(m: M.MDP) -> N.MDP:
    """The float64 twin of an exact MDP."""
    S, A = m.num_states, m.num_actions
    P = [[[float(m.P[s, a, t]) for t in range(S)] for a in range(A)] for s in range(S)]
    return N.finite_mdp(P, np.array(m.R, dtype=float), float(m.gamma),
                        np.array(m.mu, dtype=float).ravel(), dtype=jnp.float64)


def arr(x) -> np.ndarray:
    """A SymPy matrix or number as a float64 array."""
    if isinstance(x, sp.MatrixBase):
        return np.array(x.evalf(30).tolist(), dtype=float)
    return np.asarray(float(sp.N(x, 30)))


def close(num, sym):
    np.testing.assert_allclose(np.asarray(num), arr(sym).reshape(np.shape(num)), rtol=RTOL, atol=ATOL)


@given(mdp_and_policies())
def test_values_twins(case):
    m, pi, _ = case
    n, p = twin(m), jnp.asarray(arr(pi))
    close(N.state_values(n, p), M.state_values(m, pi))
    close(N.action_values(n, p), M.action_values(m, pi))
    close(N.advantages(n, p), M.advantages(m, pi))
    close(N.expected_return(n, p), M.expected_return(m, pi))
    close(N.visitation(n, p), M.visitation(m, pi))
    close(N.normalized_visitation(n, p), M.normalized_visitation(m, pi))


@given(mdp_and_policies())
def test_gradient_and_fisher_twins(case):
    m, pi, _ = case
    n, theta = twin(m), jnp.log(jnp.asarray(arr(pi)))
    close(N.policy_gradient(n, theta), M.policy_gradient(m, pi))
    close(N.fisher(n, theta), M.fisher(m, pi))
    close(N.softmax_natural_gradient(n, theta), M.natural_gradient_softmax(m, pi))
    # The dense route (scaled pseudo-inverse of F) at these well-conditioned policies.
    close(N.natural_gradient(n, theta), M.natural_gradient_softmax(m, pi))


@given(mdp_and_policies())
def test_surrogate_and_bound_twins(case):
    m, pi, pn = case
    n, p, q = twin(m), jnp.asarray(arr(pi)), jnp.asarray(arr(pn))
    close(N.surrogate(n, p, q), M.surrogate(m, pi, pn))
    close(N.total_variation(p, q), M.total_variation(pi, pn))
    close(N.max_tv(p, q), M.max_tv(pi, pn))
    close(N.kl_divergence(p, q), M.kl_divergence(pi, pn))
    close(N.max_kl(p, q), M.max_kl(pi, pn))
    close(N.penalty_coefficient(n, p), M.penalty_coefficient(m, pi))
    close(N.lower_bound(n, p, q), M.lower_bound(m, pi, pn))
    close(N.tv_lower_bound(n, p, q), M.tv_lower_bound(m, pi, pn))


@given(rational_mdps())
def test_optimal_return_twins(m):
    """Value iteration (num) against exact policy iteration (sym)."""
    _, V = M.policy_iteration(m)
    sol = N.value_iteration(twin(m))
    close(sol.values, V)
    close(sol.optimal_return, (m.mu.T * V)[0])


def test_random_rational_mdp_is_an_mdp():
    import random

    rng = random.Random(0)
    m = M.random_rational_mdp(rng, 3, 2)
    pi = M.random_rational_policy(rng, 3, 2)
    assert sum(M.visitation(m, pi)) == 1 / (1 - m.gamma)
    assert all(e.is_Rational for e in M.state_values(m, pi))


def test_symbolic_and_float_agree_on_a_symbolic_mdp():
    """A symbolic eta, evaluated (the bridge: lambdify), against the float twin."""
    g = sp.Symbol("gamma", positive=True)
    x = sp.symbols("x0 x1", positive=True)
    P = [[[sp.Rational(1, 3), sp.Rational(2, 3)], [1, 0]], [[0, 1], [sp.Rational(1, 2), sp.Rational(1, 2)]]]
    m = M.finite_mdp(P, [[1, 0], [0, 2]], g, [sp.Rational(1, 2), sp.Rational(1, 2)])
    pi = sp.Matrix([[x[0], 1 - x[0]], [x[1], 1 - x[1]]])
    eta = sp.lambdify((g, *x), M.expected_return(m, pi), "numpy")
    for gamma, x0, x1 in [(0.5, 0.2, 0.7), (0.9, 0.9, 0.1), (0.3, 0.5, 0.5)]:
        n = N.finite_mdp(np.array(P, dtype=float), [[1, 0], [0, 2]], gamma, [0.5, 0.5])
        p = jnp.array([[x0, 1 - x0], [x1, 1 - x1]])
        np.testing.assert_allclose(N.expected_return(n, p), eta(gamma, x0, x1), rtol=1e-12)


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: M.finite_mdp([[[1, 0]], [[0, 1]]], [[1], [0]], sp.Rational(3, 2)), "gamma"),
        (lambda: M.finite_mdp([[[sp.Rational(1, 2), sp.Rational(1, 3)]], [[0, 1]]], [[1], [0]], sp.Rational(1, 2)), "sum to 1"),
        (lambda: M.finite_mdp([[[1, 0]], [[0, 1]]], [[1, 2], [0, 0]], sp.Rational(1, 2)), "R must have shape"),
        (lambda: M.finite_mdp([[1, 0], [0, 1]], [[1], [0]], sp.Rational(1, 2)), "shape (S, A, S)"),
        (lambda: M.finite_mdp([[[1, 0]], [[0, 1]]], [[1], [0]], sp.Rational(1, 2), [1, 1]), "mu"),
    ],
)
def test_sym_errors_name_the_bad_value(build, fragment):
    with pytest.raises(SymInputError, match=re.escape(fragment)):
        build()


def test_sym_policy_errors():
    m = M.finite_mdp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]], [[1, 0], [0, 0]], sp.Rational(1, 2))
    with pytest.raises(SymInputError, match="S x A"):
        M.expected_return(m, sp.Matrix([[1, 0]]))
    with pytest.raises(SymInputError, match="sum to 1"):
        M.expected_return(m, sp.Matrix([[1, 1], [sp.Rational(1, 2), sp.Rational(1, 2)]]))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(P=np.ones((2, 1, 2)) / 2, R=np.zeros((2, 1)), gamma=1.0), "gamma"),
        (dict(P=np.ones((2, 1, 2)), R=np.zeros((2, 1)), gamma=0.5), "probability distribution"),
        (dict(P=np.ones((2, 1, 2)) / 2, R=np.zeros((1, 2)), gamma=0.5), "R must have shape"),
        (dict(P=np.ones((2, 1, 2)) / 2, R=np.full((2, 1), np.nan), gamma=0.5), "NaN"),
    ],
)
def test_num_errors_name_the_bad_value(kwargs, fragment):
    with pytest.raises(NumInputError, match=re.escape(fragment)):
        N.finite_mdp(**kwargs)


def test_num_compare_rejects_bad_steps():
    with pytest.raises(NumInputError, match="learning_rates"):
        N.compare_npg_pg(jax.random.PRNGKey(0), 2, 2, 2, 0.9, [1.0, -1.0], 10)
    with pytest.raises(NumInputError, match="num_steps"):
        N.compare_npg_pg(jax.random.PRNGKey(0), 2, 2, 2, 0.9, [1.0], 0)


def test_cancel_exact_decides_identities_and_non_identities():
    """The zero test behind the MDP proofs: 0 for identities, never 0 for anything else."""
    t1, t2 = sp.symbols("t1 t2", real=True)
    x, y = sp.symbols("x y", positive=True)
    soft = sp.exp(t1) / (sp.exp(t1) + sp.exp(t2))
    assert M.cancel_exact(soft + sp.exp(t2) / (sp.exp(t1) + sp.exp(t2)) - 1) == 0
    assert M.cancel_exact((sp.exp(2 * t1) - 1) / (sp.exp(t1) - 1) - sp.exp(t1) - 1) == 0
    assert M.cancel_exact(x / (x + y) + y / (x + y) - 1) == 0
    for nonzero in (sp.exp(t1) - sp.exp(t2), soft - sp.Rational(1, 2), sp.exp(2 * t1) - sp.exp(t1),
                    x / (x + y) - y / (x + y), sp.exp(t1 + t2) - sp.exp(t1),
                    # = exp(t1) - exp(t2); 0 only if t1 and t2 shared one unknown
                    sp.exp(t1) * (1 + sp.exp(t2)) - sp.exp(t2) - sp.exp(t1) * sp.exp(t2)):
        assert M.cancel_exact(nonzero) != 0, nonzero
