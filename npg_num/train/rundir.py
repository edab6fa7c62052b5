"""The run directory: who may write to it (a lock), and where a run resumes from.

A run directory (``npg-train --out DIR``) is the user's data. Two rules keep it whole:

- **One writer.** ``lock_run_dir(DIR)`` holds ``fcntl.flock`` on ``DIR/.npg-train.lock``
  for as long as a run writes there, and records the holder's process id, host and start
  time in the file, so that a second ``npg-train`` on the same directory (fresh, ``--force``
  or ``--resume``) is refused with a message naming that process. The kernel releases a
  flock when its process ends, however it ends (kill -9 included), so a lock left by a
  killed run never blocks ``--resume``; the file itself stays, with a dead process id in it
  at worst, and means nothing unless it is locked. On a file system without flock, the
  recorded process id is checked instead (``os.kill(pid, 0)``, same host only).
- **Resume from the newest usable state.** ``find_resume_point`` tries ``checkpoint.npz``,
  then ``checkpoint.prev.npz`` (the one before it, kept by ``save_checkpoint``), and takes
  the first that loads and passes ``check_resume_state``: readable, the shapes and dtypes
  of this configuration, metadata that makes sense, written by the same configuration
  (total steps aside, which ``--total-steps`` may extend), finite parameters. With neither
  file there (a run stopped before its first checkpoint) the run starts from update 0.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional

from ..errors import NPGInputError

__all__ = [
    "CONFIG_FILE", "CHECKPOINT_FILE", "PREVIOUS_CHECKPOINT_FILE", "LOCK_FILE",
    "RunDirInUse", "lock_run_dir", "refuse_if_in_use",
    "resume_config", "ResumePoint", "find_resume_point", "check_resume_state",
    "check_total_covers", "save_total_steps",
]

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.npz"
LOCK_FILE = ".npg-train.lock"

# the only configuration field --resume may change: a run can be trained further
EXTENSIBLE = "total_steps"
# the learner's parameters and statistics: never legitimately NaN or inf in a checkpoint
FINITE_FIELDS = ("theta", "value_params", "value_opt", "obs_norm")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# -- the lock ------------------------------------------------------------------------------------


class RunDirInUse(NPGInputError):
    """Another process holds the run directory's lock."""


def _read_holder(path: Path) -> dict:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _in_use(out: Path, holder: dict) -> RunDirInUse:
    pid = holder.get("pid")
    if pid is None:
        who = "another process (it has not recorded its id yet)"
        stop = "wait for it to end"
    else:
        who = (f"npg-train process {pid} on host {holder.get('host', '?')}, started "
               f"{holder.get('started', '?')}")
        stop = f"wait for it to end or stop it (kill {pid})"
    return RunDirInUse(f"run directory {out} is in use by {who}; {stop}, then "
                       f"continue the run with --resume {out}")


def _alive(holder: dict) -> bool:
    """Whether the process recorded in the lock file still runs (fallback without flock)."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    if holder.get("host") != socket.gethostname():
        return True  # cannot be checked from here: assume it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


@contextlib.contextmanager
def lock_run_dir(out):
    """Hold ``out``'s lock for the ``with`` block; raise ``RunDirInUse`` naming the holder
    if another process has it. ``out`` must exist."""
    import fcntl

    out = Path(out)
    path = out / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited across exec
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(out, _read_holder(path)) from None
        except OSError as err:
            if err.errno not in _NO_FLOCK:
                raise
            holder = _read_holder(path)
            if _alive(holder):
                raise _in_use(out, holder) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # still ours: the flock is released by the close below
    finally:
        os.close(fd)


def refuse_if_in_use(out) -> None:
    """Raise ``RunDirInUse`` if a process holds ``out``'s lock now (creates nothing)."""
    import fcntl

    path = Path(out) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file (or none readable): nobody has locked it here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(Path(out), _read_holder(path)) from None
    except OSError as err:
        if err.errno not in _NO_FLOCK:
            raise
        if _alive(_read_holder(path)):
            raise _in_use(Path(out), _read_holder(path)) from None
    finally:
        os.close(fd)


# -- the configuration of a resumed run -----------------------------------------------------------


def _read_config_json(out: Path) -> dict:
    path = out / CONFIG_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise NPGInputError(f"cannot read {path}: {err}") from None
    if not isinstance(raw, dict):
        raise NPGInputError(f"cannot read {path}: not a JSON object")
    return raw


def resume_config(out, given: dict):
    """The configuration ``--resume out`` runs: ``config.json`` with ``--total-steps``
    applied. Other flags in ``given`` (field -> value) must repeat the saved value; a flag
    that would change it is refused, by name."""
    from .config import TrainConfig

    out = Path(out)
    raw = _read_config_json(out)
    try:
        saved = TrainConfig.from_dict(raw)
    except (ValueError, TypeError) as err:
        raise NPGInputError(f"cannot read {out / CONFIG_FILE}: {err}") from None
    changed = [
        f"{_flag(k)} {v!r} (saved: {getattr(saved, k)!r})"
        for k, v in given.items()
        if k != EXTENSIBLE and v != getattr(saved, k)
    ]
    if changed:
        raise NPGInputError(
            f"--resume continues the run in {out} with its saved configuration; only "
            f"{_flag(EXTENSIBLE)} may change (to train it further); drop {', '.join(changed)}"
        )
    if EXTENSIBLE in given:
        return saved.replace(total_steps=given[EXTENSIBLE])
    return saved


def check_total_covers(config, updates_done: int) -> None:
    """Refuse a ``--total-steps`` below what the run has already done."""
    if config.num_updates < updates_done:
        done_steps = updates_done * config.batch_size
        raise NPGInputError(
            f"--total-steps {config.total_steps} is below the {done_steps} steps this run "
            f"has already done ({updates_done} updates of {config.batch_size}); give at "
            f"least {done_steps}"
        )


def save_total_steps(out, total_steps: int) -> Optional[int]:
    """Write ``total_steps`` into ``out/config.json``, changing nothing else; returns the
    total it replaces, or None if it was already that."""
    from .checkpoint import atomic_write_text

    out = Path(out)
    raw = _read_config_json(out)
    old = raw.get(EXTENSIBLE)
    if old == total_steps:
        return None
    raw[EXTENSIBLE] = int(total_steps)
    atomic_write_text(out / CONFIG_FILE, json.dumps(raw, indent=2) + "\n")
    return old


# -- the checkpoint a run resumes from ------------------------------------------------------------


class ResumePoint(NamedTuple):
    state: Any  # the loaded state (numpy leaves), or None: start from update 0
    updates_done: int
    elapsed_s: float
    source: Optional[str]  # the file it came from, None when starting over
    warnings: tuple  # lines for stderr: the fallback to the previous file, a start from 0


def _completed(d):
    """A saved configuration with the fields added since it was written at their defaults
    (each default keeps the behaviour the run had), so an earlier run still resumes."""
    from .config import TrainConfig

    try:
        return TrainConfig.from_dict(d).to_dict()
    except Exception:  # noqa: BLE001 - damaged: compared as it is, and refused
        return d


def _without_total(d) -> dict:
    return {k: v for k, v in d.items() if k != EXTENSIBLE} if isinstance(d, dict) else d


def check_resume_state(state, meta: dict, config) -> tuple:
    """(updates_done, elapsed_s) if a loaded checkpoint can be resumed with ``config``;
    else raise ``CheckpointError`` saying why (its first problem)."""
    import jax
    import numpy as np

    from .checkpoint import CheckpointError

    done, elapsed = meta.get("updates_done"), meta.get("elapsed_s")
    if not isinstance(done, int) or isinstance(done, bool) or done < 0:
        raise CheckpointError(f"has damaged metadata (updates_done = {done!r})")
    if not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed) or elapsed < 0:
        raise CheckpointError(f"has damaged metadata (elapsed_s = {elapsed!r})")
    if _without_total(_completed(meta.get("config"))) != _without_total(config.to_dict()):
        raise CheckpointError(f"was written by another configuration than {CONFIG_FILE}")
    if not hasattr(state, "update") and isinstance(state, tuple) and state:
        state = state[0]  # (state, simulators) of a run with a host rollout
    counters = getattr(state, "update", None)
    if counters is not None and not np.all(np.asarray(counters) == done):
        raise CheckpointError(
            f"holds a state at update {np.asarray(counters).ravel().tolist()} but metadata "
            f"saying {done}"
        )
    for name in FINITE_FIELDS:
        part = getattr(state, name, None)
        for leaf in jax.tree.leaves(part):
            leaf = np.asarray(leaf)
            if np.issubdtype(leaf.dtype, np.floating) and not np.isfinite(leaf).all():
                raise CheckpointError(f"holds non-finite values in {name}")
    return done, float(elapsed)


def find_resume_point(out, template, config) -> ResumePoint:
    """The newest usable checkpoint in ``out`` (``checkpoint.npz``, else
    ``checkpoint.prev.npz``), or update 0 when there is none at all.

    ``template``: the state's structure, shapes and dtypes (``jax.eval_shape`` of init).
    Raises ``CheckpointError`` (one line naming both files and what is wrong with each)
    when checkpoints exist but none can be used.
    """
    from .checkpoint import CheckpointError, load_checkpoint

    out = Path(out)
    names = (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE)
    if not any((out / n).exists() for n in names):
        return ResumePoint(None, 0, 0.0, None, (
            f"{out} has no checkpoint yet (the run stopped before its first one): starting "
            f"it from update 0 with its {CONFIG_FILE}",
        ))
    problems = []
    for name in names:
        path = out / name
        if not path.exists():
            problems.append(f"{name} is missing")
            continue
        try:
            state, meta = load_checkpoint(path, template)
            done, elapsed = check_resume_state(state, meta, config)
        except CheckpointError as err:
            reason = str(err).replace(f"checkpoint {path} ", "")
            problems.append(f"{name} {reason}")
            continue
        warnings = ()
        if problems:
            warnings = (f"warning: {'; '.join(problems)}; resuming from {name} (update "
                        f"{done}) instead, the checkpoint before it",)
        return ResumePoint(state, done, elapsed, name, warnings)
    raise CheckpointError(
        f"no usable checkpoint in {out}: {'; '.join(problems)}. To train this run again "
        f"from update 0, move {' and '.join(names)} out of {out} and resume it"
    )
