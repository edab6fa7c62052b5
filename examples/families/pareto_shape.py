"""Pareto with scale 1 and shape a > 2 written a = 2 + e^t on x > 1 (finite variance, so
that the default quadratic reward has an expectation).

    pi(x) = a x^(-a-1),   F(t) = (e^t / a)^2 = e^(2t) / (2 + e^t)^2

The power route: int_1^oo x^(s-1) log(x)^m dx = d^m/ds^m (-1/s), s < 0.

Run: npg-derive examples/families/pareto_shape.py
"""

import sympy as sp

import npg_sym

t = sp.Symbol("t", real=True)
x = sp.Symbol("x", positive=True)
a = 2 + sp.exp(t)

FAMILY = npg_sym.Family(
    name="pareto_shape",
    params=(t,),
    outcome=x,
    log_prob=sp.log(a) - (a + 1) * sp.log(x),
    support=sp.Interval(1, sp.oo),
    description="Pareto on x > 1 with shape 2 + exp(t)",
)
