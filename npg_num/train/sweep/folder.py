"""The sweep folder: what npg-sweep makes, and the state a resume reads back.

    SWEEP/sweep.toml         the sweep file as given (``--resume`` reads this copy)
    SWEEP/proposals.jsonl    every trial, one JSON line, recorded before it first starts
    SWEEP/trials/NAME/       one ordinary npg-train run directory per trial
    SWEEP/logs/NAME.log      npg-train's output for the trial, every attempt appended
    SWEEP/status/NAME.json   the trial's attempts: start, end, exit code (clock data)
    SWEEP/results.csv, results.md, results.png    the results (``results``)
    SWEEP/.tune/             Ray Tune's scratch space, emptied at every start
    SWEEP/.npg-sweep.lock    held while a driver runs the sweep

The sweep's state is its trial run directories: a trial is finished when its last
checkpoint says so (``trial_progress``), whoever ran it; Ray Tune's own experiment state
is never read back. ``--out`` takes a missing or empty folder; a folder holding anything
npg-sweep does not make is refused, untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from ...atomic import atomic_write_text
from ...errors import NPGInputError
from ..rundir import CHECKPOINT_FILE, CONFIG_FILE, lock_run_dir
from .spec import Trial

__all__ = ["SWEEP_FILE", "PROPOSALS_FILE", "TRIALS_DIR", "create_sweep", "open_sweep",
           "record_proposal", "read_proposals", "trial_dir", "trial_progress",
           "describe_sweep", "TUNE_DIR", "LOCK_NAME"]

SWEEP_FILE = "sweep.toml"
PROPOSALS_FILE = "proposals.jsonl"
TRIALS_DIR = "trials"
LOGS_DIR = "logs"
STATUS_DIR = "status"
TUNE_DIR = ".tune"
LOCK_NAME = ".npg-sweep.lock"
RESULT_FILES = ("results.csv", "results.md", "results.png")
_NAMES = {SWEEP_FILE, PROPOSALS_FILE, TRIALS_DIR, LOGS_DIR, STATUS_DIR, TUNE_DIR,
          LOCK_NAME, *RESULT_FILES}
_TEMP = re.compile(r"\.(%s)\..*\.tmp" % "|".join(re.escape(n) for n in sorted(_NAMES)))


def _is_ours(name: str) -> bool:
    return name in _NAMES or bool(_TEMP.fullmatch(name))


def describe_sweep(path) -> tuple:
    """("missing" | "empty" | "sweep" | "foreign" | "file", a foreign name or None)."""
    path = Path(path)
    if not path.exists():
        return "missing", None
    if not path.is_dir():
        return "file", None
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return "empty", None
    foreign = [n for n in names if not _is_ours(n)]
    if foreign or SWEEP_FILE not in names:
        return "foreign", (foreign or names)[0]
    return "sweep", None


def _lock(path: Path, stack: contextlib.ExitStack) -> None:
    stack.enter_context(lock_run_dir(path, LOCK_NAME, "npg-sweep", "sweep"))


def create_sweep(path, text: str, stack: contextlib.ExitStack) -> Path:
    """A new sweep folder at ``path`` (missing or empty) holding ``sweep.toml``, locked in
    ``stack``. ``NPGInputError`` (nothing touched) for anything else."""
    path = Path(path)
    kind, name = describe_sweep(path)
    if kind == "sweep":
        raise NPGInputError(f"--out {path} already holds a sweep; continue it with "
                            f"--resume {path}")
    if kind == "file":
        raise NPGInputError(f"--out {path} is a file, not a folder")
    if kind == "foreign":
        raise NPGInputError(f"--out {path} is not empty and is not a sweep (it holds "
                            f"{name}); nothing was touched: choose a new or empty folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NPGInputError(f"cannot write to --out {path}: {err.strerror or err}") from None
    _lock(path, stack)
    atomic_write_text(path / SWEEP_FILE, text)
    return path


def open_sweep(path, stack: contextlib.ExitStack) -> str:
    """The sweep file's text of the sweep at ``path`` for ``--resume``, the folder locked
    in ``stack``; ``NPGInputError`` if ``path`` is not a sweep or is in use."""
    path = Path(path)
    kind, name = describe_sweep(path)
    if kind != "sweep":
        why = {"missing": "it does not exist", "empty": "it is empty",
               "file": "it is a file"}.get(kind, f"it holds {name}, which npg-sweep does "
                                                 "not make")
        raise NPGInputError(f"--resume {path} is not a sweep folder: {why}")
    _lock(path, stack)
    return (path / SWEEP_FILE).read_text()


def prepare(path: Path) -> None:
    """The sub-folders, and Ray Tune's scratch space of an earlier driver removed."""
    import shutil

    for sub in (TRIALS_DIR, LOGS_DIR, STATUS_DIR):
        (path / sub).mkdir(exist_ok=True)
    shutil.rmtree(path / TUNE_DIR, ignore_errors=True)  # npg-sweep's own scratch only


def trial_dir(sweep: Path, trial: Trial) -> Path:
    return Path(sweep) / TRIALS_DIR / trial.name


def record_proposal(sweep: Path, trial: Trial) -> bool:
    """Append ``trial`` to ``proposals.jsonl`` (fsync'ed) unless it is there; True if it
    was new. Called by the driver only, before the trial first starts."""
    if trial.name in {t.name for t in read_proposals(sweep)}:
        return False
    line = json.dumps(trial.to_dict(), sort_keys=True) + "\n"
    with open(Path(sweep) / PROPOSALS_FILE, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return True


def read_proposals(sweep: Path) -> list:
    """The recorded trials, in order; a line torn by a kill is skipped."""
    path = Path(sweep) / PROPOSALS_FILE
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(Trial.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def trial_progress(run: Path) -> tuple:
    """(updates done by the last checkpoint, updates in the run) of a trial's run
    directory; (0, None) when it has no configuration yet."""
    import numpy as np

    run = Path(run)
    try:
        config = json.loads((run / CONFIG_FILE).read_text())
        total = int(config["total_steps"]) // (int(config["num_envs"]) *
                                               int(config["num_steps"]))
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None
    try:
        with np.load(run / CHECKPOINT_FILE) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        return int(meta["updates_done"]), total
    except Exception:  # noqa: BLE001 - missing or damaged: npg-train --resume decides
        return 0, total
