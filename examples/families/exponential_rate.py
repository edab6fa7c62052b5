"""Exponential distribution with rate lam > 0 on the half-line x > 0.

    pi(x) = lam exp(-lam x),   F(lam) = 1 / lam^2

Run: npg-derive examples/families/exponential_rate.py
"""

import sympy as sp

import npg_sym

lam = sp.Symbol("lam", positive=True)  # log(lam) needs lam > 0
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="exponential_rate",
    params=(lam,),
    outcome=x,
    log_prob=sp.log(lam) - lam * x,
    support=sp.Interval(0, sp.oo),
    description="exponential with rate lam > 0",
)
