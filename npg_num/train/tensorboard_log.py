"""TensorBoard events beside ``metrics.csv``: every column of every row, so that
``tensorboard --logdir runs`` shows each seed's curves (tag ``COLUMN/seed-S``, step =
``env_steps``).

Written with tensorboardX's record writer (the TFRecord framing with its CRCs and the
``Event`` protocol buffer that TensorBoard reads; no TensorFlow or PyTorch needed), one
file ``events.out.tfevents.T.HOST.npg`` per process, flushed (and fsync'ed) with each
chunk's rows, before the chunk's checkpoint. A row is one event: its step and one
``Summary`` holding every column's value (as a merged summary holds them), built from the
protocol buffers directly; one event per value through ``tensorboardX.summary.scalar``
took 0.44 s for 12,000 values, about a tenth of an 8-seed CartPole run's training time.

``metrics.csv`` is the record: when a run resumes, the rows after its checkpoint are
dropped there and computed again, so the events are rebuilt from the rows ``metrics.csv``
keeps (the old events files, which only npg-train makes, are deleted first, then one file
is written and appended to): a step never appears twice, whatever stopped the run.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np

from .state import Metrics

__all__ = ["TensorBoardLog", "TAGGED_COLUMNS", "EVENTS_PREFIX", "events_files"]

EVENTS_PREFIX = "events.out.tfevents."
# every Metrics column but the row's coordinates (the step is env_steps)
TAGGED_COLUMNS = tuple(c for c in Metrics._fields if c not in ("update", "env_steps"))


def _tensorboardx() -> tuple:
    """tensorboardX's ``Event``, ``RecordWriter`` and ``Summary``. Importing tensorboardX
    imports PyTorch where it is installed (its writer checks for torch tensors: 1.5-2 s
    here), for writers this module does not use; so ``import torch`` fails while
    tensorboardX loads, unless this process has imported torch already."""
    import sys

    keep_out = "torch" not in sys.modules
    if keep_out:
        sys.modules["torch"] = None  # the import system's way to make an import fail
    try:
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.record_writer import RecordWriter
    finally:
        if keep_out and "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]
    return Event, RecordWriter, Summary


def events_files(out: Path) -> list:
    return sorted(p for p in Path(out).iterdir()
                  if p.name.startswith(EVENTS_PREFIX) and p.is_file())


class TensorBoardLog:
    """The events file of one run directory ``out`` for ``seeds``."""

    def __init__(self, out: Path, seeds):
        self.out, self.seeds = Path(out), list(seeds)
        self._writer = None

    def _open(self):
        Event, RecordWriter, _ = _tensorboardx()

        if self._writer is None:
            name = f"{EVENTS_PREFIX}{int(time.time())}.{socket.gethostname()}.npg"
            self._writer = RecordWriter(str(self.out / name))
            self._writer.write(Event(wall_time=time.time(),
                                     file_version="brain.Event:2").SerializeToString())
        return self._writer

    def _write(self, columns: dict, n_rows: int) -> None:
        """Rows given as column -> array [n_rows] (``seed`` and ``env_steps`` among them);
        a column absent (a row from a version without it) is left out."""
        Event, _, Summary = _tensorboardx()
        writer, now = self._open(), time.time()
        tagged = [c for c in TAGGED_COLUMNS if c in columns]
        values = {c: np.asarray(columns[c], dtype=np.float64).tolist() for c in tagged}
        seeds = np.asarray(columns.get("seed", ()), dtype=np.int64).tolist()
        steps = np.asarray(columns.get("env_steps", ()), dtype=np.int64).tolist()
        for i in range(n_rows):
            summary = Summary(value=[Summary.Value(tag=f"{c}/seed-{seeds[i]}",
                                                   simple_value=values[c][i]) for c in tagged])
            writer.write(Event(wall_time=now, step=steps[i], summary=summary).SerializeToString())
        writer.flush()

    def append(self, metrics: Metrics) -> None:
        """A chunk's rows: ``metrics`` holds arrays [len(seeds), k]."""
        s, k = np.shape(metrics.update)
        columns = {c: np.asarray(getattr(metrics, c)).T.reshape(-1) for c in Metrics._fields}
        columns["seed"] = np.tile(np.asarray(self.seeds), k)
        self._write(columns, s * k)

    def rebuild(self, metrics_path: Path) -> None:
        """Replace the events with the rows of ``metrics_path`` (a resumed run's)."""
        from .metrics_file import read_metrics

        self.close()
        for p in events_files(self.out):
            p.unlink()
        columns = read_metrics(metrics_path) if Path(metrics_path).exists() else {}
        n = len(columns.get("seed", ()))
        self._write(columns, n)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
