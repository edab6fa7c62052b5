"""Logistic with location mu and scale s > 0 on the real line.

    pi(x) = e^(-(x - mu)/s) / (s (1 + e^(-(x - mu)/s))^2)
    F(mu, s) = diag(1/3, (3 + pi^2)/9) / s^2

Closes by standardizing x = mu + s z and z = log(v / (1 - v)), which maps the logistic law
onto the uniform one on (0, 1) (Beta integrals with log powers: pi^2 comes from them).
Between two scales the KL needs E[log(1 + K ((1 - v)/v)^r)] with r = s/s' not an integer,
which has no closed form here, so the file declares it absent: F = Hess KL and the Taylor
terms are then taken under the integral.

Run: npg-derive examples/families/logistic_location_scale.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
s = sp.Symbol("s", positive=True)
x = sp.Symbol("x", real=True)

FAMILY = npg_sym.Family(
    "logistic_location_scale", (mu, s), x,
    -(x - mu) / s - sp.log(s) - 2 * sp.log(1 + sp.exp(-(x - mu) / s)), None,
    "logistic with location mu and scale s",
)

NO_KL_CLOSED_FORM = ("KL between logistic laws of different scales: E[log(1 + K ((1-v)/v)^r)] "
                     "with a non-integer r = s/s' has no closed form")
