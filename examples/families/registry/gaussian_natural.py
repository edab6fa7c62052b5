"""The registry's gaussian_natural, written out: eta1 = mu / sigma^2, eta2 = -1/(2 sigma^2) < 0."""

import sympy as sp

import npg_sym

eta1 = sp.Symbol("eta1", real=True)
eta2 = sp.Symbol("eta2", negative=True)
x = sp.Symbol("x", real=True)
log_partition = -(eta1**2) / (4 * eta2) - sp.log(-2 * eta2) / 2 + sp.log(2 * sp.pi) / 2

FAMILY = npg_sym.Family(
    "gaussian_natural", (eta1, eta2), x, eta1 * x + eta2 * x**2 - log_partition, None,
    "normal in natural parameters",
)
