"""The console scripts as a person runs them, for tests only: a fresh process each, and a
run killed with SIGKILL part way through."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from npg_num.train.metrics_file import CLOCK_COLUMNS, read_metrics

ROOT = Path(__file__).resolve().parents[1]


def cli_env(extra: dict | None = None) -> dict:
    """This process's environment without XLA_FLAGS: the CLI must set its flags itself."""
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env.update(extra or {})
    return env


def run_module(module: str, args, *, env_extra=None, timeout=240, **kw):
    """``python -m module args`` in a fresh process; its CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          env=cli_env(env_extra), capture_output=True, text=True,
                          timeout=timeout, **kw)


# 100 small updates (batch 4 x 16), a checkpoint after every one
SMALL_RUN = [
    "--env", "CartPole-v1", "--algo", "trpo", "--seeds", "2", "--num-envs", "4",
    "--num-steps", "16", "--total-steps", "6400", "--checkpoint-every", "1",
]


def signal_after_rows(args, out: Path, rows: int, sig=signal.SIGKILL,
                      deadline_s: float = 200) -> subprocess.CompletedProcess:
    """Start ``npg-train args --out out``, send it ``sig`` once it has a checkpoint and
    more than ``rows`` rows of metrics, and wait for it to end (its exit code and stderr;
    ``rows`` in ``.stdout``: the rows written when the signal was sent)."""
    victim = subprocess.Popen([sys.executable, "-m", "npg_num.train.cli", *args, "--out",
                               str(out)], cwd=ROOT, env=cli_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.csv"
    deadline = time.time() + deadline_s
    while time.time() < deadline and victim.poll() is None:
        if (out / "checkpoint.npz").exists() and metrics.exists():
            if metrics.read_text().count("\n") > 1 + rows:
                break
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be stopped"
    sent_at = metrics.read_text().count("\n") - 1
    os.kill(victim.pid, sig)
    _, err = victim.communicate(timeout=120)
    return subprocess.CompletedProcess(victim.args, victim.returncode, sent_at, err)


def kill_9_after_rows(args, out: Path, rows: int, deadline_s: float = 200) -> int:
    """``signal_after_rows`` with SIGKILL; returns the rows written when it died."""
    signal_after_rows(args, out, rows, signal.SIGKILL, deadline_s)
    return (out / "metrics.csv").read_text().count("\n") - 1


def without_clock(path) -> dict:
    """A metrics.csv's columns, the clock columns left out."""
    return {k: v for k, v in read_metrics(path).items() if k not in CLOCK_COLUMNS}



def one_error_line(stderr: str, prog: str = "npg-train") -> str:
    """The only line of ``stderr``, an error of ``prog`` (no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), stderr
    return lines[0]


def assert_same_metrics(a_path, b_path) -> None:
    """Two metrics.csv files hold the same rows, in the same order, clock aside."""
    import numpy as np

    a, b = without_clock(a_path), without_clock(b_path)
    assert set(a) == set(b)
    for name in a:  # same rows, same order, same values (NaN where NaN)
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def finished_run(tmp_path_factory, args) -> Path:
    """``npg-train args`` run to its end in a fresh folder: the reference a stopped or
    damaged copy must come back to."""
    out = tmp_path_factory.mktemp("whole") / "run"
    proc = run_module("npg_num.train.cli", [*args, "--quiet", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    return out


def train_in_process(args, capsys) -> subprocess.CompletedProcess:
    """``npg-train args`` in this process, as a float32 run's own process has JAX (x64
    off; conftest turns it on), for steps whose point is not the process itself (a resume,
    a short run): no interpreter and JAX start-up. The numbers equal npg-train's own only
    with its devices (one per core, as conftest asks XLA for); with others it runs in a
    process of its own. The CompletedProcess of its exit code and output."""
    import jax

    from npg_num.train.cli import main
    from npg_num.xla_cpu import available_cores

    if len(jax.devices()) != available_cores():  # not npg-train's devices: its own process
        return run_module("npg_num.train.cli", args)
    capsys.readouterr()  # what came before is not this run's
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        code = main(list(args))
    finally:
        jax.config.update("jax_enable_x64", x64)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["npg-train", *args], code, out.out, out.err)
