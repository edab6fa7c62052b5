"""Gumbel with location mu and unit scale on the real line; F = 1.

    pi(x) = exp(-(x - mu) - exp(-(x - mu)))

Under x = -log(y) this is an exponential law in y: the route "log change onto gamma"
maps the real line onto the half-line and closes every moment (Euler's gamma and pi^2/6
appear in E[x] and E[x^2]).

Run: npg-derive examples/families/gumbel_location.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "gumbel_location", (mu,), x, -(x - mu) - sp.exp(-(x - mu)), None,
    "Gumbel with location mu, scale 1",
)
