"""Gamma with shape k > 0 and rate b > 0 on x > 0: a non-diagonal Fisher.

    pi(x) = b^k x^(k-1) e^(-b x) / Gamma(k)
    F(k, b) = [[polygamma(1, k), -1/b], [-1/b, k/b^2]]

The score in k holds log(x); its moments are derivatives of Gamma(s) b^(-s) in s.

Run: npg-derive examples/families/gamma_shape_rate.py
"""

import sympy as sp

import npg_sym

k, b = sp.symbols("k b", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="gamma_shape_rate",
    params=(k, b),
    outcome=x,
    log_prob=k * sp.log(b) - sp.loggamma(k) + (k - 1) * sp.log(x) - b * x,
    support=sp.Interval(0, sp.oo),
    description="gamma with shape k > 0 and rate b > 0",
)
