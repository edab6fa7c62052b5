"""The report of a derivation: Markdown with LaTeX for people, JSON for programs.

The JSON summary (ARCHITECTURE.md pins the first six keys):

    family       the family's name
    params       parameter names, in order
    fisher       rows of strings that sympy.sympify parses (parameter names as symbols)
    beta         sqrt(2 delta / g^T F^+ g) as a string (delta, reward coefficients r0...)
    checks       [{"name", "ok", "seconds", "detail", "routes"}], one per row
    numeric      {"max_rel_error", "kl_max_rel_error", "normalization_max_error",
                  "quadrature_error", "tolerance", "draws", "points", "detail"}

and besides: ``symbols`` (each symbol's assumptions, to rebuild them exactly), ``outcome``
(a name, or a list of names for a vector outcome), ``outcomes`` (always a list),
``states`` (null, or the state symbol with its distribution), ``support``,
``log_prob``, ``normalization``, ``kl``, ``taylor``, ``reward``, ``gradient``, ``step``,
``ok`` and ``exit_code``. A quantity that did not close is ``null``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math

import sympy as sp

__all__ = ["markdown_report", "json_summary", "row"]

_ASSUMPTIONS = ("positive", "negative", "nonnegative", "real", "integer")


def row(check) -> str:
    """One printed row: name, PASS/FAIL, seconds, the start of the detail."""
    status = "NONE" if check.declared else "PASS" if check.ok else "FAIL"
    detail = check.detail if len(check.detail) <= 90 else check.detail[:87] + "..."
    return f"{check.name:<30} {status} {check.seconds:7.2f}s  {detail}"


def _string(expr) -> str | None:
    return None if expr is None else sp.sstr(expr)


def _strings(matrix) -> list | None:
    return None if matrix is None else [[sp.sstr(e) for e in matrix.row(i)] for i in range(matrix.rows)]


def _symbols(result) -> dict:
    state = () if result.family.states is None else (result.family.states.symbol,)
    symbols = set(result.family.params) | {*result.family.outcomes, *state, result.delta}
    symbols |= set(result.bandit.coefficients) | set(result.primed)
    return {
        s.name: {k: True for k in _ASSUMPTIONS if s.assumptions0.get(k) is True}
        for s in sorted(symbols, key=lambda s: s.name)
    }


def _states(fam) -> dict | None:
    states = fam.states
    if states is None:
        return None
    out = {"symbol": states.symbol.name, "kind": states.kind}
    if states.kind == "finite":
        out["values"] = [sp.sstr(v) for v in states.values]
        out["weights"] = [sp.sstr(w) for w in states.weights]
    else:
        out["mean"], out["variance"] = sp.sstr(states.mean), sp.sstr(states.variance)
    return out


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


def _numeric(twin, draws: int) -> dict:
    if twin is None:
        return {"max_rel_error": None, "detail": "not run: the exact F did not close", "draws": draws}
    from .twin import TOLERANCE

    return {
        "max_rel_error": _finite(twin.max_rel_error),
        "kl_max_rel_error": _finite(twin.kl_max_rel_error),
        "normalization_max_error": _finite(twin.normalization_max_error),
        "quadrature_error": _finite(twin.quadrature_error),
        "tolerance": TOLERANCE,
        "draws": draws,
        "points": twin.points,
        "detail": twin.detail,
    }


def json_summary(loaded, result, twin, draws: int, exit_code: int) -> dict:
    fam, taylor = result.family, result.taylor
    return {
        "family": fam.name,
        "params": [p.name for p in fam.params],
        "fisher": _strings(result.fisher),
        "beta": _string(result.beta),
        "checks": [
            {"name": c.name, "ok": c.ok, "seconds": round(c.seconds, 4), "detail": c.detail,
             "routes": list(result.routes.get(c.name, ())), "declared": c.declared}
            for c in result.checks
        ],
        "numeric": _numeric(twin, draws),
        "description": fam.description,
        "file": str(loaded.path),
        "variable": loaded.variable,
        "outcome": [x.name for x in fam.outcomes] if fam.is_vector else fam.outcome.name,
        "outcomes": [x.name for x in fam.outcomes],
        "states": _states(fam),
        "support": str(fam.support_set),
        "support_kind": fam.support_kind,
        "symbols": _symbols(result),
        "log_prob": sp.sstr(fam.log_prob),
        "normalization": _string(result.normalization),
        "fisher_route": result.fisher_route,
        "kl": _string(result.kl),
        "primed_params": [p.name for p in result.primed],
        "taylor": None if taylor is None else [sp.sstr(t) for t in taylor],
        "reward": sp.sstr(result.bandit.reward),
        "reward_is_default": loaded.reward_is_default,
        "reward_coefficients": [c.name for c in result.bandit.coefficients],
        "gradient": None if result.gradient is None else [sp.sstr(e) for e in result.gradient],
        "delta": result.delta.name,
        "step": None if result.step is None else [sp.sstr(e) for e in result.step],
        "ok": exit_code == 0,
        "exit_code": exit_code,
    }


def write_text(path, text: str) -> None:
    """Atomically (temporary file + rename), by the project's one writer."""
    from npg_num.atomic import atomic_write_text  # imports JAX: only once the twin has run

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def write_json(path, summary: dict) -> None:
    write_text(path, json.dumps(summary, indent=2) + "\n")


def markdown_report(loaded, result, twin, derivation, command: str) -> str:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    failed = [c.name for c in result.checks if not c.ok]
    verdict = "every check passes" if not failed else f"FAILED: {', '.join(failed)}"
    lines = [
        f"# npg-derive: `{result.family.name}`",
        "",
        f"Generated {when} by `{command}` with SymPy {sp.__version__}: {verdict}. An exact "
        "check passes only when its identity simplifies to exactly 0; a quantity that no "
        "route closed fails its row with every route tried.",
        "",
        "| check | result | seconds | detail |",
        "|---|---|---|---|",
    ]
    for c in result.checks:
        detail = c.detail.replace("|", "\\|")
        status = "NONE (declared)" if c.declared else "PASS" if c.ok else "FAIL"
        lines.append(f"| {c.name} | {status} | {c.seconds:.2f} | {detail} |")
    reward = "default" if loaded.reward_is_default else "REWARD from the file"
    body = derivation.markdown().split("\n")[4:]  # without the proof-style header and claim
    lines += ["", "## Derivation", "", *body, "",
              f"The bandit reward ({reward}) is $r(x) = {sp.latex(result.bandit.reward)}$; "
              r"$\delta > 0$ is the trust-region radius.", ""]
    if twin is not None:
        lines += ["## Numeric twin", "",
                  "JAX autodiff of $\\log\\pi_\\theta$ and double-exponential quadrature (or "
                  "exact finite sums / sums over counts to a 1e-20 tail), against the exact "
                  "results in 30-digit arithmetic at Hypothesis-drawn parameters"
                  + (" (a vector outcome or states: coordinates that separate one block at a "
                     "time, tensor rules for those that do not, states as weighted nodes)"
                     if result.family.is_vector or result.family.states is not None else "")
                  + f": {twin.detail}.", ""]
    return "\n".join(lines)
