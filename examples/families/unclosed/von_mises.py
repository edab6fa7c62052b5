"""von Mises on the circle (-pi, pi] with mean mu and concentration kappa > 0.

    pi(x) = exp(kappa cos(x - mu)) / (2 pi I0(kappa))

The integrals int exp(kappa cos x) cos(x)^j dx are Bessel functions I_j(kappa); no
route here produces them (the interval route knows Beta integrals, not trigonometric ones)
and SymPy's integrate does not close them.
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
kappa = sp.Symbol("kappa", positive=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "von_mises", (mu, kappa), x,
    kappa * sp.cos(x - mu) - sp.log(2 * sp.pi * sp.besseli(0, kappa)),
    sp.Interval(-sp.pi, sp.pi), "von Mises with mean mu and concentration kappa",
)
