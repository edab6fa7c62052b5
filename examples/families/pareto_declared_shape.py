"""Pareto on x > 1 with shape alpha, declared alpha > 2: a range SymPy's assumptions cannot
state (positive=True says alpha > 0 only).

    pi(x) = alpha x^(-alpha - 1),   x > 1;   F = 1/alpha^2

The default reward r0 + r1 x + r2 x^2 needs E[x^2] = alpha/(alpha - 2), which converges
only for alpha > 2: the policy gradient row closes through the declared range, and its
routes say so ("alpha > 2 (declared)"). Without ``declared_ranges`` that row fails: the
power integral cannot show its tail exponent negative. (pareto_shape.py gets the same
condition by writing the shape as 2 + exp(t) instead.)

Run: npg-derive examples/families/pareto_declared_shape.py
"""

import sympy as sp

import npg_sym

alpha = sp.Symbol("alpha", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="pareto_declared_shape",
    params=(alpha,),
    outcome=x,
    log_prob=sp.log(alpha) - (alpha + 1) * sp.log(x),
    support=sp.Interval(1, sp.oo),
    description="Pareto on x > 1 with shape alpha > 2 (declared)",
    declared_ranges={alpha: (2, sp.oo)},
)
