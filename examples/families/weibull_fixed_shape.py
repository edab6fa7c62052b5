"""Weibull with fixed shape 2 (Rayleigh-like) and scale lam > 0 on x > 0.

    pi(x) = (2 / lam) (x / lam) exp(-(x / lam)^2),   F(lam) = 4 / lam^2

Run: npg-derive examples/families/weibull_fixed_shape.py
"""

import sympy as sp

import npg_sym

lam = sp.Symbol("lam", positive=True)
x = sp.Symbol("x", positive=True)
shape = 2

FAMILY = npg_sym.Family(
    name="weibull_fixed_shape",
    params=(lam,),
    outcome=x,
    log_prob=sp.log(shape) - sp.log(lam) + (shape - 1) * sp.log(x / lam) - (x / lam) ** shape,
    support=sp.Interval(0, sp.oo),
    description="Weibull with shape 2 and scale lam > 0",
)
