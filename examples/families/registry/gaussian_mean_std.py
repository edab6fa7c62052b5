"""The registry's gaussian_mean_std, written out: N(mu, sigma^2), sigma > 0."""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "gaussian_mean_std", (mu, sigma), x,
    -((x - mu) ** 2) / (2 * sigma**2) - sp.log(sigma) - sp.log(2 * sp.pi) / 2, sp.Reals,
    "normal N(mu, sigma^2)",
)
