"""Exact expectations over a family's outcome: a finite sum, or a Gaussian integral.

SymPy's ``integrate`` gives ``erf`` expressions that do not simplify back to closed form
for some Gaussian parameterizations (natural parameters with ``eta2 < 0``), so integrals
over the real line are done here exactly, by completing the square:

    int_R P(x) exp(a x^2 + b x + c) dx
        = exp(c - b^2/(4a)) sqrt(pi/(-a)) E[P(y)],   y ~ N(-b/(2a), -1/(2a)),   a < 0,

with E[z^j] = (j-1)!! for even j and 0 for odd j (z standard normal). Every integrand met
here (score products, Hessians of log-densities, log-ratios, importance ratios times
polynomial rewards) has that form; anything else raises ``NotImplementedError`` rather
than returning an unsimplified integral.
"""

from __future__ import annotations

from collections import defaultdict

import sympy as sp

__all__ = ["gaussian_integral", "standard_normal_moment"]


def standard_normal_moment(j: int) -> sp.Expr:
    """E[z^j] for z ~ N(0, 1): (j-1)!! for even j, 0 for odd j."""
    if j < 0:
        raise ValueError(f"moment order must be >= 0, got {j}")
    if j % 2:
        return sp.Integer(0)
    return sp.factorial2(j - 1) if j > 0 else sp.Integer(1)


def _split_term(term: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """Split one product into (polynomial prefactor, exponent)."""
    exponent = sp.Integer(0)
    rest = []
    for factor in sp.Mul.make_args(term):
        if isinstance(factor, sp.exp):
            exponent += factor.args[0]
        elif factor.is_Pow and factor.base == sp.E:
            exponent += factor.exp
        else:
            rest.append(factor)
    prefactor = sp.Mul(*rest)
    if not prefactor.is_polynomial(x):
        raise NotImplementedError(
            f"integrand factor {prefactor} is not polynomial in {x}; only polynomial * "
            "exp(quadratic) integrands are supported"
        )
    return prefactor, sp.expand(exponent)


def gaussian_integral(integrand: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """Exact int_{-oo}^{oo} integrand dx for integrand = sum_k P_k(x) exp(Q_k(x)).

    Parameters
    ==========
    integrand : a SymPy expression, a sum of polynomial-times-exp(quadratic) terms in ``x``.
    x : the variable of integration.

    Explanation
    ===========
    Terms are grouped by their exponent Q(x) = a x^2 + b x + c; each group is integrated by
    completing the square. The coefficient ``a`` must be provably negative under the
    symbols' assumptions (else the integral may diverge and ``ValueError`` is raised).

    Examples
    ========
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> gaussian_integral(x**2 * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi), x)
    1
    """
    groups: dict[sp.Expr, sp.Expr] = defaultdict(lambda: sp.Integer(0))
    for term in sp.Add.make_args(sp.expand(integrand, power_exp=True)):
        prefactor, exponent = _split_term(term, x)
        groups[exponent] += prefactor

    total = sp.Integer(0)
    for exponent, prefactor in groups.items():
        if prefactor == 0:  # an integrand that is identically 0 (e.g. KL(p || p))
            continue
        try:
            q = sp.Poly(exponent, x)
        except sp.PolynomialError as err:
            raise NotImplementedError(f"exponent {exponent} is not polynomial in {x}") from err
        if q.degree() != 2:
            raise ValueError(
                f"exponent {exponent} is not quadratic in {x}; the integral over R diverges"
            )
        a, b, c = (q.coeff_monomial(x**k) for k in (2, 1, 0))
        if sp.simplify(a).is_negative is not True:
            raise ValueError(
                f"cannot show the x^2 coefficient {a} is negative; the integral may diverge"
            )
        mean = -b / (2 * a)
        std = sp.sqrt(-1 / (2 * a))
        z = sp.Dummy("z", real=True)
        shifted = sp.Poly(sp.expand(prefactor.subs(x, mean + std * z)), z)
        moment = sum(
            (coeff * standard_normal_moment(monom[0]) for monom, coeff in shifted.terms()),
            sp.Integer(0),
        )
        total += sp.exp(c - b**2 / (4 * a)) * sp.sqrt(sp.pi / (-a)) * moment
    return total

