"""A Dirichlet policy over the simplex in R^3 (an allocation of one unit among 3 uses),
concentrations a1, a2, a3 > 0.

    pi(x) = Gamma(a0) / prod_i Gamma(a_i) prod_i x_i^(a_i - 1),   a0 = a1 + a2 + a3,
    F_ij = polygamma(1, a_i) [i = j] - polygamma(1, a0)

The density is taken with respect to x1, x2 (x3 = 1 - x1 - x2). Expectations go through
stick-breaking, x1 = v1, x2 = (1 - v1) v2, x3 = (1 - v1)(1 - v2), under which the density
is a product of two Beta densities in v1 and v2.

Run: npg-derive examples/families/dirichlet3.py
"""

import sympy as sp

import npg_sym

a1, a2, a3 = sp.symbols("a1 a2 a3", positive=True)
x1, x2, x3 = sp.symbols("x1 x2 x3", positive=True)
c1, c2 = sp.symbols("c1 c2", real=True)

FAMILY = npg_sym.Family(
    name="dirichlet3",
    params=(a1, a2, a3),
    outcome=(x1, x2, x3),
    log_prob=sp.loggamma(a1 + a2 + a3) - sp.loggamma(a1) - sp.loggamma(a2) - sp.loggamma(a3)
    + (a1 - 1) * sp.log(x1) + (a2 - 1) * sp.log(x2) + (a3 - 1) * sp.log(x3),
    support=npg_sym.SIMPLEX,
    description="Dirichlet over the 2-simplex with concentrations a1, a2, a3 > 0",
)

REWARD = c1 * x1 + c2 * x2
