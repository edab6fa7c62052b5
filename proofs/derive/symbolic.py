"""The exact derivation for a user's family: the checks C3, C5 and C6 give the registry.

Each check is one row: a name, PASS or FAIL, the seconds it took and a detail (the routes
that closed, or what failed). A quantity that no route closes fails its row with the
routes tried; rows that need it fail with "needs ...". An identity passes only when it
simplifies to exactly 0 ("could not simplify" is a failure), and every row runs under a
time budget, so that a derivation never hangs.

    normalized                    E[1] = 1
    score has mean 0              E[s] = 0,  s = grad_theta log pi
    F = E[s s^T]                  the Fisher by its definition
    F = F of the base             (a transformed outcome y = T(u) only) F equals the base's
    F = -E[Hess log pi]           closes, and equals the first route that closed
    KL closed form                KL(theta || theta') = E[log pi_theta - log pi_theta']
    F = Hess KL                   Hess_theta' KL at theta' = theta, equal to F
    KL Taylor T0 = 0, T1 = 0      KL(theta || theta + eps d) = sum_k T_k eps^k
    KL Taylor T2 = d^T F d / 2
    policy gradient g = grad E[r] g = E[s (r - E[r])] equals the gradient of E[r]
    natural step (KKT)            d* = beta F^+ g, beta = sqrt(2 delta / g^T F^+ g)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sympy as sp
from sympy.matrices.utilities import dotprodsimp

import npg_sym
from npg_sym import NotClosedError, OutOfTime, time_limit
from npg_sym import is_zero as exactly_zero
from npg_sym.simplification import generic_symbols, numerically_nonzero

from .._core import Derivation, latex

__all__ = ["CHECKS", "BASE_CHECK", "checks_for", "Check", "CheckFailed", "SymbolicDerivation", "derive_exactly"]


class CheckFailed(Exception):
    """A check's condition is false or was not shown (the message says which)."""


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str
    declared: bool = False  # passed as declared by the family file (NO_KL_CLOSED_FORM), not derived


class Declared(Exception):
    """The row states what the family file declares instead of deriving it."""


@dataclass
class SymbolicDerivation:
    """What the exact derivation found; ``None`` where a quantity did not close."""

    family: npg_sym.Family
    bandit: npg_sym.Bandit
    delta: sp.Symbol
    checks: list[Check] = field(default_factory=list)
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    normalization: sp.Expr | None = None
    fisher: sp.Matrix | None = None
    fisher_route: str | None = None
    fisher_routes: dict[str, sp.Matrix] = field(default_factory=dict)
    kl: sp.Expr | None = None
    primed: tuple[sp.Symbol, ...] = ()
    taylor: tuple[sp.Expr, ...] | None = None
    taylor_failure: str | None = None
    gradient: sp.Matrix | None = None
    step: sp.Matrix | None = None
    beta: sp.Expr | None = None
    no_kl_closed_form: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _not_zero(name: str, where: str, entry) -> CheckFailed:
    shown = "is not 0" if numerically_nonzero(sp.sympify(entry)) else "is not shown to be 0"
    return CheckFailed(f"{name}: {where} {npg_sym.tidy(entry)}, which {shown}")


def require_equal(name: str, lhs, rhs=0) -> None:
    """``CheckFailed`` unless lhs - rhs is exactly 0 (entrywise for matrices)."""
    if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
        diff = sp.Matrix(lhs) - sp.Matrix(rhs)
        for index, entry in enumerate(diff):
            if not exactly_zero(entry):
                raise _not_zero(name, f"entry {divmod(index, diff.cols)} of the difference is", entry)
        return
    difference = sp.sympify(lhs) - sp.sympify(rhs)
    if not exactly_zero(difference):
        raise _not_zero(name, "the difference is", difference)


def _routes_of(records) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for rec in records for r in rec.routes))


def _run(result: SymbolicDerivation, name: str, seconds: float, body) -> None:
    """Run one check under a time budget and record its row (never raises for a failure)."""
    start = time.perf_counter()
    declared = False
    try:
        with npg_sym.record_expectations() as records, time_limit(seconds, name):
            detail = body()
        ok = True
        routes = _routes_of(records)
        if routes:
            result.routes[name] = routes
            detail = f"{detail} [{', '.join(routes)}]" if detail else f"[{', '.join(routes)}]"
    except Declared as why:
        ok, declared, detail = True, True, str(why)
    except CheckFailed as why:
        ok, detail = False, str(why)
    except (NotClosedError, OutOfTime) as why:
        ok, detail = False, f"did not close: {why}"
    except npg_sym.NPGInputError as why:
        ok, detail = False, str(why)
    except Exception as why:  # a crash is a failure of that row, reported with its type
        ok, detail = False, f"{type(why).__name__}: {why}"
    result.checks.append(Check(name, ok, time.perf_counter() - start, detail, declared))


def _needs(value, what: str):
    if value is None:
        raise CheckFailed(f"needs {what}, whose row did not pass")
    return value


def _normalized(r: SymbolicDerivation, d: Derivation) -> str:
    z = npg_sym.normalization(r.family).value
    r.normalization = z
    d.show(r"Z = \int \pi_\theta", z)
    if not exactly_zero(z - 1):
        raise CheckFailed(f"the density sums or integrates to {z}, not 1")
    return "Z = 1"


def _score_mean(r: SymbolicDerivation, d: Derivation) -> str:
    s = npg_sym.score(r.family)
    d.show(r"s = \nabla_\theta \log \pi_\theta(x)", s.T)
    mean = s.applyfunc(lambda si: npg_sym.expectation(r.family, si))
    require_equal("E[s] = 0", mean, sp.zeros(*s.shape))
    return "E[s] = 0"


_FISHER_ROUTES = {
    "F = E[s s^T]": (npg_sym.fisher, r"E[s s^\top]"),
    "F = -E[Hess log pi]": (npg_sym.fisher_from_hessian, r"-E[\nabla^2_\theta \log \pi_\theta]"),
    "F = Hess KL": (npg_sym.fisher_from_kl,
                    r"\nabla^2_{\theta'} \mathrm{KL}(\pi_\theta\|\pi_{\theta'})|_{\theta'=\theta}"),
}


def _fisher_route(name: str):
    def body(r: SymbolicDerivation, d: Derivation) -> str:
        route, label = _FISHER_ROUTES[name]
        under = name == "F = Hess KL" and r.no_kl_closed_form is not None
        if under:
            route, label = _hess_kl_under_integral, label + r"\ \text{(under the integral)}"
        elif name == "F = Hess KL":
            _needs(r.kl, "KL(theta || theta')")
        F = route(r.family)
        r.fisher_routes[name] = F
        d.show(label, F)
        if r.fisher is None:
            r.fisher, r.fisher_route = F, name
            return "closes (the reference for the other routes)"
        require_equal(f"{name} agrees with {r.fisher_route}", F, r.fisher)
        how = " (no closed-form KL: Hess_theta' of E_theta[-log pi_theta'] under the integral)"
        return f"equals {r.fisher_route}" + (how if under else "")

    return body


def _base_fisher(r: SymbolicDerivation, d: Derivation) -> str:
    """A transformed outcome y = T(u): F (from log pi_y, with its Jacobian term) equals the
    base's F (from log pi_u), checked, not assumed."""
    F = _needs(r.fisher, "F")
    base = r.family.base
    with npg_sym.record_expectations() as records:
        F_base = npg_sym.fisher(base)
    require_equal(f"F = F of the base {base.name}", F, F_base)
    d.show(r"F_{\mathrm{base}}", F_base)
    return (f"F of {r.family.outcome_map} equals the base's ({base.name}) "
            f"[{', '.join(_routes_of(records))}]")


def _hess_kl_under_integral(family: npg_sym.Family) -> sp.Matrix:
    """Hess_theta' KL(theta || theta') at theta' = theta, differentiated under the integral:
    -E_theta[Hess_theta' log pi_theta'(x)] at theta' = theta."""
    other = npg_sym.primed(family)
    moved = family.log_prob_at(other)
    hess = sp.hessian(moved, other).xreplace(dict(zip(other, family.params)))
    return hess.applyfunc(lambda h: npg_sym.tidy(-npg_sym.expectation(family, h)))


def _kl_closed(r: SymbolicDerivation, d: Derivation) -> str:
    if r.no_kl_closed_form is not None:
        raise Declared(f"none: {r.no_kl_closed_form} (declared by the family file, not derived); "
                       "F = Hess KL and the Taylor terms are taken under the integral")
    r.primed = npg_sym.primed(r.family)
    r.kl = npg_sym.kl(r.family, r.primed)
    d.show(r"\mathrm{KL}(\pi_\theta \,\|\, \pi_{\theta'})", r.kl)
    return "closed form in theta, theta'"


def _taylor(order: int):
    def body(r: SymbolicDerivation, d: Derivation) -> str:
        if r.no_kl_closed_form is None:
            _needs(r.kl, "KL(theta || theta')")
        if r.taylor_failure is not None:  # derived once: the next rows do not try again
            raise CheckFailed(f"needs the Taylor terms, which did not close: {r.taylor_failure}")
        if r.taylor is None:
            try:
                taylor = npg_sym.kl_taylor if r.no_kl_closed_form is None else npg_sym.kl_taylor_under_integral
                r.taylor = taylor(r.family, 2)
            except (NotClosedError, OutOfTime) as why:
                r.taylor_failure = str(why)
                raise
        term = r.taylor[order]
        if order < 2:
            require_equal(f"T{order} = 0", term, 0)
            return f"T{order} = 0"
        F = _needs(r.fisher, "F")
        dv = sp.Matrix(npg_sym.direction_symbols(r.family))
        require_equal("T2 = d^T F d / 2", term, (dv.T * F * dv)[0] / 2)
        d.show("T_2", term)
        return "T2 = d^T F d / 2"

    return body


def _policy_gradient(r: SymbolicDerivation, d: Derivation) -> str:
    b = r.bandit
    g = npg_sym.policy_gradient(b)
    d.show("r(x)", b.reward)
    d.show(r"g = E[s\,(r - E[r])]", g.T)
    eta = npg_sym.expected_reward(b)
    grad = sp.Matrix([sp.diff(eta, p) for p in r.family.params])
    require_equal("g = grad E[r]", g, grad)
    r.gradient = g
    return "g = E[s A] = grad E[r]"


def _rational(expr: sp.Expr) -> sp.Expr:
    """One exact canonical form for rational functions of plain symbols (and radicals):
    cancel, then factor; fast where simplify is not."""
    return sp.factor(sp.cancel(sp.together(expr)))


def _entry_symbols(F: sp.Matrix, g: sp.Matrix) -> tuple[dict, dict]:
    """(forward, back): every non-numeric entry of F and g <-> an independent Dummy
    (F's diagonal positive: a nonsingular PSD F is positive definite)."""
    forward = {}
    for i in range(F.rows):
        for j in range(F.cols):
            if not F[i, j].is_number and F[i, j] not in forward:
                forward[F[i, j]] = sp.Dummy("F", positive=True) if i == j else sp.Dummy("F", real=True)
    for entry in g:
        if not entry.is_number and entry not in forward:
            forward[entry] = sp.Dummy("g", real=True)
    return forward, {d: v for v, d in forward.items()}


def _solve_with_generic_values(F: sp.Matrix, g: sp.Matrix, delta: sp.Symbol):
    """npg_sym.solve_trust_region on F and g with their function values as generic symbols,
    mapped back after (a singular F: softmax). The null space is that of the generic F
    only when the true F is singular exactly when the generic one is; otherwise the true F
    is solved directly."""
    forward, back = generic_symbols(F, g)
    if not forward:
        return npg_sym.solve_trust_region(F, g, delta)
    F_generic = F.xreplace(forward)
    if exactly_zero(npg_sym.det(F_generic)) != exactly_zero(npg_sym.det(F)):
        return npg_sym.solve_trust_region(F, g, delta)
    sol = npg_sym.solve_trust_region(F_generic, g.xreplace(forward), delta, simplify=_rational)
    return sol._replace(**{
        name: getattr(sol, name).xreplace(back)
        for name in ("lagrangian", "stationary_step", "quadratic_form", "multiplier_value", "step", "beta")
    }, null_basis=tuple(v.xreplace(back) for v in sol.null_basis))


def _solve_trust_region(F: sp.Matrix, g: sp.Matrix, delta: sp.Symbol):
    """(solution, F_used, g_used, back). When det F is shown nonzero (numerically, at a
    point: sound for "not identically 0"), F's and g's entries become independent
    symbols (``back`` maps them to the true entries): the KKT solution is rational in
    them, and an identity shown in independent symbols holds at any values put for them
    (the cost no longer grows with the size of the entries: docs/derive.md, "Families tried").
    A singular F keeps its own null space:
    ``_solve_with_generic_values`` on the true F (``back`` empty)."""
    forward, back = _entry_symbols(F, g)
    with dotprodsimp(False):  # an unsimplified det, only to be evaluated at a point
        raw_det = F.det(method="berkowitz")
    if forward and numerically_nonzero(raw_det):
        sol = npg_sym.solve_trust_region(F.xreplace(forward), g.xreplace(forward), delta,
                                         simplify=_rational)
        return sol, F.xreplace(forward), g.xreplace(forward), back
    return _solve_with_generic_values(F, g, delta), F, g, {}


def _natural_step(r: SymbolicDerivation, d: Derivation) -> str:
    F_true, g_true = _needs(r.fisher, "F"), _needs(r.gradient, "the policy gradient g")
    sol, F, g, back = _solve_trust_region(F_true, g_true, r.delta)
    require_equal("constraint active: d*^T F d* / 2 = delta", (sol.step.T * F * sol.step)[0] / 2, r.delta)
    require_equal("stationarity: F d* = g / lambda*", F * sol.step, g / sol.multiplier_value)
    require_equal("lambda*^2 = g^T F^+ g / (2 delta)", sol.multiplier_value**2,
                  sol.quadratic_form / (2 * r.delta))
    require_equal("beta lambda* = 1", sol.beta * sol.multiplier_value, 1)
    for v in sol.null_basis:
        require_equal("F v = 0", F * v, sp.zeros(F.rows, 1))
        require_equal("v^T d* = 0 (pseudo-inverse step)", (v.T * sol.step)[0], 0)
    r.step, r.beta = sol.step.xreplace(back), sol.beta.xreplace(back)
    d.show(r"\beta", r.beta)
    d.show(r"d^*", r.step.T)
    singular = f"; F singular, step on range(F) ({len(sol.null_basis)} null direction(s))"
    generic = "; shown with F's and g's entries as independent symbols" if back else ""
    return "KKT: constraint active, stationarity, beta = sqrt(2 delta / g^T F^+ g)" + (
        singular if sol.null_basis else "") + generic


CHECKS = (
    ("normalized", _normalized),
    ("score has mean 0", _score_mean),
    ("F = E[s s^T]", _fisher_route("F = E[s s^T]")),
    ("F = -E[Hess log pi]", _fisher_route("F = -E[Hess log pi]")),
    ("KL closed form", _kl_closed),
    ("F = Hess KL", _fisher_route("F = Hess KL")),
    ("KL Taylor T0 = 0", _taylor(0)),
    ("KL Taylor T1 = 0", _taylor(1)),
    ("KL Taylor T2 = d^T F d / 2", _taylor(2)),
    ("policy gradient g = grad E[r]", _policy_gradient),
    ("natural step (KKT)", _natural_step),
)
"""The exact checks, in order: (row name, body(result, derivation) -> detail)."""


BASE_CHECK = ("F = F of the base", _base_fisher)
"""The row a transformed outcome adds after F = E[s s^T]."""


def checks_for(family: npg_sym.Family) -> tuple:
    """CHECKS, with BASE_CHECK after the first Fisher row for a transformed outcome."""
    if family.outcome_map is None:
        return CHECKS
    return (*CHECKS[:3], BASE_CHECK, *CHECKS[3:])


def derive_exactly(
    family: npg_sym.Family,
    bandit: npg_sym.Bandit,
    d: Derivation,
    check_seconds: float = 120.0,
    on_row=None,
    no_kl_closed_form: str | None = None,
) -> SymbolicDerivation:
    """Run every exact check on ``family``; rows go to ``on_row(check)`` as they finish.
    ``no_kl_closed_form``: the family file's reason why the KL has no closed form."""
    result = SymbolicDerivation(family, bandit, sp.Symbol("delta", positive=True),
                                no_kl_closed_form=no_kl_closed_form)
    d.say(f"**`{family.name}`**: {family.description or 'a user family'}.")
    d.show(r"\log \pi_\theta(x)", family.log_prob)
    d.say(f"Support: ${latex(family.support_set)}$; parameters: "
          + ", ".join(f"${latex(p)}$" for p in family.params) + ".")
    if family.states is not None:
        d.say(f"States: ${latex(family.states.symbol)}$ drawn from {family.states}; every "
              "expectation is over the state and the action, so F = E_s[F(s)] and the KL is "
              "averaged over states.")
    for name, body in checks_for(family):
        _run(result, name, check_seconds, lambda: body(result, d))
        if on_row is not None:
            on_row(result.checks[-1])
    return result
