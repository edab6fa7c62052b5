"""tanh-squashed Gaussian on (-1, 1) (the SAC policy): y = tanh(u), u ~ N(mu, sigma^2).

    pi(y) = N(atanh(y); mu, sigma^2) / (1 - y^2)
    F(mu, sigma) = diag(1, 2) / sigma^2     (the Gaussian's: an invertible map of the
                                             outcome that does not depend on theta)

Expectations are taken on the base Gaussian; the report checks that F equals the base's.
REWARD is quadratic in the pre-squash action u = atanh(y): E[tanh(u)] under a Gaussian has
no closed form, so the default reward r0 + r1 y + r2 y^2 would leave the policy gradient
open.

Run: npg-derive examples/families/tanh_gaussian.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)
u = sp.Symbol("u", real=True)
y = sp.Symbol("y", real=True)
c1, c2 = sp.symbols("c1 c2", real=True)

GAUSSIAN = npg_sym.Family(
    "gaussian_mean_std", (mu, sigma), u,
    -(u - mu) ** 2 / (2 * sigma**2) - sp.log(sigma) - sp.log(2 * sp.pi) / 2,
    None, "normal N(mu, sigma^2)",
)

FAMILY = npg_sym.Family.transformed(
    GAUSSIAN, y, sp.tanh(u), sp.atanh(y), name="tanh_gaussian",
    description="tanh-squashed Gaussian on (-1, 1): y = tanh(u), u ~ N(mu, sigma^2)",
)

REWARD = c1 * sp.atanh(y) + c2 * sp.atanh(y) ** 2
