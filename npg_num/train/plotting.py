"""The learning curve: mean episodic return over seeds, with the range (min to max) shaded."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from .checkpoint import atomic_write_bytes

__all__ = ["plot_learning_curve"]


def plot_learning_curve(
    env_steps,
    returns,
    path,
    *,
    title: str = "",
    threshold: Optional[float] = None,
) -> Path:
    """Save a PNG of ``returns`` [seeds, updates] against ``env_steps`` [updates].

    The line is the mean over seeds, the band spans min to max over seeds (NaN, "no episode
    finished yet", is left out of both); ``threshold`` draws a dashed line (the "solved"
    return). Written atomically. Uses matplotlib's Agg backend (no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(env_steps, float)
    y = np.atleast_2d(np.asarray(returns, float))
    with warnings.catch_warnings():  # all-NaN columns (no episode yet) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, lo, hi = np.nanmean(y, 0), np.nanmin(y, 0), np.nanmax(y, 0)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.fill_between(x, lo, hi, alpha=0.25, linewidth=0, label=f"range over {y.shape[0]} seeds")
    ax.plot(x, mean, linewidth=1.8, label="mean over seeds")
    if threshold is not None:
        ax.axhline(threshold, linestyle="--", color="gray", linewidth=1,
                   label=f"solved ({threshold:g})")
    ax.set_xlabel("environment steps per seed")
    ax.set_ylabel("episodic return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
