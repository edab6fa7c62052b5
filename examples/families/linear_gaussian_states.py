"""A linear-Gaussian policy over 3 states: a ~ N(w^T phi(s), e^(2 q)), features phi(s) = (1, s),
states s in {-1, 0, 2} with weights 1/2, 1/3, 1/6 (Kakade 2001; Peters and Schaal 2008).

    F = [[E_s[phi phi^T] e^(-2 q), 0], [0, 2]]

F = E_s[F(s)] averages the per-state Fisher over the state distribution; the reward
r(s, a) = -(a - k s)^2 depends on the state (the best action is a = k s).

Run: npg-derive examples/families/linear_gaussian_states.py
"""

import sympy as sp

import npg_sym

w1, w2, q = sp.symbols("w1 w2 q", real=True)
a, s = sp.symbols("a s", real=True)
k = sp.Symbol("k", real=True)

FAMILY = npg_sym.Family(
    name="linear_gaussian_states",
    params=(w1, w2, q),
    outcome=a,
    log_prob=-(a - w1 - w2 * s) ** 2 * sp.exp(-2 * q) / 2 - q - sp.log(2 * sp.pi) / 2,
    support=None,
    description="linear-Gaussian policy a ~ N(w1 + w2 s, exp(2 q)) over 3 states",
    states=npg_sym.States.finite(s, {-1: sp.Rational(1, 2), 0: sp.Rational(1, 3), 2: sp.Rational(1, 6)}),
)

REWARD = -(a - k * s) ** 2
