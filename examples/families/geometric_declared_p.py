"""Geometric law on the counts 0, 1, 2, ... with success probability p, declared 0 < p < 1
(positive=True says p > 0 only).

    pi(n) = p (1 - p)^n,   F = 1 / (p^2 (1 - p))

log(1 - p) is real and the series sum (1 - p)^n converges only for p < 1: both follow
from the declared range, which the loader and the power series route use (the routes
say "needs 0 < p < 1 (declared)"). Without ``declared_ranges`` no row closes: "the
series converges only for |1 - p| < 1, not shown from the assumptions" (exit 1).

Run: npg-derive examples/families/geometric_declared_p.py
"""

import sympy as sp

import npg_sym

p = sp.Symbol("p", positive=True)
x = sp.Symbol("x", integer=True, nonnegative=True)

FAMILY = npg_sym.Family(
    "geometric_declared_p", (p,), x, sp.log(p) + x * sp.log(1 - p), sp.Naturals0,
    "geometric on 0, 1, 2, ... with success probability p in (0, 1) (declared)",
    declared_ranges={p: (0, 1)},
)
