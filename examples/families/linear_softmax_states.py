"""A linear-softmax (log-linear) policy over 2 actions and 3 states, with state-action
features phi(s, a) = (a, a s): pi(a | s) = e^(w^T phi(s, a)) / sum_b e^(w^T phi(s, b)).
States s in {0, 1, 2} with weights 1/4, 1/4, 1/2.

    F = E_s[ Cov_{a ~ pi(.|s)}(phi(s, a)) ] = E_s[ p_s (1 - p_s) (1, s)(1, s)^T ],
    p_s = sigmoid(w1 + w2 s)

(Kakade 2001; the compatible features are phi(s, a) - E_pi[phi(s, .)], as in K1.) The
reward r(s, a) = c a s depends on the state.

Run: npg-derive examples/families/linear_softmax_states.py
"""

import sympy as sp

import npg_sym

w1, w2 = sp.symbols("w1 w2", real=True)
a = sp.Symbol("a", integer=True, nonnegative=True)
s = sp.Symbol("s", real=True)
c = sp.Symbol("c", real=True)

logit = w1 + w2 * s  # w^T (phi(s, 1) - phi(s, 0))

FAMILY = npg_sym.Family(
    name="linear_softmax_states",
    params=(w1, w2),
    outcome=a,
    log_prob=a * logit - sp.log(1 + sp.exp(logit)),
    support=(0, 1),
    description="log-linear policy over 2 actions, features (a, a s), 3 states",
    states=npg_sym.States.finite(s, {0: sp.Rational(1, 4), 1: sp.Rational(1, 4), 2: sp.Rational(1, 2)}),
)

REWARD = c * a * s
