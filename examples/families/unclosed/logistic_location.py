"""Logistic with location mu and unit scale on the real line; F = 1/3.

    pi(x) = e^(-(x - mu)) / (1 + e^(-(x - mu)))^2
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "logistic_location", (mu,), x,
    -(x - mu) - 2 * sp.log(1 + sp.exp(-(x - mu))), None,
    "logistic with location mu, scale 1",
)
