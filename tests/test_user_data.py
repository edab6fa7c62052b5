"""The user's folders are data (issue 19): no command deletes, truncates or strands what it
did not make, whatever stops a run.

One test (or a few) per guarantee: --out and --force, the damaged checkpoint set aside,
SIGTERM/SIGHUP/SIGINT, a full disk, damaged metrics rows, bounds on every number, the
environment workers, a run directory made whole, the locomotion benchmark's lock.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from npg_num.train.cli import main
from npg_num.train.metrics_file import read_metrics
from npg_num.train.rundir import (
    CHECKPOINT_FILE, LOCK_FILE, PREVIOUS_CHECKPOINT_FILE, describe_out, lock_run_dir,
)

from clirun import (
    SMALL_RUN, assert_same_metrics, cli_env, finished_run, one_error_line, run_module,
    signal_after_rows, train_in_process,
)

ROOT = Path(__file__).resolve().parents[1]
# SMALL_RUN with a checkpoint every 10 updates (chunks of 4): a stop between checkpoints
TEN = [*SMALL_RUN[:-1], "10"]


def _cli(args, **kw):
    return run_module("npg_num.train.cli", args, **kw)


def _files(folder: Path) -> dict:
    """Every file's bytes (the lock file aside: it records who holds the run now)."""
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and p.name != LOCK_FILE}


def _updates_done(path: Path) -> int:
    with np.load(path) as data:
        return json.loads(bytes(data["meta"]).decode())["updates_done"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """TEN uninterrupted: what every stopped or damaged copy must come back to."""
    return finished_run(tmp_path_factory, TEN)


@pytest.fixture
def float32_in_process():
    """As in a fresh npg-train process of a float32 run: x64 off (conftest turns it on)."""
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", x64)


# -- 1: --out and --force ------------------------------------------------------------------------


def test_a_folder_that_is_not_a_run_is_refused_untouched(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.csv").write_text("my own numbers\n")
    (mine / "notes.txt").write_bytes(b"\x00\x01 keep me")
    before = _files(mine)
    for args in (["--out", str(mine)], ["--out", str(mine), "--force"]):
        assert main([*SMALL_RUN, "--quiet", *args]) == 2
        err = one_error_line(capsys.readouterr().err)
        assert "nothing was touched" in err
        assert _files(mine) == before and sorted(p.name for p in mine.iterdir()) == sorted(before)
    assert main([*SMALL_RUN, "--out", ""]) == 2
    assert "--out must name a folder" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging left behind


def test_missing_and_empty_folders_are_made_into_runs(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (empty, tmp_path / "a" / "b"):
        proc = train_in_process([*SMALL_RUN, "--total-steps", "128", "--quiet", "--out",
                                 str(out)], capsys)
        assert proc.returncode == 0, proc.stderr
        assert describe_out(out)[0] == "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "empty"]


def test_force_interrupted_while_compiling_leaves_the_old_run(whole, tmp_path, capsys):
    """--force on a run, killed while it compiles (no checkpoint yet): the old run is
    byte for byte what it was and resumes; then --force to the end replaces it."""
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    before = _files(run)
    victim = subprocess.Popen(
        [sys.executable, "-m", "npg_num.train.cli", *TEN, "--delta", "0.02", "--force",
         "--out", str(run)], cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        for line in victim.stderr:
            if "compiling the training program" in line:
                break
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait()
        victim.stderr.close()
    assert _files(run) == before
    staged = [p.name for p in tmp_path.iterdir() if p.name != "run"]
    assert staged and all(n.startswith(".run.npg-new-") for n in staged)  # killed: left
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)  # finished: no work
    assert proc.returncode == 0, proc.stderr
    assert _files(run)["metrics.csv"] == before["metrics.csv"]

    proc = train_in_process([*TEN, "--delta", "0.02", "--force", "--quiet", "--out", str(run)],
                            capsys)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "config.json").read_text())["delta"] == 0.02
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # old staging cleaned up


# -- 2: a damaged latest checkpoint is set aside, never rotated into the backup ------------------


class _Killed(BaseException):
    """Stands for a kill -9 at one point of a write (no handler runs after it)."""


def test_damaged_latest_then_kill_during_the_next_save(whole, tmp_path, monkeypatch,
                                                       float32_in_process, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    prev = _updates_done(run / PREVIOUS_CHECKPOINT_FILE)
    data = (run / CHECKPOINT_FILE).read_bytes()
    (run / CHECKPOINT_FILE).write_bytes(data[: len(data) // 3])
    (run / "config.json").write_text(json.dumps(
        {**json.loads((run / "config.json").read_text()), "total_steps": 6400 + 64 * 10}))
    real_replace = os.replace

    def replace(src, dst):  # the first checkpoint written after the resume: killed there
        if Path(dst).name == CHECKPOINT_FILE:
            raise _Killed
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Killed):
        main(["--resume", str(run), "--quiet"])
    monkeypatch.setattr(os, "replace", real_replace)
    assert (run / "checkpoint.damaged-1.npz").read_bytes() == data[: len(data) // 3]
    assert _updates_done(run / PREVIOUS_CHECKPOINT_FILE) == prev  # the good one, kept
    (run / ".checkpoint.npz.x1y2z3.tmp").write_bytes(b"a save cut short")  # as a kill leaves
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]  # stale temp removed
    assert _updates_done(run / CHECKPOINT_FILE) == 110


# -- 3: SIGTERM, SIGHUP, SIGINT ------------------------------------------------------------------


@pytest.mark.parametrize("sig, code, name", [
    (signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP"),
    (signal.SIGINT, 130, "SIGINT"),
])
def test_a_signal_saves_the_last_chunk_and_resume_equals_the_whole_run(
        whole, tmp_path, sig, code, name, capsys):
    run = tmp_path / "run"
    proc = signal_after_rows([*TEN, "--quiet"], run, 2 * 14, sig)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert f"stopped by {name}" in last and f"--resume {run}" in last
    rows = read_metrics(run / "metrics.csv")["update"]
    assert rows.max() < 100
    assert _updates_done(run / CHECKPOINT_FILE) == rows.max()  # saved where it stopped
    assert (run / "timing.json").is_file()
    assert (run / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"  # the curve so far
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert_same_metrics(whole / "metrics.csv", run / "metrics.csv")


def test_a_signal_after_the_chunks_checkpoint_check_still_saves_that_chunk(
        whole, tmp_path, monkeypatch, float32_in_process):
    """SIGTERM while the progress line of a chunk is drawn: after the chunk's rows were
    written and its checkpoint judged not due. (Once seen in a full run: rows to update
    16, checkpoint at 12.) The stop still saves that chunk."""
    from npg_num.train.session import Session

    real = Session._report
    calls = []

    def report(self, bar, metrics, k):
        real(self, bar, metrics, k)
        calls.append(k)
        if len(calls) == 4:  # chunks of 4, a checkpoint every 10: 12 saved, 16 not due
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Session, "_report", report)
    run = tmp_path / "run"
    assert main([*TEN, "--quiet", "--out", str(run)]) == 143
    rows = read_metrics(run / "metrics.csv")["update"]
    assert rows.max() == 16
    assert _updates_done(run / CHECKPOINT_FILE) == 16


def test_a_signal_ignored_at_start_stays_ignored():
    """``nohup npg-train ...`` (SIGHUP ignored) keeps running when the terminal closes;
    the signals it was not told to ignore still stop it cleanly."""
    from npg_num.train.session import StopSignals

    saved = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with StopSignals() as stop:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == stop._handle
            os.kill(os.getpid(), signal.SIGHUP)
            assert not stop.requested()
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.requested() and stop.exit_code == 143
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, saved)


# -- 4: a full disk ------------------------------------------------------------------------------


# npg-train in a fresh process (XLA's flags as a user's run has them), with the fifth write
# through MODULE.NAME failing as a full disk does
_FULL_DISK = r"""
import errno, importlib, os, sys
from npg_num.train.cli import main
module, name = sys.argv[1].rsplit(".", 1)
module = importlib.import_module(module)
real, calls = getattr(module, name), []

def full(path, *args, **kwargs):
    calls.append(path)
    if len(calls) == 5:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return real(path, *args, **kwargs)

setattr(module, name, full)
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["metrics", "checkpoint"])
def test_a_full_disk_is_one_line_and_the_run_resumes(whole, tmp_path, where, capsys):
    run = tmp_path / "run"
    patched, victim = (("npg_num.train.metrics_file.append_text", "metrics.csv")
                       if where == "metrics"
                       else ("npg_num.train.checkpoint.atomic_write", CHECKPOINT_FILE))
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK, patched, *TEN, "--quiet",
                           "--out", str(run)], cwd=ROOT, env=cli_env(), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 1, proc.stderr
    err = one_error_line(proc.stderr)
    assert f"{run / victim}: No space left on device" in err
    assert f"free space (or fix the permissions), then npg-train --resume {run}" in err
    assert _updates_done(run / CHECKPOINT_FILE) >= 10  # the previous one, intact
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert_same_metrics(whole / "metrics.csv", run / "metrics.csv")


# -- 5: damaged metrics rows ---------------------------------------------------------------------


def _damage_row(path: Path, update: int, seed: int = 0) -> None:
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines[1:], 1):
        fields = line.split(",")
        if fields[0] == str(seed) and fields[1] == str(update):
            lines[i] = ",".join(fields[:5]) + "\n"  # torn: the other fields never written
    path.write_text("".join(lines))


def test_damaged_rows_after_the_previous_checkpoint_are_computed_again(whole, tmp_path,
                                                                       capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    _damage_row(run / "metrics.csv", 95)
    damaged = (run / "metrics.csv").read_bytes()
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert "again from checkpoint.prev.npz" in proc.stderr
    assert_same_metrics(whole / "metrics.csv", run / "metrics.csv")
    assert (run / "metrics.damaged-1.csv").read_bytes() == damaged  # the file as it was


def test_rows_no_checkpoint_can_recompute_are_reported_and_the_curve_drawn(whole, tmp_path,
                                                                          capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    _damage_row(run / "metrics.csv", 40, seed=1)
    (run / "config.json").write_text(json.dumps(
        {**json.loads((run / "config.json").read_text()), "total_steps": 6400 + 64 * 2}))
    proc = train_in_process(["--resume", str(run), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert "no good row for seed 1: updates 40 (no checkpoint before them" in proc.stderr
    data = read_metrics(run / "metrics.csv")
    assert len(data["update"]) == 2 * 102 - 1 and data["update"].max() == 102
    assert (run / "learning_curve.png").stat().st_size > 0
    (run / "metrics.csv").unlink()  # deleted: a warning, a new file, no crash
    proc = train_in_process(["--resume", str(run), "--total-steps", str(6400 + 64 * 3),
                             "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert "metrics.csv is missing" in proc.stderr
    assert read_metrics(run / "metrics.csv")["update"].tolist() == [103, 103]


# -- 6: every number bounded; no traceback on any input --------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["--seed", "1e19"], "seed must be"),
    (["--seed", "2147483000", "--seeds", "1000"], "seed + seeds"),
    (["--total-steps", "1e30"], "total_steps must be"),
    (["--num-envs", "1e9"], "num_envs must be"),
    (["--hidden", "64,1e9"], "1e9"),
    (["--delta", "nan"], "not a finite number"),
    (["--algo", "npg", "--ppo-lr", "0.1"], "ppo_lr is an option of ppo, not of npg"),
])
def test_out_of_range_numbers_are_one_line(args, words, capsys):
    assert main(args) == 2
    assert words in one_error_line(capsys.readouterr().err)


def test_npg_eval_bounds_and_an_internal_error_is_one_line(whole, monkeypatch, capsys):
    from npg_num.train import evaluate

    for args in (["--seed", "1e13"], ["--episodes", "0"], ["--episodes", "1e9"]):
        assert evaluate.main([str(whole), *args]) == 2
        one_error_line(capsys.readouterr().err, "npg-eval")

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(evaluate, "_prepare", broken)  # the first step of the work
    assert evaluate.main([str(whole)]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: RuntimeError: something nobody foresaw" in err
    saved = Path(err.split("the traceback is in ")[1].split(";")[0])
    assert "RuntimeError" in saved.read_text()
    saved.unlink()


# -- 7: the environment workers --------------------------------------------------------------------

_WORKERS = r"""
import os, signal, sys, time
from npg_num.train.host_envs import SubprocEnvs
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if ignored
envs = SubprocEnvs("Hopper-v5", [0, 1, 2, 3], blocks=3)
print("pids", *[proc.pid for _, proc, _ in envs._workers], flush=True)
if sys.argv[1] == "exit":      # a refusal while the workers start: no close()
    os._exit(2)
if sys.argv[1] == "ctrl-c":    # Ctrl-C while the workers are still importing
    try:
        time.sleep(0.4)
        os.killpg(os.getpgrp(), signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        print("parent interrupted", flush=True)
    os._exit(130)
"""


def _ended(pid: int) -> bool:
    """Gone, or a zombie waiting for its new parent to collect it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.parametrize("how", ["exit", "ctrl-c"])
def test_workers_end_quietly_with_their_parent(how):
    """However the parent ends, its workers end too, print nothing (no BrokenPipe or
    KeyboardInterrupt traceback after the prompt) and leave nothing in /dev/shm."""
    shm = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    proc = subprocess.run([sys.executable, "-c", _WORKERS, how], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=120,
                          start_new_session=True)  # its own process group, for killpg
    # capture_output waits for the pipes to close: every worker has ended by now
    assert proc.returncode == (2 if how == "exit" else 130), proc.stderr
    assert proc.stderr.strip() == "", proc.stderr
    for pid in [int(p) for p in proc.stdout.split()[1:3]]:
        deadline = time.time() + 10  # a worker may still be on its way out of the interpreter
        while not _ended(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert _ended(pid), pid
    if how == "ctrl-c":
        assert "parent interrupted" in proc.stdout
    if shm:
        assert not [n for n in set(os.listdir("/dev/shm")) - shm if n.startswith("npg-envs")]


# -- 8: a run directory comes into being whole -------------------------------------------------------


def test_a_kill_at_any_moment_leaves_nothing_or_a_resumable_run(tmp_path):
    for i, delay in enumerate((0.3, 0.8, 1.5, 2.5, 4.0)):
        out = tmp_path / f"run{i}"
        victim = subprocess.Popen([sys.executable, "-m", "npg_num.train.cli", *SMALL_RUN,
                                   "--quiet", "--out", str(out)], cwd=ROOT, env=cli_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        victim.kill()
        victim.wait()
        kind, _ = describe_out(out)
        assert kind in ("missing", "run"), (delay, sorted(p.name for p in out.iterdir()))
        if kind == "run":
            json.loads((out / "config.json").read_text())
            assert (out / "metrics.csv").read_text().startswith("seed,update,")


# -- 9: the locomotion benchmark moves only runs nobody holds, to unique names ----------------------


def test_locomotion_benchmark_checks_the_lock_and_uses_unique_names(tmp_path, monkeypatch):
    import importlib.util

    from npg_num.train import default_config
    from npg_num.train.rundir import RunDirInUse

    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # restored after
    spec = importlib.util.spec_from_file_location("locomotion", ROOT / "benchmarks" /
                                                  "locomotion.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    class Args:
        algo, seeds, steps, backend, schedule = "trpo", 1, 4096, "gymnasium", "batched"

    def stale_run():
        where = tmp_path / "Hopper-v5"
        (where / "run").mkdir(parents=True)
        cfg = default_config("Hopper-v5", "trpo", seeds=1, total_steps=2048)
        (where / "run" / "config.json").write_text(json.dumps(cfg.to_dict()))
        return where

    where = stale_run()
    with lock_run_dir(where / "run"):  # a live npg-train writes there
        with pytest.raises(RunDirInUse):
            bench._set_aside_if_stale("Hopper-v5", Args, where)
        assert (where / "run" / "config.json").is_file()
    bench._set_aside_if_stale("Hopper-v5", Args, where)
    stale_run()
    bench._set_aside_if_stale("Hopper-v5", Args, where)  # the same second: another name
    aside = sorted(p.name for p in tmp_path.iterdir() if ".stale-" in p.name)
    assert len(aside) == 2
