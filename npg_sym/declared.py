"""Declared parameter ranges: conditions that SymPy's assumptions cannot state.

SymPy can say nu > 0 (``positive=True``) but not nu > 2. A family may declare a range
lo < p < hi for a parameter (``Family(..., declared_ranges={nu: (2, sympy.oo)})``); an
expectation that does not close under the assumptions alone is then tried again with

    p = lo + w          (lo < p),
    p = hi - w          (p < hi),
    p = lo + (hi - lo) / (1 + w)   (lo < p < hi),      w > 0 a fresh symbol,

so that a route's convergence condition (an exponent s < 0, p - j - 1/2 > 0) follows from
w > 0; the result is mapped back (w = p - lo, ...) and holds on the declared range. The
route list of that expectation names the range ("needs nu > 2 (declared)"), so a report says
which conclusion needed it.
"""

from __future__ import annotations

from typing import Mapping

import sympy as sp

from .errors import NPGInputError

__all__ = ["normalize_declared_ranges", "range_label", "declared_substitution"]


def normalize_declared_ranges(params, given) -> tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...]:
    """``{param: (lo, hi)}`` (or the tuple form) as ((param, lo, hi), ...) in params' order;
    ``NPGInputError`` for an unknown parameter or an empty or unbounded range."""
    if not given:
        return ()
    items = given.items() if isinstance(given, Mapping) else ((p, (lo, hi)) for p, lo, hi in given)
    found = {}
    for p, ends in items:
        if p not in params:
            raise NPGInputError(f"declared_ranges names {p}, which is not a parameter {tuple(params)}")
        try:
            lo, hi = (sp.sympify(e) for e in ends)
        except (TypeError, ValueError, sp.SympifyError):
            raise NPGInputError(f"declared_ranges[{p}] must be a pair (lo, hi), got {ends!r}") from None
        if not (lo.is_number and hi.is_number) or lo == -sp.oo and hi == sp.oo or not bool(lo < hi):
            raise NPGInputError(f"declared_ranges[{p}] = ({lo}, {hi}) must be numbers lo < hi, "
                                "not both infinite")
        found[p] = (lo, hi)
    return tuple((p, *found[p]) for p in params if p in found)


def range_label(p: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> str:
    """'nu > 2', 'p < 1' or '0 < p < 1'."""
    if hi == sp.oo:
        return f"{p} > {lo}"
    if lo == -sp.oo:
        return f"{p} < {hi}"
    return f"{lo} < {p} < {hi}"


def declared_substitution(ranges) -> tuple[dict, dict, str]:
    """(forward {p: expression in w > 0}, back {w: expression in p}, the ranges' label)."""
    forward, back = {}, {}
    for p, lo, hi in ranges:
        w = sp.Dummy(f"w_{p.name}", positive=True)
        if hi == sp.oo:
            forward[p], back[w] = lo + w, p - lo
        elif lo == -sp.oo:
            forward[p], back[w] = hi - w, hi - p
        else:
            forward[p], back[w] = lo + (hi - lo) / (1 + w), (hi - p) / (p - lo)
    return forward, back, ", ".join(range_label(*r) for r in ranges)
