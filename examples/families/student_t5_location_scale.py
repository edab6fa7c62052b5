"""Student t with nu = 5 degrees of freedom (fixed), location mu and scale g > 0.

    pi(x) = Gamma(3) / (Gamma(5/2) sqrt(5 pi) g) (1 + (x - mu)^2 / (5 g^2))^(-3)
    F(mu, g) = diag((nu + 1) / (nu + 3), 2 nu / (nu + 3)) / g^2 = diag(3/4, 5/4) / g^2

Closes by standardizing x = mu + g z (the student integral: Beta functions). The KL
between two Student t laws with different scales has no closed form in elementary or
Gamma-type functions (it needs hypergeometric functions), so the file declares it absent:
F = Hess KL and the Taylor terms are then taken under the integral.

Run: npg-derive examples/families/student_t5_location_scale.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
g = sp.Symbol("g", positive=True)
x = sp.Symbol("x", real=True)
nu = 5

FAMILY = npg_sym.Family(
    "student_t5_location_scale", (mu, g), x,
    sp.loggamma(sp.Rational(nu + 1, 2)) - sp.loggamma(sp.Rational(nu, 2))
    - sp.log(sp.sqrt(nu * sp.pi) * g) - sp.Rational(nu + 1, 2) * sp.log(1 + (x - mu) ** 2 / (nu * g**2)),
    None, "Student t, 5 degrees of freedom, location mu and scale g",
)

NO_KL_CLOSED_FORM = ("KL between Student t laws of different scales needs hypergeometric "
                     "functions (no elementary or Gamma-type closed form)")
