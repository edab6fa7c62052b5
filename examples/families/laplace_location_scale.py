"""Laplace with location mu and scale b > 0 on the real line; F = diag(1, 1) / b^2.

    pi(x) = e^(-|x - mu| / b) / (2 b)

Closes by standardizing x = mu + b z and splitting at the kink z = 0 onto two half-lines
(Gamma integrals). The Hessian of log pi in mu is -2 DiracDelta(x - mu) / b: its
expectation is the density at the kink, so F = -E[Hess log pi] holds with it.

The KL, log(b'/b) + |mu - mu'|/b' + (b/b') e^(-|mu - mu'|/b) - 1, needs |x - mu'| split at
a second kink z = r = (mu' - mu)/b on an unknown side of 0: the kink route takes the cases
r > 0 and r < 0 and joins them in |r| and sign(r). Its Hessian at theta' = theta crosses
the kink |mu - mu'| = 0: it is taken on each side (|mu - mu'| = +-(mu - mu')), after
checking that the two sides and their gradients agree on mu' = mu, and the two one-sided
Hessians agree (npg_sym.one_sided).

Run: npg-derive examples/families/laplace_location_scale.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
b = sp.Symbol("b", positive=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "laplace_location_scale", (mu, b), x, -sp.log(2 * b) - sp.Abs(x - mu) / b, None,
    "Laplace with location mu and scale b",
)
