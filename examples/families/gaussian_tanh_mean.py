"""Gaussian whose mean and scale are nonlinear in the parameters, as a network's outputs
are: mean tanh(a), standard deviation exp(s).

    pi(x) = N(x; tanh(a), exp(2 s)),   F = diag(sech(a)^4 exp(-2 s), 2)

(F of N(m, sigma^2) is diag(1, 2)/sigma^2, pulled back by dm/da = sech(a)^2 and
dsigma/ds = sigma.) The routes read the law's shape in x whatever expressions of theta
its coefficients are: the Gaussian integral completes the square with tanh(a) and
exp(-2 s) as they stand, and x-free denominators such as (e^(2a) + 1)^2 are held as
symbols while the integrand is expanded.

Run: npg-derive examples/families/gaussian_tanh_mean.py
"""

import sympy as sp

import npg_sym

a = sp.Symbol("a", real=True)
s = sp.Symbol("s", real=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "gaussian_tanh_mean", (a, s), x,
    -(x - sp.tanh(a)) ** 2 / (2 * sp.exp(2 * s)) - s - sp.log(2 * sp.pi) / 2,
    None, "normal N(tanh(a), exp(2 s))",
)
