"""Exact simplification, and the zero test that every proof relies on.

``tidy`` turns expressions in exponentials of parameters into rational functions: each
real symbol t that appears inside ``exp`` is replaced by log(u) with u > 0, so that
exp(k t) becomes u^k; the result is cancelled and factored as a rational function and
mapped back (u -> exp(t)). SymPy's ``simplify`` alone leaves identities such as
e^t / (1 + e^t)^2 = 1 / (4 cosh(t/2)^2) undecided; as rational functions they are exact.
Where an exponent is not linear in the symbols (exp(-(1 - mu)^2 / (2 sigma^2)) of a
truncated Gaussian), each monomial m of the expanded exponents gets its own u_m = exp(m)
instead (``exp_monomials``): exp(sum_i c_i m_i) = prod_i u_i^c_i.
"""

from __future__ import annotations

import sympy as sp
from sympy.polys.matrices import DomainMatrix

__all__ = [
    "tidy", "is_zero", "tidy_matrix", "exp_to_rational", "exp_atoms_to_monomials",
    "exp_monomials", "det", "adjugate",
]


def _exponent_terms(e: sp.exp):
    """exp(sum_i c_i m_i) as [(c_i, m_i)]: rational c_i, m_i a product free of numbers."""
    return [term.as_coeff_Mul() for term in sp.Add.make_args(sp.expand(e.args[0]))]


def _linear_exponent(e: sp.exp) -> bool:
    return all(c.is_Rational and (m == 1 or m.is_Symbol) for c, m in _exponent_terms(e))


def exp_monomials(obj):
    """(obj with exp(sum_i c_i m_i) -> prod_i u_i^c_i, the map back u_i -> exp(m_i)).

    Each monomial m of an expanded exponent (a real product: mu/sigma^2, mu^2/sigma^2,
    1/sigma^2) gets one positive dummy u_m = exp(m); exp(c m) = u_m^c holds for real m and
    rational c. Exponentials with a term that is not real, or a coefficient that is not
    rational, are left as they are. Sound for zero tests (an identity in independent u_m
    holds at u_m = exp(m)); the u_m are treated as independent of the symbols in m.

    >>> import sympy as sp
    >>> mu, s = sp.Symbol("mu", real=True), sp.Symbol("s", positive=True)
    >>> rational, back = exp_monomials(sp.exp(-(1 - mu)**2 / s**2) * sp.exp(mu**2 / s**2))
    >>> len(rational.free_symbols), back(rational) == sp.exp(-1 / s**2) * sp.exp(2 * mu / s**2)
    (2, True)
    """
    obj = sp.sympify(obj)
    dummies: dict = {}
    mapping = {}
    for e in obj.atoms(sp.exp):
        terms = _exponent_terms(e)
        if not all(c.is_Rational and (m == 1 or m.is_extended_real) for c, m in terms):
            continue
        value = sp.Integer(1)
        for c, m in terms:
            if m == 1:
                value *= sp.exp(c)
                continue
            if m not in dummies:
                dummies[m] = sp.Dummy("u", positive=True)
            value *= dummies[m] ** c
        mapping[e] = value
    backward = {u: sp.exp(m) for m, u in dummies.items()}
    return obj.xreplace(mapping), lambda result: result.xreplace(backward)


def exp_to_rational(obj):
    """(obj with exp(t) -> u_t, the map back): rational functions in u_t > 0 where possible.

    Every real symbol t found inside an ``exp`` is replaced by log(u_t) with a positive
    dummy u_t, so exp(k t) becomes u_t^k. ``back(result)`` substitutes u_t -> exp(t).
    Where an exponent is not linear in the symbols, ``exp_monomials`` instead (a
    substitution t = log(u_t) would only put logarithms inside erf and polynomials).
    """
    obj = sp.sympify(obj)
    obj = obj.rewrite(sp.exp) if obj.has(sp.cosh, sp.sinh, sp.tanh) else obj
    exps = obj.atoms(sp.exp)
    if not all(_linear_exponent(e) for e in exps):
        converted, back = exp_monomials(obj)
        return converted, back, converted != obj
    inner = set().union(*(e.args[0].free_symbols for e in exps)) if exps else set()
    inner = sorted((s for s in inner if s.is_real), key=lambda s: s.name)
    u = {s: sp.Dummy(f"u_{s.name}", positive=True) for s in inner}
    forward = {s: sp.log(u[s]) for s in inner}
    backward = {u[s]: sp.exp(s) for s in inner}

    converted = exp_atoms_to_monomials(obj, u)
    if converted is None:
        def convert(e):
            return sp.powsimp(sp.expand_log(e.xreplace(forward), force=False))

        converted = obj.applyfunc(convert) if isinstance(obj, sp.MatrixBase) else convert(obj)

    def back(result):
        return result.xreplace(backward)

    return converted, back, bool(inner)


def exp_atoms_to_monomials(obj, u: dict):
    """``obj`` with each exp(c + sum_t k_t t) written c-free as exp(c) prod_t u_t^k_t, or None.

    The fast form of the substitution t -> log(u_t): only the (few) distinct exp atoms are
    rewritten, where ``powsimp`` would walk the whole tree. None (use the general route)
    when an exponent is not linear with rational coefficients in the symbols of ``u``, or
    when such a symbol also occurs outside an exp (where t = log(u_t) must be written).
    """
    images = {}
    for atom in obj.atoms(sp.exp):
        image, rest = sp.S.One, sp.S.Zero
        for term, coeff in sp.expand(atom.args[0]).as_coefficients_dict().items():
            if term in u and coeff.is_Rational:
                image *= u[term] ** coeff
            else:
                rest += coeff * term
        if rest.free_symbols & set(u):
            return None
        images[atom] = image * sp.exp(rest) if rest != 0 else image
    replaced = obj.xreplace(images)
    if replaced.free_symbols & set(u):
        return None
    return replaced


def _factor_roots(e):
    """Factor the bases of fractional powers: sqrt(u^2 + 2u + 1) -> u + 1 for u > 0."""
    return e.replace(
        lambda a: a.is_Pow and a.exp.is_Rational and not a.exp.is_Integer,
        lambda a: sp.Pow(sp.factor(a.base), a.exp),
    )


def _cancel(e):
    return sp.factor(sp.cancel(_factor_roots(sp.together(e))))


def _fraction_field_matrix(m: sp.Matrix):
    """(m over the field of rational functions in its exp-substitutes, the map back), or None.

    In the rational form a softmax Fisher is a matrix over Q(u_1, ..., u_K) (a matrix of
    rational functions of plain symbols needs no rational form), where
    determinant and adjugate are exact polynomial arithmetic (SymPy's ``DomainMatrix``):
    for K = 4 that is 0.4 s against 15 s for cofactors of expressions.
    """
    r, back, rational = exp_to_rational(sp.Matrix(m))
    if not rational:
        # no exp: a matrix of rational functions of plain symbols (npg-derive puts F's
        # entries as independent symbols) is over a fraction field as it stands
        if not all(e.is_rational_function() for e in r):
            return None
        back = sp.sympify
    return DomainMatrix.from_Matrix(r).to_field(), back


def det(m: sp.Matrix) -> sp.Expr:
    """The determinant, exactly: over the fraction field of the rational form (softmax
    Fishers), else Berkowitz and ``simplify``."""
    field = _fraction_field_matrix(m)
    if field is None:
        return sp.simplify(sp.Matrix(m).det(method="berkowitz"))
    dm, back = field
    return back(sp.factor(dm.domain.to_sympy(dm.det())))


def adjugate(m: sp.Matrix) -> sp.Matrix:
    """The adjugate, exactly, through the rational form (F adj(F) = det(F) I)."""
    field = _fraction_field_matrix(m)
    if field is None:
        return sp.Matrix(m).adjugate(method="berkowitz").applyfunc(sp.simplify)
    dm, back = field
    return dm.adjugate().to_Matrix().applyfunc(lambda e: back(sp.factor(e)))


def _separate_groups(expr: sp.Expr) -> list[sp.Expr]:
    """The terms of a sum, gathered into groups that share no free symbol (a KL over
    independent coordinates: one group per coordinate); numbers form their own group."""
    groups: list[tuple[set, list]] = []
    for term in sp.Add.make_args(expr):
        symbols, members = set(term.free_symbols), [term]
        for group in [g for g in groups if g[0] & symbols]:
            groups.remove(group)
            symbols |= group[0]
            members += group[1]
        groups.append((symbols, members))
    return [sp.Add(*members) for _, members in groups]


def tidy(expr) -> sp.Expr:
    """An exact canonical-ish form: rational in exp(t) where exponentials occur, else simplify.
    A sum of groups of terms that share no symbol is tidied group by group (the cost of one
    fraction over all of them grows fast with their number)."""
    expr = sp.sympify(expr)
    if expr.is_Add:
        groups = _separate_groups(expr)
        if len(groups) > 1:
            return sp.Add(*(tidy(g) for g in groups))
    if expr.is_number:
        return sp.nsimplify(expr) if expr.is_Float else sp.simplify(expr)
    converted, back, rational = exp_to_rational(expr)
    if not rational:
        return sp.simplify(converted)
    return back(_cancel(converted))


def _simplifies_to_zero(expr) -> bool:
    """0 by ``tidy`` or ``simplify``."""
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if tidy(expr) == 0:
        return True
    return sp.simplify(expr) == 0


def generic_symbols(*objs) -> tuple[dict, dict]:
    """(forward, back): every function value (polygamma(1, k), exp(t), log(b), Abs(...))
    in ``objs`` <-> an independent Dummy with the value's sign assumptions."""
    values = set()
    for obj in objs:
        values |= sp.sympify(obj).atoms(sp.Function)
    forward = {
        v: sp.Dummy("f", positive=True) if v.is_positive else
        sp.Dummy("f", real=True) if v.is_extended_real else sp.Dummy("f")
        for v in sorted(values, key=sp.default_sort_key)
    }
    return forward, {d: v for v, d in forward.items()}


def _generic_zero(expr: sp.Expr) -> bool:
    """0 as a rational function with every function value replaced by an independent symbol.

    Sound: an identity in independent symbols holds at any values substituted for them.
    Fast: cancel on a rational function, where simplify on sqrt(...) of polygammas takes
    minutes. Radicands are cancelled first, so that sqrt(-(a - b)/c) and sqrt((b - a)/c)
    are one atom. Exponentials are first written as powers of exp of their monomials
    (``exp_monomials``), so that exp(2 m) and exp(m)^2 become one symbol's powers. Not
    complete: identities that need other relations between function values fall through
    to the slower tests.
    """
    expr, _ = exp_monomials(expr)
    forward, _ = generic_symbols(expr)
    expr = expr.xreplace(forward).replace(
        lambda a: a.is_Pow and a.exp.is_Rational and not a.exp.is_Integer,
        lambda a: sp.Pow(sp.cancel(sp.together(a.base)), a.exp),
    )
    if sp.cancel(sp.together(expr)) == 0:
        return True
    # sqrt((3 + pi^2) B) = sqrt(3 + pi^2) sqrt(B) where the factors are nonnegative
    split = expr.replace(
        lambda a: a.is_Pow and a.exp.is_Rational and not a.exp.is_Integer,
        lambda a: sp.expand_power_base(sp.Pow(sp.factor(a.base), a.exp), force=False),
    )
    return split != expr and sp.cancel(sp.together(split)) == 0


def _sample_value(symbol: sp.Symbol, i: int) -> sp.Expr:
    base = sp.Rational(7, 10) + sp.Rational(13, 100) * i
    if symbol.is_integer:
        return sp.Integer(2 + i) if symbol.is_nonnegative or symbol.is_positive else sp.Integer(-2 - i)
    if symbol.is_positive or symbol.is_nonnegative:
        return base
    return -base if symbol.is_negative or symbol.is_nonpositive else base - 1


def numerically_nonzero(expr: sp.Expr) -> bool:
    """True when ``expr`` is clearly not 0 at one point that satisfies the symbols'
    assumptions (30 digits): a quick, sound way to see that an identity fails. Never used
    to decide that something *is* 0."""
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    point = {s: _sample_value(s, i) for i, s in enumerate(symbols)}
    try:
        at = expr.xreplace(point)
        value = at.evalf(30)
        scale = max((abs(t.evalf(30)) for t in sp.Add.make_args(at)), default=0)
    except Exception:
        return False
    if not (value.is_number and value.is_finite and scale.is_finite) or value.has(sp.nan):
        return False
    return bool(abs(value) > sp.Float(10) ** -20 * max(scale, 1))


def is_zero(expr) -> bool:
    """True only when ``expr`` is shown to be identically 0 by exact rewriting: as a
    rational function in generic symbols for its function values, then by ``tidy`` and
    ``simplify``, each also after integer shifts are taken out of Gamma-type functions.
    Where exp is the only function (softmax, Gaussian families), ``tidy``'s rational form
    in u = exp(t) goes first: it is the fast one there (with no function at all, the
    generic rational test is exact and ``simplify`` is spared).
    A quick evaluation at one point (``numerically_nonzero``) only ever spares the slow
    tests for an expression that is clearly not 0; it never decides that one is 0.

    >>> import sympy as sp
    >>> t = sp.Symbol("t", real=True)
    >>> is_zero(sp.exp(t) / (1 + sp.exp(t)) - 1 / (1 + sp.exp(-t))), is_zero(t)
    (True, False)
    """
    from .integrals import expand_special

    expr = sp.sympify(expr)
    if expr == 0:
        return True
    functions = expr.atoms(sp.Function)
    if functions and all(isinstance(f, sp.exp) for f in functions) and tidy(expr) == 0:
        return True
    if _generic_zero(expr):
        return True
    shifted = expand_special(expr)
    if _generic_zero(shifted):
        return True
    if numerically_nonzero(expr):  # clearly not 0: spare the slow tests below
        return False
    return _simplifies_to_zero(expr) or _simplifies_to_zero(shifted)


def tidy_matrix(m: sp.Matrix) -> sp.Matrix:
    return sp.Matrix(m).applyfunc(tidy)
