"""Laplace with location mu and scale b > 0 on the real line; F = diag(1, 1) / b^2.

|x - mu| is not differentiable at mu: the Hessian route still holds in expectation (the
kink has measure zero), but KL(theta || theta') needs |x - mu'| under a law centred at
mu, which SymPy's integrate does not split.
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
b = sp.Symbol("b", positive=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "laplace_location_scale", (mu, b), x, -sp.log(2 * b) - sp.Abs(x - mu) / b, None,
    "Laplace with location mu and scale b",
)
