"""Vector outcomes and state-conditional policies: exact expectations over R^d, products of
coordinate supports, the simplex, and a distribution of states.

A vector family has a tuple of outcome symbols (x_1, ..., x_d) and a support that is a
product (one coordinate support each: the real line, an interval, counts or a finite tuple)
or ``SIMPLEX`` (x_i > 0, sum_i x_i = 1, the density taken with respect to x_1..x_(d-1)).

    independent coordinates   log pi = C + sum_i L_i(x_i): every term c prod_i g_i(x_i) of f
                              gives  c e^C prod_i int g_i(x_i) e^(L_i(x_i)) dx_i,  each a 1-D
                              expectation by the coordinate's own routes
    gaussian moments          log pi quadratic in x on R^d, -x^T P x / 2 + b^T x + c with P
                              shown positive definite, and f a polynomial in x: Z and the
                              moments of N(P^-1 b, P^-1), E[y_i1 ... y_ik] by Isserlis'
                              pairings (a full-covariance Gaussian in any parameterization,
                              its Cholesky factor among them)
    fubini                    otherwise one coordinate at a time, the last first, each by the
                              1-D routes with the other coordinates as symbols (for a Gaussian:
                              completing the square coordinate by coordinate)
    stick-breaking            the simplex onto (0, 1)^(d-1): x_k = v_k prod_{j<k} (1 - v_j),
                              x_d = prod_{j<d} (1 - v_j), |dx/dv| = prod_j (1 - v_j)^(d-1-j);
                              a Dirichlet density is then a product of Beta densities in v

A family with ``states`` is a policy pi(a | s): expectations are over s ~ mu (free of theta)
and a ~ pi(. | s),

    finite states     E[f] = sum_k w_k E_{a ~ pi(.|s_k)}[f(s_k, a)]
    gaussian states   E[f] = E_{s ~ N(m, v)}[ E_{a ~ pi(.|s)}[f(s, a)] ]  (the inner closed
                      form in s, then the outer 1-D Gaussian routes)

so that F = E_s[F(s)], the KL is averaged over states and the policy gradient of a reward
r(s, a) is exact, by the same code as for a one-state family.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache

import sympy as sp

from .errors import NPGInputError

__all__ = ["SIMPLEX", "Simplex", "States", "check_vector_support", "coordinate_supports",
           "support_set", "inside_unit_cube", "stick_breaking", "onto_unit_cube",
           "split_by_coordinate", "vector_expectation"]


@dataclass(frozen=True)
class Simplex:
    """The support {x : x_i > 0, sum_i x_i = 1} of a vector outcome (use ``SIMPLEX``)."""

    def __repr__(self) -> str:
        return "SIMPLEX"


SIMPLEX = Simplex()


@dataclass(frozen=True)
class States:
    """The distribution of a policy's state symbol: finite (values with weights summing to 1)
    or Gaussian N(mean, variance). Build with ``States.finite`` or ``States.gaussian``."""

    symbol: sp.Symbol
    kind: str  # "finite" or "gaussian"
    values: tuple = ()
    weights: tuple = ()
    mean: sp.Expr = sp.Integer(0)
    variance: sp.Expr = sp.Integer(1)

    @classmethod
    def finite(cls, symbol: sp.Symbol, weights) -> "States":
        """``weights``: {state value: weight} (numbers, weights > 0 summing to exactly 1)."""
        if not isinstance(weights, dict) or not weights:
            raise NPGInputError(f"finite states need a non-empty dict {{value: weight}}, got {weights!r}")
        values = tuple(sp.sympify(v) for v in weights)
        probs = tuple(sp.nsimplify(sp.sympify(w)) for w in weights.values())
        if not all(v.is_number and v.is_real for v in values):
            raise NPGInputError(f"state values must be real numbers, got {values}")
        if not all(w.is_number and w.is_positive for w in probs):
            raise NPGInputError(f"state weights must be positive numbers, got {probs}")
        if sp.simplify(sum(probs) - 1) != 0:
            raise NPGInputError(f"state weights must sum to 1, they sum to {sum(probs)}")
        return cls(_state_symbol(symbol), "finite", values, probs)

    @classmethod
    def gaussian(cls, symbol: sp.Symbol, mean, variance) -> "States":
        """s ~ N(mean, variance): numbers, variance > 0."""
        mean, variance = sp.sympify(mean), sp.sympify(variance)
        if not (mean.is_number and mean.is_real):
            raise NPGInputError(f"the state mean must be a real number, got {mean}")
        if not (variance.is_number and variance.is_positive):
            raise NPGInputError(f"the state variance must be a positive number, got {variance}")
        return cls(_state_symbol(symbol), "gaussian", mean=mean, variance=variance)

    def log_density(self) -> sp.Expr:
        """log mu(s) of a Gaussian state distribution."""
        s = self.symbol
        return -(s - self.mean) ** 2 / (2 * self.variance) - sp.log(2 * sp.pi * self.variance) / 2

    def __str__(self) -> str:
        if self.kind == "finite":
            pairs = ", ".join(f"{v}: {w}" for v, w in zip(self.values, self.weights))
            return f"{self.symbol} ~ {{{pairs}}}"
        return f"{self.symbol} ~ N({self.mean}, {self.variance})"


def _state_symbol(symbol) -> sp.Symbol:
    if not isinstance(symbol, sp.Symbol) or symbol.is_real is not True:
        raise NPGInputError(f"the state must be a SymPy symbol declared real=True, got {symbol!r}")
    return symbol


def coordinate_supports(family) -> tuple:
    """The per-coordinate supports of a product support (None: the real line)."""
    support = family.support
    d = len(family.outcome)
    if support is None or support == sp.Reals:
        return (None,) * d
    return tuple(support)


def check_vector_support(family) -> None:
    """``NPGInputError`` unless the outcome is a tuple of distinct symbols and the support
    ``SIMPLEX``, None / Reals (R^d) or a tuple of d coordinate supports."""
    from .families import classify_support

    xs = family.outcome
    if len(xs) < 1 or not all(isinstance(x, sp.Symbol) for x in xs) or len(set(xs)) != len(xs):
        raise NPGInputError(f"a vector outcome must be a tuple of distinct SymPy symbols, got {xs!r}")
    support = family.support
    if isinstance(support, Simplex):
        if len(xs) < 2:
            raise NPGInputError("the simplex needs at least 2 coordinates")
        return
    if support is None or support == sp.Reals:
        return
    if not isinstance(support, tuple) or len(support) != len(xs):
        raise NPGInputError(
            f"the support of a {len(xs)}-coordinate outcome must be npg_sym.SIMPLEX, None (R^d) or a "
            f"tuple of {len(xs)} coordinate supports, got {support!r}")
    for s in support:
        classify_support(s)


def support_set(family) -> sp.Set:
    """The support as a SymPy set: a ProductSet, or the simplex as a ConditionSet."""
    from .families import Family

    xs = family.outcome
    if isinstance(family.support, Simplex):
        cube = sp.ProductSet(*([sp.Interval.open(0, 1)] * len(xs)))
        return sp.ConditionSet(sp.Tuple(*xs), sp.Eq(sp.Add(*xs), 1), cube)
    sets = []
    for x, s in zip(xs, coordinate_supports(family)):
        sets.append(Family("coordinate", (), x, sp.Integer(0), s, "").support_set)
    return sp.ProductSet(*sets)


# -- splitting a log-density and an integrand by coordinate --------------------------------


def _coordinates_of(expr: sp.Expr, xs) -> frozenset:
    return frozenset(expr.free_symbols & set(xs))


def split_by_coordinate(log_density: sp.Expr, xs) -> tuple[sp.Expr, dict] | None:
    """(C, {x_i: L_i}) with log_density = C + sum_i L_i(x_i) (C free of every x), or None
    when a term mixes coordinates (after expanding it)."""
    const, parts = sp.Integer(0), {x: sp.Integer(0) for x in xs}
    for term in sp.Add.make_args(log_density):
        pieces = [term]
        if len(_coordinates_of(term, xs)) > 1:
            pieces = sp.Add.make_args(sp.expand(term))
        for piece in pieces:
            where = _coordinates_of(piece, xs)
            if len(where) > 1:
                return None
            if where:
                parts[next(iter(where))] += piece
            else:
                const += piece
    return const, parts


def _factor_term(term: sp.Expr, xs) -> tuple[sp.Expr, dict] | None:
    """(c, {x_i: g_i}) with term = c prod_i g_i(x_i), or None."""
    c, factors = sp.Integer(1), {}
    for factor in sp.Mul.make_args(term):
        where = _coordinates_of(factor, xs)
        if len(where) > 1:
            split = sp.expand_power_exp(sp.expand(factor)) if isinstance(factor, sp.exp) else factor
            if split == factor or split.is_Add:
                return None
            sub = _factor_term(split, xs)
            if sub is None:
                return None
            c *= sub[0]
            for x, g in sub[1].items():
                factors[x] = factors.get(x, sp.Integer(1)) * g
        elif where:
            x = next(iter(where))
            factors[x] = factors.get(x, sp.Integer(1)) * factor
        else:
            c *= factor
    return c, factors


# -- the simplex ------------------------------------------------------------------------------


@cache
def _unit_symbols(n: int) -> tuple[sp.Symbol, ...]:
    # Dummies with fixed indices: the same symbols on every call, so 1-D results are cached.
    return tuple(sp.Dummy(f"v{k + 1}", positive=True, dummy_index=9_240_000 + k) for k in range(n))


def stick_breaking(xs) -> tuple[tuple[sp.Symbol, ...], dict, sp.Expr]:
    """(v, {x_k: x_k(v)}, log |dx/dv|) for the simplex over ``xs`` (module docstring)."""
    d = len(xs)
    v = _unit_symbols(d - 1)
    rest, mapping = sp.Integer(1), {}
    for k in range(d - 1):
        mapping[xs[k]] = rest * v[k]
        rest = rest * (1 - v[k])
    mapping[xs[-1]] = rest
    log_jacobian = sp.Add(*((d - 2 - k) * sp.log(1 - v[k]) for k in range(d - 1)))
    return v, mapping, log_jacobian


def inside_unit_cube(vs) -> dict:
    """{v: u / (1 + u)} with u > 0: every point of the open cube (0, 1)^n, so that a sign
    shown for every u > 0 holds on the whole cube."""
    out = {}
    for v in vs:
        u = sp.Dummy("u", positive=True)
        out[v] = u / (1 + u)
    return out


def _sign_on_cube(p: sp.Expr, vs) -> int:
    """+1 or -1 when p keeps that sign for every v in (0, 1)^n (shown with v = u / (1 + u),
    u > 0); 0 when not shown."""
    from .integrals import provably_positive

    at = sp.together(p.xreplace(inside_unit_cube(vs)))
    if provably_positive(at):
        return 1
    if provably_positive(-at):
        return -1
    return 0


def _split_log(arg: sp.Expr, vs) -> sp.Expr:
    """log(arg) as a sum of logs of positive factors, each in one v where it can be shown
    (arg > 0 on the cube): log((1 - v1)(1 - v2)) -> log(1 - v1) + log(1 - v2)."""
    try:
        coeff, factors = sp.factor_list(sp.together(arg))
    except (sp.PolynomialError, sp.GeneratorsNeeded, NotImplementedError):
        return sp.log(arg)
    logs, rest = sp.Integer(0), sp.sympify(coeff)
    for p, m in factors:
        if not p.free_symbols & set(vs):
            rest *= p**m
            continue
        sign = _sign_on_cube(p, vs)
        if sign == 0:
            return sp.log(arg)
        logs += m * sp.log(sp.expand(sign * p))
        rest *= sign**m
    return (logs + sp.log(rest)) if rest != 1 else logs


def _on_the_cube(expr: sp.Expr, mapping: dict, vs) -> sp.Expr:
    moved = sp.sympify(expr).xreplace(mapping)
    return moved.replace(lambda e: isinstance(e, sp.log) and e.args[0].free_symbols & set(vs),
                         lambda e: _split_log(e.args[0], vs))


def onto_unit_cube(family, f: sp.Expr, log_prob: sp.Expr):
    """(v, f(x(v)), log pi(x(v)) + log |dx/dv|) for a simplex family."""
    vs, mapping, log_jacobian = stick_breaking(family.outcome)
    return vs, _on_the_cube(f, mapping, vs), _on_the_cube(log_prob, mapping, vs) + log_jacobian


# -- expectations -----------------------------------------------------------------------------


def _coordinate_family(x: sp.Symbol, support, log_density: sp.Expr, owner):
    """The 1-D family of one coordinate, with the parameters and declared ranges of its
    owner (the vector family; None for a state's law)."""
    from .families import Family

    if owner is None:
        return Family(f"coordinate {x}", (), x, log_density, support, "")
    return Family(f"coordinate {x}", owner.params, x, log_density, support, "",
                  declared_ranges=owner.declared_ranges)


@cache
def _coordinate_integral(fam, g: sp.Expr) -> tuple[sp.Expr, tuple[str, ...]]:
    """int g(x) e^(L(x)) dx over one coordinate (L = fam.log_prob, not normalized)."""
    from .routes import exact_expectation

    result = exact_expectation(fam, g)
    return result.value, result.routes


def _independent(coords, f, const, parts, owner):
    """E[f] when log pi = C + sum_i L_i(x_i); None when a term of f mixes coordinates."""
    from .simplification import tidy

    xs = [x for x, _ in coords]
    families = {x: _coordinate_family(x, s, parts[x], owner) for x, s in coords}
    used = ["independent coordinates"]
    z = {}
    for x in xs:
        z[x], routes = _coordinate_integral(families[x], sp.Integer(1))
        used += routes
    # Z = e^C prod_i Z_i, and each term c prod_i int g_i e^(L_i) = Z c prod_i E_i[g_i] with
    # E_i[g] = int g e^(L_i) / Z_i: a KL is then a sum of per-coordinate terms, not one fraction.
    total_z = tidy(sp.exp(const) * sp.Mul(*z.values()))
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(f)):
        split = _factor_term(term, xs)
        if split is None:
            return None
        c, factors = split
        value = c
        for x, g in factors.items():
            integral, routes = _coordinate_integral(families[x], g)
            value *= _normalized_moment(integral, z[x])
            used += routes
        total += value
    return total_z * total, tuple(dict.fromkeys(used))


@cache
def _normalized_moment(integral: sp.Expr, z: sp.Expr) -> sp.Expr:
    from .simplification import tidy

    return tidy(integral / z)


def _fubini(coords, f, log_density, owner):
    """int f e^L over the product, one coordinate at a time (the last first)."""
    from .routes import exact_expectation

    integrand, density, used = f, log_density, []
    for x, support in reversed(coords):
        fam = _coordinate_family(x, support, density, owner)
        result = exact_expectation(fam, integrand)
        integrand, density = result.value, sp.Integer(0)
        used += result.routes
    order = ", then ".join(str(x) for x, _ in reversed(coords))
    return integrand, (f"fubini ({order})", *dict.fromkeys(used))


@cache
def _gaussian_form(xs: tuple, log_density):
    """(Sigma, mean, Z) when log_density = -x^T P x / 2 + b^T x + c with P shown positive
    definite (its leading minors provably positive): Sigma = P^-1, mean = Sigma b,
    Z = e^(c + b^T Sigma b / 2) sqrt((2 pi)^d / det P). None otherwise."""
    from .simplification import tidy

    at_zero = {x: 0 for x in xs}
    P = (-sp.hessian(log_density, xs)).applyfunc(sp.cancel)
    if P.free_symbols & set(xs):
        return None
    b = sp.Matrix([sp.diff(log_density, x).xreplace(at_zero) for x in xs])
    c = log_density.xreplace(at_zero)
    x = sp.Matrix(xs)
    if sp.expand(log_density - (-(x.T * P * x)[0] / 2 + (b.T * x)[0] + c)) != 0:
        return None
    if not _positive_definite(P):
        return None
    sigma = P.inv().applyfunc(sp.cancel)
    mean = (sigma * b).applyfunc(sp.cancel)
    z = tidy(sp.exp(c + (b.T * sigma * b)[0] / 2) * sp.sqrt((2 * sp.pi) ** len(xs) / sp.cancel(P.det())))
    return sigma, mean, z


def _positive_definite(P: sp.Matrix) -> bool:
    """Sylvester: the leading principal minors, or the trailing ones (the pivots of completing
    the square from the last coordinate), all provably positive."""
    from .integrals import provably_positive

    n = P.rows
    for minor in (lambda k: P[:k, :k], lambda k: P[n - k:, n - k:]):
        if all(provably_positive(sp.cancel(minor(k).det())) for k in range(1, n + 1)):
            return True
    return False


def _isserlis(indices: tuple, sigma) -> sp.Expr:
    """E[y_i1 ... y_ik] for y ~ N(0, Sigma): the sum over pairings of prod Sigma_ab (Isserlis)."""
    if not indices:
        return sp.Integer(1)
    if len(indices) % 2:
        return sp.Integer(0)
    first, rest = indices[0], indices[1:]
    return sp.Add(*(sigma[first, rest[j]] * _isserlis(rest[:j] + rest[j + 1:], sigma)
                    for j in range(len(rest))))


def _gaussian_moments(coords, f, log_density):
    """E[f] by the moments of N(mean, Sigma) when log pi is quadratic in x (every coordinate
    on the real line) and f is a polynomial in x; None otherwise."""
    xs = [x for x, _ in coords]
    if any(s is not None and s != sp.Reals for _, s in coords):
        return None
    form = _gaussian_form(tuple(xs), log_density)
    if form is None:
        return None
    sigma, mean, z = form
    ys = sp.symbols(f"y_npg1:{len(xs) + 1}", real=True)
    try:
        poly = sp.Poly(sp.expand(sp.sympify(f).xreplace({x: m + y for x, m, y in zip(xs, mean, ys)})), *ys)
    except sp.PolynomialError:
        return None
    moments = {}
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        indices = tuple(i for i, p in enumerate(powers) for _ in range(p))
        if indices not in moments:
            moments[indices] = _isserlis(indices, sigma)
        total += coeff * moments[indices]
    return z * total, ("gaussian moments (Isserlis)",)


def _product(coords, f, log_density, owner):
    from .routes import prepare_log_density

    log_density = prepare_log_density(log_density)
    split = split_by_coordinate(log_density, [x for x, _ in coords])
    if split is not None:
        done = _independent(coords, f, *split, owner)
        if done is not None:
            return done
    done = _gaussian_moments(coords, f, log_density)
    if done is not None:
        return done
    return _fubini(coords, f, log_density, owner)


def _conditional(family, f: sp.Expr, log_prob: sp.Expr):
    """int f pi(a | s) da with the state (if any) a free symbol: (value, routes)."""
    from .routes import exact_expectation

    if not isinstance(family.outcome, tuple):
        one = dataclasses.replace(family, name=f"{family.name} given the state", log_prob=log_prob,
                                  states=None)
        result = exact_expectation(one, f)
        return result.value, result.routes
    if isinstance(family.support, Simplex):
        vs, f, log_prob = onto_unit_cube(family, f, log_prob)
        coords = [(v, sp.Interval(0, 1)) for v in vs]
        value, routes = _product(coords, f, log_prob, family)
        return value, (f"stick-breaking onto (0, 1)^{len(vs)}", *routes)
    coords = list(zip(family.outcome, coordinate_supports(family)))
    return _product(coords, f, log_prob, family)


def vector_expectation(family, f: sp.Expr, log_prob: sp.Expr) -> tuple[sp.Expr, tuple[str, ...]]:
    """E[f] = int f pi (a vector outcome, or a state distribution, or both); ``log_prob`` is
    the family's log-density at the parameters wanted. Raises ``NotClosedError`` when a
    1-D route does not close."""
    states = family.states
    if states is None:
        return _conditional(family, f, log_prob)
    s = states.symbol
    if states.kind == "finite":
        total, used = sp.Integer(0), ["finite states"]
        for value, weight in zip(states.values, states.weights):
            at = {s: value}
            inner, routes = _conditional(family, f.xreplace(at), log_prob.xreplace(at))
            total += weight * inner
            used += routes
        return total, tuple(dict.fromkeys(used))
    from .routes import exact_expectation

    inner, routes = _conditional(family, f, log_prob)
    outer = exact_expectation(_coordinate_family(s, None, states.log_density(), None), inner)
    return outer.value, tuple(dict.fromkeys(("gaussian states", *routes, *outer.routes)))
