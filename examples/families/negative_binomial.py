"""Negative binomial counts with r = 3 fixed and success odds e^(-s), s > 0.

    pi(n) = binomial(n + 2, n) (1 - e^(-s))^3 e^(-s n),   F(s) = 3 e^s / (e^s - 1)^2

The power-series route: the term ratio e^(-s) (n + 3) / (n + 1) names the generating
function (1 - z)^(-3), which converges because |e^(-s)| < 1 follows from s > 0.

Run: npg-derive examples/families/negative_binomial.py
"""

import sympy as sp

import npg_sym

s = sp.Symbol("s", positive=True)
n = sp.Symbol("n", integer=True, nonnegative=True)
r = 3

FAMILY = npg_sym.Family(
    name="negative_binomial",
    params=(s,),
    outcome=n,
    log_prob=sp.log(sp.binomial(n + r - 1, n)) + r * sp.log(1 - sp.exp(-s)) - s * n,
    support=sp.Naturals0,
    description="negative binomial with r = 3 and odds exp(-s)",
)
