"""The registry's gaussian_unit_mean, written out: N(mu, 1) on the real line."""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "gaussian_unit_mean", (mu,), x, -((x - mu) ** 2) / 2 - sp.log(2 * sp.pi) / 2, None,
    "normal N(mu, 1)",
)
