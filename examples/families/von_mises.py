"""von Mises on the circle (-pi, pi] with mean mu and concentration kappa > 0.

    pi(x) = exp(kappa cos(x - mu)) / (2 pi I0(kappa)),   A = I1(kappa) / I0(kappa)
    F(mu, kappa) = diag(kappa A, 1 - A^2 - A / kappa)
    KL(theta || theta') = A (kappa - kappa' cos(mu - mu')) + log(I0(kappa') / I0(kappa))

Closes by the circular moments: int cos(z)^j e^(kappa cos z) dz = 2 pi I0^(j)(kappa).

Run: npg-derive examples/families/von_mises.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
kappa = sp.Symbol("kappa", positive=True)
x = sp.Symbol("x", real=True)
c1, c2 = sp.symbols("c1 c2", real=True)

FAMILY = npg_sym.Family(
    "von_mises", (mu, kappa), x,
    kappa * sp.cos(x - mu) - sp.log(2 * sp.pi * sp.besseli(0, kappa)),
    sp.Interval(-sp.pi, sp.pi), "von Mises with mean mu and concentration kappa",
)

REWARD = c1 * sp.cos(x) + c2 * sp.sin(x)  # a reward on the circle (periodic)
