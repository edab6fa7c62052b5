"""Binomial with 10 trials and success probability sigmoid(t), on {0, ..., 10}.

    pi(n) = binomial(10, n) p^n (1 - p)^(10 - n),   F(t) = 10 p (1 - p)

A finite support: every expectation is a finite sum. The reward has one coefficient per
outcome (r0 ... r10), the registry's convention for finite families.
"""

import sympy as sp

import npg_sym

t = sp.Symbol("t", real=True)
n = sp.Symbol("n", integer=True, nonnegative=True)

FAMILY = npg_sym.Family(
    "binomial10_logit", (t,), n,
    sp.log(sp.binomial(10, n)) + n * t - 10 * sp.log(1 + sp.exp(t)), tuple(range(11)),
    "binomial with 10 trials, p = sigmoid(t)",
)
