"""The registry's bernoulli_logit, written out as a user would: p = sigmoid(t) on {0, 1}."""

import sympy as sp

import npg_sym

t = sp.Symbol("t", real=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "bernoulli_logit", (t,), x, x * t - sp.log(1 + sp.exp(t)), (0, 1),
    "Bernoulli over {0, 1} with p = sigmoid(t)",
)
