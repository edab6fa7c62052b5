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


def kill_9_after_rows(args, out: Path, rows: int, deadline_s: float = 200) -> int:
    """Start ``npg-train args --out out`` and SIGKILL it once it has a checkpoint and more
    than ``rows`` rows of metrics; returns the rows it had written when it died."""
    victim = subprocess.Popen([sys.executable, "-m", "npg_num.train.cli", *args, "--out",
                               str(out)], cwd=ROOT, env=cli_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = out / "metrics.csv"
    deadline = time.time() + deadline_s
    while time.time() < deadline and victim.poll() is None:
        if (out / "checkpoint.npz").exists() and metrics.exists():
            if metrics.read_text().count("\n") > 1 + rows:
                break
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    return metrics.read_text().count("\n") - 1


def without_clock(path) -> dict:
    """A metrics.csv's columns, the clock columns left out."""
    return {k: v for k, v in read_metrics(path).items() if k not in CLOCK_COLUMNS}

