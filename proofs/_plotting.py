"""Shared drawing helpers for the proofs' figures (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plt", "ellipse_points", "arrow", "save"]


def ellipse_points(metric, level: float, n: int = 400) -> np.ndarray:
    """Points d with d^T G d = level (a 2x2 SPD G): [n, 2], from G^-1/2 on the unit circle."""
    metric = np.asarray(metric, dtype=float)
    values, vectors = np.linalg.eigh(metric)
    if not np.all(values > 0):
        raise ValueError(f"metric {metric.tolist()} is not positive definite")
    angles = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return np.sqrt(level) * circle @ (vectors / np.sqrt(values)).T


def arrow(ax, start, vector, color: str, label: str | None = None, lw: float = 1.8, **kwargs) -> None:
    """A straight arrow from ``start`` along ``vector`` (data coordinates)."""
    ax.annotate(
        "", xy=(start[0] + vector[0], start[1] + vector[1]), xytext=(start[0], start[1]),
        arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, shrinkA=0, shrinkB=0, **kwargs),
    )
    if label is not None:
        ax.plot([], [], color=color, lw=lw, label=label)


def save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
