"""Zero-inflated Poisson: a zero with probability sigmoid(z), else Poisson with rate e^t.

The Piecewise log-density singles out n = 0: the route "points + power series" sums the
Poisson branch over all counts, takes its n = 0 term out and puts the zero's own term in.
Its Fisher is not diagonal (z and t both move the probability of a zero).

Run: npg-derive examples/families/zero_inflated_poisson.py
"""

import sympy as sp

import npg_sym

z, t = sp.symbols("z t", real=True)
n = sp.Symbol("n", integer=True, nonnegative=True)
p0 = 1 / (1 + sp.exp(-z))
poisson = n * t - sp.exp(t) - sp.loggamma(n + 1)

FAMILY = npg_sym.Family(
    "zero_inflated_poisson", (z, t), n,
    sp.Piecewise((sp.log(p0 + (1 - p0) * sp.exp(-sp.exp(t))), sp.Eq(n, 0)),
                 (sp.log(1 - p0) + poisson, True)),
    sp.Naturals0, "zero-inflated Poisson",
)
