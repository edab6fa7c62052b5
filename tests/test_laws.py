"""Laws: properties that must hold for every family, policy and input (tier 2).

In the symforce habit, one class states the laws and every registered family runs through
it; the network laws use small MLP policies with both heads.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npg_num
import npg_sym
from bridge import num_bandit_step_fn, params_for, rewards_for

KEYS = sorted(npg_sym.FAMILIES)


@pytest.mark.parametrize("key", KEYS)
class TestFamilyLaws:
    @given(data=st.data())
    def test_fisher_symmetric_psd(self, key, data):
        F = np.asarray(npg_num.fisher(key, jnp.asarray(data.draw(params_for(key)))))
        np.testing.assert_allclose(F, F.T, rtol=0, atol=1e-14)
        assert np.linalg.eigvalsh(F).min() >= -1e-12 * max(1.0, np.abs(F).max())

    @given(data=st.data())
    def test_kl_nonnegative_and_zero_at_equality(self, key, data):
        fam = npg_num.FAMILIES[key]
        theta, other = data.draw(params_for(key)), data.draw(params_for(key))
        p, q = fam.to_head(jnp.asarray(theta)), fam.to_head(jnp.asarray(other))
        assert float(fam.head.kl(p, q)) >= -1e-14
        assert abs(float(fam.head.kl(p, p))) <= 1e-14

    def test_kl_zero_at_equality_exactly(self, key):
        fam = npg_sym.FAMILIES[key]
        assert npg_sym.kl(fam, fam.params) == 0

    @given(data=st.data())
    def test_probabilities_sum_to_one(self, key, data):
        theta = jnp.asarray(data.draw(params_for(key)))
        total = npg_num.expectation(key, theta, lambda x: jnp.ones(()))
        np.testing.assert_allclose(total, 1.0, rtol=1e-12)
        # The quadrature's nodes are the family's own density: E[exp(log_prob)] matches
        # the exact sum / integral of p^2 computed two ways only for finite families.
        fam = npg_num.FAMILIES[key]
        if fam.support is not None:
            probs = jnp.exp(jax.vmap(lambda x: fam.log_prob(theta, x))(jnp.asarray(fam.support)))
            np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-12)

    @given(data=st.data())
    def test_no_constraint_direction_beats_the_natural_step(self, key, data):
        """g . u <= g . d* for every u with 1/2 u^T F u = delta (surrogate gain, linear model)."""
        theta, rewards = data.draw(params_for(key)), data.draw(rewards_for(key))
        delta = data.draw(st.floats(1e-4, 0.5))
        g, result = num_bandit_step_fn(key, "gn")(jnp.asarray(theta), jnp.asarray(rewards), delta)
        g, F = np.asarray(g), np.asarray(npg_num.fisher(key, jnp.asarray(theta)))
        assume(float(g @ g) > 1e-10 and float(g @ np.linalg.pinv(F) @ g) > 1e-6 * float(g @ g))
        u = np.asarray(data.draw(hnp.arrays(np.float64, g.shape, elements=st.floats(-1, 1))))
        quad = 0.5 * u @ F @ u
        assume(quad > 1e-8)
        u = u * np.sqrt(delta / quad)  # onto the constraint surface
        gain_star = float(g @ np.asarray(result.step))
        assert g @ u <= gain_star * (1 + 1e-9) + 1e-12
        np.testing.assert_allclose(0.5 * np.asarray(result.step) @ F @ np.asarray(result.step),
                                   delta, rtol=1e-8)


def test_exact_step_beats_every_constraint_direction_symbolically():
    """The same law exactly: the gap is a sum of non-negative terms (see C5's certificate)."""
    F = sp.Matrix([[2, 1], [1, 3]])
    g = sp.Matrix([1, -2])
    delta = sp.Rational(1, 10)
    step, _ = npg_sym.natural_step(F, g, delta)
    for angle in np.linspace(0, 2 * np.pi, 37):
        u = sp.Matrix([sp.cos(angle), sp.sin(angle)])
        u = u * sp.sqrt(delta / ((u.T * F * u)[0] / 2))
        assert float((g.T * u)[0]) <= float((g.T * step)[0]) + 1e-12


# ---------------------------------------------------------------- network laws

def _mlp(head: str, seed: int, n_states: int = 32, obs_dim: int = 4, action_dim: int = 3,
         hidden=(8, 8), with_obs: bool = False):
    key = jax.random.PRNGKey(seed)
    k_pol, k_obs, k_out = jax.random.split(key, 3)
    policy, theta = npg_num.mlp_policy(k_pol, obs_dim, action_dim, hidden=hidden, head=head,
                                       dtype=jnp.float64)
    # A larger output layer than the init's 0.01 gain, so that the policy is not uniform.
    theta = theta + 0.3 * jax.random.normal(k_out, theta.shape, theta.dtype)
    obs = jax.random.normal(k_obs, (n_states, obs_dim), jnp.float64)
    policy_fn = lambda t: policy.apply(t, obs)  # noqa: E731
    return (policy, theta, policy_fn, obs) if with_obs else (policy, theta, policy_fn)


@functools.lru_cache(maxsize=None)
def _fvp_and_dense(head: str, route: str):
    """jit of (theta, obs, v) -> (exact Fisher, the route's FVP densified, the FVP of v)
    for ``_mlp``'s network: compiled once, whatever the example's numbers."""
    policy, _, _ = _mlp(head, 0, action_dim=3 if head == "categorical" else 2)

    def run(theta, obs, v):
        policy_fn = lambda t: policy.apply(t, obs)  # noqa: E731
        matvec = npg_num.make_fvp(policy_fn, policy.head, theta, route=route)
        return (npg_num.policy_fisher(policy_fn, policy.head, theta),
                npg_num.densify(matvec, theta.size, theta.dtype), matvec(v))

    return jax.jit(run)


@pytest.mark.parametrize("head", ["categorical", "diag_gaussian"])
@pytest.mark.parametrize("route", npg_num.ROUTES)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_fvp_routes_equal_dense_fisher_times_v(head, route, seed):
    """Densify each FVP route by basis vectors; compare with the exact Fisher (kfac-jax habit)."""
    _, theta, _, obs = _mlp(head, seed, action_dim=3 if head == "categorical" else 2,
                            with_obs=True)
    v = jax.random.normal(jax.random.PRNGKey(seed + 1), theta.shape, theta.dtype)
    dense, densified, fv = map(np.asarray, _fvp_and_dense(head, route)(theta, obs, v))
    np.testing.assert_allclose(densified, dense, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fv, dense @ np.asarray(v), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("head", ["categorical", "diag_gaussian"])
def test_achieved_kl_is_delta_plus_higher_order(head):
    """Mean KL after the natural step = delta + O(delta^1.5): the relative error shrinks.

    The relative error |KL - delta| / delta is O(sqrt(delta)) (the cubic Taylor term). We
    require it to fall strictly as delta falls from 1e-4 to 1e-8, to stay within twice
    the sqrt(delta) envelope fitted at the largest delta, and to end below 1%. A small
    network over many states keeps F well conditioned so CG solves it accurately.
    """
    policy, theta, policy_fn = _mlp(head, seed=3, n_states=64, hidden=(4,))
    reference = policy_fn(theta)
    # A real policy gradient (it lies in range(F)): sampled actions, random advantages.
    k_act, k_adv = jax.random.split(jax.random.PRNGKey(7))
    actions = policy.head.sample(k_act, reference)
    advantages = jax.random.normal(k_adv, actions.shape[:1], theta.dtype)

    def surrogate(t):
        ratio = jnp.exp(policy.head.log_prob(policy_fn(t), actions)
                        - policy.head.log_prob(reference, actions))
        return jnp.mean(ratio * advantages)

    g = jax.grad(surrogate)(theta)
    matvec = npg_num.make_fvp(policy_fn, policy.head, theta)

    @jax.jit
    def achieved(delta):
        r = npg_num.natural_step(g, matvec, delta, cg_iters=theta.size,
                                 cg_tol=1e-10 * jnp.linalg.norm(g))
        return jnp.mean(policy.head.kl(reference, policy_fn(theta + r.step)))

    deltas = np.geomspace(1e-4, 1e-8, 5)
    rel = np.array([abs(float(achieved(d)) - d) / d for d in deltas])
    assert np.all(np.diff(rel) < 0), rel
    envelope = rel[0] / np.sqrt(deltas[0])
    assert np.all(rel / np.sqrt(deltas) <= 2 * envelope), rel
    assert rel[-1] < 1e-2, rel


# ---------------------------------------------------------------- conjugate gradient

@settings(max_examples=30)
@given(
    n=st.integers(1, 24),
    seed=st.integers(0, 2**31 - 1),
    cond=st.floats(1.0, 1e4),
    iters=st.integers(1, 30),
)
def test_cg_reaches_its_reported_residual(n, seed, cond, iters):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T
    b = rng.normal(size=n)
    tol = 1e-8
    result = npg_num.cg(lambda v: jnp.asarray(A) @ v, jnp.asarray(b), max_iters=iters, tol=tol)
    true_residual = np.linalg.norm(b - A @ np.asarray(result.x))
    np.testing.assert_allclose(true_residual, float(result.residual), rtol=1e-5, atol=1e-9)
    assert int(result.iterations) <= iters
    if float(result.residual) <= tol:
        np.testing.assert_allclose(np.asarray(result.x), np.linalg.solve(A, b),
                                   rtol=0, atol=10 * tol * cond)
    else:
        assert int(result.iterations) == iters
    # The classical rate: ||x* - x_k||_A <= 2 rho^k ||x*||_A, rho = (sqrt(k)-1)/(sqrt(k)+1).
    x_star = np.linalg.solve(A, b)
    err = x_star - np.asarray(result.x)
    rho = (np.sqrt(cond) - 1) / (np.sqrt(cond) + 1)
    bound = 2 * rho ** int(result.iterations) * np.sqrt(x_star @ A @ x_star)
    assert np.sqrt(err @ A @ err) <= bound * (1 + 1e-6) + 1e-9


def test_cg_stops_on_non_positive_curvature():
    result = npg_num.cg(lambda v: -v, jnp.ones(3), max_iters=10)
    assert not bool(result.curvature_ok)
    assert int(result.iterations) == 0
    assert np.all(np.isfinite(np.asarray(result.x)))


# ---------------------------------------------------------------- the guard

@pytest.mark.parametrize(
    "name, g, fvp",
    [
        ("negative definite F (q < 0)", jnp.ones(3), lambda v: -2.0 * v),
        ("zero F (q = 0)", jnp.ones(3), lambda v: 0.0 * v),
        ("NaN in F v", jnp.ones(3), lambda v: v * jnp.nan),
        ("NaN in g", jnp.array([1.0, jnp.nan, 0.0]), lambda v: v),
        ("inf in g", jnp.array([1.0, jnp.inf, 0.0]), lambda v: v),
        ("zero gradient", jnp.zeros(3), lambda v: v),
    ],
)
def test_guard_rejects_bad_steps(name, g, fvp):
    result = npg_num.natural_step(g, fvp, 0.01)
    assert not bool(result.accepted), name
    np.testing.assert_array_equal(np.asarray(result.step), 0.0)
    assert float(result.beta) == 0.0
    assert np.isfinite(float(result.expected_improvement))


def test_guard_accepts_a_good_step():
    result = npg_num.natural_step(jnp.array([3.0, 4.0]), lambda v: v, 0.5)
    assert bool(result.accepted)
    np.testing.assert_allclose(np.asarray(result.step), [0.6, 0.8], rtol=1e-12)
    np.testing.assert_allclose(float(result.beta), 0.2, rtol=1e-12)
    np.testing.assert_allclose(float(result.q), 25.0, rtol=1e-12)


def test_damping_enters_q_and_the_solve():
    F = jnp.diag(jnp.array([1.0, 4.0]))
    g = jnp.array([1.0, 1.0])
    result = npg_num.natural_step(g, lambda v: F @ v, 0.1, damping=1.0, cg_iters=2, cg_tol=0.0)
    x = np.linalg.solve(np.diag([2.0, 5.0]), [1.0, 1.0])
    np.testing.assert_allclose(np.asarray(result.direction), x, rtol=1e-12)
    np.testing.assert_allclose(float(result.q), x @ np.diag([2.0, 5.0]) @ x, rtol=1e-12)
