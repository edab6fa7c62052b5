"""The learning curve: mean episodic return over seeds, with the range (min to max) shaded."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic import atomic_write_bytes

__all__ = ["plot_learning_curve"]


def _moving_average(y, window: int):
    """The mean of the last ``window`` finite values at each point (NaN: none yet)."""
    y = np.asarray(y, float)
    ok = np.isfinite(y)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, y, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    lo = np.maximum(np.arange(1, len(y) + 1) - window, 0)
    hi = np.arange(1, len(y) + 1)
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[hi] - csum[lo]) / count, np.nan)


def plot_learning_curve(
    env_steps,
    returns,
    path,
    *,
    title: str = "",
    threshold: Optional[float] = None,
    references: Optional[dict] = None,
) -> Path:
    """Save a PNG of ``returns`` [seeds, updates] against ``env_steps`` [updates].

    The line is the mean over seeds, the band spans min to max over seeds (NaN, "no episode
    finished yet", is left out of both); ``threshold`` draws a dashed line (the "solved"
    return), ``references`` ({label: return}) dotted lines (published results). Written
    atomically. Uses matplotlib's Agg canvas directly (no display, and no pyplot: it is
    the slower import).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.asarray(env_steps, float)
    y = np.atleast_2d(np.asarray(returns, float))
    with warnings.catch_warnings():  # all-NaN columns (no episode yet) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, lo, hi = np.nanmean(y, 0), np.nanmin(y, 0), np.nanmax(y, 0)
    fig = Figure(figsize=(6.4, 4.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(x, lo, hi, alpha=0.25, linewidth=0, label=f"range over {y.shape[0]} seeds")
    window = len(x) // 50  # long runs: the mean over seeds smoothed over 2% of the run
    if window >= 3:
        ax.plot(x, mean, linewidth=0.6, alpha=0.5, color="C0", label="mean over seeds")
        smooth = _moving_average(mean, window)
        ax.plot(x, smooth, linewidth=2.0, color="C0",
                label=f"mean over seeds, {window}-update moving average")
    else:
        ax.plot(x, mean, linewidth=1.8, label="mean over seeds")
    if threshold is not None:
        ax.axhline(threshold, linestyle="--", color="gray", linewidth=1,
                   label=f"solved ({threshold:g})")
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle=":", color=f"C{i + 2}", linewidth=1.2,
                   label=f"{label} ({value:g})")
    ax.set_xlabel("environment steps per seed")
    ax.set_ylabel("episodic return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
