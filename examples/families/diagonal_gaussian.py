"""A diagonal Gaussian over a vector action in R^d, mean and log-std per coordinate: the head
of the trainer's Gaussian MLP policy (npg_num.distributions.DiagGaussian).

    log pi(x) = sum_i [ -(x_i - m_i)^2 e^(-2 s_i) / 2 - s_i - log(2 pi) / 2 ]
    F(m, s) = diag(e^(-2 s_1), ..., e^(-2 s_d), 2, ..., 2)

The density factors over the coordinates, so every expectation is a product of 1-D
Gaussian integrals. FAMILY is d = 3; D1 ... D6 are d = 1 ... 6 (benchmarks/derive.py runs
``npg-derive examples/families/diagonal_gaussian.py:D4`` and so on for its time-against-d
table).

Run: npg-derive examples/families/diagonal_gaussian.py
"""

import sympy as sp

import npg_sym


def diagonal_gaussian(d: int) -> npg_sym.Family:
    """The diagonal Gaussian in R^d with parameters (m_1, ..., m_d, s_1, ..., s_d)."""
    m = sp.symbols(f"m1:{d + 1}", real=True)
    s = sp.symbols(f"s1:{d + 1}", real=True)
    x = sp.symbols(f"x1:{d + 1}", real=True)
    log_prob = sp.Add(*(-(xi - mi) ** 2 * sp.exp(-2 * si) / 2 - si - sp.log(2 * sp.pi) / 2
                        for xi, mi, si in zip(x, m, s)))
    return npg_sym.Family(
        name=f"diagonal_gaussian{d}",
        params=(*m, *s),
        outcome=x,
        log_prob=log_prob,
        support=None,
        description=f"diagonal Gaussian in R^{d}, mean m_i and log-std s_i per coordinate",
    )


FAMILY = diagonal_gaussian(3)
D1, D2, D3, D4, D5, D6 = (diagonal_gaussian(d) for d in range(1, 7))
