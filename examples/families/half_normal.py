"""Half-normal with scale sigma > 0 on x > 0: |z| sigma for z standard normal.

    pi(x) = sqrt(2 / pi) / sigma exp(-x^2 / (2 sigma^2)),   F(sigma) = 2 / sigma^2

The Gamma route with power q = 2: int_0^oo x^(s-1) exp(-b x^2) dx = Gamma(s/2) / (2 b^(s/2)).
"""

import sympy as sp

import npg_sym

sigma = sp.Symbol("sigma", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    "half_normal", (sigma,), x,
    sp.log(sp.sqrt(2 / sp.pi) / sigma) - x**2 / (2 * sigma**2), sp.Interval(0, sp.oo),
    "half-normal with scale sigma > 0",
)
