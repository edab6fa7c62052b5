"""Double-exponential quadrature nodes for the numeric twin (numpy only).

The twin integrates pi_theta(x) g(x) without any of the symbolic routes, so it must cope
with whatever a user's density does at the ends of its support (x^(k-1) at 0 with k < 1,
(1-x)^(b-1) at 1, heavy tails). Double-exponential (tanh-sinh family) rules do: after the
substitution x = phi(t) the integrand decays double-exponentially in t, and the
trapezoid rule in t converges exponentially in the number of nodes, endpoint
singularities included (Takahasi and Mori 1974; Bailey, Jeyabalan and Li 2005).

    real line        x = sinh(pi/2 sinh t)
    half-line        u = x - a = exp(pi/2 sinh t)                 (u > 0, accurate near 0)
    (0, L) from 0    u = L / (1 + exp(-pi sinh t))                (u accurate near 0)

A bounded interval is split at its midpoint and each half is integrated in its distance
u to its own end, with x = a + u on the left and x = b - u on the right substituted into
the log-density symbolically before evaluation, so that log(x - a) and log(b - x) are
evaluated from u (accurate near the ends) and never as the difference of two close
floats. Each rule returns (u, w): int g = sum_i w_i g(u_i).

Examples
========
>>> import numpy as np
>>> u, w = half_line_nodes(1 / 32)
>>> float(np.sum(w * np.exp(-u)))  # int_0^oo e^-u du
1.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["real_line_nodes", "half_line_nodes", "from_end_nodes", "split_line_nodes", "T_MAX"]

T_MAX = 6.3
"""|t| <= T_MAX keeps every node within about 1e-270 .. 1e270 of its end (float64)."""


def _grid(h: float) -> np.ndarray:
    n = int(np.ceil(T_MAX / h))
    return h * np.arange(-n, n + 1, dtype=np.float64)


def _kept(u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop nodes whose weight underflowed to 0 (or that sit on an end): they add nothing,
    and evaluating there could give inf * 0."""
    keep = np.isfinite(u) & np.isfinite(w) & (w > 0)
    return u[keep], w[keep]


def real_line_nodes(h: float, center: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(x, w) for int_{-oo}^{oo}: x = center + scale sinh(pi/2 sinh t).

    The twin centres the rule on the density's mean and scales it by its spread (from a
    first, coarse pass): a narrow density far from 0 is otherwise crossed by few nodes.
    """
    t = _grid(h)
    inner = 0.5 * np.pi * np.sinh(t)
    x = center + scale * np.sinh(inner)
    return _kept(x, h * scale * 0.5 * np.pi * np.cosh(t) * np.cosh(inner))


def half_line_nodes(h: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(u, w) for int_0^oo du: u = scale exp(pi/2 sinh t)."""
    t = _grid(h)
    u = scale * np.exp(0.5 * np.pi * np.sinh(t))
    return _kept(u, h * 0.5 * np.pi * np.cosh(t) * u)


def from_end_nodes(length: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, w) for int_0^length du, u = length / (1 + exp(-pi sinh t)), accurate near 0."""
    t = _grid(h)
    z = np.pi * np.sinh(t)
    # 1 / (1 + e^-z) and its derivative, written to stay finite for large |z|.
    sig = np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))
    dsig = np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))) ** 2
    u = length * sig
    return _kept(np.where(u > 0, u, np.nan), h * length * dsig * np.pi * np.cosh(t))


def split_line_nodes(h: float, breaks, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(x, w) for int_{-oo}^{oo} split at ``breaks`` (kinks such as |x - mu| at mu): the
    tails are half-lines in the distance to the outer breaks, each gap between breaks is
    halved and each half taken in the distance to its own end, so that every piece is
    smooth inside and the rules converge as fast as for a smooth integrand."""
    b = np.unique(np.asarray(breaks, dtype=np.float64))
    u, w = half_line_nodes(h, scale)
    xs, ws = [b[0] - u, b[-1] + u], [w, w]
    for lo, hi in zip(b[:-1], b[1:]):
        v, wv = from_end_nodes(0.5 * (hi - lo), h)
        xs += [lo + v, hi - v]
        ws += [wv, wv]
    return np.concatenate(xs), np.concatenate(ws)
