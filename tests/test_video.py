"""``npg-eval DIR --video FILE``: the recorded episode is the evaluated one, frame for step;
every refusal is one line before any work, and no file is left half written or replaced."""

from pathlib import Path

import numpy as np
import pytest

from clirun import ROOT, one_error_line, run_module

imageio = pytest.importorskip("imageio.v2", reason="the video extra (imageio) is not installed")

TESTS = str(Path(__file__).resolve().parent)
ENV = {"PYTHONPATH": f"{ROOT / 'examples' / 'envs'}:{TESTS}"}
TINY = ["--algo", "trpo", "--total-steps", "256", "--num-envs", "2", "--num-steps", "64",
        "--value-minibatches", "2", "--quiet", "--no-tensorboard", "--seeds", "2"]


def _train(tmp_path_factory, name, env_args):
    out = tmp_path_factory.mktemp(name) / "run"
    done = run_module("npg_num.train.cli", env_args + TINY + ["--out", str(out)], env_extra=ENV)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def goal_line(tmp_path_factory):
    """A user's own environment that draws rgb_array frames (a 100-step time limit),
    trained on the host."""
    return _train(tmp_path_factory, "goal", ["--env-module", "npg_example_envs",
                                             "--env", "npg_example_envs/GoalLine-v0"])


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    """gymnax's CartPole, trained on the jitted device loop."""
    return _train(tmp_path_factory, "cartpole", ["--env", "CartPole-v1"])


def _eval(run, *args):
    return run_module("npg_num.train.evaluate", [str(run), *args], env_extra=ENV)


def _shown(stdout: str) -> list[tuple[int, float, int]]:
    """(seed, return, length) of each episode the ``video:`` line names."""
    line = next(x for x in stdout.splitlines() if x.startswith("video: "))
    parts = line.split("(", 1)[1].rstrip(")").split(", ")
    return [(int(p.split()[1].rstrip(":")), float(p.split()[3]), int(p.split()[5])) for p in parts]


def _table_means(stdout: str) -> dict[int, float]:
    rows = [x.split() for x in stdout.splitlines() if x.split() and x.split()[0].isdigit()]
    return {int(r[0]): float(r[2]) for r in rows}


@pytest.mark.parametrize("suffix, seeds", [(".gif", 2), (".mp4", 1)])
def test_the_video_is_the_evaluated_episode(goal_line, tmp_path, suffix, seeds):
    """Episode 0 of each recorded seed: its return is the table's (1 episode per seed), and
    the file holds one frame per state, the first and the last included (a GIF merges
    repeated frames, so there at most that many)."""
    path = tmp_path / f"goal{suffix}"
    done = _eval(goal_line, "--episodes", "1", "--video", str(path), "--video-seeds", str(seeds))
    assert done.returncode == 0, done.stderr
    shown, table = _shown(done.stdout), _table_means(done.stdout)
    assert [s for s, _, _ in shown] == list(range(seeds))
    for seed, ret, _ in shown:
        assert ret == pytest.approx(table[seed], abs=0.051)  # both printed to 0.1
    frames = imageio.mimread(path, memtest=False)
    states = sum(n + 1 for _, _, n in shown)
    assert len(frames) == states if suffix == ".mp4" else 1 < len(frames) <= states
    assert frames[0].ndim == 3 and frames[0].shape[2] in (3, 4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.fixture(scope="module")
def catch(tmp_path_factory):
    """bsuite's Catch (gymnax), drawn by gymnax's matplotlib Visualizer."""
    return _train(tmp_path_factory, "catch", ["--env", "Catch-bsuite"])


@pytest.mark.parametrize("run", ["cartpole", "catch"])
def test_gymnax_video(run, request, tmp_path):
    """Drawn by gymnasium from the gymnax state (CartPole) or by gymnax's Visualizer."""
    path = tmp_path / f"{run}.mp4"
    done = _eval(request.getfixturevalue(run), "--episodes", "1", "--video", str(path))
    assert done.returncode == 0, done.stderr
    ((seed, ret, n),) = _shown(done.stdout)
    assert ret == pytest.approx(_table_means(done.stdout)[seed], abs=0.051)
    reader = imageio.get_reader(path)
    assert reader.count_frames() == n + 1
    assert np.asarray(reader.get_data(0)).std() > 0  # a drawing, not a blank frame


def test_refusals_come_first_and_replace_nothing(goal_line, tmp_path):
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"the user's own file")
    for target, words in [(mine, "exists"), (tmp_path / "v.avi", ".mp4 or .gif"),
                          (tmp_path / "no" / "v.mp4", "does not exist")]:
        done = _eval(goal_line, "--video", str(target))
        assert done.returncode == 2
        assert words in one_error_line(done.stderr, "npg-eval")
        assert done.stdout == ""  # refused before evaluating
    assert mine.read_bytes() == b"the user's own file"


def test_an_environment_that_cannot_draw_is_one_line(tmp_path_factory, tmp_path):
    run = _train(tmp_path_factory, "constant", ["--env", "toy_envs:Constant"])
    path = tmp_path / "v.gif"
    done = _eval(run, "--episodes", "1", "--video", str(path))
    assert done.returncode == 2
    assert "render_mode" in one_error_line(done.stderr, "npg-eval")
    assert list(tmp_path.iterdir()) == []


def test_mujoco_draws_headless_or_says_why(tmp_path_factory, tmp_path):
    """MuJoCo draws with OpenGL: headless (EGL, OSMesa) where the machine has it, else one
    line that says so and leaves no file."""
    pytest.importorskip("mujoco", reason="the mujoco extra is not installed")
    run = _train(tmp_path_factory, "pendulum", ["--env", "InvertedPendulum-v5"])
    path = tmp_path / "pendulum.mp4"
    done = _eval(run, "--episodes", "1", "--video", str(path))
    if done.returncode == 0:
        ((seed, ret, n),) = _shown(done.stdout)
        assert imageio.get_reader(path).count_frames() == n + 1
    else:
        assert done.returncode == 2
        assert "headless OpenGL" in one_error_line(done.stderr, "npg-eval")
        assert list(tmp_path.iterdir()) == []
