"""MuJoCo locomotion on the host: the environments' backends, the host training loop, and
npg-train / npg-eval end to end on Hopper-v5.

Learning is shown by benchmarks/locomotion.py; these runs are a few small updates each.
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("mujoco", reason="MuJoCo tests need the extra: pip install 'npg[mujoco]'")

from npg_num import NPGInputError  # noqa: E402
from npg_num.train import default_config, seed_sharding  # noqa: E402
from npg_num.train.metrics_file import read_metrics  # noqa: E402
from npg_num.train.host_envs import (  # noqa: E402
    GymnasiumEnvs, HostStep, SubprocEnvs, make_host_envs,
)
from npg_num.train.runner import HostRunner  # noqa: E402

from clirun import (  # noqa: E402
    kill_9_after_rows, run_module, train_in_process, without_clock,
)

ROOT = Path(__file__).resolve().parents[1]
# 2 seeds x 2 environments x 64 steps: an update is 256 environment steps
TINY = dict(seeds=2, num_envs=2, num_steps=64, total_steps=64 * 2 * 6, value_epochs=2,
            value_minibatches=2, cg_iters=5, checkpoint_every=1)


def _random_actions(n_steps, n_envs, dim, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n_steps, n_envs, dim))


def _trace(envs, actions):
    """Everything a rollout sees, flattened: observations, rewards, episode ends."""
    out = [envs.reset_all()]
    for a in actions:
        s = envs.step(a)
        out += [s.next_obs, s.obs, s.reward, s.terminated, s.truncated]
    return np.concatenate([np.asarray(x, float).ravel() for x in out])


# -- the environments -------------------------------------------------------------------------


def test_gymnasium_envs_step_reset_and_time_limit():
    envs = GymnasiumEnvs("Hopper-v5", [1, 2, 3])
    envs.max_steps = 5  # a short time limit, to see truncation
    obs = envs.reset_all()
    assert obs.shape == (3, 11)
    truncated_at = []
    for t in range(12):
        s = envs.step(np.zeros((3, 3)))
        assert isinstance(s, HostStep) and s.next_obs.shape == (3, 11)
        assert not np.any(s.terminated & s.truncated)
        if s.truncated.any():
            truncated_at.append(t)
            # the observation before the reset is kept for bootstrapping
            assert not np.array_equal(s.next_obs[s.truncated], s.obs[s.truncated])
    assert truncated_at == [4, 9]  # every 5 steps, standing still does not fall
    envs.close()


def test_snapshot_restore_continues_exactly():
    actions = _random_actions(120, 4, 3)
    envs = GymnasiumEnvs("Hopper-v5", [0, 1, 2, 3])
    envs.reset_all()
    for a in actions[:40]:
        envs.step(a)
    snap = envs.snapshot()
    first = _trace_from_here(envs, actions[40:])
    other = GymnasiumEnvs("Hopper-v5", [7, 8, 9, 10])  # other seeds, other states
    other.reset_all()
    other.restore(snap)
    second = _trace_from_here(other, actions[40:])
    np.testing.assert_array_equal(first, second)
    assert np.any(np.concatenate([s for s in first]) != 0)


def _trace_from_here(envs, actions):
    out = []
    for a in actions:
        s = envs.step(a)
        out.append(np.concatenate([s.next_obs.ravel(), s.obs.ravel(), s.reward,
                                   s.terminated, s.truncated]))
    return np.stack(out)


def test_subprocess_envs_equal_in_process_envs_bit_for_bit():
    """Two blocks (one in a worker process) give the numbers of one process, and the
    same snapshots."""
    seeds, actions = [3, 4, 5, 6, 7], _random_actions(150, 5, 3, seed=1)
    one = GymnasiumEnvs("Hopper-v5", seeds)
    many = SubprocEnvs("Hopper-v5", seeds, blocks=2)
    try:
        np.testing.assert_array_equal(_trace(one, actions), _trace(many, actions))
        for a, b in zip(one.snapshot(), many.snapshot()):
            np.testing.assert_array_equal(a, b)
        snap = many.snapshot()
        ahead = _trace_from_here(many, actions[:30])
        many.restore(snap)
        np.testing.assert_array_equal(ahead, _trace_from_here(many, actions[:30]))
    finally:
        many.close()
    assert not many._workers


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5",
                                    "Swimmer-v5"])
def test_lean_step_equals_gymnasiums_own_step_bit_for_bit(env_id):
    """Stepped with mj_step and numpy (``_LeanStep``) or through gymnasium's own ``step``:
    the same observations, rewards, terminations, time limits and resets, bit for bit."""
    seeds = [3, 4, 5]
    lean, plain = GymnasiumEnvs(env_id, seeds), GymnasiumEnvs(env_id, seeds, lean=False)
    assert lean.lean is not None and plain.lean is None
    lean.max_steps = plain.max_steps = 150  # time limits within the test
    actions = _random_actions(600, 3, len(lean.action_low), seed=2)
    a, b = _trace(lean, actions), _trace(plain, actions)
    np.testing.assert_array_equal(a, b)
    ends = sum(int(s.terminated.sum() + s.truncated.sum()) for s in map(lean.step, actions[:300]))
    assert ends > 0
    for x in (lean, plain):
        x.close()


@pytest.mark.parametrize("env_id,dtype", [("Hopper-v5", np.float32),
                                           ("Walker2d-v5", np.float64),
                                           ("HalfCheetah-v5", np.float32),
                                           ("Swimmer-v5", np.float32)])
def test_lean_rollout_equals_a_rollout_of_gymnasiums_own_steps(env_id, dtype):
    """``host_rollout`` through ``GymnasiumEnvs.rollout`` (the lean step, the rewards and
    the episodes' bookkeeping after the loop) gives what a rollout of gymnasium's own
    ``step`` calls gives, bit for bit: the trajectory, where the next rollout starts, the
    episodes' returns (in ``dtype``, rounded at every step) and the steps into each
    episode, over two rollouts with falls, time limits and resets; 2 seeds x 2 envs."""
    from npg_num.train.rollout_host import HostEpisodes, host_rollout
    from npg_num.train.state import Episodes

    seeds, s, e, T = [3, 4, 5, 6], 2, 2, 180
    lean, plain = GymnasiumEnvs(env_id, seeds), GymnasiumEnvs(env_id, seeds, lean=False)
    assert lean.lean is not None and plain.lean is None
    lean.max_steps = plain.max_steps = 70  # time limits within the test
    a_dim = len(lean.action_low)
    # beyond the bounds now and then: the clipping is part of the step
    actions = np.random.default_rng(5).normal(0, 0.8, (2, s, T, e, a_dim)).astype(dtype)

    def act_from(table):
        return lambda obs, t: table[:, t]

    runs = []
    for envs in (lean, plain):
        obs = envs.reset_all().reshape(s, e, -1).astype(dtype)
        episodes = HostEpisodes.from_device(Episodes(
            running_return=np.full((s, e), 0.25, dtype), running_length=np.zeros((s, e), np.int32),
            last_return=np.zeros((s, e), dtype), finished=np.zeros((s, e), np.int32),
            ended=np.zeros((s, e), bool)))
        out, timers = [], {}
        for k in range(2):
            traj, obs = host_rollout(envs, act_from(actions[k]), obs, episodes, T, dtype, timers)
            out += [*traj, obs, *[x.copy() for x in episodes], envs.steps.copy()]
        assert timers["simulator"] > 0 and timers["policy"] > 0
        runs.append(out)
        envs.close()
    for a, b in zip(*runs):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    traj_done = runs[0][4]
    assert traj_done.any() and runs[0][1].dtype == dtype  # episodes ended; actions as given
    if env_id in ("Hopper-v5", "Walker2d-v5"):
        assert runs[0][3].any()  # falls (terminal states), not only time limits


def test_lean_step_is_not_used_where_it_would_differ(monkeypatch):
    """Ant (its contact terms) runs gymnasium's own step; and a lean step that would give
    other numbers than gymnasium's fails the check made with each block, so gymnasium's
    own step is used."""
    from npg_num.train import host_envs

    assert GymnasiumEnvs("Ant-v5", [0]).lean is None
    right = host_envs._LeanStep.__call__

    def off_by_a_bit(self, envs, actions):
        obs, reward, term = right(self, envs, actions)
        return obs, np.nextafter(reward, np.inf), term

    monkeypatch.setattr(host_envs._LeanStep, "__call__", off_by_a_bit)
    assert GymnasiumEnvs("Hopper-v5", [0]).lean is None


def test_unknown_backend_and_missing_extra(monkeypatch):
    with pytest.raises(NPGInputError, match="host backend"):
        make_host_envs("Hopper-v5", [0], "nope")
    monkeypatch.setitem(sys.modules, "mujoco", None)  # as if it were not installed
    with pytest.raises(NPGInputError, match=r"pip install 'gymnasium\[mujoco\]>=1.0'"):
        GymnasiumEnvs("Hopper-v5", [0])


# -- the host training loop ---------------------------------------------------------------------


def _host_trainer(envs=None, **changes):
    cfg = default_config("Hopper-v5", "trpo", **{**TINY, **changes})
    return HostRunner(cfg, envs=envs, sharding=seed_sharding(cfg.seeds, jax.devices()[:1]))


def test_host_loop_same_seed_twice_gives_identical_metrics():
    runs = []
    for _ in range(2):
        trainer = _host_trainer()
        state, m = trainer.run(trainer.fresh_state(), 3)
        runs.append((m, np.asarray(state.theta)))
        trainer.close()
    (m1, t1), (m2, t2) = runs
    for name in m1._fields:
        np.testing.assert_array_equal(getattr(m1, name), getattr(m2, name), err_msg=name)
    np.testing.assert_array_equal(t1, t2)
    assert m1.env_steps[0].tolist() == [128, 256, 384]
    assert np.all(m1.data_ok) and np.all(m1.accepted)


class _NaNAt:
    """Environments whose observation turns NaN at one step (a simulator that broke)."""

    def __init__(self, envs, at_step):
        self.envs, self.at, self.t = envs, at_step, 0
        for name in ("n", "obs_dim", "action_low", "action_high", "max_steps", "can_snapshot"):
            setattr(self, name, getattr(envs, name))

    def reset_all(self):
        return self.envs.reset_all()

    def step(self, actions):
        out = self.envs.step(actions)
        self.t += 1
        if self.t == self.at:
            out.next_obs[0, 0] = np.nan
        return out

    def snapshot(self):
        return self.envs.snapshot()

    def close(self):
        self.envs.close()


def test_nan_observation_rejects_the_update_and_keeps_everything():
    """A NaN in an observation of seed 0's update 2 (0-based, step 64 * 2 + 10): that
    seed's update is rejected and counted, and its policy, value function and both
    normalizations are kept bit for bit; seed 1 (its own environments) and the updates
    around it learn as usual."""
    seeds = [10_000 * s + i for s in range(2) for i in range(2)]
    trainer = _host_trainer(envs=_NaNAt(GymnasiumEnvs("Hopper-v5", seeds), 64 * 2 + 10))
    state = trainer.fresh_state()
    states, rows = [state], []
    for _ in range(4):
        state, m = trainer.run(state, 1)
        states.append(state)
        rows.append(m)
    data_ok = [np.asarray(m.data_ok).ravel().tolist() for m in rows]
    accepted = [np.asarray(m.accepted).ravel().tolist() for m in rows]
    assert data_ok == [[True, True], [True, True], [False, True], [True, True]]
    assert accepted == data_ok
    assert np.asarray(rows[2].rejected_total).ravel().tolist() == [1, 0]
    for name in ("theta", "value_params", "obs_norm", "reward_norm", "value_opt"):
        for a, b in zip(jax.tree.leaves(getattr(states[3], name)),
                        jax.tree.leaves(getattr(states[2], name))):
            np.testing.assert_array_equal(a[0], b[0], err_msg=name)  # seed 0: kept
    assert not np.array_equal(states[3].theta[1], states[2].theta[1])  # seed 1 learned
    assert not np.array_equal(states[4].theta[0], states[3].theta[0])  # and seed 0 again
    for leaf in jax.tree.leaves(states[4]):
        assert np.all(np.isfinite(np.asarray(leaf, float)))
    trainer.close()


# -- npg-train and npg-eval on Hopper-v5 --------------------------------------------------------


def _cli(module, args, **kw):
    return run_module(module, args, **kw)


HOPPER_ARGS = ["--env", "Hopper-v5", "--algo", "trpo", "--seeds", "2", "--num-envs", "2",
               "--num-steps", "64", "--value-epochs", "2", "--value-minibatches", "2",
               "--cg-iters", "5", "--checkpoint-every", "1", "--quiet"]



def test_hopper_cli_run_then_eval(tmp_path):
    out = tmp_path / "hopper"
    proc = _cli("npg_num.train.cli", [*HOPPER_ARGS, "--total-steps", "640", "--out",
                                      str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "final mean return" in proc.stdout
    data = read_metrics(out / "metrics.csv")
    assert len(data["seed"]) == 5 * 2 and data["env_steps"].max() == 640
    assert {"seed", "update", "env_steps", "mean_return", "kl", "beta"} <= set(data)
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "config.json").read_text())["env"] == "Hopper-v5"
    # where each update's time went: its phases, one value per update, adding up to its wall
    timing = json.loads((out / "timing.json").read_text())
    per = timing["per_update_s"]
    assert set(per) == {"simulator", "policy", "learn", "waiting", "wall"}
    assert all(len(v) == 5 for v in per.values())
    parts = sum(np.asarray(per[k]) for k in ("simulator", "policy", "learn", "waiting"))
    np.testing.assert_allclose(parts, per["wall"], atol=1e-4)
    assert min(per["simulator"]) > 0 and min(per["learn"]) > 0
    ev = _cli("npg_num.train.evaluate", [str(out), "--episodes", "2"])
    assert ev.returncode == 0, ev.stderr
    last = ev.stdout.strip().splitlines()[-1]
    assert last.startswith("mean_return=") and " std=" in last
    rows = ev.stdout.strip().splitlines()[1:-1]
    assert [int(r.split()[0]) for r in rows] == [0, 1]  # one row per trained seed
    assert all(int(r.split()[1]) == 2 for r in rows)
    # the same evaluation twice: the same numbers
    assert _cli("npg_num.train.evaluate", [str(out), "--episodes", "2"]).stdout == ev.stdout


def test_hopper_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    """Killed mid-run and resumed, the run's metrics equal an uninterrupted run's, row for
    row (clock aside): the checkpoint holds the simulators' states and generators. (The
    batched schedule here; tests/test_lanes.py does the same for lanes, the default.)"""
    args = [*HOPPER_ARGS, "--total-steps", str(128 * 40), "--host-schedule", "batched"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    proc = train_in_process([*args, "--out", str(whole)], capsys)
    assert proc.returncode == 0, proc.stderr
    rows_at_kill = kill_9_after_rows(args, cut, 2 * 8)
    metrics = cut / "metrics.csv"
    assert 2 * 8 <= rows_at_kill < 2 * 40
    proc = train_in_process(["--resume", str(cut), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    a, b = without_clock(whole / "metrics.csv"), without_clock(metrics)
    assert len(a["update"]) == 2 * 40
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_eval_bad_input_is_one_line_and_exit_2(tmp_path):
    proc = _cli("npg_num.train.evaluate", [str(tmp_path / "nothing")])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "npg-eval: error:" in proc.stderr
    assert "Traceback" not in proc.stderr
    (tmp_path / "config.json").write_text(json.dumps(default_config("Hopper-v5").to_dict()))
    proc = _cli("npg_num.train.evaluate", [str(tmp_path)])
    assert proc.returncode == 2 and "no checkpoint" in proc.stderr


def test_envpool_backend_steps_real_transitions_deterministically():
    """envpool resets an ended environment at once (not on the next step, which would
    waste it); the same seeds give the same numbers."""
    pytest.importorskip("envpool", reason="the envpool backend needs: pip install envpool")
    from npg_num.train.host_envs import EnvpoolEnvs

    actions = _random_actions(200, 3, 3, seed=2)
    envs = EnvpoolEnvs("Hopper-v5", [5, 6, 7], threads=2)
    first = _trace(envs, actions)
    envs.close()
    envs = EnvpoolEnvs("Hopper-v5", [5, 6, 7], threads=2)
    envs.reset_all()
    ended = 0
    for a in actions:
        s = envs.step(a)
        assert s.obs.shape == (3, 11) and np.all(np.isfinite(s.obs))
        done = s.terminated | s.truncated
        ended += int(done.sum())
        # where an episode ended, the next one already started: a fresh observation
        assert not np.any(np.all(s.obs[done] == s.next_obs[done], axis=1))
    assert ended > 0  # random actions make Hopper fall within 200 steps
    envs.close()
    envs = EnvpoolEnvs("Hopper-v5", [5, 6, 7], threads=2)
    np.testing.assert_array_equal(first, _trace(envs, actions))
    assert envs.snapshot() is None
    envs.close()


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5"])
def test_envpool_matches_gymnasium_on_the_same_actions(env_id):
    """envpool's task is gymnasium's: from the same start (reset noise 0) and the same
    actions, the same observations (layout and values), rewards and terminations, to
    within the numerics of the two bundled MuJoCo versions; the same time limit."""
    envpool = pytest.importorskip("envpool", reason="needs envpool: pip install envpool")
    import gymnasium as gym

    g = gym.make(env_id, reset_noise_scale=0.0)
    e = envpool.make_gymnasium(env_id, num_envs=1, batch_size=1, num_threads=1, seed=0,
                               reset_noise_scale=0.0)
    assert g.spec.max_episode_steps == e.spec.config.max_episode_steps == 1000
    og, _ = g.reset(seed=0)
    oe, _ = e.reset()
    np.testing.assert_array_equal(og, oe[0])
    rng = np.random.default_rng(0)
    ids = np.arange(1, dtype=np.int32)
    for _ in range(150):
        a = 0.3 * rng.uniform(-1, 1, g.action_space.shape)
        o1, r1, term1, _, _ = g.step(a)
        o2, r2, term2, _, _ = e.step(a[None], ids)
        np.testing.assert_allclose(o1, o2[0], rtol=0, atol=1e-5)
        assert abs(r1 - r2[0]) < 1e-5 and term1 == term2[0]
        if term1:
            break
    g.close()
    e.close()
