"""Atomic checkpoints of a training state (any pytree of arrays) with a little metadata.

A checkpoint is one ``.npz`` file: the pytree's leaves in flattening order (``leaf_0``,
``leaf_1``, ...) and ``meta``, a JSON string. It is written to a temporary file in the
same directory, flushed and fsync'ed, then moved over the old one with ``os.replace``
(atomic on POSIX), so a kill -9 at any moment leaves either the old checkpoint or the new
one, never a torn file. Loading needs a template pytree (e.g. from ``jax.eval_shape``) for
the structure; shapes and dtypes are checked against it.

``save_checkpoint(path, state, meta, previous=PREV)`` keeps the checkpoint it replaces at
``PREV`` (a hard link made before the new file is moved in, so that ``path`` and ``PREV``
are each a complete checkpoint at every moment). A damaged file, whatever the damage (not
a zip, cut short, other shapes or dtypes), raises ``CheckpointError``, never a zipfile,
zlib or numpy exception.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np

from ..atomic import atomic_write
from ..errors import NPGInputError

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]


class CheckpointError(NPGInputError):
    """A checkpoint that is missing or cannot be used (damaged, or for another program)."""


def _keep_as(path: Path, previous: Path) -> None:
    """Make ``previous`` a complete copy of the checkpoint at ``path`` (if there is one),
    atomically: a hard link under a temporary name, moved over ``previous``."""
    if not path.is_file():
        return
    tmp = previous.with_name(f".{previous.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:  # a file system without hard links: copy (and fsync) instead
        with open(path, "rb") as src:
            atomic_write(previous, lambda f: shutil.copyfileobj(src, f))
        return
    os.replace(tmp, previous)


def save_checkpoint(path, state, meta: dict, *, previous=None) -> None:
    """Write ``state`` (a pytree of arrays) and ``meta`` (JSON-able) atomically to ``path``.

    ``previous``: where the checkpoint that ``path`` held until now is kept (none kept if
    not given). The new file is complete on disk before the old one moves aside.
    """
    path = Path(path)
    leaves = jax.tree.leaves(jax.device_get(state))
    arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    keep = None if previous is None else (lambda: _keep_as(path, Path(previous)))
    atomic_write(path, lambda f: np.savez(f, **arrays), before_replace=keep)


def load_checkpoint(path, template):
    """(state, meta) from ``path``; ``template`` gives the pytree structure, shapes, dtypes.

    Raises ``CheckpointError`` (one sentence: the file and what is wrong with it) for a
    missing file and for any damage: not a zip, cut short, a member missing, other shapes
    or dtypes, metadata that is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    leaves, treedef = jax.tree.flatten(template)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            loaded = [data[f"leaf_{i}"] for i in range(len(leaves))]
            extra = [k for k in data.files if k.startswith("leaf_")]
    # a damaged file surfaces as whatever the zip, zlib, npy or json reader trips on first
    # (BadZipFile, EOFError, zlib.error, ValueError, KeyError, OSError, ...): all mean the same
    except Exception as err:  # noqa: BLE001
        reason = str(err) or type(err).__name__
        raise CheckpointError(f"checkpoint {path} is damaged or incomplete: {reason}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path} is damaged: its metadata is not an object")
    if len(extra) != len(leaves):
        raise CheckpointError(
            f"checkpoint {path} holds {len(extra)} arrays; this configuration needs {len(leaves)}"
        )
    for i, (want, got) in enumerate(zip(leaves, loaded)):
        if tuple(want.shape) != got.shape or np.dtype(want.dtype) != got.dtype:
            raise CheckpointError(
                f"checkpoint {path} holds array {i} as {got.dtype}{list(got.shape)}; this "
                f"configuration needs {np.dtype(want.dtype)}{list(want.shape)}"
            )
    return jax.tree.unflatten(treedef, loaded), meta
