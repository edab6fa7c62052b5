"""The registry's gaussian_mean_logstd, written out: N(mu, exp(2 s))."""

import sympy as sp

import npg_sym

mu, s = sp.symbols("mu s", real=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "gaussian_mean_logstd", (mu, s), x,
    -((x - mu) ** 2) / (2 * sp.exp(2 * s)) - s - sp.log(2 * sp.pi) / 2, None,
    "normal N(mu, exp(2 s))",
)
