"""One trial: ``npg-train`` on the trial's run directory, in a fresh process.

The trial's run directory is made (``--out``) or continued (``--resume``) by npg-train
itself, so every guarantee of a run directory holds per trial, and a trial's numbers are
those of the same ``npg-train`` command typed by hand. A finished trial (its last
checkpoint at its last update, its curve drawn) is not run again.

The npg-train process is tied to the process that started it (``PR_SET_PDEATHSIG``):
when a Ray worker dies with its driver, its run gets SIGTERM, saves a checkpoint at the
end of the chunk in hand and exits; a later trial on the same directory waits for it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from ...atomic import atomic_write_text
from ..rundir import CONFIG_FILE, CURVE_FILE, RunDirInUse, refuse_if_in_use
from .folder import LOGS_DIR, STATUS_DIR, trial_dir, trial_progress
from .spec import Trial

__all__ = ["run_trial", "is_finished", "STOPPED_CODES"]

STOPPED_CODES = (129, 130, 143)  # npg-train stopped by a signal after saving
_PR_SET_PDEATHSIG = 1


def is_finished(run: Path) -> bool:
    done, total = trial_progress(run)
    return total is not None and done >= total and (Path(run) / CURVE_FILE).exists()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_env(keep_omp: bool) -> dict:
    """This process's environment for npg-train: without the thread limit Ray sets for
    its workers (unless the user set it), and with the source tree of this npg_num first
    on the path when it runs from a checkout (a worker runs in Ray's own folder)."""
    import npg_num

    env = dict(os.environ)
    if not keep_omp:
        env.pop("OMP_NUM_THREADS", None)
    root = Path(npg_num.__file__).resolve().parents[1]
    if (root / "pyproject.toml").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root),
                                                          env.get("PYTHONPATH")]))
    return env


def _wait_unlocked(run: Path, timeout_s: float = 600.0) -> None:
    """Wait while another process holds the run (an npg-train a killed driver left,
    saving its checkpoint); ``RunDirInUse`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            refuse_if_in_use(run)
            return
        except RunDirInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _status(sweep: Path, trial: Trial, update: dict) -> None:
    path = sweep / STATUS_DIR / f"{trial.name}.json"
    try:
        attempts = json.loads(path.read_text())["attempts"]
    except (OSError, ValueError, KeyError, TypeError):
        attempts = []
    if "start" in update:
        attempts.append(update)
    elif attempts:
        attempts[-1].update(update)
    atomic_write_text(path, json.dumps({"attempts": attempts}, indent=1) + "\n")


def _command(trial: Trial, run: Path) -> list:
    base = [sys.executable, "-m", "npg_num.train.cli", "--quiet"]
    if (run / CONFIG_FILE).is_file():
        return base + ["--resume", str(run)]
    return base + list(trial.args) + ["--out", str(run)]


def run_trial(sweep, trial: Trial, *, keep_omp: bool = False,
              report: Optional[Callable[[int, Optional[int]], None]] = None) -> tuple:
    """Train ``trial`` to its end in ``sweep``; returns (exit code, last line of
    npg-train's output). ``report(updates_done, num_updates)`` is called about every
    second while it runs. 0 also when it was finished already."""
    sweep = Path(sweep)
    run = trial_dir(sweep, trial)
    if is_finished(run):
        return 0, "finished earlier"
    _wait_unlocked(run)
    _status(sweep, trial, {"start": time.time(), "end": None, "rc": None})
    log_path = sweep / LOGS_DIR / f"{trial.name}.log"
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(_command(trial, run))}\n")
        log.flush()
        proc = subprocess.Popen(_command(trial, run), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=_child_env(keep_omp),
                                cwd=sweep, preexec_fn=_die_with_parent)
        try:
            while proc.poll() is None:
                if report is not None:
                    report(*_progress(run))
                try:  # the trial's end is seen at once, progress read about every second
                    proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.poll() is None:  # this thread is stopped: its run saves and stops
                proc.terminate()
                proc.wait()
    _status(sweep, trial, {"end": time.time(), "rc": proc.returncode})
    return proc.returncode, _last_line(log_path)


def _progress(run: Path) -> tuple:
    from ..metrics_file import METRICS_FILE

    done, total = trial_progress(run)
    try:
        config = json.loads((run / CONFIG_FILE).read_text())
        with open(run / METRICS_FILE, "rb") as f:
            rows = sum(1 for _ in f) - 1
        done = max(done, rows // int(config["seeds"]))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        pass
    return done, total


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""
