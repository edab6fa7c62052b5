"""Exact expectations over a family's outcome: Gaussian integrals, over R or an interval.

SymPy's ``integrate`` gives ``erf`` expressions that do not simplify back to closed form
for some Gaussian parameterizations (natural parameters with ``eta2 < 0``), so integrals
over the real line are done here exactly, by completing the square:

    int_R P(x) exp(a x^2 + b x + c) dx
        = exp(c - b^2/(4a)) sqrt(pi/(-a)) E[P(y)],   y ~ N(-b/(2a), -1/(2a)),   a < 0,

with E[z^j] = (j-1)!! for even j and 0 for odd j (z standard normal). Over an interval
[lo, hi] (a truncated Gaussian) the moments are those of z on [alpha, beta] =
[(lo - m)/s, (hi - m)/s] (Johnson, Kotz and Balakrishnan, Continuous Univariate
Distributions vol. 1, sec. 13.10), M_k = int_alpha^beta z^k e^(-z^2/2) dz:

    M_0 = sqrt(pi/2) (erf(beta/sqrt 2) - erf(alpha/sqrt 2)),   M_1 = e^(-alpha^2/2) - e^(-beta^2/2),
    M_k = alpha^(k-1) e^(-alpha^2/2) - beta^(k-1) e^(-beta^2/2) + (k - 1) M_(k-2).

Every integrand met
here (score products, Hessians of log-densities, log-ratios, importance ratios times
polynomial rewards) has that form; anything else raises ``NotImplementedError`` rather
than returning an unsimplified integral.
"""

from __future__ import annotations

from collections import defaultdict

import sympy as sp

__all__ = ["gaussian_integral", "standard_normal_moment", "truncated_normal_moment"]


def standard_normal_moment(j: int) -> sp.Expr:
    """E[z^j] for z ~ N(0, 1): (j-1)!! for even j, 0 for odd j."""
    if j < 0:
        raise ValueError(f"moment order must be >= 0, got {j}")
    if j % 2:
        return sp.Integer(0)
    return sp.factorial2(j - 1) if j > 0 else sp.Integer(1)


def truncated_normal_moment(j: int, alpha: sp.Expr, beta: sp.Expr) -> sp.Expr:
    """M_j = int_alpha^beta z^j exp(-z^2/2) dz by the recurrence of the module docstring."""
    if j < 0:
        raise ValueError(f"moment order must be >= 0, got {j}")
    if j == 0:
        return sp.sqrt(sp.pi / 2) * (sp.erf(beta / sp.sqrt(2)) - sp.erf(alpha / sp.sqrt(2)))
    ends = alpha ** (j - 1) * sp.exp(-alpha**2 / 2) - beta ** (j - 1) * sp.exp(-beta**2 / 2)
    return ends + (j - 1) * truncated_normal_moment(j - 2, alpha, beta) if j > 1 else ends


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


def gaussian_integral(integrand: sp.Expr, x: sp.Symbol, lo=-sp.oo, hi=sp.oo) -> sp.Expr:
    """Exact int_lo^hi integrand dx for integrand = sum_k P_k(x) exp(Q_k(x)).

    Parameters
    ==========
    integrand : a SymPy expression, a sum of polynomial-times-exp(quadratic) terms in ``x``.
    x : the variable of integration.
    lo, hi : the bounds (default the real line); finite bounds give erf terms.

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
    integrand, thaw = _freeze_erf_sums(sp.sympify(integrand), x)
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
        if lo == -sp.oo and hi == sp.oo:
            moment = sum(
                (coeff * standard_normal_moment(monom[0]) for monom, coeff in shifted.terms()),
                sp.Integer(0),
            )
            total += sp.exp(c - b**2 / (4 * a)) * sp.sqrt(sp.pi / (-a)) * moment
            continue
        alpha, beta = (lo - mean) / std, (hi - mean) / std
        moment = sum((coeff * truncated_normal_moment(monom[0], alpha, beta)
                      for monom, coeff in shifted.terms()), sp.Integer(0))
        total += sp.exp(c - b**2 / (4 * a)) * std * moment
    return _thawed(total, thaw)


def _freeze_erf_sums(expr: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, dict]:
    """x-free sums as symbols, and the map back: those holding erf (the mass erf(b) - erf(a)
    of a truncated law) and those in a denominator (1/(e^(4a) + 2 e^(2a) + 1) of a mean
    tanh(a)). ``expand`` would otherwise multiply such a denominator out and pull the
    x-dependent exponentials into it. A frozen sum keeps the sign it is shown to have."""
    from .integrals import provably_positive

    thaw = {}

    def frozen(e):
        symbol = (sp.Dummy("m", positive=True) if provably_positive(e) else
                  sp.Dummy("m", negative=True) if provably_positive(-e) else sp.Dummy("m"))
        thaw[symbol] = e
        return symbol

    def x_free_sum(e):
        return e.is_Add and not e.has(x) and bool(e.free_symbols)

    expr = expr.replace(lambda e: x_free_sum(e) and e.has(sp.erf), frozen)
    expr = expr.replace(lambda e: e.is_Pow and e.exp.is_negative and x_free_sum(e.base),
                        lambda e: frozen(e.base) ** e.exp)
    return expr, thaw


def _thawed(expr: sp.Expr, thaw: dict) -> sp.Expr:
    while thaw and expr.has(*thaw):  # a frozen sum may hold another
        expr = expr.xreplace(thaw)
    return expr
