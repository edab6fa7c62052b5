"""Exact expectations E_{x ~ pi_theta}[f(x)] over any supported outcome space, by routes.

The cheapest route that closes wins; a route that does not apply says why, and when none
closes ``NotClosedError`` names the quantity and every route tried with its reason.
An unevaluated ``Integral`` or ``Sum`` is never returned.

    support                  routes, in order (after the constant route)
    finite tuple             finite sum
    real line                gaussian integral, log change onto gamma (x = +-log y),
                             sympy.integrate
    half-line (a, oo)        gamma / bessel-k integral, power integral (a >= 0),
                             log change onto gaussian (x - a = e^y), sympy.integrate
    interval (a, b)          circular moments (one period of cos/sin), truncated gaussian
                             integral (erf terms), beta integral, power integral (a >= 0),
                             sympy.integrate
    counts 0, 1, 2, ...      power series, points + power series (a Piecewise that
                             singles out a few counts), sympy.summation

A transformed outcome y = T(u) (``npg_sym.outcome_map``) is taken onto its base first:
E_y[f(y)] = E_u[f(T(u))], by the base's routes. A vector outcome or a family with states
goes to ``npg_sym.vector`` (independent coordinates, Fubini, stick-breaking, states), which
comes back here for each 1-D expectation.

The constant route: terms of f free of x need no integral, E[c] = c Z with Z = E[1] the
normalization (itself derived once per family and parameter point, by the routes above).
SymPy's general ``integrate``/``summation`` run last, in a child process under a time
budget (``fallback_budget``); a timed-out call is a route that did not close. Before
them, a family with declared parameter ranges (``npg_sym.declared``) has its exact routes
tried again with the parameters written inside those ranges.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Sequence

import sympy as sp

from .budget import SubprocessFailed, sympy_in_subprocess
from .errors import NotClosedError
from .expectation import gaussian_integral
from .integrals import (
    RouteDoesNotApply,
    bessel_k_integral,
    beta_integral,
    gamma_integral,
    parse_term,
    power_integral,
    provably_positive,
    split_log_density,
)
from .circular import circular_moments
from .declared import declared_substitution
from .location_scale import location_scale_routes
from .series import power_series_sum

__all__ = [
    "integration_routes",
    "ExpectationResult",
    "FallbackBudget",
    "exact_expectation",
    "normalization",
    "record_expectations",
    "fallback_budget",
    "prepare_log_density",
]

@dataclass(frozen=True)
class ExpectationResult:
    """An exact expectation and how it closed: the routes used, in order, and the seconds."""

    value: sp.Expr
    routes: tuple[str, ...]
    seconds: float


@dataclass
class FallbackBudget:
    """Seconds for SymPy's general integrate/summation: per call, and in all (None: no cap)."""

    per_call: float = 10.0
    total: float | None = None
    spent: float = 0.0


_RECORDS: ContextVar[list | None] = ContextVar("npg_expectation_records", default=None)
_BUDGET: ContextVar[FallbackBudget | None] = ContextVar("npg_fallback_budget", default=None)


@contextmanager
def record_expectations():
    """Collect the ``ExpectationResult`` of every expectation derived in the body."""
    records: list[ExpectationResult] = []
    token = _RECORDS.set(records)
    try:
        yield records
    finally:
        _RECORDS.reset(token)


@contextmanager
def fallback_budget(per_call: float = 10.0, total: float | None = None):
    """Bound SymPy's general routes in the body: ``per_call`` seconds each, ``total`` in all."""
    token = _BUDGET.set(FallbackBudget(per_call, total))
    try:
        yield _BUDGET.get()
    finally:
        _BUDGET.reset(token)


def prepare_log_density(log_prob: sp.Expr) -> sp.Expr:
    """loggamma(z) -> log(gamma(z)) (equal for z > 0), so that exp() gives gamma(z) back."""
    return log_prob.replace(
        lambda e: isinstance(e, sp.loggamma), lambda e: sp.log(sp.gamma(e.args[0]))
    )


def _short(expr, limit: int = 120) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _nonnegative(expr) -> bool:
    return sp.sympify(expr) == 0 or provably_positive(expr)


def _terms(expr: sp.Expr) -> tuple[sp.Expr, ...]:
    return sp.Add.make_args(sp.expand(expr))


def _termwise(f: sp.Expr, log_density: sp.Expr, v: sp.Symbol, routes) -> tuple[sp.Expr, tuple]:
    """Sum the terms of f exp(L), each by the first of ``routes`` ((name, fn)) that fits."""
    density = split_log_density(log_density, v)
    total, used = sp.Integer(0), []
    for term in _terms(f):
        form = parse_term(term, v).times(density)
        reasons = []
        for name, route in routes:
            try:
                total += route(form)
                used.append(name)
                break
            except RouteDoesNotApply as why:
                reasons.append(f"{why}")
        else:
            raise RouteDoesNotApply(f"term {_short(form.expr(v))}: " + "; ".join(reasons))
    return total, tuple(dict.fromkeys(used))


def _fallback(op: str, f: sp.Expr, log_density: sp.Expr, x: sp.Symbol, lo, hi):
    """SymPy's general route on f exp(L), f put over one denominator and factored (measured:
    integrate closes Cauchy and Student-t Fisher entries about twice as fast that way)."""
    integrand = sp.factor(sp.together(f)) * sp.exp(log_density)
    budget = _BUDGET.get() or FallbackBudget()
    seconds = budget.per_call
    if budget.total is not None:
        seconds = min(seconds, budget.total - budget.spent)
        if seconds <= 0.05:
            raise RouteDoesNotApply(
                f"skipped: the {budget.total:g} s budget for SymPy's general routes is spent"
            )
    start = time.perf_counter()
    try:
        value = sympy_in_subprocess(op, integrand, x, lo, hi, seconds)
    except SubprocessFailed as why:
        raise RouteDoesNotApply(str(why)) from None
    finally:
        budget.spent += time.perf_counter() - start
    return value, (f"sympy.{op}",)


def _gaussian(integrand: sp.Expr, x: sp.Symbol, route: str = "gaussian integral") -> tuple[sp.Expr, tuple]:
    try:
        return gaussian_integral(integrand, x), (route,)
    except (NotImplementedError, ValueError) as why:
        raise RouteDoesNotApply(str(why)) from None


def _gaussian_on(integrand: sp.Expr, x: sp.Symbol, lo, hi) -> tuple[sp.Expr, tuple]:
    try:
        return gaussian_integral(integrand, x, lo, hi), ("truncated gaussian integral",)
    except (NotImplementedError, ValueError) as why:
        raise RouteDoesNotApply(str(why)) from None


def _half_line(family, f, L):
    x, lo, hi = family.outcome, family.support_set.inf, family.support_set.sup
    u = sp.Dummy("u", positive=True)
    shift = lo + u if hi is sp.oo else hi - u
    f_u, L_u = f.subs(x, shift), L.subs(x, shift)
    yield "gamma / bessel-k integral", lambda: _termwise(f_u, L_u, u, [
        ("gamma integral", lambda form: gamma_integral(form, u)),
        ("bessel-k integral", lambda form: bessel_k_integral(form, u)),
    ])
    if hi is sp.oo and provably_positive(lo):  # int_0^oo of a pure power diverges
        w = sp.Dummy("w", positive=True)
        yield "power integral", lambda: _termwise(f.subs(x, w), L.subs(x, w), w, [
            ("power integral", lambda form: power_integral(form, w, lo, hi))])
    y = sp.Dummy("y", real=True)
    yield "log change onto gaussian", lambda: _gaussian(
        ((f_u * sp.exp(L_u)).subs(u, sp.exp(y)) * sp.exp(y)), y, "log change onto gaussian")
    yield "sympy.integrate", lambda: _fallback("integrate", f, L, x, lo, hi)


def _interval(family, f, L):
    x, lo, hi = family.outcome, family.support_set.inf, family.support_set.sup
    v = sp.Dummy("v", positive=True)
    at_v = lo + (hi - lo) * v
    if f.has(sp.cos, sp.sin) or L.has(sp.cos, sp.sin):
        yield "circular moments", lambda: (circular_moments(f, L, x, lo, hi), ("circular moments",))
    yield "truncated gaussian integral", lambda: _gaussian_on(f * sp.exp(L), x, lo, hi)
    yield "beta integral", lambda: _termwise(
        f.subs(x, at_v), L.subs(x, at_v) + sp.log(hi - lo), v,
        [("beta integral", lambda form: beta_integral(form, v))])
    if _nonnegative(lo):
        w = sp.Dummy("w", positive=True)
        yield "power integral", lambda: _termwise(f.subs(x, w), L.subs(x, w), w, [
            ("power integral", lambda form: power_integral(form, w, lo, hi))])
    yield "sympy.integrate", lambda: _fallback("integrate", f, L, x, lo, hi)


def _point_conditions(expr: sp.Expr, n: sp.Symbol):
    """The counts k singled out by Piecewise conditions Eq(n, k) (or Or of them), and the
    expression with each Piecewise replaced by its last, unconditional branch; None when a
    condition is anything else (n < 3, ...)."""
    points = set()
    for pw in expr.atoms(sp.Piecewise):
        *branches, (_, last) = pw.args
        if last != True:  # noqa: E712 - a SymPy boolean
            return None
        for _, cond in branches:
            for eq in sp.Or.make_args(cond):
                if not (isinstance(eq, sp.Eq) and n in eq.free_symbols):
                    return None
                points |= set(sp.solve(eq.lhs - eq.rhs, n))
    if not all(k.is_Integer and k >= 0 for k in points):
        return None
    generic = expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[-1][0])
    return sorted(points), generic


def _series(f_n: sp.Expr, L_n: sp.Expr, n: sp.Symbol):
    try:
        return sp.Add(*(power_series_sum(t, L_n, n) for t in _terms(f_n))), ("power series",)
    except (sp.PolynomialError, sp.PolificationFailed) as why:
        raise RouteDoesNotApply(str(why)) from None


def _series_with_points(f_n: sp.Expr, L_n: sp.Expr, n: sp.Symbol):
    """A Piecewise that singles out a few counts (a zero-inflated law): the points' own
    terms, plus the series of the unconditional branch less its terms at those points."""
    split_f, split_L = _point_conditions(f_n, n), _point_conditions(L_n, n)
    if split_f is None or split_L is None or not (split_f[0] or split_L[0]):
        raise RouteDoesNotApply("no Piecewise that singles out counts Eq(n, k)")
    points = sorted(set(split_f[0]) | set(split_L[0]))
    (_, f_generic), (_, L_generic) = split_f, split_L
    value, _ = _series(f_generic, L_generic, n)
    for k in points:
        value += (f_n * sp.exp(L_n)).subs(n, k) - (f_generic * sp.exp(L_generic)).subs(n, k)
    return value, ("points + power series",)


def _counts(family, f, L):
    n = sp.Dummy("n", integer=True, nonnegative=True)
    f_n, L_n = f.subs(family.outcome, n), L.subs(family.outcome, n)
    yield "power series", lambda: _series(f_n, L_n, n)
    if f_n.has(sp.Piecewise) or L_n.has(sp.Piecewise):
        yield "points + power series", lambda: _series_with_points(f_n, L_n, n)
    yield "sympy.summation", lambda: _fallback("summation", f_n, L_n, n, 0, sp.oo)


def _log_changes(family, f, L):
    """x = log(y) and x = -log(y), y > 0: the real line onto the half-line, for the Gamma
    route (Gumbel: exp(-x - e^-x) dx = y e^-y dy / y)."""
    x = family.outcome
    y = sp.Dummy("y", positive=True)
    for sign in (1, -1):
        at = sign * sp.log(y)
        f_y, L_y = f.subs(x, at), L.subs(x, at) - sp.log(y)  # dx = dy / y
        yield f"log change onto gamma (x = {'' if sign > 0 else '-'}log y)", (
            lambda f_y=f_y, L_y=L_y: _termwise(f_y, L_y, y, [
                ("log change onto gamma", lambda form: gamma_integral(form, y)),
            ]))


def _strategies(family, f: sp.Expr, L: sp.Expr):
    """(route, thunk) pairs for E[f] with f varying in x, in the order they are tried."""
    kind = family.support_kind
    if kind == "real_line":
        x = family.outcome
        yield "gaussian integral", lambda: _gaussian(f * sp.exp(L), x)
        yield from location_scale_routes(f, L, x)
        yield from _log_changes(family, f, L)
        yield "sympy.integrate", lambda: _fallback("integrate", f, L, x, -sp.oo, sp.oo)
    elif kind == "half_line":
        yield from _half_line(family, f, L)
    elif kind == "interval":
        yield from _interval(family, f, L)
    elif kind == "counts":
        yield from _counts(family, f, L)
    else:  # pragma: no cover - Family validates its support
        raise ValueError(f"unsupported support kind {kind!r}")


def integration_routes(family) -> tuple[str, ...]:
    """The routes an expectation E[f] over ``family`` goes through, in the order they are
    tried, read from the routes themselves (for f = the outcome; a route that applies only
    to some integrands may join for others). Not to be confused with ``npg_num.ROUTES``,
    the Fisher-vector-product routes.

    Examples
    ========
    >>> import sympy as sp
    >>> from npg_sym import FAMILIES
    >>> integration_routes(FAMILIES["gaussian_mean_std"])[0]
    'gaussian integral'
    >>> integration_routes(FAMILIES["bernoulli_logit"])
    ('finite sum',)
    """
    if family.outcome_map is not None:
        return (f"onto the base ({family.outcome_map})", *integration_routes(family.base))
    if family.is_vector or family.states is not None:
        return _vector_routes(family)
    if family.support_kind == "finite":
        return ("finite sum",)
    L = prepare_log_density(family.log_prob)
    return tuple(name for name, _ in _strategies(family, family.outcome, L))


def _vector_routes(family) -> tuple[str, ...]:
    states = () if family.states is None else (f"{family.states.kind} states",)
    if not family.is_vector:
        return (*states, "given the state:", *integration_routes(_without_states(family)))
    head = ("stick-breaking onto the unit cube",) if family.support_kind == "simplex" else ()
    return (*states, *head, "independent coordinates (each by its 1-D routes)",
            "fubini (one coordinate at a time)")


def _without_states(family):
    import dataclasses

    return dataclasses.replace(family, states=None)


def _close(family, f: sp.Expr, L: sp.Expr) -> tuple[sp.Expr, tuple[str, ...]]:
    """The exact routes; then, for a family with declared ranges, the exact routes again
    with the parameters inside those ranges (``npg_sym.declared``: the routes' convergence
    conditions may follow only from them, and the routes used then name the ranges);
    SymPy's general routes last."""
    tried = []
    closed = _first_route(family, f, L, tried, general=False)
    if closed is None and family.declared_ranges:
        forward, back, label = declared_substitution(family.declared_ranges)
        inside = []
        closed = _first_route(family, f.xreplace(forward), L.xreplace(forward), inside, general=False)
        tried += [(f"{name} (within the declared {label})", why) for name, why in inside]
        if closed is not None:
            closed = closed[0].xreplace(back), (*closed[1], f"needs {label} (declared)")
    if closed is None:
        closed = _first_route(family, f, L, tried, general=True)
    if closed is not None:
        return closed
    where = family.support_set
    raise NotClosedError(f"E[{_short(f)}] over {where}", tuple(tried))


def _first_route(family, f: sp.Expr, L: sp.Expr, tried: list, general: bool):
    """(value, routes) of the first route that closes, among SymPy's general ones
    (``general``) or the others; None, with each route's reason added to ``tried``."""
    for name, thunk in _strategies(family, f, L):
        if name.startswith("sympy.") != general:
            continue
        try:
            value, used = thunk()
        except RouteDoesNotApply as why:
            tried.append((name, str(why)))
            continue
        if value.has(sp.Integral, sp.Sum):  # never an unevaluated result
            tried.append((name, "left an unevaluated integral or sum"))
            continue
        return value, used
    return None


def _log_density(family, params) -> sp.Expr:
    log_prob = family.log_prob if params is None else family.log_prob_at(params)
    return prepare_log_density(log_prob)


@cache
def _normalization(family, params: tuple | None) -> tuple[sp.Expr, tuple[str, ...]]:
    from .simplification import tidy

    value, used = _close(family, sp.Integer(1), _log_density(family, params))
    value = tidy(value)
    return value, used


def normalization(family, params: Sequence[sp.Expr] | None = None) -> ExpectationResult:
    """Z = E[1] = the integral (or sum) of pi_theta over the support, exactly.

    Examples
    ========
    >>> import sympy as sp
    >>> from npg_sym import Family
    >>> lam, x = sp.Symbol("lam", positive=True), sp.Symbol("x", positive=True)
    >>> fam = Family("exp_rate", (lam,), x, sp.log(lam) - lam * x, sp.Interval(0, sp.oo), "")
    >>> normalization(fam).value, normalization(fam).routes
    (1, ('gamma integral',))
    """
    start = time.perf_counter()
    params = None if params is None else tuple(sp.sympify(p) for p in params)
    if family.outcome_map is not None:
        return _on_the_base(family, sp.Integer(1), params)
    if family.is_vector or family.states is not None:
        from .simplification import tidy

        result = exact_expectation(family, sp.Integer(1), params)
        return ExpectationResult(tidy(result.value), result.routes, result.seconds)
    if family.support_kind == "finite":
        return exact_expectation(family, sp.Integer(1), params)
    value, used = _normalization(family, params)
    return _recorded(ExpectationResult(value, used, time.perf_counter() - start))


def _recorded(result: ExpectationResult) -> ExpectationResult:
    records = _RECORDS.get()
    if records is not None:
        records.append(result)
    return result


def _on_the_base(family, f: sp.Expr, params) -> ExpectationResult:
    """E_y[f(y)] = E_u[f(T(u))] for y = T(u), u ~ family.base (npg_sym.outcome_map)."""
    mapping = family.outcome_map
    inner = exact_expectation(family.base, mapping.pull_back(f), params)
    return _recorded(ExpectationResult(inner.value, (f"onto the base ({mapping})", *inner.routes),
                                       inner.seconds))


def _finite_sum(family, f: sp.Expr, log_prob: sp.Expr) -> sp.Expr:
    x = family.outcome
    return sp.Add(*(f.subs(x, k) * sp.exp(log_prob.subs(x, k)) for k in family.support))


def exact_expectation(family, f, params: Sequence[sp.Expr] | None = None) -> ExpectationResult:
    """E_{x ~ pi_theta}[f(x)] exactly, with the routes that closed it.

    Parameters
    ==========
    family : an ``npg_sym.Family``.
    f : an expression in the family's outcome (and any symbols).
    params : evaluate under pi at these parameter values instead of theta.

    Explanation
    ===========
    Terms of f free of x take the constant route (c Z, Z the normalization); the rest go
    through the family's ``integration_routes`` in order until one closes. Raises
    ``NotClosedError`` (naming every route tried and why) when none does.

    Examples
    ========
    >>> import sympy as sp
    >>> from npg_sym import Family
    >>> t, x = sp.Symbol("t", real=True), sp.Symbol("x", integer=True, nonnegative=True)
    >>> poisson = Family("poisson", (t,), x, x * t - sp.exp(t) - sp.loggamma(x + 1), sp.Naturals0, "")
    >>> r = exact_expectation(poisson, (x - sp.exp(t))**2)
    >>> sp.simplify(r.value), r.routes
    (exp(t), ('power series', 'constant'))
    >>> exact_expectation(poisson, sp.exp(t)).routes  # free of x: E[c] = c Z, no sum
    ('constant',)
    """
    start = time.perf_counter()
    f = sp.sympify(f)
    params = None if params is None else tuple(sp.sympify(p) for p in params)
    if family.outcome_map is not None:
        return _on_the_base(family, f, params)
    log_prob = family.log_prob if params is None else family.log_prob_at(params)
    if family.is_vector or family.states is not None:
        from .vector import vector_expectation

        value, used = vector_expectation(family, f, log_prob)
    elif family.support_kind == "finite":
        value, used = _finite_sum(family, f, log_prob), ("finite sum",)
    else:
        x = family.outcome
        constant, varying = sp.expand(f).as_independent(x, as_Add=True)
        value, used = sp.Integer(0), ()
        if varying != 0:
            value, used = _close(family, varying, prepare_log_density(log_prob))
        if constant != 0:
            z, _ = _normalization(family, params)  # Z's own routes show in its own row
            value += constant * z
            used = used + ("constant",)
    return _recorded(ExpectationResult(value, tuple(dict.fromkeys(used)), time.perf_counter() - start))
