"""Student t with 3 degrees of freedom, unit scale and location mu; F = 2/3.

    pi(x) = 2 / (pi sqrt(3)) (1 + (x - mu)^2 / 3)^(-2)

Rational integrands: SymPy's general integrate closes some, slowly (about 7-15 s each).
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
x = sp.Symbol("x", real=True)
c = sp.Symbol("c", real=True)

FAMILY = npg_sym.Family(
    "student_t3_location", (mu,), x,
    sp.log(2 / (sp.pi * sp.sqrt(3))) - 2 * sp.log(1 + (x - mu) ** 2 / 3), None,
    "Student t, 3 degrees of freedom, location mu",
)

REWARD = c * x  # E[x^2] is finite for 3 degrees of freedom, but keep the reward linear
