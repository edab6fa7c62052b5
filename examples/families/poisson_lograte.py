"""Poisson counts with log-rate t (rate e^t) on n = 0, 1, 2, ...

    pi(n) = e^(n t - e^t) / n!,   F(t) = e^t

Run: npg-derive examples/families/poisson_lograte.py
"""

import sympy as sp

import npg_sym

t = sp.Symbol("t", real=True)  # a log-rate: any real number
n = sp.Symbol("n", integer=True, nonnegative=True)

FAMILY = npg_sym.Family(
    name="poisson_lograte",
    params=(t,),
    outcome=n,
    log_prob=n * t - sp.exp(t) - sp.loggamma(n + 1),
    support=sp.Naturals0,
    description="Poisson with rate exp(t)",
)
