"""Cauchy with location mu and scale g > 0 on the real line.

    pi(x) = 1 / (pi g (1 + ((x - mu) / g)^2)),   F(mu, g) = diag(1, 1) / (2 g^2)
    KL(theta || theta') = log(((g + g')^2 + (mu - mu')^2) / (4 g g'))

Closes by standardizing x = mu + g z (the student integral; the KL by the Poisson
integral of log|z - w|^2). The default reward r0 + r1 x + r2 x^2 has no expectation
under a Cauchy law, so REWARD is bounded here.

Run: npg-derive examples/families/cauchy_location_scale.py
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
