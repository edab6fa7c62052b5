"""Atomic file writes: the one writer of every file the project makes (checkpoints,
configurations, reports, figures).

The data goes to a temporary file in the target's directory, is flushed and fsync'ed, then
moved over the target with ``os.replace`` (atomic on POSIX) and the directory fsync'ed:
a kill at any moment leaves the old file or the new one, never a torn one, and a failed
write (a full disk) leaves the old file as it was and no temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Optional

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "temp_name_prefix",
           "fsync_dir"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def temp_name_prefix(target) -> str:
    """The prefix of ``target``'s temporary files (``.NAME.``; they end in ``.tmp``)."""
    return f".{Path(target).name}."


def fsync_dir(path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable, before_replace: Optional[Callable] = None) -> None:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then move it over
    ``path``; ``before_replace()``, if given, runs once the data is on disk, just before
    the move. Raises ``OSError`` as the system does (the temporary file removed)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_name_prefix(path), suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_write``)."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``atomic_write``)."""
    atomic_write_bytes(path, text.encode("utf-8"))
