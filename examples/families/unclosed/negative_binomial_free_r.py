"""Negative binomial with both r > 0 and the odds e^(-s) free.

The score in r holds polygamma(0, n + r): E[polygamma(0, n + r)] has no closed form in
elementary or Gamma-type functions, so the power-series route refuses it (its term ratio
is not rational in n) and SymPy's summation does not close it.
"""

import sympy as sp

import npg_sym

r, s = sp.symbols("r s", positive=True)
n = sp.Symbol("n", integer=True, nonnegative=True)

FAMILY = npg_sym.Family(
    "negative_binomial_free_r", (r, s), n,
    sp.loggamma(n + r) - sp.loggamma(r) - sp.loggamma(n + 1) + r * sp.log(1 - sp.exp(-s)) - s * n,
    sp.Naturals0, "negative binomial with r > 0 and odds exp(-s)",
)
