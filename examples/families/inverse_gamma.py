"""Inverse gamma with shape a > 0 and scale b > 0 on x > 0 (a reward in 1/x: E[x] is
infinite for a <= 1, so the default quadratic reward would not do).

    pi(x) = b^a x^(-a-1) e^(-b/x) / Gamma(a),   F(a, b) = [[psi1(a), -1/b], [-1/b, a/b^2]]

The Gamma route with power q = -1: int_0^oo x^(s-1) e^(-b/x) dx = Gamma(-s) b^s, s < 0.
"""

import sympy as sp

import npg_sym

a, b = sp.symbols("a b", positive=True)
x = sp.Symbol("x", positive=True)
c = sp.Symbol("c", real=True)

FAMILY = npg_sym.Family(
    "inverse_gamma", (a, b), x,
    a * sp.log(b) - sp.loggamma(a) - (a + 1) * sp.log(x) - b / x, sp.Interval(0, sp.oo),
    "inverse gamma with shape a > 0 and scale b > 0",
)

REWARD = c / x
