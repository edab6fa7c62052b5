"""C11's approximations of the natural step: K-FAC (ACKTR) and PPO.

Laws: K-FAC's Fisher equals the exact Fisher for a single linear layer with a Gaussian
output and differs from it for an MLP; its damped solve inverts its damped product; its
sampled output factor is an unbiased estimate of the exact one; the Gauss-Jordan inverse
is the inverse. End to end: the acktr and ppo steps in the trainer (their info fields,
determinism, checkpoint and resume of PPO's Adam state).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npg_num
from npg_num.kfac import kfac_factors, kfac_matvec, kfac_solve, spd_inverse
from npg_num.train import default_config, make_trainer
from npg_num.kfac import kfac_natural_step
from npg_num.train.checkpoint import load_checkpoint, save_checkpoint

SMALL = dict(total_steps=6 * 64, num_envs=4, num_steps=16, checkpoint_every=2)


@functools.lru_cache(maxsize=None)
def _layout(obs_dim, action_dim, hidden, head):
    """A policy layout and its jitted oracles (compiled once per layout): the exact Fisher
    of the mean KL, the undamped K-FAC Fisher (exact output factor), and the damped K-FAC
    solve and product."""
    policy = npg_num.mlp_policy_spec(obs_dim, action_dim, hidden=hidden, head=head,
                                     dtype=jnp.float64)

    def dense(theta, obs):
        exact = npg_num.policy_fisher(lambda t: policy.apply(t, obs), policy.head, theta)
        kfac = npg_num.densify(kfac_matvec(policy, kfac_factors(policy, theta, obs)),
                               policy.num_params)
        return exact, kfac

    def solve_and_back(theta, obs, v, damping):
        factors = kfac_factors(policy, theta, obs)
        u = kfac_solve(policy, factors, v, damping)
        return u, kfac_matvec(policy, factors, damping)(u)

    return policy, jax.jit(dense), jax.jit(solve_and_back)


def _draw(seed, policy, obs_dim, n_states=40):
    theta = 0.7 * jax.random.normal(jax.random.PRNGKey(seed), (policy.num_params,))
    obs = jax.random.normal(jax.random.PRNGKey(seed + 1), (n_states, obs_dim))
    return theta, obs


@pytest.mark.parametrize("obs_dim, action_dim", [(1, 1), (3, 2)])
@settings(max_examples=10)
@given(seed=st.integers(0, 10_000))
def test_kfac_is_the_fisher_for_one_linear_layer_with_a_gaussian_output(obs_dim, action_dim,
                                                                       seed):
    policy, dense, _ = _layout(obs_dim, action_dim, (), "diag_gaussian")
    exact, kfac = dense(*_draw(seed, policy, obs_dim))
    np.testing.assert_allclose(kfac, exact, rtol=1e-10, atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("head, hidden", [("diag_gaussian", (6,)), ("categorical", (8, 8)),
                                          ("categorical", ())])
def test_kfac_differs_from_the_fisher_for_an_mlp_and_its_cosine_is_finite(head, hidden):
    """An MLP (and a linear layer with a softmax, whose output Fisher depends on the
    state): K != F, and the cosine between the K-FAC and exact natural directions is a
    finite number in [-1, 1], below 1."""
    policy, dense, solve = _layout(3, 2, hidden, head)
    theta, obs = _draw(3, policy, 3)
    exact, kfac = dense(theta, obs)
    assert np.abs(kfac - exact).max() > 1e-3 * np.abs(exact).max()
    g = jax.random.normal(jax.random.PRNGKey(9), theta.shape)
    damping = 1e-3
    x = jnp.linalg.solve(exact + damping * jnp.eye(theta.size), g)
    u, _ = solve(theta, obs, g, damping)
    cos = float(jnp.vdot(x, u) / (jnp.linalg.norm(x) * jnp.linalg.norm(u)))
    assert np.isfinite(cos) and -1.0 <= cos < 1.0 - 1e-6


@pytest.mark.parametrize("head, hidden", [("diag_gaussian", (5, 4)), ("categorical", (6,))])
def test_kfac_solve_inverts_its_damped_product(head, hidden):
    policy, _, solve = _layout(3, 2, hidden, head)
    theta, obs = _draw(5, policy, 3)
    v = jax.random.normal(jax.random.PRNGKey(0), theta.shape)
    for damping in (1e-4, 0.1, 3.0):
        _, back = solve(theta, obs, v, damping)
        np.testing.assert_allclose(back, v, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("head", ["categorical", "diag_gaussian"])
def test_sampled_output_factor_estimates_the_exact_one(head):
    """G from one on-policy action per state is unbiased: 4 states repeated 4000 times
    each, sampled G within a few percent of the exact G; A does not depend on actions."""
    policy, _, _ = _layout(3, 2, (5,), head)
    theta, obs = _draw(7, policy, 3, n_states=4)
    many = jnp.tile(obs, (4000, 1))

    @jax.jit
    def both(theta, many):
        actions = policy.head.sample(jax.random.PRNGKey(11), policy.apply(theta, many))
        return (kfac_factors(policy, theta, many, actions),
                kfac_factors(policy, theta, many))

    sampled, exact = both(theta, many)
    for gs, ge in zip(sampled.g, exact.g):
        np.testing.assert_allclose(gs, ge, atol=0.06 * np.abs(ge).max())
    for a_s, a_e in zip(sampled.a, exact.a):
        np.testing.assert_array_equal(a_s, a_e)


_SPD_INVERSE = jax.jit(spd_inverse)


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([1, 2, 7, 12]),
       scale=st.floats(1e-3, 1e3))
def test_gauss_jordan_inverse_is_the_inverse(seed, n, scale):
    z = jax.random.normal(jax.random.PRNGKey(seed), (n, n))
    m = scale * (z @ z.T + 0.5 * jnp.eye(n))
    np.testing.assert_allclose(_SPD_INVERSE(m) @ m, np.eye(n), atol=1e-8)


def test_kfac_natural_step_guard_rejects_non_finite_gradients():
    policy, _, _ = _layout(3, 2, (4,), "categorical")
    theta, obs = _draw(1, policy, 3)
    g = jnp.full(theta.shape, jnp.nan)
    res = jax.jit(lambda t, o, g: kfac_natural_step(policy, kfac_factors(policy, t, o), g,
                                                    0.01, 0.01))(theta, obs, g)
    assert not bool(res.accepted) and float(res.beta) == 0.0
    assert np.all(np.asarray(res.step) == 0.0)


def test_acktr_step_fills_its_info_and_is_deterministic():
    """A Gaussian policy (Pendulum): beta = sqrt(2 delta / u^T K u) > 0, the achieved KL
    near delta, the solve's residual tiny, g . step > 0; the same state twice gives the
    same update bit for bit."""
    cfg = default_config("Pendulum-v1", "acktr", dtype="float64", **SMALL)
    trainer = make_trainer(cfg)
    update = jax.jit(trainer.update)
    state = trainer.init(jax.random.PRNGKey(0))
    (s1, m), (s2, m2) = update(state), update(state)
    for a, b in zip(jax.tree.leaves((s1, m)), jax.tree.leaves((s2, m2))):
        np.testing.assert_array_equal(a, b)
    assert bool(m.accepted) and bool(m.guard_ok)
    assert 0.2 * cfg.delta < float(m.kl) < 5 * cfg.delta
    assert float(m.beta) > 0 and float(m.expected_improvement) > 0
    assert float(m.cg_residual) < 1e-6
    assert int(m.line_search_steps) == 0 and float(m.step_fraction) == 1.0


def test_ppo_step_fills_its_info_and_resumes_from_a_checkpoint(tmp_path):
    """PPO on a Gaussian policy (Pendulum): beta NaN (no trust-region scale), kl the
    achieved KL (> 0), the linear model's gain g . (theta' - theta) > 0; 3 updates, a
    checkpoint (with Adam's state), 3 more equal 6 straight, bit for bit."""
    cfg = default_config("Pendulum-v1", "ppo", dtype="float64", **SMALL)
    trainer = make_trainer(cfg)
    chunk = jax.jit(trainer.chunk(3))
    start = trainer.init(jax.random.PRNGKey(0))
    mid, m1 = chunk(start, 3)
    assert np.all(np.isnan(np.asarray(m1.beta))) and np.all(np.isnan(np.asarray(m1.cg_residual)))
    assert np.all(np.asarray(m1.kl) > 0) and np.all(np.asarray(m1.expected_improvement) > 0)
    assert np.all(np.asarray(m1.accepted))
    end, m2 = chunk(mid, 3)
    save_checkpoint(tmp_path / "ck.npz", mid, {"updates_done": 3})
    loaded, _ = load_checkpoint(tmp_path / "ck.npz", jax.eval_shape(lambda: start))
    end2, m2b = chunk(loaded, 3)
    for a, b in zip(jax.tree.leaves((end, m2)), jax.tree.leaves((end2, m2b))):
        np.testing.assert_array_equal(a, b)
    assert int(end.algo_state.opt[1][0].count) == 6 * cfg.ppo_epochs * cfg.ppo_minibatches


@pytest.mark.parametrize("algo", ["acktr", "ppo"])
def test_npg_train_runs_acktr_and_ppo(tmp_path, algo):
    """Through the real CLI: the pinned columns, acktr's beta (its trust-region scale) > 0,
    ppo's beta NaN, the achieved KL in both, a checkpoint, the summary line."""
    import subprocess
    import sys
    from pathlib import Path

    from npg_num.train.metrics_file import read_metrics

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "npg_num.train.cli", "--env", "CartPole-v1", "--algo", algo,
         "--seeds", "2", "--num-envs", "4", "--num-steps", "32", "--total-steps", "512",
         "--checkpoint-every", "2", "--quiet", "--out", str(out)],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "final mean return" in proc.stdout
    data = read_metrics(out / "metrics.csv")
    assert len(data["update"]) == 4 * 2 and (out / "checkpoint.npz").is_file()
    assert np.all(data["kl"] > 0) and np.all(data["accepted"] == 1)
    if algo == "acktr":
        assert np.all(data["beta"] > 0)
    else:
        assert np.all(np.isnan(data["beta"]))
