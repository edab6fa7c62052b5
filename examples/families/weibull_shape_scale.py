"""Weibull with shape k > 0 and scale lam > 0 both free: Euler's gamma in the Fisher.

    F(k, lam) = [[((1 - g)^2 + pi^2/6) / k^2, (g - 1) / lam], [(g - 1) / lam, k^2 / lam^2]]

with g = EulerGamma. The KL between two shapes needs E[x^k'] under shape k: a Gamma
integral with a symbolic power.

Run: npg-derive examples/families/weibull_shape_scale.py
"""

import sympy as sp

import npg_sym

k, lam = sp.symbols("k lam", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="weibull_shape_scale",
    params=(k, lam),
    outcome=x,
    log_prob=sp.log(k) - sp.log(lam) + (k - 1) * sp.log(x / lam) - (x / lam) ** k,
    support=sp.Interval(0, sp.oo),
    description="Weibull with shape k > 0 and scale lam > 0",
)
