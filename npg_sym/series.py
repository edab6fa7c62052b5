"""Closed-form sums over the counts 0, 1, 2, ...: power series with known generating functions.

A term P(x) K(x) with P a polynomial and K a hypergeometric term is summed through the
ratio rho(x) = K(x+1) / K(x) = z N(x) / D(x), which names the generating function
G(z) = sum_x a_x z^x, K(x) = K(0) a_x z^x:

    rho = z / (x + 1)              a_x = 1 / x!                G = e^z             (Poisson)
    rho = z                        a_x = 1                     G = 1 / (1 - z)     (geometric)
    rho = z (x + r) / (x + 1)      a_x = binomial(x + r - 1, x) G = (1 - z)^(-r)   (negative binomial)

and sum_x x^k K(x) = K(0) (z d/dz)^k G(z). The last two converge only for |z| < 1, which
must follow from the assumptions (z = exp(-t) with t > 0 does; a symbol p declared
positive does not, since SymPy has no "less than one" assumption).
"""

from __future__ import annotations

import sympy as sp

from .integrals import RouteDoesNotApply, exp_of_sum, provably_positive

__all__ = ["power_series_sum", "split_polynomial"]


def split_polynomial(term: sp.Expr, x: sp.Symbol) -> tuple[int, sp.Expr]:
    """(k, rest) with term = x^k rest, k >= 0 an integer and rest free of bare powers of x."""
    k, rest = 0, sp.Integer(1)
    for factor in sp.Mul.make_args(term):
        if factor == x:
            k += 1
        elif factor.is_Pow and factor.base == x and factor.exp.is_Integer and factor.exp > 0:
            k += int(factor.exp)
        else:
            rest *= factor
    return k, rest


def _inside_unit_disc(z: sp.Expr) -> bool:
    """|z| < 1 from the assumptions: z = exp(E) with E < 0, or -1 < z < 1."""
    z = sp.powsimp(z)
    if isinstance(z, sp.exp) and z.args[0].is_extended_real:
        return provably_positive(-z.args[0])
    return provably_positive(1 - z) and provably_positive(1 + z)


def _generating_function(rho: sp.Expr, x: sp.Symbol, Z: sp.Symbol) -> tuple[sp.Expr, sp.Expr, bool]:
    """(z, G(Z), needs |z| < 1) from the term ratio rho(x), or RouteDoesNotApply."""
    rho = sp.cancel(rho)
    if not rho.is_rational_function(x):
        raise RouteDoesNotApply(f"the term ratio {rho} is not rational in {x}")
    num, den = (sp.Poly(e, x) for e in sp.fraction(rho))
    z = sp.cancel(num.LC() / den.LC())
    top, bottom = num.monic().as_expr(), den.monic().as_expr()
    if top == 1 and bottom == x + 1:
        return z, sp.exp(Z), False
    if top == 1 and bottom == 1:
        return z, 1 / (1 - Z), True
    if num.degree() == 1 and bottom == x + 1:
        r = top - x
        return z, (1 - Z) ** (-r), True
    raise RouteDoesNotApply(
        f"the term ratio {rho} is not z/(x+1), z or z(x+r)/(x+1): no known generating function"
    )


def power_series_sum(term: sp.Expr, log_density: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """sum_{x >= 0} term(x) exp(log_density(x)), exactly, or ``RouteDoesNotApply``.

    Examples
    ========
    >>> import sympy as sp
    >>> x, lam = sp.Symbol("x", integer=True, nonnegative=True), sp.Symbol("lam", positive=True)
    >>> poisson = x * sp.log(lam) - lam - sp.log(sp.gamma(x + 1))
    >>> sp.simplify(power_series_sum(x**2, poisson, x))
    lam*(lam + 1)
    """
    if term == 0:
        return sp.Integer(0)
    k, rest = split_polynomial(term, x)
    step = sp.expand(sp.expand_log(log_density.subs(x, x + 1) - log_density, force=False))
    rho = sp.powsimp(rest.subs(x, x + 1) / rest * sp.exp(step))
    rho = sp.gammasimp(sp.combsimp(rho)) if rho.has(sp.gamma, sp.factorial, sp.binomial) else rho
    Z = sp.Dummy("z")
    z, G, needs_disc = _generating_function(rho, x, Z)
    if needs_disc and not _inside_unit_disc(z):
        raise RouteDoesNotApply(f"the series converges only for |{z}| < 1, not shown from the assumptions")
    for _ in range(k):
        G = Z * sp.diff(G, Z)
    first = rest.subs(x, 0) * exp_of_sum(log_density.subs(x, 0))
    return first * G.subs(Z, z)
