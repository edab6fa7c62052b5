"""A sweep's results, read from its trials' run directories.

- ``results.csv``: one row per trial and seed: ``env, algo, trial, status``, the swept
  fields, ``seed, final_return, best_return, updates, env_steps`` and the clock columns
  ``train_s`` (training seconds, from metrics.csv), ``wall_s`` (seconds of the npg-train
  processes, imports and compilation included, all attempts), ``started, ended`` (Unix
  times of the trial's first start and last end). Rows sorted by env, algo, trial, seed,
  so two sweeps with the same numbers have the same file, clock columns aside.
- ``results.md``: per environment and algorithm the best setting by the objective (mean
  over seeds) with its spread over seeds (std, min, max), then every setting ranked.
- ``results.png``: the objective against each swept field (rows), one panel per
  environment (columns): each seed a dot, the mean over seeds a line.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_bytes, atomic_write_text
from ..metrics_file import METRICS_FILE, read_metrics
from .folder import STATUS_DIR, trial_dir
from .spec import SweepSpec, Trial
from .trial import is_finished

__all__ = ["trial_rows", "objective_of", "write_results", "CLOCK_COLUMNS", "BASE_COLUMNS"]

BASE_COLUMNS = ("env", "algo", "trial", "status")
SEED_COLUMNS = ("seed", "final_return", "best_return", "updates", "env_steps")
CLOCK_COLUMNS = ("train_s", "wall_s", "started", "ended")


def _clock(sweep: Path, trial: Trial) -> dict:
    try:
        attempts = json.loads((sweep / STATUS_DIR / f"{trial.name}.json").read_text())[
            "attempts"]
    except (OSError, ValueError, KeyError, TypeError):
        attempts = []
    ended = [a for a in attempts if a.get("end") is not None]
    return {"wall_s": round(sum(a["end"] - a["start"] for a in ended), 3),
            "started": round(attempts[0]["start"], 3) if attempts else math.nan,
            "ended": round(ended[-1]["end"], 3) if ended else math.nan}


def trial_rows(sweep, trial: Trial, failed: bool = False) -> list:
    """The rows of ``trial`` (one per seed; none before its first metrics row)."""
    sweep = Path(sweep)
    run = trial_dir(sweep, trial)
    try:
        m = read_metrics(run / METRICS_FILE)
    except OSError:
        return []
    status = "finished" if is_finished(run) else ("failed" if failed else "unfinished")
    rows = []
    for seed in sorted({int(s) for s in m["seed"]}):
        mine = m["seed"] == seed
        ret, upd = m["mean_return"][mine], m["update"][mine]
        last = int(np.argmax(upd))
        finite = ret[np.isfinite(ret)]
        rows.append({
            "env": trial.env, "algo": trial.algo, "trial": trial.name, "status": status,
            **trial.values, "seed": seed, "final_return": float(ret[last]),
            "best_return": float(finite.max()) if finite.size else math.nan,
            "updates": int(upd[last]), "env_steps": int(m["env_steps"][mine][last]),
            "train_s": float(m["time_s"][mine][last]), **_clock(sweep, trial),
        })
    return rows


def objective_of(rows: list, objective: str) -> float:
    """The mean over seeds of the objective column (NaN if none is finite)."""
    vals = np.asarray([r[objective] for r in rows], float)
    return float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan


def _text(v) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _csv(rows: list, swept: tuple) -> str:
    columns = BASE_COLUMNS + swept + SEED_COLUMNS + CLOCK_COLUMNS
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in sorted(rows, key=lambda r: (r["env"], r["algo"], r["trial"], r["seed"])):
        w.writerow([_text(r.get(c, "")) for c in columns])
    return buf.getvalue()


def _groups(rows: list) -> dict:
    """(env, algo) -> trial name -> its rows."""
    out: dict = {}
    for r in rows:
        out.setdefault((r["env"], r["algo"]), {}).setdefault(r["trial"], []).append(r)
    return out


def _stats(rows: list, objective: str) -> tuple:
    vals = np.asarray([r[objective] for r in rows], float)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return (math.nan,) * 4
    return float(vals.mean()), float(vals.std()), float(vals.min()), float(vals.max())


def _setting(rows: list, swept: tuple) -> str:
    return ", ".join(f"{k}={_text(rows[0][k])}" for k in swept) or "(defaults)"


def _markdown(rows: list, spec: SweepSpec) -> str:
    obj, swept = spec.objective, spec.swept
    head = (f"| env | algo | best setting | {obj} mean | std | min | max | seeds |\n"
            "|---|---|---|---|---|---|---|---|\n")
    best_lines, ranked = [], []
    for (env, algo), trials in sorted(_groups(rows).items()):
        order = sorted(trials.values(), key=lambda t: -np.nan_to_num(
            _stats(t, obj)[0], nan=-np.inf))
        ranked.append(f"\n### {env} {algo}\n\n| rank | setting | {obj} mean | std | min | "
                      "max | status |\n|---|---|---|---|---|---|---|\n")
        for i, t in enumerate(order, 1):
            m, s, lo, hi = _stats(t, obj)
            ranked.append(f"| {i} | {_setting(t, swept)} | {m:.1f} | {s:.1f} | {lo:.1f} | "
                          f"{hi:.1f} | {t[0]['status']} |\n")
        m, s, lo, hi = _stats(order[0], obj)
        best_lines.append(f"| {env} | {algo} | {_setting(order[0], swept)} | {m:.1f} | "
                          f"{s:.1f} | {lo:.1f} | {hi:.1f} | {len(order[0])} |\n")
    return (f"# Sweep results\n\nBest setting per environment and algorithm by "
            f"{obj} (mean over seeds; std, min and max over seeds).\n\n" + head +
            "".join(best_lines) + "\n## Every setting\n" + "".join(ranked))


def _plot(rows: list, spec: SweepSpec, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    swept = spec.swept or ("seed",)
    envs = sorted({r["env"] for r in rows})
    fig = Figure(figsize=(4.2 * len(envs), 3.2 * len(swept)), layout="constrained")
    axes = fig.subplots(len(swept), len(envs), squeeze=False)
    for j, env in enumerate(envs):
        for i, field in enumerate(swept):
            _panel(axes[i][j], [r for r in rows if r["env"] == env], field, spec)
            axes[i][j].set_title(env if i == 0 else "")
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    atomic_write_bytes(path, buf.getvalue())


def _panel(ax, rows: list, field: str, spec: SweepSpec) -> None:
    obj = spec.objective
    xs = [r[field] for r in rows]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    labels = sorted({_text(x) for x in xs}) if not numeric else None
    pos = (lambda x: x) if numeric else (lambda x: labels.index(_text(x)))
    for algo in sorted({r["algo"] for r in rows}):
        mine = [r for r in rows if r["algo"] == algo]
        ax.scatter([pos(r[field]) for r in mine], [r[obj] for r in mine], s=10, alpha=0.5)
        means = {}
        for r in mine:
            means.setdefault(pos(r[field]), []).append(r[obj])
        keys = sorted(means)
        ax.plot(keys, [np.nanmean(means[k]) for k in keys], marker="o", label=algo)
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(field)
    ax.set_ylabel(obj)
    ax.legend(fontsize="small")


def write_results(sweep, spec: SweepSpec, trials: list, failed=(), plot=True) -> list:
    """Write results.csv, results.md and (``plot``) results.png, the last two when a row
    exists, for ``trials``; returns the rows."""
    sweep = Path(sweep)
    rows = [r for t in trials for r in trial_rows(sweep, t, t.name in failed)]
    atomic_write_text(sweep / "results.csv", _csv(rows, spec.swept))
    if rows:
        atomic_write_text(sweep / "results.md", _markdown(rows, spec))
        if plot:
            _plot(rows, spec, sweep / "results.png")
    return rows
