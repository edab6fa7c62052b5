"""The trainer's pieces (environments, GAE, initialization, configuration, checkpoints) and
its guarantees: determinism, the guard against a NaN in the advantages, TRPO's line search.

Learning itself is shown by benchmarks/classic_control.py, not here: these runs are a few
small updates each.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npg_num import NPGInputError, mlp_policy, mlp_policy_spec
from npg_num.train.checkpoint import load_checkpoint, save_checkpoint
from npg_num.train.envs import GYMNAX_ENVS, SUPPORTED_ENVS, make_env
from npg_num.train.gae import gae, lambda_returns
from npg_num.train import (
    ALGOS,
    METRIC_COLUMNS,
    TUNED,
    TrainConfig,
    default_config,
    make_train,
    make_trainer,
    seed_keys,
)
from npg_num.train.init import init_mlps, orthonormalize

SMALL = dict(total_steps=6 * 64, num_envs=4, num_steps=16, checkpoint_every=2)


# -- environments ----------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", GYMNAX_ENVS)
def test_make_env_specs(env_id):
    spec = make_env(env_id)
    obs, state = spec.env.reset(jax.random.PRNGKey(0), spec.params)
    assert obs.shape == (spec.obs_dim,)
    assert spec.head == ("categorical" if spec.discrete else "diag_gaussian")
    if not spec.discrete:
        assert spec.action_low.shape == spec.action_high.shape == (spec.action_dim,)
        assert np.all(spec.action_low < spec.action_high)


def test_unknown_env_names_the_closest():
    with pytest.raises(NPGInputError) as err:
        make_env("CartPol-v1")
    msg = str(err.value)
    assert "'CartPol-v1'" in msg and "did you mean CartPole-v1" in msg
    assert "--list-envs" in msg and "pkg.module:ClassName" in msg and "\n" not in msg


# -- GAE -------------------------------------------------------------------------------------


def _gae_loop(r, v, v_next, term, done, gamma, lam):
    """The recursion written out with Python floats, one step at a time."""
    adv = np.zeros(len(r))
    running = 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (0.0 if term[t] else v_next[t]) - v[t]
        running = delta + (0.0 if done[t] else gamma * lam * running)
        adv[t] = running
    return adv


@given(
    data=st.lists(
        st.tuples(
            st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5),
            st.sampled_from(["go", "terminated", "truncated"]),
        ),
        min_size=1, max_size=12,
    ),
    gamma=st.floats(0, 1),
    lam=st.floats(0, 1),
)
def test_gae_matches_the_recursion(data, gamma, lam):
    r, v, v_next, kind = (np.array(x) for x in zip(*data))
    term = kind == "terminated"
    done = kind != "go"
    got = gae(jnp.asarray(r), jnp.asarray(v), jnp.asarray(v_next), jnp.asarray(term),
              jnp.asarray(done), gamma=gamma, lambda_=lam)
    np.testing.assert_allclose(got, _gae_loop(r, v, v_next, term, done, gamma, lam),
                               rtol=1e-9, atol=1e-9)


def test_truncation_bootstraps_and_termination_does_not():
    one = jnp.ones(1)
    trunc = gae(one, 0 * one, 10 * one, jnp.array([False]), jnp.array([True]),
                gamma=0.5, lambda_=0.9)
    term = gae(one, 0 * one, 10 * one, jnp.array([True]), jnp.array([True]),
               gamma=0.5, lambda_=0.9)
    assert float(trunc[0]) == pytest.approx(1 + 0.5 * 10)
    assert float(term[0]) == pytest.approx(1.0)
    returns = lambda_returns(one, 2 * one, 10 * one, jnp.array([True]), jnp.array([True]),
                             gamma=0.5, lambda_=0.9)
    assert float(returns[0]) == pytest.approx(1.0)  # A + v = (1 - 2) + 2


# -- initialization ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (3, 1), (1, 5)])
def test_orthonormalize_is_the_q_of_qr(shape):
    """Twin: Gram-Schmidt twice == LAPACK's QR with the sign of diag(R) made positive."""
    rows, cols = max(shape), min(shape)
    z = jax.random.normal(jax.random.PRNGKey(sum(shape)), (rows, cols))
    q, r = jnp.linalg.qr(z)
    want = q * jnp.sign(jnp.diagonal(r))
    got = orthonormalize(z[None], [cols])[0]
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_orthonormalize_matches_jax_initializer():
    key = jax.random.PRNGKey(3)
    want = jax.nn.initializers.orthogonal(1.3)(key, (4, 64), jnp.float64)
    z = jax.random.normal(key, (64, 4), jnp.float64)
    got = 1.3 * orthonormalize(z[None], [4])[0].T
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_policy_init_has_mlp_policy_layout():
    """theta0 unravels with mlp_policy's unravel: orthogonal weights with the scheme's
    gains (sqrt 2 hidden, 0.01 output), zero biases, log-std at log_std_init."""
    cfg = default_config("Pendulum-v1", **SMALL, log_std_init=-0.5)
    trainer = make_trainer(cfg)
    state = trainer.init(jax.random.PRNGKey(0))
    _, theta_ref = mlp_policy(jax.random.PRNGKey(0), 3, 1, head="diag_gaussian")
    assert state.theta.shape == theta_ref.shape
    params = trainer.policy.unravel(state.theta)
    gains = [math.sqrt(2.0), math.sqrt(2.0), 0.01]
    for layer, gain in zip(params["layers"], gains):
        w = np.asarray(layer["w"], np.float64) / gain
        small = w if w.shape[0] >= w.shape[1] else w.T
        np.testing.assert_allclose(small.T @ small, np.eye(small.shape[1]), atol=1e-5)
        assert not np.any(np.asarray(layer["b"]))
    np.testing.assert_allclose(params["log_std"], [-0.5])


@pytest.mark.parametrize("head, action_dim", [("categorical", 3), ("diag_gaussian", 2)])
def test_mlp_policy_spec_is_mlp_policys_layout_without_computing(head, action_dim):
    """The trainer's policy comes from mlp_policy_spec (shapes only): same size, and its
    unravel gives mlp_policy's tree, leaf for leaf, from the same flat vector."""
    pi, theta = mlp_policy(jax.random.PRNGKey(3), 5, action_dim, hidden=(7, 6), head=head)
    spec = mlp_policy_spec(5, action_dim, hidden=(7, 6), head=head)
    assert (spec.head, spec.num_params, spec.action_dim) == (pi.head, pi.num_params,
                                                             pi.action_dim)
    want, got = pi.unravel(theta), spec.unravel(theta)
    assert jax.tree.structure(want) == jax.tree.structure(got)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(NPGInputError, match="head"):
        mlp_policy_spec(5, 2, head="beta")


def test_init_mlps_shapes():
    pi, v = init_mlps(jax.random.PRNGKey(1), [([4, 8, 2], 0.01), ([4, 16, 16, 1], 1.0)])
    assert [l["w"].shape for l in pi] == [(4, 8), (8, 2)]
    assert [l["w"].shape for l in v] == [(4, 16), (16, 16), (16, 1)]


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("delta", 0.0), ("delta", -1.0), ("delta", float("nan")), ("damping", -0.1),
        ("seeds", 0), ("total_steps", 10), ("num_envs", 0), ("gamma", 1.5),
        ("gae_lambda", -0.1), ("algo", "sac"), ("env", "Nope-v0"), ("fvp_route", "x"),
        ("line_search_shrink", 1.0), ("value_minibatches", 3), ("hidden", ()),
        ("dtype", "float16"), ("cg_iters", 0), ("reward_scale", 0.0),
        ("ppo_clip", 0.0), ("ppo_clip", 1.0), ("ppo_lr", 0.0), ("ppo_epochs", 0),
        ("ppo_minibatches", 3), ("ppo_max_grad_norm", -1.0), ("ppo_entropy_coef", -0.1),
        ("kfac_fisher", "empirical"),
    ],
)
def test_config_rejects_bad_values(field, value):
    owner = next((a.name for a in ALGOS.values() if a.option(field)), "npg")
    with pytest.raises(NPGInputError) as err:
        TrainConfig(**{"algo": owner, field: value})
    assert field in str(err.value) or "total_steps" in str(err.value)
    assert "not of" not in str(err.value)  # the range was checked, not the ownership


def test_options_belong_to_their_algorithm():
    with pytest.raises(NPGInputError, match="ppo_lr is an option of ppo, not of npg"):
        TrainConfig(algo="npg", ppo_lr=0.1)
    with pytest.raises(NPGInputError, match="unknown config field 'no_such'"):
        TrainConfig(no_such=1)
    cfg = TrainConfig(algo="trpo", delta=0.02)
    assert cfg.delta == 0.02 and cfg.options["line_search_steps"] == 10
    assert not hasattr(cfg, "ppo_lr")
    # a config.json of an earlier version holds every algorithm's options: theirs are dropped
    old = {**cfg.to_dict(), "ppo_lr": 0.5, "kfac_fisher": "exact"}
    assert TrainConfig.from_dict(old) == cfg
    assert cfg.replace(algo="ppo").options == TrainConfig(algo="ppo").options


def test_every_setting_is_documented():
    from npg_num.train.config import COMMON_SETTINGS

    settings = list(COMMON_SETTINGS) + [s for a in ALGOS.values() for s in a.options]
    assert {s.name for s in COMMON_SETTINGS} == {
        f.name for f in dataclasses.fields(TrainConfig) if f.name != "options"}
    for s in settings:
        assert len(s.help) > 10, s.name


def test_tuned_defaults_are_valid_configs():
    for (env, algo), changes in TUNED.items():
        cfg = default_config(env, algo)
        for name, value in changes.items():
            assert getattr(cfg, name) == value
    with pytest.raises(NPGInputError):
        default_config("CartPole-v1", "npg", no_such_field=1)


def test_config_round_trips_through_dict():
    cfg = default_config("Acrobot-v1", "trpo", hidden=(32, 16))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


# -- training ----------------------------------------------------------------------------------


def test_same_seed_twice_gives_identical_metrics():
    """Two independently built and compiled trainers, same seed: bit-identical metrics."""
    cfg = default_config("CartPole-v1", "trpo", seeds=2, **SMALL)
    runs = [jax.vmap(make_train(cfg))(seed_keys(cfg))[1] for _ in range(2)]
    for name in METRIC_COLUMNS:
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name),
                                      err_msg=name)
    assert runs[0].env_steps[0].tolist() == [64 * (i + 1) for i in range(6)]
    assert np.all(np.asarray(runs[0].accepted))


def _nan_at(update_index):
    def hook(adv, update):
        return jnp.where(update == update_index, jnp.nan, adv)

    return hook


@pytest.mark.parametrize("algo", ["npg", "trpo", "acktr", "ppo"])
def test_nan_in_advantages_is_rejected_and_counted(algo):
    """A NaN in the advantages of update 2 (0-based): that step is rejected, theta is
    kept exactly, the rejection is counted; the updates around it are accepted."""
    cfg = default_config("CartPole-v1", algo, **SMALL)
    trainer = make_trainer(cfg, advantage_hook=_nan_at(2))
    update = jax.jit(trainer.update)
    state = trainer.init(jax.random.PRNGKey(0))
    thetas, rows = [state.theta], []
    for _ in range(4):
        state, m = update(state)
        thetas.append(state.theta)
        rows.append(m)
    accepted = [bool(m.accepted) for m in rows]
    assert accepted == [True, True, False, True]
    assert not bool(rows[2].guard_ok)
    assert [int(m.rejected_total) for m in rows] == [0, 0, 1, 1]
    np.testing.assert_array_equal(thetas[3], thetas[2])  # parameters kept, bit for bit
    assert not np.array_equal(thetas[4], thetas[3])
    assert float(rows[2].kl) == 0.0 and float(rows[2].step_fraction) == 0.0
    assert np.all(np.isfinite(np.asarray(state.theta)))
    # the value function is not poisoned either (its targets do not depend on the hook,
    # but its fit is guarded the same way)
    assert np.all(np.isfinite(np.asarray(state.value_params)))
    # nor the step's own state (ppo: Adam's moments)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state.algo_state))


def test_trpo_accepts_only_improving_steps_inside_the_trust_region():
    cfg = default_config("Acrobot-v1", "trpo", seeds=2, **SMALL)
    _, m = jax.vmap(make_train(cfg))(seed_keys(cfg))
    acc = np.asarray(m.accepted)
    assert acc.any()
    assert np.all(np.asarray(m.kl)[acc] <= cfg.delta)
    assert np.all(np.asarray(m.surrogate_improvement)[acc] > 0)
    frac = np.asarray(m.step_fraction)[acc]
    steps = np.asarray(m.line_search_steps)[acc]
    np.testing.assert_allclose(frac, cfg.line_search_shrink ** steps, rtol=1e-5)


def test_chunk_runs_only_the_active_updates():
    cfg = default_config("CartPole-v1", "npg", **SMALL)
    trainer = make_trainer(cfg)
    chunk = jax.jit(trainer.chunk(4))
    state = trainer.init(jax.random.PRNGKey(0))
    state, m = chunk(state, 3)
    assert int(state.update) == 3
    assert np.asarray(m.update).tolist() == [1, 2, 3, 0]
    state, m = chunk(state, 4)
    assert np.asarray(m.update).tolist() == [4, 5, 6, 7]


# -- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    tree = {"a": np.arange(3.0), "b": (np.int32(4), np.ones((2, 2), np.float32))}
    path = tmp_path / "ck.npz"
    save_checkpoint(path, tree, {"updates_done": 7})
    back, meta = load_checkpoint(path, tree)
    assert meta == {"updates_done": 7}
    for x, y in zip(jax.tree.leaves(tree), jax.tree.leaves(back)):
        np.testing.assert_array_equal(x, y)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]  # no temporary file left
    with pytest.raises(NPGInputError, match="needs"):
        load_checkpoint(path, {"a": np.arange(4.0), "b": tree["b"]})
    with pytest.raises(NPGInputError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz", tree)
