"""npg-train under faults (issue 13): a run killed while compiling, damaged checkpoints, a
run trained further, a run too big for the machine, two processes on one directory.

The CLI runs are subprocesses, as a person would start them, on small configurations;
the pieces (checkpoint fallback, lock, memory estimate) are also tested directly, fast.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import pytest

from npg_num.errors import NPGInputError
from npg_num.train import default_config
from npg_num.train.checkpoint import CheckpointError, save_checkpoint
from npg_num.train.cli import main
from npg_num.train.metrics_file import read_metrics
from npg_num.train.memory import check_run_fits, estimate_run_memory
from npg_num.train.rundir import (
    CHECKPOINT_FILE, LOCK_FILE, PREVIOUS_CHECKPOINT_FILE, RunDirInUse, find_resume_point,
    lock_run_dir, resume_config,
)

from clirun import SMALL_RUN, assert_same_metrics as _assert_same_metrics, cli_env, \
    finished_run, one_error_line as _one_error_line, run_module, train_in_process

ROOT = Path(__file__).resolve().parents[1]


def _cli(args, timeout=240):
    return run_module("npg_num.train.cli", args, timeout=timeout)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """SMALL_RUN uninterrupted: what every interrupted or damaged copy must come back to."""
    return finished_run(tmp_path_factory, SMALL_RUN)


# -- 1 and 5: killed while compiling; the lock ----------------------------------------------------


def test_kill_9_while_compiling_then_resume_and_the_lock(whole, tmp_path, capsys):
    """A run stopped while it compiles (no checkpoint yet) holds its directory: a second
    npg-train on it, --resume or --out --force, is refused naming the process. Killed
    with SIGKILL, it leaves no checkpoint, and --resume starts it from update 0 with its
    config.json (its lock file, left behind, blocks nothing): the result equals an
    uninterrupted run."""
    cut = tmp_path / "cut"
    victim = subprocess.Popen(
        [sys.executable, "-m", "npg_num.train.cli", *SMALL_RUN, "--out", str(cut)],
        cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = []
        while True:
            line = victim.stderr.readline()
            seen.append(line)
            if not line or "compiling the training program" in line:
                break
        assert line, f"the run ended before compiling: {''.join(seen)}"
        os.kill(victim.pid, signal.SIGSTOP)  # frozen while compiling, lock held
        assert (cut / "config.json").is_file()
        assert not [p for p in cut.iterdir() if p.name.startswith("checkpoint")]

        # a second npg-train (this process: main() in-process starts faster)
        assert main(["--resume", str(cut), "--quiet"]) == 2
        err = _one_error_line(capsys.readouterr().err)
        assert "in use" in err and f"process {victim.pid}" in err
        assert main(["--out", str(cut), "--force", *SMALL_RUN]) == 2  # a fresh run on it
        err = _one_error_line(capsys.readouterr().err)
        assert f"process {victim.pid}" in err
    finally:
        victim.kill()  # SIGKILL: the kernel releases its flock
        victim.wait()
        victim.stderr.close()
    assert (cut / LOCK_FILE).exists()
    assert read_metrics(cut / "metrics.csv")["update"].size == 0  # the header only

    proc = train_in_process(["--resume", str(cut), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert "no checkpoint yet" in proc.stderr and "from update 0" in proc.stderr
    _assert_same_metrics(whole / "metrics.csv", cut / "metrics.csv")


# -- 2: damaged checkpoints --------------------------------------------------------------------


def test_truncated_latest_checkpoint_resumes_from_the_previous_one(whole, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    data = (run / CHECKPOINT_FILE).read_bytes()
    (run / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])  # a cut copy
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("npg-train: warning:"), proc.stderr
    assert CHECKPOINT_FILE in lines[0] and "update 99" in lines[0]  # one interval lost
    _assert_same_metrics(whole / "metrics.csv", run / "metrics.csv")


def test_both_checkpoints_damaged_is_one_line_and_exit_2(whole, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    (run / CHECKPOINT_FILE).write_bytes(b"not a zip file")
    data = (run / PREVIOUS_CHECKPOINT_FILE).read_bytes()
    (run / PREVIOUS_CHECKPOINT_FILE).write_bytes(data[:1000])
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != LOCK_FILE}
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 2
    err = _one_error_line(proc.stderr)
    assert CHECKPOINT_FILE in err and PREVIOUS_CHECKPOINT_FILE in err
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.name != LOCK_FILE}
    assert after == before  # the run directory is untouched


class _State(NamedTuple):
    theta: np.ndarray
    value_params: np.ndarray
    update: np.ndarray


def _state(update, theta=None):
    theta = np.full((2, 3), 0.5, np.float32) if theta is None else theta
    return _State(theta, np.ones((2, 4), np.float32), np.full((2,), update, np.int32))


def _save(run, config, update, state=None, name=CHECKPOINT_FILE):
    meta = {"updates_done": update, "elapsed_s": 1.0, "config": config.to_dict()}
    save_checkpoint(run / name, _state(update) if state is None else state, meta,
                    previous=run / PREVIOUS_CHECKPOINT_FILE)


DAMAGE = {
    "not a zip": lambda p, c: p.write_bytes(b"PK\x03\x04 but then nothing"),
    "truncated": lambda p, c: p.write_bytes(p.read_bytes()[:-200]),
    "empty": lambda p, c: p.write_bytes(b""),
    "wrong shape": lambda p, c: _save(p.parent, c, 20, _State(
        np.zeros((2, 5), np.float32), np.ones((2, 4), np.float32), np.full(2, 20, np.int32))),
    "wrong dtype": lambda p, c: _save(p.parent, c, 20, _state(20, np.zeros((2, 3)))),
    "NaN parameters": lambda p, c: _save(p.parent, c, 20, _state(
        20, np.full((2, 3), np.nan, np.float32))),
    "other config": lambda p, c: _save(p.parent, c.replace(delta=0.5), 20),
    "counter mismatch": lambda p, c: _save(p.parent, c, 20, _state(19)),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_each_kind_of_damage_falls_back_to_the_previous_checkpoint(damage, tmp_path):
    config = default_config("CartPole-v1", "npg", total_steps=4096)
    _save(tmp_path, config, 10)
    _save(tmp_path, config, 20)  # the one at 10 moves to checkpoint.prev.npz
    path = tmp_path / CHECKPOINT_FILE
    if damage in ("wrong shape", "wrong dtype", "NaN parameters", "other config",
                  "counter mismatch"):
        (tmp_path / CHECKPOINT_FILE).unlink()  # so that the damaged save keeps the good 10
        (tmp_path / PREVIOUS_CHECKPOINT_FILE).rename(path)
    DAMAGE[damage](path, config)
    point = find_resume_point(tmp_path, _state(0), config)
    assert point.source == PREVIOUS_CHECKPOINT_FILE and point.updates_done == 10
    assert len(point.warnings) == 1 and "\n" not in point.warnings[0]
    np.testing.assert_array_equal(point.state.theta, _state(10).theta)


def test_checkpoints_rotate_and_total_steps_may_differ(tmp_path):
    config = default_config("CartPole-v1", "npg", total_steps=4096)
    for u in (1, 2, 3):
        _save(tmp_path, config, u)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE])  # and no temporary file
    point = find_resume_point(tmp_path, _state(0), config.replace(total_steps=8192))
    assert point.source == CHECKPOINT_FILE and point.updates_done == 3
    assert point.warnings == ()
    (tmp_path / CHECKPOINT_FILE).unlink()  # as a kill between the two renames could leave it
    assert find_resume_point(tmp_path, _state(0), config).updates_done == 2
    for p in tmp_path.iterdir():
        p.unlink()
    point = find_resume_point(tmp_path, _state(0), config)
    assert point.state is None and point.updates_done == 0 and "update 0" in point.warnings[0]


def test_no_usable_checkpoint_names_both_files(tmp_path):
    config = default_config("CartPole-v1", "npg", total_steps=4096)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"garbage")
    with pytest.raises(CheckpointError) as err:
        find_resume_point(tmp_path, _state(0), config)
    text = str(err.value)
    assert "\n" not in text
    assert f"{CHECKPOINT_FILE} is damaged" in text
    assert f"{PREVIOUS_CHECKPOINT_FILE} is missing" in text


# -- 3: training a run further -----------------------------------------------------------------


def test_resume_accepts_repeated_flags_and_a_new_total(tmp_path):
    saved = default_config("CartPole-v1", "trpo", seeds=2)
    (tmp_path / "config.json").write_text(json.dumps(saved.to_dict()))
    config = resume_config(tmp_path, {"seeds": 2, "delta": saved.delta, "total_steps": 10 ** 6})
    assert config == saved.replace(total_steps=10 ** 6)
    with pytest.raises(NPGInputError, match="--seeds 3 .saved: 2.*--hidden"):
        resume_config(tmp_path, {"seeds": 3, "hidden": (32,), "total_steps": 10 ** 6})


def test_extending_50k_to_100k_equals_a_straight_100k_run(tmp_path, capsys):
    """50k steps (48 updates of 1024, chunks of 2), then --resume --total-steps 100k (97
    updates, chunks of 4), against a straight 100k run (chunks of 4): the first rows are
    the 50k run's, unchanged, and every metric equals the 100k run's, bit for bit."""
    args = ["--env", "CartPole-v1", "--algo", "npg", "--seeds", "2", "--quiet"]
    ext, straight = tmp_path / "ext", tmp_path / "straight"
    proc = train_in_process([*args, "--total-steps", "50000", "--out", str(ext)], capsys)
    assert proc.returncode == 0, proc.stderr
    rows_50k = (ext / "metrics.csv").read_text().splitlines(keepends=True)
    config_50k = json.loads((ext / "config.json").read_text())
    curve_50k = (ext / "learning_curve.png").read_bytes()
    assert len(rows_50k) == 1 + 48 * 2

    # refused (in-process, faster): another flag changed; fewer steps than already done.
    # As in a fresh npg-train process of a float32 run, x64 off: else the environments'
    # integer counters come out int64, not the checkpoint's int32 (conftest turns x64 on)
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        assert main(["--resume", str(ext), "--total-steps", "100000", "--delta", "0.02"]) == 2
        assert "--delta 0.02" in _one_error_line(capsys.readouterr().err)
        assert main(["--resume", str(ext), "--total-steps", "40000"]) == 2  # 49152 done
        assert "give at least 49152" in _one_error_line(capsys.readouterr().err)
    finally:
        jax.config.update("jax_enable_x64", x64)
    assert json.loads((ext / "config.json").read_text()) == config_50k  # untouched

    proc = train_in_process(["--resume", str(ext), "--total-steps", "100000", "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert "50000 -> 100000" in proc.stderr
    rows = (ext / "metrics.csv").read_text().splitlines(keepends=True)
    assert len(rows) == 1 + 97 * 2
    assert rows[: len(rows_50k)] == rows_50k  # the first rows, clock column included
    config = json.loads((ext / "config.json").read_text())
    assert config == {**config_50k, "total_steps": 100000}
    curve = (ext / "learning_curve.png").read_bytes()
    assert curve[:8] == b"\x89PNG\r\n\x1a\n" and curve != curve_50k  # redrawn

    proc = train_in_process([*args, "--total-steps", "100000", "--out", str(straight)], capsys)
    assert proc.returncode == 0, proc.stderr
    _assert_same_metrics(straight / "metrics.csv", ext / "metrics.csv")


# -- 4: memory -----------------------------------------------------------------------------------


def test_impossible_seeds_exit_2_within_seconds(tmp_path):
    out = tmp_path / "run"
    start = time.monotonic()
    proc = _cli(["--seeds", "100000000", "--out", str(out)], timeout=120)
    seconds = time.monotonic() - start
    assert proc.returncode == 2
    err = _one_error_line(proc.stderr)
    assert "needs about" in err and "available" in err and "100000000 seed(s)" in err
    assert err.count("iB") >= 3  # the need, per seed and in all, and what is available
    assert seconds < 60, f"took {seconds:.1f} s"
    assert not (out / "config.json").exists()  # nothing written, nothing compiled


def test_memory_estimate_refuses_only_what_does_not_fit():
    cfg = default_config("CartPole-v1", "npg", seeds=8)
    need = check_run_fits(cfg, 4, 2, available=1 << 30)  # fits in 1 GiB: no error
    assert need.total < 64 << 20
    with pytest.raises(NPGInputError, match="needs about .* but this machine has 1 MiB"):
        check_run_fits(cfg, 4, 2, available=1 << 20)
    # a MuJoCo-sized run (obs 17, 6 actions, 2048 steps a seed per update, 3 seeds): per
    # update, whatever its total steps
    big = default_config("CartPole-v1", "trpo", seeds=3, num_envs=1, num_steps=2048,
                         total_steps=1_000_000)
    assert estimate_run_memory(big, 17, 6).total < 256 << 20
    assert estimate_run_memory(big.replace(total_steps=10 ** 9), 17, 6) == \
        estimate_run_memory(big, 17, 6)


def test_memory_estimate_bounds_what_xla_assigns():
    """The estimate (per seed) against XLA's buffers for the CLI's compiled chunk program."""
    from npg_num.train.devices import per_seed, seed_keys, seed_sharding
    from npg_num.train.loop import make_trainer

    cfg = default_config("CartPole-v1", "npg", seeds=2, num_envs=4, num_steps=64,
                         total_steps=4096, fisher_subsample=1)
    trainer = make_trainer(cfg)
    sharding = seed_sharding(cfg.seeds, jax.devices()[:1])
    state = jax.eval_shape(jax.jit(per_seed(trainer.init, sharding)), seed_keys(cfg))
    chunk = jax.jit(per_seed(trainer.chunk(4), sharding, in_axes=(0, None)))
    stats = chunk.lower(state, 4).compile().memory_analysis()
    xla = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    need = estimate_run_memory(cfg, trainer.spec.obs_dim, trainer.spec.action_dim)
    assert xla / cfg.seeds <= need.per_seed <= 3 * xla / cfg.seeds


def test_compiled_program_too_big_is_refused(monkeypatch):
    """After compiling, XLA's figures (outputs + temporaries, per device) are checked."""
    from types import SimpleNamespace

    from npg_num.train import memory

    stats = SimpleNamespace(output_size_in_bytes=1 << 30, temp_size_in_bytes=3 << 30,
                            alias_size_in_bytes=0)
    compiled = SimpleNamespace(memory_analysis=lambda: stats)
    cpus = [SimpleNamespace(platform="cpu")] * 2
    monkeypatch.setattr(memory, "available_host_memory", lambda: 9 << 30)
    assert memory.check_compiled_fits(compiled, cpus) == 8 << 30
    monkeypatch.setattr(memory, "available_host_memory", lambda: 7 << 30)
    with pytest.raises(NPGInputError, match="needs about 8 GiB .* has 7 GiB available"):
        memory.check_compiled_fits(compiled, cpus)


# -- 5: the lock, directly -----------------------------------------------------------------------


def test_lock_names_its_holder_and_is_released(tmp_path):
    with lock_run_dir(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(RunDirInUse, match=f"process {os.getpid()} on host"):
            with lock_run_dir(tmp_path):  # another open file: flock refuses it
                pass
    with lock_run_dir(tmp_path):  # released at the end of the block
        pass


def test_lock_without_flock_checks_the_recorded_process(tmp_path, monkeypatch):
    import errno
    import fcntl
    import socket

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "no locks here")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(json.dumps(
            {"pid": sleeper.pid, "host": socket.gethostname(), "started": "earlier"}))
        with pytest.raises(RunDirInUse, match=f"process {sleeper.pid}"):
            with lock_run_dir(tmp_path):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with lock_run_dir(tmp_path):  # its process is gone: the lock is stale
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_run_from_an_earlier_version_resumes(whole, tmp_path, capsys):
    """A run written before ``normalize_reward``, ``host_backend`` and the ``data_ok``
    column existed: its configuration takes the new fields' defaults (its behaviour), it
    trains further, and its earlier rows get NaN in the new column."""
    import csv
    import io

    run = tmp_path / "old"
    shutil.copytree(whole, run)
    new_fields = ("normalize_reward", "host_backend")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({k: v for k, v in config.items()
                                                 if k not in new_fields}))
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        with np.load(run / name) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(bytes(arrays.pop("meta")).decode())
        meta["config"] = {k: v for k, v in meta["config"].items() if k not in new_fields}
        leaves = [arrays[f"leaf_{i}"] for i in range(len(arrays))]
        save_checkpoint(run / name, leaves, meta)
    rows = list(csv.DictReader(io.StringIO((run / "metrics.csv").read_text())))
    old_columns = [c for c in rows[0] if c != "data_ok"]
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, old_columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    proc = train_in_process(["--resume", str(run), "--total-steps", str(6400 + 2 * 64),
                             "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    data = read_metrics(run / "metrics.csv")
    assert len(data["update"]) == 2 * 102
    assert np.all(np.isnan(data["data_ok"][:200])) and np.all(data["data_ok"][200:] == 1)
    before = read_metrics(whole / "metrics.csv")
    np.testing.assert_array_equal(data["kl"][:200], before["kl"])
