"""Lanes (``--host-schedule lanes``): each seed of a host run in a worker process of its own.

What must hold: a seed's numbers are those of a one-seed run of that seed, bit for bit,
whether the lanes run in worker processes (overlapped) or one after another here (the
plain loop); a stop ends every lane at the same update; a killed run resumes exactly; a
worker that dies is one clear error. The policy the lanes compute with numpy equals the
jitted one to rounding. No test here times anything (speed: benchmarks/locomotion.py).
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("mujoco", reason="MuJoCo tests need the extra: pip install 'npg[mujoco]'")

import jax  # noqa: E402

from npg_num.networks import mlp_policy_spec  # noqa: E402
from npg_num.train import default_config  # noqa: E402
from npg_num.train.host_envs import HostEnvError  # noqa: E402
from npg_num.train.lanes import LaneRunner  # noqa: E402
from npg_num.train.normalization import ObsNorm  # noqa: E402
from npg_num.train.rollout_host import NumpyPolicy, make_act  # noqa: E402
from npg_num.train.runner import HostRunner  # noqa: E402

from clirun import kill_9_after_rows, train_in_process, without_clock  # noqa: E402

TINY = dict(num_envs=2, num_steps=64, total_steps=64 * 2 * 6, value_epochs=2,
            value_minibatches=2, cg_iters=5, checkpoint_every=1)


def _config(seeds=3, **changes):
    return default_config("Hopper-v5", "trpo", seeds=seeds, **{**TINY, **changes})


def _assert_metrics_equal(a, b, row_a: int, row_b: int) -> None:
    for name in a._fields:
        np.testing.assert_array_equal(np.asarray(getattr(a, name))[row_a],
                                      np.asarray(getattr(b, name))[row_b], err_msg=name)


def test_each_lane_computes_a_one_seed_run_overlapped_or_not():
    """Seed s of a 3-seed lanes run, in worker processes (one per seed, or two workers
    with seeds 0 and 1 in one) and one after another here, equals a one-seed run of seed
    s (the same update twice: two chunks of 2)."""
    cfg = _config()
    runs = {}
    # a worker per seed; two workers, one with seeds 0 and 1 in turn; one process
    for mode, kwargs in (("3", {}), ("2", {"workers": 2}), ("here", {"processes": False})):
        lanes = LaneRunner(cfg, **kwargs)
        assert len(lanes._groups) == int(mode) if mode != "here" else not lanes.processes
        try:
            state = lanes.fresh_state()
            state, first = lanes.run(state, 2)
            state, second = lanes.run(state, 2)
            runs[mode] = (first, second, np.asarray(state.theta))
            assert lanes.timers["simulator"] > 0 and lanes.timers["learn"] >= 0
            # the workers' process ids (the benchmark reads their CPU time): live children
            pids = lanes.worker_pids
            assert len(pids) == (int(mode) if lanes.processes else 0)
            if os.path.isdir("/proc"):
                assert all(os.path.exists(f"/proc/{pid}") for pid in pids)
            assert os.getpid() not in pids and len(set(pids)) == len(pids)
        finally:
            lanes.close()
    for s in range(cfg.seeds):
        # the gymnasium-subproc default runs as gymnasium in a lane: the same numbers
        one = HostRunner(cfg.replace(seeds=1, seed=cfg.seed + s, host_backend="gymnasium"),
                         numpy_policy=True)
        try:
            state = one.fresh_state()
            state, first = one.run(state, 2)
            state, second = one.run(state, 2)
        finally:
            one.close()
        for got_first, got_second, theta in runs.values():
            _assert_metrics_equal(got_first, first, s, 0)
            _assert_metrics_equal(got_second, second, s, 0)
            np.testing.assert_array_equal(theta[s], np.asarray(state.theta)[0])
    assert not np.array_equal(runs["3"][2][0], runs["3"][2][1])  # the seeds differ


def test_workers_follow_the_cores_the_seeds_and_the_memory(monkeypatch):
    from npg_num.train import lanes, memory

    monkeypatch.setattr(lanes, "WORKER_BYTES", 1 << 30)
    monkeypatch.setattr(memory, "available_host_memory", lambda: 5 << 30)  # room for 2
    runner = LaneRunner(_config(seeds=5))
    assert runner._groups == [[0, 1, 2], [3, 4]]  # seeds in turn, contiguous
    monkeypatch.setattr(memory, "available_host_memory", lambda: 64 << 30)
    runner = LaneRunner(_config(seeds=2))
    assert runner._groups == [[0], [1]]  # never more workers than seeds
    assert len(LaneRunner(_config(seeds=5), workers=5)._groups) == 5


def test_a_stop_ends_every_lane_at_the_same_update():
    lanes = LaneRunner(_config(seeds=2))
    try:
        state = lanes.fresh_state()
        state, metrics = lanes.run(state, 6, should_stop=lambda: True)
        k = np.shape(metrics.update)[1]
        assert 1 <= k < 6
        np.testing.assert_array_equal(metrics.update, [list(range(1, k + 1))] * 2)
        state, more = lanes.run(state, 1)  # and the lanes go on from there
        np.testing.assert_array_equal(more.update, [[k + 1]] * 2)
    finally:
        lanes.close()


def test_a_worker_that_dies_is_a_host_env_error():
    lanes = LaneRunner(_config(seeds=2))
    try:
        state = lanes.fresh_state()
        lanes._workers[1][1].kill()
        lanes._workers[1][1].wait()
        with pytest.raises(HostEnvError, match="worker process of seed 1 .* stopped"):
            lanes.run(state, 2)
    finally:
        lanes.close()
    with pytest.raises(ValueError, match="state its lanes hold"):
        other = LaneRunner(_config(seeds=2))
        try:
            other.run(jax.tree.map(np.copy, state), 1)
        finally:
            other.close()


def test_lanes_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    args = ["--env", "Hopper-v5", "--algo", "trpo", "--seeds", "2", "--num-envs", "2",
            "--num-steps", "64", "--value-epochs", "2", "--value-minibatches", "2",
            "--cg-iters", "5", "--checkpoint-every", "1", "--quiet",
            "--host-schedule", "lanes", "--total-steps", str(128 * 24)]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    proc = train_in_process([*args, "--out", str(whole)], capsys)
    assert proc.returncode == 0, proc.stderr
    rows_at_kill = kill_9_after_rows(args, cut, 2 * 6)
    assert 2 * 6 <= rows_at_kill < 2 * 24
    proc = train_in_process(["--resume", str(cut), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    a, b = without_clock(whole / "metrics.csv"), without_clock(cut / "metrics.csv")
    assert len(a["update"]) == 2 * 24
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), discrete=st.booleans(), seeds=st.integers(1, 3))
def test_numpy_policy_equals_the_jitted_policy(seed, discrete, seeds):
    obs_dim, a_dim, envs, steps = 5, 3, 4, 6
    head = "categorical" if discrete else "diag_gaussian"
    policy = mlp_policy_spec(obs_dim, a_dim, hidden=(16, 8), head=head)
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.5, (seeds, policy.num_params)).astype(np.float32)
    norm = ObsNorm(mean=rng.normal(0, 1, (seeds, obs_dim)).astype(np.float32),
                   var=rng.uniform(0.1, 4, (seeds, obs_dim)).astype(np.float32),
                   count=np.full((seeds,), 10.0, np.float32))
    noise = rng.normal(0, 1, (seeds, steps, envs, a_dim)).astype(np.float32)
    obs = rng.normal(0, 3, (seeds, envs, obs_dim))
    config = _config(seeds=1)  # normalize_obs on
    jitted = make_act(config, policy)
    mine = NumpyPolicy(policy, config.normalize_obs, theta, norm, noise)
    for t in (0, steps - 1):
        want = np.asarray(jitted(theta, norm, obs, noise, t))
        got = mine(obs, t)
        assert got.dtype == want.dtype and got.shape == want.shape
        if discrete:  # the same choice unless two scores tie to rounding
            assert np.mean(got == want) >= 0.9
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        # a lane's one-seed policy (2-D products) gives its seed's row bit for bit
        for s in range(seeds):
            one = NumpyPolicy(policy, config.normalize_obs, theta[s:s + 1],
                              jax.tree.map(lambda x: x[s:s + 1], norm), noise[s:s + 1])
            np.testing.assert_array_equal(one(obs[s:s + 1], t), got[s:s + 1])
