"""Expectations under location-scale laws on the real line (heavy tails, kinks), exactly.

A law whose log-density L satisfies, for some location c(theta) and scale b(theta) > 0,

    L(c + b z) + log b = L0(z),   free of theta,

is one fixed density exp(L0) moved and stretched, so E_theta[f(x)] = int f(c + b z) e^L0(z) dz
and theta enters through f alone. c and b are read off the log-density's own shape
(roots of its linear arguments, vertices of its quadratic ones), whatever expressions of
theta they are, and checked by substitution. The routes on z:

    student     int z^(2j) (a z^2 + g)^(-p) dz = g^(-p) k^(j+1/2) B(j + 1/2, p - j - 1/2),
                k = g/a, p > j + 1/2 (odd powers give 0): Cauchy, Student-t, any fixed nu;
    residues    int R(z) dz = 2 pi i (sum of residues above the line), R rational without real
                poles (a Cauchy law times a rational reward);
    cauchy log  int log((z - m)^2 + h^2) dz / (pi (1 + z^2)) = log(m^2 + (1 + h)^2), h >= 0
                (the Poisson integral of the harmonic log|z - w|^2): the Cauchy KL;
    logit       z = log(v / (1 - v)) onto (0, 1), where e^L0 dz becomes a Beta form
                (the logistic law: dv itself), then Beta integrals with log powers;
    kink        split at z = 0 (|z|, sign z) onto two half-lines, then Gamma integrals;
                a DiracDelta(l(z)) term gives its value at the root of l over |l'|.
                A second kink r != 0 (|x - mu'| of a KL, r = (mu' - mu)/b) is taken by
                cases: r = t and r = -t with t > 0, each split at both kinks, a bounded
                piece (k1, k2) as int_0^oo g(k1 + u) du - int_0^oo g(k2 + u) du (or toward
                -oo, whichever converges); then, with R+(t), R-(t) the two cases,
                E = (R+(|r|) + R-(|r|))/2 + sign(r) (R+(|r|) - R-(|r|))/2,
                exact for r != 0 and at r = 0 by continuity in r (dominated convergence).
"""

from __future__ import annotations

import sympy as sp

from .integrals import RouteDoesNotApply, TermForm, beta_integral, gamma_integral, parse_term, provably_positive
from .integrals import split_log_density

__all__ = ["standardize", "location_scale_routes"]

_ARGUMENT_HEADS = (sp.Abs, sp.sign, sp.exp, sp.log, sp.cos, sp.sin, sp.tanh, sp.atan)


def _arguments(expr: sp.Expr, x: sp.Symbol):
    for node in sp.preorder_traversal(expr):
        if isinstance(node, _ARGUMENT_HEADS) and node.args[0].has(x):
            yield node.args[0]
        elif node.is_Pow and node.base.has(x) and not node.exp.has(x):
            yield node.base


def _candidates(log_density: sp.Expr, x: sp.Symbol):
    """(c, b) guesses: a linear argument A x + B gives (-B/A, 1/A); a quadratic one
    A x^2 + B x + C gives its vertex and sqrt(h / A), h its value there."""
    seen = []
    for arg in _arguments(log_density, x):
        try:
            poly = sp.Poly(sp.expand(arg), x)
        except sp.PolynomialError:
            continue
        if poly.degree() == 1:
            A, B = poly.coeff_monomial(x), poly.coeff_monomial(1)
            guess = (sp.cancel(-B / A), sp.cancel(1 / A))
        elif poly.degree() == 2:
            A, B, C = (poly.coeff_monomial(x**k) for k in (2, 1, 0))
            c = sp.cancel(-B / (2 * A))
            guess = (c, sp.sqrt(sp.cancel((C - B**2 / (4 * A)) / A)))
        else:
            continue
        if guess not in seen:
            seen.append(guess)
            yield guess


def _scales(b: sp.Expr, shifted: sp.Expr, z: sp.Symbol):
    """b or -b, whichever is provably positive; then |k|^(-1/p) for terms k |z|^p, k z^p."""
    for s in (b, -b):
        if provably_positive(s):
            yield s
    for term in sp.Add.make_args(sp.expand(shifted)):
        k, dep = term.as_independent(z, as_Add=False)
        base, p = (dep.base, dep.exp) if dep.is_Pow else (dep, sp.Integer(1))
        if base in (z, sp.Abs(z)) and p.is_number and p > 0 and k != 0:
            s = sp.Abs(k) ** (-1 / p)
            if provably_positive(s):
                yield s
    yield sp.Integer(1)


def _theta_free(expr: sp.Expr, params) -> sp.Expr | None:
    expr = sp.expand(sp.expand_log(expr, force=False))
    if not expr.free_symbols & set(params):
        return expr
    expr = sp.simplify(expr)
    return None if expr.free_symbols & set(params) else expr


def standardize(log_density: sp.Expr, x: sp.Symbol, z: sp.Symbol):
    """(c, b, L0(z)) with L(c + b z) + log b = L0(z) free of every symbol but z, b > 0;
    or ``RouteDoesNotApply`` when no location and scale read off L make it so."""
    params = log_density.free_symbols - {x}
    for c, b in _candidates(log_density, x):
        shifted = log_density.subs(x, c + z)
        for s in _scales(b, shifted, z):
            L0 = _theta_free(log_density.subs(x, c + s * z) + sp.log(s), params)
            if L0 is not None and L0.has(z):
                return c, s, L0
    raise RouteDoesNotApply("the log-density is not a fixed density moved and scaled "
                            "(no location c and scale b make L(c + b z) + log b free of theta)")


def _quadratic_power(L0: sp.Expr, z: sp.Symbol):
    """(K, p, Q) with L0 = K - p log Q(z), Q = a z^2 + g, a, g, p > 0; else None."""
    K, dep = sp.expand(L0).as_independent(z, as_Add=True)
    p, log_q = dep.as_independent(z, as_Add=False)
    if not isinstance(log_q, sp.log):
        return None
    try:
        poly = sp.Poly(log_q.args[0], z)
    except sp.PolynomialError:
        return None
    a, b0, g = (poly.coeff_monomial(z**k) for k in (2, 1, 0))
    if poly.degree() != 2 or b0 != 0 or not (provably_positive(a) and provably_positive(g)):
        return None
    if not provably_positive(-p):
        return None
    return K, -p, log_q.args[0]


def _student_term(coefficient, n: int, p: sp.Expr, Q: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """coefficient * int z^n Q^(-p) dz over the line, Q = a z^2 + g."""
    if n % 2:
        return sp.Integer(0)
    a, g = Q.coeff(z, 2), Q.subs(z, 0)
    j = sp.Rational(n, 2)
    if not provably_positive(p - j - sp.Rational(1, 2)):
        raise RouteDoesNotApply(f"int z^{n} ({Q})^(-{p}) dz diverges (or its convergence is not shown)")
    k, s, r = g / a, j + sp.Rational(1, 2), p - j - sp.Rational(1, 2)
    return coefficient * g ** (-p) * k**s * sp.gamma(s) * sp.gamma(r) / sp.gamma(s + r)


def _roots(factor: sp.Expr, z: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(upper, lower) roots of a quadratic in z without real roots."""
    poly = sp.Poly(factor, z)
    if poly.degree() != 2:
        raise RouteDoesNotApply(f"the denominator factor {factor} is not quadratic in z")
    a, b, c = (poly.coeff_monomial(z**k) for k in (2, 1, 0))
    gap = sp.cancel(4 * a * c - b**2)
    if not provably_positive(gap):
        raise RouteDoesNotApply(f"cannot show {factor} has no real roots")
    root = sp.I * sp.sqrt(gap) / (2 * abs(a))
    return -b / (2 * a) + root, -b / (2 * a) - root


def residues(rational: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """int_R P/Q dz = 2 pi i (sum of the residues in the upper half-plane), for Q without
    real roots, each of its factors a quadratic in z, and deg Q >= deg P + 2."""
    num, den = sp.fraction(sp.together(rational))
    if sp.Poly(den, z).degree() < sp.Poly(num, z).degree() + 2:
        raise RouteDoesNotApply(f"{rational} does not decay like 1/z^2: the integral diverges")
    scale, listed = sp.factor_list(den, z)
    merged: dict = {}
    for factor, m in listed:  # factor_list may list one factor twice
        merged[factor] = merged.get(factor, 0) + m
    factors = list(merged.items())
    total = sp.Integer(0)
    for factor, m in factors:
        upper, lower = _roots(factor, z)
        others = sp.Mul(*(f**k for f, k in factors if f != factor))
        g = num / (scale * sp.Poly(factor, z).LC() ** m * (z - lower) ** m * others)
        total += sp.diff(g, z, m - 1).subs(z, upper) / sp.factorial(m - 1)
    value = sp.simplify(sp.expand_complex(2 * sp.pi * sp.I * total))
    if value.has(sp.I):
        raise RouteDoesNotApply("the residues did not sum to a real value in closed form")
    return value


def _cauchy_log(coefficient, arg: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """coefficient * E[log arg(z)] under 1/(pi (1 + z^2)), arg a quadratic without real roots."""
    poly = sp.Poly(sp.expand(arg), z)
    if poly.degree() != 2:
        raise RouteDoesNotApply(f"log({arg}) is not the log of a quadratic in z")
    a, b, c = (poly.coeff_monomial(z**k) for k in (2, 1, 0))
    m = -b / (2 * a)
    h2 = sp.cancel(c / a - m**2)
    if not (provably_positive(a) and provably_positive(h2)):
        raise RouteDoesNotApply(f"cannot show {arg} has no real roots")
    return coefficient * (sp.log(a) + sp.log(m**2 + (1 + sp.sqrt(h2)) ** 2))


def _student(f_z: sp.Expr, L0: sp.Expr, z: sp.Symbol) -> sp.Expr:
    shape = _quadratic_power(L0, z)
    if shape is None:
        raise RouteDoesNotApply("e^L0 is not (a z^2 + g)^(-p)")
    K, p, Q = shape
    cauchy = sp.expand(Q / Q.coeff(z, 2)) == z**2 + 1 and p == 1
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(sp.expand_log(f_z, force=False))):
        coefficient, dep = term.as_independent(z, as_Add=False)
        if isinstance(dep, sp.log) and cauchy:
            total += sp.pi / Q.coeff(z, 2) * _cauchy_log(coefficient, dep.args[0], z)
            continue
        num, den = sp.fraction(sp.together(dep))
        degree = sp.Poly(den, z).degree() if den.has(z) else 0
        m = degree // 2
        if degree % 2 or sp.cancel(den / Q**m).has(z):
            if not p.is_Integer:
                raise RouteDoesNotApply(f"term {term} is not a polynomial over a power of {Q}")
            total += residues(coefficient * dep / Q**p, z)
            continue
        unit = sp.cancel(den / Q**m)
        for (n,), c in sp.Poly(num, z).terms():
            total += _student_term(coefficient * c / unit, n, p + m, Q, z)
    return sp.exp(K) * total


def _unit_logs(expr: sp.Expr, v: sp.Symbol) -> sp.Expr:
    """log(prod) -> sum of logs where every factor is v, 1 - v or a positive number: valid on
    (0, 1), where SymPy cannot tell that 1 - v > 0."""
    def split(e):
        arg = sp.factor(sp.together(e.args[0]))
        factors = sp.Mul.make_args(arg)
        pieces = []
        for fct in factors:
            base, k = (fct.base, fct.exp) if fct.is_Pow else (fct, sp.Integer(1))
            if base in (v, 1 - v) or provably_positive(base):
                pieces.append(k * sp.log(base))
            elif sp.expand(-base) == 1 - v and k.is_integer and k % 2 == 0:
                pieces.append(k * sp.log(1 - v))
            else:
                return e
        return sp.Add(*pieces)

    return expr.replace(lambda e: isinstance(e, sp.log), split)


def _unit_term(term: sp.Expr, v: sp.Symbol) -> TermForm:
    """A rational function of v (with log factors) as a TermForm on (0, 1): (v - 1)^k is
    (-1)^k (1 - v)^k, which SymPy's factor() writes the other way round."""
    form = TermForm()
    for factor in sp.Mul.make_args(sp.factor(sp.together(term))):
        base, k = (factor.base, factor.exp) if factor.is_Pow else (factor, sp.Integer(1))
        if base == v - 1 and k.is_integer:
            form.coefficient *= (-1) ** k
            form.complement += k
        else:
            form = form.times(parse_term(factor, v))
    return form


def _logit(f_z: sp.Expr, L0: sp.Expr, z: sp.Symbol) -> sp.Expr:
    v = sp.Dummy("v", positive=True)
    at = sp.log(v) - sp.log(1 - v)

    def onto(e):  # z -> logit(v), with exp(k z) written as a rational function of v
        e = e.subs(z, at)
        return e.replace(lambda a: isinstance(a, sp.exp), lambda a: sp.exp(sp.expand(a.args[0])))

    L_v = _unit_logs(sp.expand_log(onto(L0), force=False), v) - sp.log(v) - sp.log(1 - v)
    density = split_log_density(L_v, v)
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(_unit_logs(onto(f_z), v))):
        total += beta_integral(_unit_term(term, v).times(density), v)
    return total


def _deltas(f_z: sp.Expr, L0: sp.Expr, z: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(value of the DiracDelta terms, the rest of f)."""
    value, rest = sp.Integer(0), sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(f_z)):
        deltas = [d for d in sp.Mul.make_args(term) if isinstance(d, sp.DiracDelta)]
        if not deltas:
            rest += term
            continue
        if len(deltas) != 1 or len(deltas[0].args) != 1 or sp.Poly(deltas[0].args[0], z).degree() != 1:
            raise RouteDoesNotApply(f"term {term} holds a DiracDelta that is not of a linear function")
        arg = deltas[0].args[0]
        root = sp.solve(arg, z)[0]
        g = (term / deltas[0]) * sp.exp(L0)
        value += g.subs(z, root) / sp.Abs(sp.diff(arg, z))
    return value, rest


def _linear_root(arg: sp.Expr, z: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(A, r) with arg = A (z - r), for an argument of |.| or sign linear in z."""
    try:
        poly = sp.Poly(sp.expand(arg), z)
    except sp.PolynomialError:
        poly = None
    if poly is None or poly.degree() != 1:
        raise RouteDoesNotApply(f"the kink argument {arg} is not linear in z")
    A = poly.coeff_monomial(z)
    return A, sp.cancel(-poly.coeff_monomial(1) / A)


def _kink_atoms(expr: sp.Expr, z: sp.Symbol):
    return [a for a in expr.atoms(sp.Abs, sp.sign) if a.args[0].has(z)]


def _resolve(expr: sp.Expr, z: sp.Symbol, below: tuple, above: tuple) -> sp.Expr:
    """expr on a piece where z > k for k in ``below`` and z < k for k in ``above``:
    |A (z - k)| = sign(A) A (z - k) (z > k), sign(A (z - k)) = sign(A), and mirrored."""
    mapping = {}
    for atom in _kink_atoms(expr, z):
        A, k = _linear_root(atom.args[0], z)
        side = 1 if k in below else -1 if k in above else None
        sign_a = 1 if provably_positive(A) else -1 if provably_positive(-A) else None
        if side is None or sign_a is None:
            raise RouteDoesNotApply(f"cannot tell the sign of {atom.args[0]} on the piece")
        value = side * sign_a * atom.args[0] if isinstance(atom, sp.Abs) else sp.Integer(side * sign_a)
        mapping[atom] = value
    return expr.xreplace(mapping)


def _half_line(g: sp.Expr, L0: sp.Expr, z: sp.Symbol, start: sp.Expr, direction: int) -> sp.Expr:
    """int_0^oo g(start + direction u) e^L0(start + direction u) du (g, L0 resolved)."""
    u = sp.Dummy("u", positive=True)
    at = start + direction * u
    density = split_log_density(sp.expand(L0.subs(z, at)), u)
    return sp.Add(*(gamma_integral(parse_term(term, u).times(density), u)
                    for term in sp.Add.make_args(sp.expand(g.subs(z, at)))))


def _between_kinks(g, L0, z, k1, k2, below, above) -> sp.Expr:
    """int_k1^k2 g e^L0 dz on the piece between two kinks: a difference of two half-line
    integrals, toward +oo or toward -oo, whichever the Gamma route shows convergent."""
    g, L0 = _resolve(g, z, below, above), _resolve(L0, z, below, above)
    try:
        return _half_line(g, L0, z, k1, 1) - _half_line(g, L0, z, k2, 1)
    except RouteDoesNotApply:
        return _half_line(g, L0, z, k2, -1) - _half_line(g, L0, z, k1, -1)


def _on_three_pieces(f: sp.Expr, L0: sp.Expr, z: sp.Symbol, k1, k2) -> sp.Expr:
    """int_R f e^L0 dz with kinks at k1 < k2 only."""
    left = _half_line(_resolve(f, z, (), (k1, k2)), _resolve(L0, z, (), (k1, k2)), z, k1, -1)
    right = _half_line(_resolve(f, z, (k1, k2), ()), _resolve(L0, z, (k1, k2), ()), z, k2, 1)
    return left + _between_kinks(f, L0, z, k1, k2, (k1,), (k2,)) + right


def _second_kink(rest: sp.Expr, L0: sp.Expr, z: sp.Symbol) -> sp.Expr | None:
    """int rest e^L0 dz where rest has a kink r != 0 (and L0, rest kinks at 0 at most), by
    the cases r = t, r = -t (t > 0) of the module docstring; None when there is none."""
    roots = {}
    for atom in _kink_atoms(rest, z):
        A, r = _linear_root(atom.args[0], z)
        if r != 0:
            roots.setdefault(r, []).append((atom, A))
    if not roots:
        return None
    if len(roots) > 1 or any(_linear_root(a.args[0], z)[1] != 0 for a in _kink_atoms(L0, z)):
        raise RouteDoesNotApply(f"kinks at {sorted(roots, key=str)} besides z = 0: one is split, not more")
    ((r, atoms),) = roots.items()
    t = sp.Dummy("t", positive=True)
    cases = []
    for s in (1, -1):
        moved = {atom: (sp.Abs(A) * sp.Abs(z - s * t) if isinstance(atom, sp.Abs)
                        else sp.sign(A) * sp.sign(z - s * t)) for atom, A in atoms}
        kinks = (0, t) if s == 1 else (-t, 0)
        cases.append(_on_three_pieces(rest.xreplace(moved), L0, z, *kinks))
    from .simplification import is_zero

    even, odd = (cases[0] + cases[1]) / 2, (cases[0] - cases[1]) / 2
    at = {t: sp.Abs(r)}
    if is_zero(odd):
        return even.xreplace(at)
    return even.xreplace(at) + sp.sign(r) * odd.xreplace(at)


def _kink(f_z: sp.Expr, L0: sp.Expr, z: sp.Symbol) -> sp.Expr:
    if not (L0.has(sp.Abs, sp.sign) or f_z.has(sp.Abs, sp.sign, sp.DiracDelta)):
        raise RouteDoesNotApply("no |z|, sign(z) or DiracDelta to split at")
    total, rest = _deltas(f_z, L0, z)
    two = _second_kink(rest, L0, z)
    if two is not None:
        return total + two
    u = sp.Dummy("u", positive=True)
    for side in (u, -u):
        density = split_log_density(sp.expand(L0.subs(z, side)), u)
        for term in sp.Add.make_args(sp.expand(rest.subs(z, side))):
            total += gamma_integral(parse_term(term, u).times(density), u)
    return total


def location_scale_routes(f: sp.Expr, log_density: sp.Expr, x: sp.Symbol):
    """(route, thunk) pairs: each thunk standardizes (once), then closes int f e^L dx."""
    z = sp.Dummy("z", real=True)
    found = []

    def on(route):
        def thunk():
            if not found:
                found.append(standardize(log_density, x, z))
            c, b, L0 = found[0]
            return sp.expand(route(f.subs(x, c + b * z), L0, z)), (name_of[route],)
        return thunk

    name_of = {_student: "student integral", _logit: "logit change onto beta", _kink: "split at the kink"}
    for route, name in name_of.items():
        yield name, on(route)
