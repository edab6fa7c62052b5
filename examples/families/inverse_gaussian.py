"""Inverse Gaussian (Wald) with mean mu > 0 and shape lam > 0 on x > 0.

    pi(x) = sqrt(lam / (2 pi x^3)) exp(-lam (x - mu)^2 / (2 mu^2 x))
    F(mu, lam) = diag(lam / mu^3, 1 / (2 lam^2))

Its integrals are of the form int x^(s-1) exp(-a x - b/x) dx with half-integer s: the
Bessel-K route, elementary for half-integer orders.

Run: npg-derive examples/families/inverse_gaussian.py
"""

import sympy as sp

import npg_sym

mu, lam = sp.symbols("mu lam", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="inverse_gaussian",
    params=(mu, lam),
    outcome=x,
    log_prob=sp.log(lam / (2 * sp.pi * x**3)) / 2 - lam * (x - mu) ** 2 / (2 * mu**2 * x),
    support=sp.Interval(0, sp.oo),
    description="inverse Gaussian with mean mu > 0 and shape lam > 0",
)
