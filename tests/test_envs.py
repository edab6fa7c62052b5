"""Environments by ID through the table of backends (issue 21): a user's own environment by
entry point and by registered ID, refused spaces and unknown IDs as one line, time limits
(truncation bootstraps, termination does not) on toy environments whose values are known,
and episode returns counted as gymnasium's RecordEpisodeStatistics counts them."""

import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from npg_num.errors import NPGInputError
from npg_num.train.envs import make_env
from npg_num.train.gae import gae
from npg_num.train.gym_envs import make_gym_env
from npg_num.train.host_envs import GymnasiumEnvs
from npg_num.train.rollout_host import HostEpisodes

from clirun import ROOT, run_module

TESTS = str(Path(__file__).resolve().parent)
EXAMPLES = str(ROOT / "examples" / "envs")


# -- the backends ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id, backend, discrete", [
    ("CartPole-v1", "gymnax", True), ("Breakout-MinAtar", "gymnax", True),
    ("InvertedPendulum-v5", "gymnasium", False), ("toy_envs:Constant", "entry-point", True),
])
def test_backend_is_chosen_from_the_id(env_id, backend, discrete):
    if "InvertedPendulum" in env_id:
        pytest.importorskip("mujoco", reason="needs the mujoco extra")
    spec = make_env(env_id)
    assert (spec.backend, spec.discrete) == (backend, discrete)
    assert spec.on_host == (backend != "gymnax")


@pytest.mark.parametrize("name, words", [
    ("DictObs", "observation space Dict"), ("ImageObs", "image observations"),
    ("TupleObs", "observation space Tuple"), ("MultiDiscreteAction", "action space MultiDiscrete"),
    ("TupleAction", "action space Tuple"),
])
def test_unsupported_spaces_are_refused_in_one_line(name, words):
    with pytest.raises(NPGInputError) as err:
        make_env(f"toy_envs:{name}")
    msg = str(err.value)
    assert words in msg and "Discrete or one-dimensional Box action" in msg and "\n" not in msg


def _cli_error(args, **env):
    out = run_module("npg_num.train.cli", args, env_extra={"PYTHONPATH": TESTS, **env},
                     timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_cli_refuses_a_space_and_an_unknown_id_before_compiling(tmp_path):
    line = _cli_error(["--env", "toy_envs:DictObs", "--out", str(tmp_path / "a")])
    assert "observation space Dict" in line
    line = _cli_error(["--env", "LunarLandr-v3", "--out", str(tmp_path / "b")])
    assert "did you mean LunarLander-v3" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_missing_extra_is_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "Box2D", None)  # as if box2d were not installed
    with pytest.raises(NPGInputError, match=r"pip install 'gymnasium\[box2d\]'"):
        make_gym_env("LunarLander-v3")


def test_env_module_that_does_not_exist_is_one_line():
    with pytest.raises(NPGInputError, match="--env-module nope_pkg: no module named"):
        make_env("nope/Thing-v0", "nope_pkg")


# -- time limits and returns -------------------------------------------------------------------


def _roll(envs, steps):
    """Step ``envs`` with action 0 (Constant, Countdown ignore it): (obs, next_obs, reward,
    terminated, done) arrays [T, n]."""
    obs = envs.reset_all()
    rows = []
    for _ in range(steps):
        out = envs.step(np.zeros(envs.n))
        rows.append((obs[:, 0], out.next_obs[:, 0], out.reward, out.terminated,
                     out.terminated | out.truncated))
        obs = out.obs
    return [np.stack(x) for x in zip(*rows)]


GAMMA = 0.9


@pytest.mark.parametrize("how", ["registered TimeLimit", "its own truncated"])
def test_truncation_bootstraps_the_known_value(how):
    """Constant never terminates: V = 1 / (1 - gamma) everywhere. With the true V, every
    GAE advantage is 0 only if the cut episodes are bootstrapped; treating the time limit
    as a termination would give 1 - V at the last step."""
    if how == "registered TimeLimit":
        gymnasium.register(id="toy/Constant-v0", entry_point="toy_envs:Constant",
                           max_episode_steps=5)
        envs = GymnasiumEnvs("toy/Constant-v0", [0, 1])
    else:
        envs = GymnasiumEnvs("toy_envs:Constant", [0, 1])
        for e in envs.envs:
            e.limit = 5
    _, _, reward, terminated, done = _roll(envs, 12)
    assert done.sum() == 2 * 2 and not terminated.any()  # cut at steps 5 and 10
    v = np.full(reward.shape, 1 / (1 - GAMMA))
    adv = np.asarray(gae(reward, v, v, terminated, done, gamma=GAMMA, lambda_=0.95))
    np.testing.assert_allclose(adv, 0.0, atol=1e-9)
    wrong = np.asarray(gae(reward, v, v, done, done, gamma=GAMMA, lambda_=0.95))
    assert np.abs(wrong).max() > 1.0  # the test can tell the two apart


def test_termination_does_not_bootstrap_the_known_value():
    """Countdown terminates after 7 steps: V(k left) = (1 - gamma^k) / (1 - gamma), 0 at
    the end. With the true V every advantage is 0 only if terminations are not
    bootstrapped (the next observation, 0 left, is the terminal one)."""
    envs = GymnasiumEnvs("toy_envs:Countdown", [3])
    obs, next_obs, reward, terminated, done = _roll(envs, 16)
    assert terminated.sum() == 2 and (terminated == done).all()
    value = lambda k: (1 - GAMMA ** k) / (1 - GAMMA)  # noqa: E731
    adv = np.asarray(gae(reward, value(obs), value(next_obs) + 5.0 * terminated, terminated,
                         done, gamma=GAMMA, lambda_=0.95))
    np.testing.assert_allclose(adv, 0.0, atol=1e-9)  # v(s_T) (here 5, wrong) never used


def test_returns_are_counted_as_record_episode_statistics():
    seeds = [11, 12, 13]
    envs = GymnasiumEnvs("toy_envs:Noisy", seeds)
    refs = [gymnasium.wrappers.RecordEpisodeStatistics(make_gym_env("toy_envs:Noisy"))
            for _ in seeds]
    for r, s in zip(refs, seeds):
        r.reset(seed=s)
    episodes = HostEpisodes(*(np.zeros((1, 3)) for _ in range(3)),
                            np.zeros((1, 3), int), np.ones((1, 3), bool))
    envs.reset_all()
    expected = [[] for _ in seeds]
    got = [[] for _ in seeds]
    for _ in range(300):
        out = envs.step(np.zeros(3))
        done = (out.terminated | out.truncated)
        episodes.step(out.reward[None], done[None])
        for i, ref in enumerate(refs):
            _, _, term, trunc, info = ref.step(0)
            if term or trunc:
                expected[i].append(info["episode"]["r"])
                ref.reset()
            if done[i]:
                got[i].append(episodes.last_return[0, i])
    assert sum(map(len, expected)) > 20
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6)


# -- a user's package, both routes, trained and evaluated through the CLI -----------------------


TINY = ["--algo", "trpo", "--total-steps", "256", "--num-envs", "2", "--num-steps", "64",
        "--value-minibatches", "2", "--quiet", "--no-tensorboard"]


@pytest.mark.parametrize("env_args", [
    ["--env", "npg_example_envs.goal_line:GoalLine"],
    ["--env-module", "npg_example_envs", "--env", "npg_example_envs/GoalLine-v0"],
    ["--env", "toy_envs:Constant"],  # discrete actions on the host
])
def test_own_environment_trains_and_evaluates(tmp_path, env_args):
    env = {"PYTHONPATH": f"{EXAMPLES}:{TESTS}"}
    out = tmp_path / "run"
    done = run_module("npg_num.train.cli", env_args + TINY + ["--out", str(out)],
                      env_extra=env)
    assert done.returncode == 0, done.stderr
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header, 2 updates of 128 steps
    ev = run_module("npg_num.train.evaluate", [str(out), "--episodes", "2"], env_extra=env)
    assert ev.returncode == 0, ev.stderr
    assert ev.stdout.strip().splitlines()[-1].startswith("mean_return=")
