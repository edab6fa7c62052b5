"""Beta with both shapes free, p > 0 and q > 0, on (0, 1); a reward of its own.

    pi(x) = x^(p-1) (1-x)^(q-1) / B(p, q)
    F(p, q) = [[psi1(p) - psi1(p+q), -psi1(p+q)], [-psi1(p+q), psi1(q) - psi1(p+q)]]

(psi1 = polygamma(1, .)). REWARD replaces the default r0 + r1 x + r2 x^2: here the
reward is c1 x + c2 log(x), whose expectation and policy gradient are Beta derivatives.

Run: npg-derive examples/families/beta_two_shapes.py
"""

import sympy as sp

import npg_sym

p, q = sp.symbols("p q", positive=True)
x = sp.Symbol("x", positive=True)
c1, c2 = sp.symbols("c1 c2", real=True)

FAMILY = npg_sym.Family(
    name="beta_two_shapes",
    params=(p, q),
    outcome=x,
    log_prob=(p - 1) * sp.log(x) + (q - 1) * sp.log(1 - x)
    + sp.loggamma(p + q) - sp.loggamma(p) - sp.loggamma(q),
    support=sp.Interval(0, 1),
    description="Beta with shapes p, q > 0",
)

REWARD = c1 * x + c2 * sp.log(x)
