"""A 2-D Gaussian with full covariance, parameterized by its mean and Cholesky factor.

    x = m + L z,  z ~ N(0, I),  L = [[l11, 0], [l21, l22]],  l11, l22 > 0,  Sigma = L L^T
    log pi(x) = -|L^-1 (x - m)|^2 / 2 - log(l11 l22) - log(2 pi)

The Fisher is the Gaussian one (e.g. Kay, Fundamentals of Statistical Signal Processing
I, eq. 3.31): F_ij = d_i m^T Sigma^-1 d_j m + tr(Sigma^-1 d_i Sigma Sigma^-1 d_j Sigma) / 2,
not diagonal in (l11, l21, l22). The density does not factor over x1, x2; log pi is
quadratic in x, so expectations of polynomials close by the moments of N(m, Sigma)
(Isserlis), and others one coordinate at a time (x2 given x1, then x1).

Run: npg-derive examples/families/gaussian2d_cholesky.py
"""

import sympy as sp

import npg_sym

m1, m2, l21 = sp.symbols("m1 m2 l21", real=True)
l11, l22 = sp.symbols("l11 l22", positive=True)
x1, x2 = sp.symbols("x1 x2", real=True)

z1 = (x1 - m1) / l11
z2 = (x2 - m2 - l21 * z1) / l22

FAMILY = npg_sym.Family(
    name="gaussian2d_cholesky",
    params=(m1, m2, l11, l21, l22),
    outcome=(x1, x2),
    log_prob=-(z1**2 + z2**2) / 2 - sp.log(l11) - sp.log(l22) - sp.log(2 * sp.pi),
    support=None,
    description="2-D Gaussian N(m, L L^T) with a lower-triangular Cholesky factor L",
)
