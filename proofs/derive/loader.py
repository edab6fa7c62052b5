"""Load a user's family file (``FILE.py[:NAME]``) and check it is well-formed input.

The file is run as a script; it must bind ``FAMILY`` (or ``NAME``) to an
``npg_sym.Family``. It may also bind:

- ``REWARD``: the bandit reward r(x), an expression in the outcome(s), the state (for a
  family with ``states``) and real coefficient symbols (default: ``npg_sym.bandit``'s, r_k
  per outcome on a finite support, else r0 + r1 x + r2 x^2; ``npg_sym.bandit`` for vectors
  and states);
- ``PARAMETER_RANGES``: ``{"name": (lo, hi)}``, where the numeric twin draws each
  parameter (default: [0.5, 2] for positive, [-2, -0.5] for negative, [-1, 1] for real);
  inside the family's ``declared_ranges`` (default: inside them, else as above);
- ``NO_KL_CLOSED_FORM``: a sentence saying why KL(theta || theta') has no closed form (or
  why it is not derived): the KL row then says so instead of trying, and F = Hess KL and
  the Taylor terms are taken under the integral.

Everything wrong with the input raises ``FamilyFileError`` with one sentence for people
(``npg-derive`` exits 2 with it): a missing file, no FAMILY, a parameter without the
assumptions its log-density needs, an unsupported support, a name that the JSON summary's
strings could not carry (``sympify("beta")`` is the Beta function, not a symbol).
"""

from __future__ import annotations

import math
import re
import runpy
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

import npg_sym
from npg_sym import Bandit, Family, NPGInputError
from npg_sym.declared import declared_substitution, range_label

__all__ = ["FamilyFileError", "LoadedFamily", "parse_target", "load_family", "check_family"]


class FamilyFileError(Exception):
    """Bad input: the message is one plain sentence naming the problem."""


@dataclass(frozen=True)
class LoadedFamily:
    """A checked family with its bandit and the twin's parameter ranges."""

    family: Family
    bandit: Bandit
    reward_is_default: bool
    ranges: tuple[tuple[float, float], ...]
    path: Path
    variable: str
    no_kl_closed_form: str | None = None


def parse_target(target: str) -> tuple[Path, str]:
    """``FILE.py`` or ``FILE.py:NAME`` -> (path, variable name)."""
    match = re.fullmatch(r"(.+?\.py)(?::([A-Za-z_][A-Za-z0-9_]*))?", target)
    if match is None:
        raise FamilyFileError(f"expected FILE.py or FILE.py:NAME, got {target!r}")
    return Path(match.group(1)), match.group(2) or "FAMILY"


def _run_file(path: Path) -> dict:
    if not path.is_file():
        raise FamilyFileError(f"no such file: {path}")
    try:
        return runpy.run_path(str(path), run_name="__npg_family__")
    except SyntaxError as err:
        raise FamilyFileError(f"{path}: syntax error on line {err.lineno}: {err.msg}") from None
    except NPGInputError as err:
        raise FamilyFileError(f"{path}: {err}") from None
    except Exception as err:  # the user's code: any error is bad input, shown in one line
        raise FamilyFileError(f"{path}: running it raised {type(err).__name__}: {err}") from None


def _coordinate_points(x: sp.Symbol, support) -> list[sp.Expr]:
    """Representatives of one coordinate in its support's interior.

    A bounded interval (a, b) is a + (b - a) u / (1 + u) with u > 0, so a sign shown for
    every u > 0 holds on the whole open interval.
    """
    one = Family("coordinate", (), x, sp.Integer(0), support, "")
    kind, support = one.support_kind, one.support_set
    u = sp.Dummy("u", positive=True)
    if kind == "finite":
        return [sp.sympify(k) for k in one.support]
    if kind == "real_line":
        return [sp.Dummy("x", real=True)]
    if kind == "counts":
        return [sp.Dummy("n", integer=True, nonnegative=True)]
    lo, hi = support.inf, support.sup
    if kind == "half_line":
        return [lo + u if hi is sp.oo else hi - u]
    return [lo + (hi - lo) * u / (1 + u)]


def _interior_points(family: Family) -> list[dict]:
    """Representatives of the outcome (and state) in the support's interior: substitutions
    {x: expr}, one per combination of the coordinates' finite values. The simplex is
    reached by stick-breaking with every v_k = u_k / (1 + u_k), u_k > 0."""
    if family.support_kind == "simplex":
        _, mapping, _ = npg_sym.vector.stick_breaking(family.outcome)
        at = npg_sym.vector.inside_unit_cube(set().union(*(e.free_symbols for e in mapping.values())))
        points = [{x: e.xreplace(at) for x, e in mapping.items()}]
    else:
        supports = (npg_sym.vector.coordinate_supports(family) if family.is_vector
                    else (family.support,))
        points = [{}]
        for x, support in zip(family.outcomes, supports):
            points = [{**p, x: value} for p in points for value in _coordinate_points(x, support)]
    states = family.states
    if states is None:
        return points
    values = states.values if states.kind == "finite" else (sp.Dummy("s", real=True),)
    return [{**p, states.symbol: value} for p in points for value in values]


def _needs_positive(expr: sp.Expr):
    """Arguments that must be positive for log pi to be real: of log, loggamma, gamma,
    and bases of fractional powers."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.log, sp.loggamma)):
            yield node, node.args[0]
        elif node.is_Pow and node.exp.is_Rational and not node.exp.is_Integer:
            yield node, node.base
        elif node.is_Pow and not node.exp.is_number:
            yield node, node.base


def _unsigned(symbols) -> list[sp.Symbol]:
    return sorted((s for s in symbols if s.is_positive is not True and s.is_negative is not True),
                  key=lambda s: s.name)


def _check_assumptions(family: Family) -> None:
    """Each log / fractional-power argument is positive for every allowed theta (inside the
    declared ranges) and x."""
    params = set(family.params)
    inside, _, _ = declared_substitution(family.declared_ranges)  # log(1 - p) for 0 < p < 1
    for point in _interior_points(family):
        log_prob = family.log_prob.xreplace(point)
        for node, arg in _needs_positive(log_prob):
            if arg.is_positive or npg_sym.integrals.provably_positive(arg):
                continue
            if inside and npg_sym.integrals.provably_positive(arg.xreplace(inside)):
                continue
            if arg.is_positive is False:
                raise FamilyFileError(
                    f"family {family.name!r}: {node} is not real: its argument {arg} is never "
                    "positive on the support"
                )
            loose = _unsigned(arg.free_symbols & params)
            if loose:
                names = ", ".join(s.name for s in loose)
                raise FamilyFileError(
                    f"family {family.name!r}: log pi needs {arg} > 0 (in {node}), which does "
                    f"not follow from the assumptions of {names}; declare it with "
                    "positive=True, give the Family declared_ranges={param: (lo, hi)}, or reparameterize"
                )


RESERVED = re.compile(r"(delta|[rd]\d+|.*_)")
"""Names npg-derive uses inside (delta, the default reward's r0, r1, ..., the direction
d1, d2, ..., the primed parameters NAME_): a user symbol of that name would be confused
with them."""


def _variables(family: Family) -> tuple:
    """The outcome symbols, then the state symbol (if any)."""
    state = () if family.states is None else (family.states.symbol,)
    return (*family.outcomes, *state)


def _check_names(family: Family) -> None:
    names = [p.name for p in family.params]
    seen = {name: "a parameter" for name in names}
    state = () if family.states is None else (family.states.symbol,)
    for v, role in [*((x, "the outcome") for x in family.outcomes), *((s, "the state") for s in state)]:
        if v.name in seen:
            raise FamilyFileError(
                f"family {family.name!r}: {role} and {seen[v.name]} are both named "
                f"{v.name!r} (whatever their assumptions); rename one of them")
        seen[v.name] = role
    for name in names:
        if RESERVED.fullmatch(name):
            raise FamilyFileError(
                f"family {family.name!r}: the parameter name {name!r} is reserved inside npg-derive "
                "(delta, r0, r1, ..., d1, d2, ..., names ending in '_'); rename it")


def _check_symbols(family: Family) -> None:
    if not isinstance(family.params, tuple):
        raise FamilyFileError(
            f"family {family.name!r}: params must be a tuple of SymPy symbols, got a "
            f"{type(family.params).__name__}; write params=(lam,) with the comma for one parameter")
    if not family.params:
        raise FamilyFileError(f"family {family.name!r} has no parameters")
    _check_names(family)
    if len(set(family.params)) != len(family.params):
        raise FamilyFileError(f"family {family.name!r} lists a parameter twice: {family.params}")
    for p in (*family.params, *_variables(family)):
        if not isinstance(p, sp.Symbol):
            raise FamilyFileError(f"family {family.name!r}: {p!r} is not a SymPy Symbol")
        parsed = sp.sympify(p.name) if p.name.isidentifier() else None
        if not (isinstance(parsed, sp.Symbol) and parsed.name == p.name):
            raise FamilyFileError(
                f"family {family.name!r}: rename the symbol {p.name!r}: sympify({p.name!r}) is "
                f"{parsed!r}, so the JSON summary's strings could not name it"
            )
    for p in family.params:
        if p.is_real is not True:
            raise FamilyFileError(
                f"family {family.name!r}: parameter {p.name!r} has no assumptions; declare it "
                "real=True, or positive=True / negative=True where its log-density needs a sign"
            )
        if p.is_integer:
            raise FamilyFileError(
                f"family {family.name!r}: parameter {p.name!r} is an integer; natural "
                "gradients need continuous parameters (fix it as a number instead)"
            )
    if set(_variables(family)) & set(family.params):
        raise FamilyFileError(f"family {family.name!r}: the outcome {family.outcome} (or the state) "
                              "is also a parameter")
    extra = family.log_prob.free_symbols - set(family.params) - set(_variables(family))
    if extra:
        names = ", ".join(sorted(s.name for s in extra))
        what = "the outcome" + ("s" if family.is_vector else "") + f" {family.outcome}"
        what += "" if family.states is None else f" or the state {family.states.symbol}"
        raise FamilyFileError(
            f"family {family.name!r}: log_prob uses {names}, which are neither parameters nor "
            f"{what}; make them numbers or parameters"
        )
    if not any(family.log_prob.has(x) for x in family.outcomes):
        raise FamilyFileError(f"family {family.name!r}: log_prob does not depend on the outcome {family.outcome}")
    if family.states is not None and family.outcome_map is not None:
        raise FamilyFileError(f"family {family.name!r}: a transformed outcome cannot have states")


def check_family(family) -> Family:
    """The family, if well-formed; else ``FamilyFileError``."""
    if not isinstance(family, Family):
        raise FamilyFileError(f"expected an npg_sym.Family, got {type(family).__name__}")
    if not isinstance(family.name, str) or not family.name:
        raise FamilyFileError("the family needs a non-empty name")
    if not isinstance(family.log_prob, sp.Expr):
        raise FamilyFileError(f"family {family.name!r}: log_prob must be a SymPy expression")
    _check_symbols(family)
    _check_assumptions(family)
    return family


def _reward(family: Family, namespace: dict) -> tuple[Bandit, bool]:
    if "REWARD" not in namespace:
        return npg_sym.bandit(family), True
    reward = sp.sympify(namespace["REWARD"])
    if not isinstance(reward, sp.Expr):
        raise FamilyFileError("REWARD must be a SymPy expression in the outcome")
    if reward.free_symbols & set(family.params):
        raise FamilyFileError("REWARD must not depend on the parameters (it is r(x), not r(theta, x))")
    coefficients = sorted(reward.free_symbols - set(_variables(family)), key=lambda s: s.name)
    loose = [c.name for c in coefficients if c.is_real is not True]
    if loose:
        raise FamilyFileError(f"REWARD coefficients {', '.join(loose)} must be declared real=True")
    return Bandit(family, reward, tuple(coefficients)), False


def _default_range(p: sp.Symbol, declared: dict) -> tuple[float, float]:
    if p in declared:  # inside a declared range: its lower end + [0.5, 2], or as for signs
        lo, hi = (float(e) for e in declared[p])
        if math.isfinite(lo) and math.isfinite(hi):
            return (lo + (hi - lo) / 4, hi - (hi - lo) / 4)
        return (lo + 0.5, lo + 2.0) if math.isfinite(lo) else (hi - 2.0, hi - 0.5)
    if p.is_positive:
        return (0.5, 2.0)
    if p.is_negative:
        return (-2.0, -0.5)
    return (-1.0, 1.0)


def _ranges(family: Family, namespace: dict) -> tuple[tuple[float, float], ...]:
    given = namespace.get("PARAMETER_RANGES", {}) or {}
    if not isinstance(given, dict):
        raise FamilyFileError("PARAMETER_RANGES must be a dict {name: (lo, hi)}")
    names = {p.name for p in family.params}
    unknown = set(given) - names
    if unknown:
        raise FamilyFileError(f"PARAMETER_RANGES names {sorted(unknown)}, not parameters {sorted(names)}")
    declared = {p: (lo, hi) for p, lo, hi in family.declared_ranges}
    out = []
    for p in family.params:
        lo, hi = (float(v) for v in given.get(p.name, _default_range(p, declared)))
        if not lo < hi or (p.is_positive and lo <= 0) or (p.is_negative and hi >= 0):
            raise FamilyFileError(
                f"PARAMETER_RANGES[{p.name!r}] = ({lo}, {hi}) is empty or outside the "
                f"parameter's assumptions"
            )
        if p in declared and not float(declared[p][0]) <= lo < hi <= float(declared[p][1]):
            raise FamilyFileError(
                f"PARAMETER_RANGES[{p.name!r}] = ({lo}, {hi}) is outside the declared range "
                f"{range_label(p, *declared[p])}"
            )
        out.append((lo, hi))
    return tuple(out)


def load_family(target: str) -> LoadedFamily:
    """Run ``FILE.py[:NAME]`` and return its checked family, bandit and twin ranges."""
    path, variable = parse_target(target)
    namespace = _run_file(path)
    if variable not in namespace:
        raise FamilyFileError(f"{path} defines no {variable} (expected {variable} = npg_sym.Family(...))")
    if not isinstance(namespace[variable], Family):
        kind = type(namespace[variable]).__name__
        raise FamilyFileError(f"{path}: {variable} is a {kind}, not an npg_sym.Family")
    family = check_family(namespace[variable])
    bandit, default = _reward(family, namespace)
    return LoadedFamily(family, bandit, default, _ranges(family, namespace), path, variable,
                        _no_kl(namespace))


def _no_kl(namespace: dict) -> str | None:
    reason = namespace.get("NO_KL_CLOSED_FORM")
    if reason is None:
        return None
    if not isinstance(reason, str) or not reason.strip():
        raise FamilyFileError("NO_KL_CLOSED_FORM must be a sentence saying why the KL has no closed form")
    return " ".join(reason.split())
