"""The run directory: the user's data, made, locked, replaced and resumed without loss.

A run directory (``npg-train --out DIR``) holds only files npg-train makes
(``RUN_FILES``). The rules that keep it whole:

- **Made whole.** A fresh run is assembled in a hidden staging folder beside DIR
  (``.DIR.npg-new-*``: ``config.json`` and the metrics header) and moved into place in one
  rename, so a kill at any moment leaves no DIR (or the empty folder that was there) or a
  resumable run. ``--out`` takes a missing or empty folder; a folder holding an npg run
  needs ``--resume`` or ``--force``; any other non-empty folder is refused, untouched.
- **Replaced last.** ``--force`` replaces only an npg run (a folder of npg-train's files
  alone), and only once the new run has written its first checkpoint: until then the new
  run lives in its staging folder and the old one stays as it was. The swap is one
  ``renameat2(RENAME_EXCHANGE)`` where the file system has it (else two renames), and the
  old run's files are then deleted, its own files only.
- **One writer.** ``lock_run_dir(DIR)`` holds ``fcntl.flock`` on ``DIR/.npg-train.lock``
  while a run writes there, and records the holder's process id, host and start time, so
  that a second ``npg-train`` on the same directory is refused naming that process. The
  kernel releases a flock when its process ends (kill -9 included), so a lock left by a
  killed run never blocks ``--resume``. On a file system without flock, the recorded
  process id is checked instead (``os.kill(pid, 0)``, same host only).
- **Resume from the newest usable state.** ``usable_checkpoints`` loads
  ``checkpoint.npz`` and ``checkpoint.prev.npz`` (the one before it, kept by
  ``save_checkpoint``) and keeps those that pass ``check_resume_state``. An unusable
  latest checkpoint is moved aside (``checkpoint.damaged-N.npz``), never rotated into the
  backup; temporary files of a write cut short are removed (``remove_stale_temps``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple, Optional

from ..atomic import atomic_write_text
from ..errors import NPGInputError
from .metrics_file import METRICS_FILE, header_line
from .options import flag_name

__all__ = [
    "CONFIG_FILE", "CHECKPOINT_FILE", "PREVIOUS_CHECKPOINT_FILE", "LOCK_FILE", "CURVE_FILE",
    "TIMING_FILE", "RunDirInUse", "lock_run_dir", "refuse_if_in_use", "RunDir",
    "create_run", "replace_run", "open_run", "describe_out", "is_run_file",
    "resume_config", "ResumePoint", "usable_checkpoints", "find_resume_point",
    "check_resume_state", "check_total_covers", "save_total_steps", "set_aside",
    "remove_stale_temps",
]

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.npz"
LOCK_FILE = ".npg-train.lock"
CURVE_FILE = "learning_curve.png"
TIMING_FILE = "timing.json"

# every name npg-train makes in a run directory: its files, damaged files set aside
# (NAME.damaged-N.EXT), temporary files of atomic writes (.NAME.*.tmp), TensorBoard's
_FIXED = {CONFIG_FILE, CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, LOCK_FILE, CURVE_FILE,
          TIMING_FILE, METRICS_FILE}
_PATTERNS = (
    re.compile(r"(checkpoint|metrics)\.damaged-\d+\.(npz|csv)"),
    re.compile(r"\.(%s)\..*\.tmp" % "|".join(re.escape(n) for n in sorted(_FIXED))),
    re.compile(r"events\.out\.tfevents\..*"),
)

# the only configuration field --resume may change: a run can be trained further
EXTENSIBLE = "total_steps"
# the learner's parameters and statistics: never legitimately NaN or inf in a checkpoint
FINITE_FIELDS = ("theta", "value_params", "value_opt", "obs_norm")


def is_run_file(name: str) -> bool:
    """Whether ``name`` is a file npg-train makes in a run directory."""
    return name in _FIXED or any(p.fullmatch(name) for p in _PATTERNS)


# -- the lock ------------------------------------------------------------------------------------


class RunDirInUse(NPGInputError):
    """Another process holds the run directory's lock."""


def _read_holder(path: Path) -> dict:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _in_use(out: Path, holder: dict, prog: str = "npg-train",
            what: str = "run") -> RunDirInUse:
    pid = holder.get("pid")
    if pid is None:
        who = "another process (it has not recorded its id yet)"
        stop = "wait for it to end"
    else:
        who = (f"{prog} process {pid} on host {holder.get('host', '?')}, started "
               f"{holder.get('started', '?')}")
        stop = f"wait for it to end or stop it (kill {pid})"
    return RunDirInUse(f"{what} directory {out} is in use by {who}; {stop}, then "
                       f"continue the {what} with --resume {out}")


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
def lock_run_dir(out, lock_file: str = LOCK_FILE, prog: str = "npg-train",
                 what: str = "run"):
    """Hold ``out``'s lock for the ``with`` block; raise ``RunDirInUse`` naming the holder
    if another process has it. ``out`` must exist. ``lock_file``, ``prog`` and ``what``:
    the lock's name and the words of the refusal (npg-sweep locks its sweep folder so)."""
    import fcntl

    out = Path(out)
    path = out / lock_file
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited across exec
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(out, _read_holder(path), prog, what) from None
        except OSError as err:
            if err.errno not in _NO_FLOCK:
                raise
            holder = _read_holder(path)
            if _alive(holder):
                raise _in_use(out, holder, prog, what) from None
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


# -- making, replacing and opening a run directory ---------------------------------------------


def describe_out(out) -> tuple:
    """What ``out`` is: ``("missing", None)``, ``("empty", None)``, ``("run", None)`` (an npg
    run: its ``config.json`` and npg-train's files only), ``("foreign", NAME)`` (a
    non-empty folder with NAME, which npg-train did not make), ``("unfinished", None)``
    (npg-train's files without a ``config.json``), or ``("file", None)``."""
    out = Path(out)
    if not out.exists():
        return "missing", None
    if not out.is_dir():
        return "file", None
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return "empty", None
    foreign = [n for n in names if not is_run_file(n)]
    if foreign:
        return "foreign", foreign[0]
    if CONFIG_FILE not in names:
        return "unfinished", None
    return "run", None


def _check_out_path(out) -> Path:
    if out is None or str(out).strip() == "":
        raise NPGInputError("--out must name a folder (an empty name would mean the current "
                            "directory)")
    return Path(out)


class RunDir:
    """A run directory this process holds (its lock), and where it writes now.

    ``path``: where the run's files go now (the staging folder of a ``--force`` run until
    ``commit``, else ``final``); ``final``: the run directory the user named. ``commit()``
    puts a staged run in place (``replace_run``); ``close()`` releases the locks (and
    removes the staging folder of a run that never committed)."""

    def __init__(self, path: Path, final: Path, locks: list, staged_over: bool):
        self.path, self.final = path, final
        self._locks = locks  # ExitStack of the held locks
        self.pending = staged_over  # a --force run not yet swapped in

    def commit(self) -> None:
        """Swap the staged run in for the old one, then delete the old run's files."""
        if not self.pending:
            return
        staged = self.path
        if _exchange(staged, self.final):
            old = staged  # the old run now sits at the staging path
        else:
            old = self.final.with_name(f".{self.final.name}.npg-old-{uuid.uuid4().hex[:8]}")
            os.rename(self.final, old)
            os.rename(staged, self.final)
        self.path, self.pending = self.final, False
        _delete_run_files(old)

    def close(self) -> None:
        self._locks.close()
        if self.pending:  # never committed: the old run stays, the staged one goes
            _delete_run_files(self.path)
            self.pending = False


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _delete_run_files(folder: Path) -> None:
    """Delete npg-train's files in ``folder``, then the folder if that left it empty; a
    file npg-train did not make stays (and so does the folder)."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if is_run_file(p.name) and p.is_file():
            p.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _staging(final: Path) -> Path:
    return final.with_name(f".{final.name}.npg-new-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _remove_stale_staging(final: Path) -> None:
    """Staging folders of earlier runs into ``final`` that were killed before moving in
    (nobody holds their lock): npg-train made them, so it removes them."""
    pattern = re.compile(re.escape(f".{final.name}.npg-") + r"(new|old)-.*")
    if not final.parent.is_dir():
        return
    for p in final.parent.iterdir():
        if p.is_dir() and pattern.fullmatch(p.name):
            try:
                refuse_if_in_use(p)
            except RunDirInUse:
                continue
            _delete_run_files(p)


def _stage(final: Path, config, stack: contextlib.ExitStack) -> Path:
    """A staging folder beside ``final`` holding ``config.json`` and the metrics header,
    its lock held in ``stack``."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = _staging(final)
        staged.mkdir()
    except OSError as err:
        raise NPGInputError(f"cannot write to --out {final}: {err.strerror or err}") from None
    stack.enter_context(lock_run_dir(staged))
    stack.callback(lambda: _delete_run_files(staged) if staged.exists() else None)
    atomic_write_text(staged / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")
    atomic_write_text(staged / METRICS_FILE, header_line())
    return staged


def create_run(out, config) -> RunDir:
    """A fresh run directory at ``out`` (missing or empty), made whole in one rename.
    Raises ``NPGInputError`` (nothing touched) if ``out`` is a file, holds a run, or holds
    anything else; ``OSError`` if writing fails (no directory left behind)."""
    final = _check_out_path(out)
    kind, name = describe_out(final)
    if kind == "file":
        raise NPGInputError(f"cannot write to --out {final}: it is a file, not a directory")
    if kind == "run":
        refuse_if_in_use(final)
        raise NPGInputError(f"--out {final} already holds a run; continue it with --resume "
                            f"{final}, or pass --force to replace it")
    if kind == "foreign":
        raise NPGInputError(f"--out {final} is not empty and is not an npg run (it holds "
                            f"{name}); nothing was touched: choose a new or empty folder")
    if kind == "unfinished":
        raise NPGInputError(f"--out {final} holds npg-train files but no {CONFIG_FILE} (an "
                            "unfinished run); pass --force to replace them")
    _remove_stale_staging(final)
    stack = contextlib.ExitStack()
    try:
        staged = _stage(final, config, stack)
        try:
            os.rename(staged, final)  # onto a missing or empty folder: atomic
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise NPGInputError(f"--out {final} was filled by something else while this "
                                    "run started; nothing was touched there") from None
            raise
    except BaseException:
        stack.close()
        raise
    return RunDir(final, final, stack, staged_over=False)


def replace_run(out, config) -> RunDir:
    """A new run that will replace the npg run at ``out`` (``--force``): staged beside it
    until ``RunDir.commit`` (after its first checkpoint). Raises ``NPGInputError`` if
    ``out`` holds anything but an npg run, or if the run is in use."""
    final = _check_out_path(out)
    kind, name = describe_out(final)
    if kind in ("missing", "empty"):
        return create_run(final, config)
    if kind == "file":
        raise NPGInputError(f"cannot write to --out {final}: it is a file, not a directory")
    if kind == "foreign":
        raise NPGInputError(f"--force replaces only an npg run, and {final} holds {name}, "
                            "which npg-train did not make; nothing was touched: move it out "
                            "or choose another --out")
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(lock_run_dir(final))  # the old run: nobody else may use it now
        _remove_stale_staging(final)
        staged = _stage(final, config, stack)
    except BaseException:
        stack.close()
        raise
    return RunDir(staged, final, stack, staged_over=True)


def open_run(out) -> RunDir:
    """The run at ``out`` for ``--resume``: locked, with the temporary files of writes a
    kill cut short removed. Raises ``NPGInputError`` if there is no run or it is in use."""
    final = _check_out_path(out)
    if not (final / CONFIG_FILE).is_file():
        raise NPGInputError(f"no run to resume in {final}: {CONFIG_FILE} is missing")
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(lock_run_dir(final))
        remove_stale_temps(final)
    except BaseException:
        stack.close()
        raise
    return RunDir(final, final, stack, staged_over=False)


def remove_stale_temps(out) -> list:
    """Remove the temporary files of atomic writes in ``out`` (``.NAME.*.tmp``; only the
    lock holder may call this); returns their names."""
    removed = []
    for p in Path(out).iterdir():
        if p.name.endswith(".tmp") and is_run_file(p.name) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def set_aside(path: Path) -> Path:
    """Move a damaged ``NAME.EXT`` (a checkpoint, metrics.csv) to ``NAME.damaged-N.EXT`` (N
    the first free number) beside it; returns the new path."""
    path = Path(path)
    stem, ext = path.name.split(".", 1)[0], path.name.rsplit(".", 1)[-1]
    n = 1
    while (target := path.with_name(f"{stem}.damaged-{n}.{ext}")).exists():
        n += 1
    os.rename(path, target)
    return target


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
    saved_values = saved.to_dict()
    changed = [
        f"{flag_name(k)} {v!r} (saved: {saved_values[k]!r})" if k in saved_values
        else f"{flag_name(k)} (not an option of {saved.algo})"
        for k, v in given.items()
        if k != EXTENSIBLE and (k not in saved_values or v != getattr(saved, k))
    ]
    if changed:
        raise NPGInputError(
            f"--resume continues the run in {out} with its saved configuration; only "
            f"{flag_name(EXTENSIBLE)} may change (to train it further); drop "
            f"{', '.join(changed)}"
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


def usable_checkpoints(out, template, config) -> tuple:
    """``(points, problems)``: the checkpoints of ``out`` that can be resumed with
    ``config`` (``ResumePoint``s, newest first: ``checkpoint.npz``, then
    ``checkpoint.prev.npz``), and one phrase per file that cannot (``"checkpoint.npz is
    damaged or incomplete: ..."``; a missing file is no problem)."""
    from .checkpoint import CheckpointError, load_checkpoint

    out = Path(out)
    points, problems = [], []
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        path = out / name
        if not path.exists():
            continue
        try:
            state, meta = load_checkpoint(path, template)
            done, elapsed = check_resume_state(state, meta, config)
        except CheckpointError as err:
            problems.append(f"{name} {str(err).replace(f'checkpoint {path} ', '')}")
            continue
        points.append(ResumePoint(state, done, elapsed, name, ()))
    return points, problems


def find_resume_point(out, template, config) -> ResumePoint:
    """The newest usable checkpoint in ``out`` (``checkpoint.npz``, else
    ``checkpoint.prev.npz``), or update 0 when there is none at all (no side effects).

    ``template``: the state's structure, shapes and dtypes (``jax.eval_shape`` of init).
    Raises ``CheckpointError`` (one line naming both files and what is wrong with each)
    when checkpoints exist but none can be used.
    """
    from .checkpoint import CheckpointError

    out = Path(out)
    names = (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE)
    points, problems = usable_checkpoints(out, template, config)
    if not points and not problems:
        return ResumePoint(None, 0, 0.0, None, (
            f"{out} has no checkpoint yet (the run stopped before its first one): starting "
            f"it from update 0 with its {CONFIG_FILE}",
        ))
    if not points:
        missing = [f"{n} is missing" for n in names if not (out / n).exists()]
        raise CheckpointError(
            f"no usable checkpoint in {out}: {'; '.join(problems + missing)}. To train this "
            f"run again from update 0, move {' and '.join(names)} out of {out} and resume it"
        )
    best = points[0]
    if problems:
        return best._replace(warnings=(
            f"warning: {'; '.join(problems)}; resuming from {best.source} (update "
            f"{best.updates_done}) instead, the checkpoint before it",))
    return best
