"""A linear-Gaussian policy with Gaussian states: s ~ N(1, 4), a ~ N(w1 + w2 s, e^(2 q)).

    F = [[E_s[phi phi^T] e^(-2 q), 0], [0, 2]],   phi(s) = (1, s),
    E_s[phi phi^T] = [[1, 1], [1, 5]]   (E[s] = 1, E[s^2] = 1 + 4)

The conditional expectations are closed in s first, then integrated over the state's
Gaussian law.

Run: npg-derive examples/families/linear_gaussian_gaussian_states.py
"""

import sympy as sp

import npg_sym

w1, w2, q = sp.symbols("w1 w2 q", real=True)
a, s = sp.symbols("a s", real=True)
k = sp.Symbol("k", real=True)

FAMILY = npg_sym.Family(
    name="linear_gaussian_gaussian_states",
    params=(w1, w2, q),
    outcome=a,
    log_prob=-(a - w1 - w2 * s) ** 2 * sp.exp(-2 * q) / 2 - q - sp.log(2 * sp.pi) / 2,
    support=None,
    description="linear-Gaussian policy a ~ N(w1 + w2 s, exp(2 q)), states s ~ N(1, 4)",
    states=npg_sym.States.gaussian(s, 1, 4),
)

REWARD = -(a - k * s) ** 2
