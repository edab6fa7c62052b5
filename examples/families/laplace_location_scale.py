"""Laplace with location mu and scale b > 0 on the real line; F = diag(1, 1) / b^2.

    pi(x) = e^(-|x - mu| / b) / (2 b)

Closes by standardizing x = mu + b z and splitting at the kink z = 0 onto two half-lines
(Gamma integrals). The Hessian of log pi in mu is -2 DiracDelta(x - mu) / b: its
expectation is the density at the kink, so F = -E[Hess log pi] holds with it.

The KL does have a closed form, log(b'/b) + |mu - mu'|/b' + (b/b') e^(-|mu - mu'|/b) - 1,
but it needs |x - mu'| split at a kink on an unknown side of mu, which no route here
does, and its Hessian at theta' = theta is a limit across |mu - mu'|: the file declares
the closed form not derived, and F = Hess KL and the Taylor terms are taken under the
integral.

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

NO_KL_CLOSED_FORM = ("not derived here: the closed form holds |mu - mu'| (a kink on an "
                     "unknown side of mu), which no route splits")
