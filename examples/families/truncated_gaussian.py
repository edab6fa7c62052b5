"""Gaussian truncated to [-1, 1] (a bounded action), location mu and scale sigma > 0.

    pi(x) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(pi/2) (erf(b/sqrt 2) - erf(a/sqrt 2))),
    a = (-1 - mu) / sigma,   b = (1 - mu) / sigma.

With z = (x - mu)/sigma on [a, b], F = Cov(z, z^2) / sigma^2 (the score is
((z, z^2) - E[(z, z^2)]) / sigma up to constants), whose moments follow the recurrence
M_k = a^(k-1) phi(a) - b^(k-1) phi(b) + (k - 1) M_(k-2) (Johnson, Kotz and Balakrishnan,
Continuous Univariate Distributions vol. 1, sec. 13.10). Closes by the truncated Gaussian
integral (erf terms).

Run: npg-derive examples/families/truncated_gaussian.py
"""

import sympy as sp

import npg_sym

mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)
x = sp.Symbol("x", real=True)

_mass = sp.sqrt(sp.pi / 2) * sigma * (sp.erf((1 - mu) / (sp.sqrt(2) * sigma))
                                      - sp.erf((-1 - mu) / (sp.sqrt(2) * sigma)))

FAMILY = npg_sym.Family(
    "truncated_gaussian", (mu, sigma), x,
    -(x - mu) ** 2 / (2 * sigma**2) - sp.log(_mass),
    sp.Interval(-1, 1), "Gaussian N(mu, sigma^2) truncated to [-1, 1]",
)
