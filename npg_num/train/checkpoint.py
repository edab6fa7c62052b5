"""Atomic checkpoints of a training state (any pytree of arrays) with a little metadata.

A checkpoint is one ``.npz`` file: the pytree's leaves in flattening order (``leaf_0``,
``leaf_1``, ...) and ``meta``, a JSON string. It is written to a temporary file in the
same directory, flushed and fsync'ed, then moved over the old one with ``os.replace``
(atomic on POSIX), so a kill -9 at any moment leaves either the old checkpoint or the new
one, never a torn file. Loading needs a template pytree (e.g. from ``jax.eval_shape``) for
the structure; shapes and dtypes are checked against it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

from ..errors import NPGInputError

__all__ = ["save_checkpoint", "load_checkpoint", "atomic_write_bytes", "atomic_write_text"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_dir(path: Path) -> None:
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


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path, state, meta: dict) -> None:
    """Write ``state`` (a pytree of arrays) and ``meta`` (JSON-able) atomically to ``path``."""
    leaves = jax.tree.leaves(jax.device_get(state))
    arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    _atomic_write(Path(path), lambda f: np.savez(f, **arrays))


def load_checkpoint(path, template):
    """(state, meta) from ``path``; ``template`` gives the pytree structure, shapes, dtypes."""
    path = Path(path)
    if not path.is_file():
        raise NPGInputError(f"no checkpoint at {path}")
    leaves, treedef = jax.tree.flatten(template)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            loaded = [data[f"leaf_{i}"] for i in range(len(leaves))]
            extra = [k for k in data.files if k.startswith("leaf_")]
    except (OSError, KeyError, ValueError) as err:
        raise NPGInputError(f"checkpoint {path} is unreadable or incomplete: {err}") from None
    if len(extra) != len(leaves):
        raise NPGInputError(
            f"checkpoint {path} holds {len(extra)} arrays; this configuration needs {len(leaves)}"
        )
    for i, (want, got) in enumerate(zip(leaves, loaded)):
        if tuple(want.shape) != got.shape or np.dtype(want.dtype) != got.dtype:
            raise NPGInputError(
                f"checkpoint {path}: array {i} is {got.dtype}{list(got.shape)}, this "
                f"configuration needs {np.dtype(want.dtype)}{list(want.shape)}"
            )
    return jax.tree.unflatten(treedef, loaded), meta
