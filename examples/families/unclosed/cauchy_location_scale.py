"""Cauchy with location mu and scale g > 0 on the real line; F = diag(1, 1) / (2 g^2).

Rational integrands: only SymPy's general integrate can try them. The default reward
r0 + r1 x + r2 x^2 has no expectation under a Cauchy law, so REWARD is bounded here.
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
g = sp.Symbol("g", positive=True)
x = sp.Symbol("x", real=True)
c = sp.Symbol("c", real=True)

FAMILY = npg_sym.Family(
    "cauchy_location_scale", (mu, g), x,
    -sp.log(sp.pi * g) - sp.log(1 + ((x - mu) / g) ** 2), None,
    "Cauchy with location mu and scale g",
)

REWARD = c / (1 + x**2)
