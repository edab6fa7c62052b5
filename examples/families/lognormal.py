"""Log-normal with log-mean m and log-scale s > 0 on x > 0.

    log x ~ N(m, s^2),   F(m, s) = diag(1 / s^2, 2 / s^2)

Closes by a change of variables x = e^y onto the Gaussian integral.

Run: npg-derive examples/families/lognormal.py
"""

import sympy as sp

import npg_sym

m = sp.Symbol("m", real=True)
s = sp.Symbol("s", positive=True)
x = sp.Symbol("x", positive=True)

FAMILY = npg_sym.Family(
    name="lognormal",
    params=(m, s),
    outcome=x,
    log_prob=-sp.log(x) - sp.log(s) - sp.log(2 * sp.pi) / 2 - (sp.log(x) - m) ** 2 / (2 * s**2),
    support=sp.Interval(0, sp.oo),
    description="log-normal: log x ~ N(m, s^2)",
)
