"""``metrics.csv``: one row per update per seed, its columns derived from ``state.Metrics``.

    seed, <Metrics fields in order>, time_s

The writer formats a chunk's rows and appends them (fsync'ed); the reader gives columns as
arrays; ``check_metrics`` validates every column of every row a resumed run keeps
(``session``) and says which updates have no good row; ``load_curve`` gives the returns per
seed and update with NaN where a row is missing, for the learning curve.

Values are written so that equal numbers give equal text (``repr`` of the float, the
shortest that round-trips; integers as integers; booleans as 0/1): two runs with the same
numbers have the same file, ``time_s`` aside.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .state import Metrics

__all__ = ["METRICS_FILE", "COLUMNS", "CLOCK_COLUMNS", "header_line", "format_rows",
           "append_text", "read_metrics", "MetricsCheck", "check_metrics", "load_curve"]

METRICS_FILE = "metrics.csv"
CLOCK_COLUMNS = ("time_s",)  # seconds of training so far: differs run to run
COLUMNS = ("seed",) + Metrics._fields + CLOCK_COLUMNS

_INTS = {"seed", "update", "env_steps", "line_search_steps", "rejected_total", "episodes"}
_BOOLS = {"accepted", "guard_ok", "data_ok"}


def header_line() -> str:
    return ",".join(COLUMNS) + "\n"


def _format(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))  # shortest repr that round-trips: equal values, equal text


def format_rows(metrics: Metrics, seeds, elapsed: float) -> str:
    """The rows of a chunk, update by update, seed by seed: ``metrics`` holds arrays
    [len(seeds), k] (numpy)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    k = np.shape(metrics.update)[1]
    clock = round(elapsed, 3)
    for u in range(k):
        for s, seed in enumerate(seeds):
            w.writerow([_format(seed)] + [_format(getattr(metrics, name)[s, u])
                                          for name in Metrics._fields] + [_format(clock)])
    return buf.getvalue()


def append_text(path, text: str) -> None:
    """Append ``text`` to ``path`` and fsync it (raises ``OSError`` as the system does)."""
    with open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_metrics(path) -> dict:
    """metrics.csv as a dict of column -> float array (rows in file order)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {c: np.zeros(0) for c in COLUMNS}
    return {c: np.asarray([float(r[c]) for r in rows]) for c in rows[0]}


class MetricsCheck(NamedTuple):
    """What ``check_metrics`` found: the good rows of updates <= ``updates_done`` (text in
    ``COLUMNS``' order, as found in the file), the damaged ones (line number, why), and
    for each seed the updates <= ``updates_done`` that have no good row."""

    lines: list
    damaged: list
    missing: dict

    @property
    def first_missing(self):
        """The earliest update without a good row for some seed, or None."""
        return min((u[0] for u in self.missing.values() if u), default=None)


def _parse(fields: list, where: dict, seeds: set, batch: int):
    """(seed, update, text) of a good row, else a string saying what is wrong."""
    values = {}
    for c, i in where.items():
        text = fields[i]
        try:
            if c in _INTS:
                values[c] = int(text)
            elif c in _BOOLS:
                if text not in ("0", "1"):
                    return f"{c} is {text!r}, not 0 or 1"
            else:
                float(text)
        except ValueError:
            return f"{c} is {text!r}"
    seed, update = values.get("seed"), values.get("update")
    if seed not in seeds:
        return f"seed {seed} is not one of this run's"
    if update is None or update < 1:
        return f"update {update} is not a positive number"
    if "env_steps" in values and values["env_steps"] != update * batch:
        return f"env_steps {values['env_steps']} is not update x batch ({update * batch})"
    text = ",".join(fields[where[c]] if c in where else "nan" for c in COLUMNS) + "\n"
    return seed, update, text


def check_metrics(path, seeds, updates_done: int, batch: int) -> MetricsCheck:
    """Validate every column of every row of ``path`` for updates <= ``updates_done``.

    A row is good when it has the header's number of fields, ``seed`` is one of ``seeds``,
    the counters are integers (``env_steps`` = update x ``batch``), the flags 0 or 1, and
    every other column a number (NaN allowed); the first good row of each (seed, update)
    counts, a repeat is damaged. A file written by an earlier version lacks the newer
    columns: they read as NaN. Raises ``OSError`` if the file cannot be read and
    ``ValueError`` if its first line is not a header naming ``seed`` and ``update``.
    """
    text = Path(path).read_text()
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",") if lines else []
    if "seed" not in header or "update" not in header:
        raise ValueError(f"{path} is damaged: its first line is not the header "
                         f"({','.join(COLUMNS[:3])},...)")
    where = {c: header.index(c) for c in COLUMNS if c in header}
    seeds = set(int(s) for s in seeds)
    good, damaged, seen = [], [], set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.endswith("\n"):
            damaged.append((number, "cut short"))
            continue
        fields = line.rstrip("\n").split(",")
        if len(fields) != len(header):
            damaged.append((number, f"{len(fields)} fields, not {len(header)}"))
            continue
        parsed = _parse(fields, where, seeds, batch)
        if isinstance(parsed, str):
            damaged.append((number, parsed))
            continue
        seed, update, row = parsed
        if update > updates_done:
            continue  # past the checkpoint: computed again
        if (seed, update) in seen:
            damaged.append((number, f"a second row for seed {seed}, update {update}"))
            continue
        seen.add((seed, update))
        good.append(row)
    missing = {s: [u for u in range(1, updates_done + 1) if (s, u) not in seen]
               for s in sorted(seeds)}
    return MetricsCheck(good, damaged, {s: u for s, u in missing.items() if u})


def load_curve(path, seeds, batch: int):
    """(env_steps [U], returns [len(seeds), U]) over updates 1..U (U the last update any
    readable row has), NaN where a seed's row is missing or unreadable: what exists is
    drawn. A missing file gives empty arrays."""
    index = {int(s): i for i, s in enumerate(seeds)}
    found = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    seed, update = int(row["seed"]), int(row["update"])
                    value = float(row["mean_return"])
                except (KeyError, TypeError, ValueError):
                    continue
                if seed in index and update >= 1:
                    found.setdefault((seed, update), value)
    except FileNotFoundError:
        pass
    last = max((u for _, u in found), default=0)
    returns = np.full((len(seeds), last), math.nan)
    for (seed, update), value in found.items():
        returns[index[seed], update - 1] = value
    return np.arange(1, last + 1) * batch, returns
