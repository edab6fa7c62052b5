"""The numeric twin of a user's family: JAX autodiff and quadrature, independent of the
symbolic expectations.

log pi_theta(x) is lambdified to JAX; the score is ``jax.grad`` of it in theta; the Fisher
F = sum_i w_i pi(x_i) s(x_i) s(x_i)^T is a quadrature (double-exponential rules, see
``quadrature``), a finite sum, or a sum over counts carried until the tail is below
1e-18. F is compared with the exact F, evaluated in 30-digit arithmetic (mpmath), at
parameter points drawn by Hypothesis inside each parameter's range (positive where
declared). The largest relative error, max_ij |F_num - F_exact|_ij / max_ij |F_exact|_ij,
must be <= 1e-8. The normalization (sum of w pi) and the KL at pairs of drawn points are
checked the same way. A vector outcome or a family with states goes to ``twin_vector``
(block by block, states as weighted nodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, partial

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import mpmath
import numpy as np
import sympy as sp

from . import quadrature

jax.config.update("jax_enable_x64", True)

__all__ = ["TwinResult", "numeric_twin", "numeric_normalization", "jax_log_density", "TOLERANCE"]

TOLERANCE = 1e-8
"""The twin agrees when every relative error is at most this."""

STEPS = (1 / 16, 1 / 32, 1 / 64)
"""Double-exponential step sizes tried in turn until two successive results agree."""


def _besseli(order, z):
    table = {0: jsp.i0, 1: jsp.i1}
    if order not in table:
        raise NotImplementedError(f"besseli of order {order} has no JAX implementation here")
    return table[order](z)


# SymPy's printer names -> JAX functions that trace (the defaults fall back to math.*).
_JAX_FUNCTIONS = {
    "lgamma": jsp.gammaln,
    "loggamma": jsp.gammaln,
    "gamma": jsp.gamma,
    "digamma": jsp.digamma,
    "polygamma": lambda n, z: jsp.polygamma(n, z),
    "erf": jsp.erf,
    "erfc": jsp.erfc,
    "besseli": _besseli,
    "factorial": lambda n: jnp.exp(jsp.gammaln(n + 1.0)),
    "binomial": lambda n, k: jnp.exp(jsp.gammaln(n + 1.0) - jsp.gammaln(k + 1.0) - jsp.gammaln(n - k + 1.0)),
    # not jsp.betaln: it is off by 1.5e-7 relative at (10, 0.3) (tests/test_derive_function_table.py)
    "beta": lambda a, b: jnp.exp(jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)),
}


_GAMMALN = sp.Function("gammaln_npg")
_JAX_FUNCTIONS["gammaln_npg"] = jsp.gammaln


def _log_gamma_functions(expr):
    """log(gamma(z)), log(z!), log(binomial(a, b)) -> gammaln: gamma(171.7) overflows float64,
    and SymPy writes loggamma(n + 1) as log(gamma(n + 1)) for an integer n."""
    def rewrite(e):
        inner = e.args[0]
        if isinstance(inner, sp.gamma):
            return _GAMMALN(inner.args[0])
        if isinstance(inner, sp.factorial):
            return _GAMMALN(inner.args[0] + 1)
        a, b = inner.args
        return _GAMMALN(a + 1) - _GAMMALN(b + 1) - _GAMMALN(a - b + 1)

    expr = sp.expand_log(expr, force=False)
    return expr.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0], (sp.gamma, sp.factorial, sp.binomial)),
        rewrite,
    )


def jax_log_density(params, variable, expr):
    """(theta, v) -> expr as a traceable JAX function (theta a flat float64 array)."""
    expr = _log_gamma_functions(sp.sympify(expr))
    fn = sp.lambdify((*params, variable), expr, modules=[_JAX_FUNCTIONS, "jax"])
    return lambda theta, v: fn(*[theta[i] for i in range(len(params))], v)


@dataclass
class TwinResult:
    ok: bool
    max_rel_error: float
    kl_max_rel_error: float | None
    normalization_max_error: float
    quadrature_error: float
    points: list = field(default_factory=list)
    detail: str = ""


@dataclass(frozen=True)
class _Region:
    """One piece of the support: log pi as a function of (theta, v), and v's rule."""

    log_density: object  # (theta, v) -> log pi_theta(x(v))
    rule: object  # h -> (v, w) nodes and weights; None for fixed nodes
    nodes: tuple = ()
    kinks: object = None  # theta -> the x where log pi has a kink (|x - mu| at mu)


def _kinks(family):
    """theta -> kink points of log pi on the real line: zeros of Abs arguments and the
    bounds of Piecewise conditions, where the integrand is not smooth."""
    x = family.outcome
    points = []
    for node in sp.preorder_traversal(family.log_prob):
        if isinstance(node, sp.Abs) and node.args[0].has(x):
            points += sp.solve(node.args[0], x)
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    if rel.has(x) and not isinstance(rel, (sp.Eq, sp.Ne)):
                        points += sp.solve(rel.lhs - rel.rhs, x)
    points = [p for p in points if p.is_real is not False and not p.has(x)]
    if not points:
        return None
    fn = sp.lambdify(family.params, points, modules="numpy")
    return lambda theta: [float(v) for v in fn(*np.asarray(theta, dtype=np.float64))]


def _regions(family) -> list[_Region]:
    x, kind, params = family.outcome, family.support_kind, family.params
    log_prob = family.log_prob
    u = sp.Symbol("u_npg", positive=True)
    if kind in ("finite", "counts", "real_line"):
        fn = jax_log_density(params, x, log_prob)
        if kind == "finite":
            return [_Region(fn, None, tuple(float(k) for k in family.support))]
        if kind == "counts":
            return [_Region(fn, None)]
        kinks = _kinks(family)
        rule = quadrature.split_line_nodes if kinks else quadrature.real_line_nodes
        return [_Region(fn, rule, kinks=kinks)]
    lo, hi = family.support_set.inf, family.support_set.sup
    if kind == "half_line":
        at = lo + u if hi is sp.oo else hi - u
        return [_Region(jax_log_density(params, u, log_prob.subs(x, at)), quadrature.half_line_nodes)]
    half = float((hi - lo) / 2)
    rule = partial(quadrature.from_end_nodes, half)
    return [
        _Region(jax_log_density(params, u, log_prob.subs(x, lo + u)), rule),
        _Region(jax_log_density(params, u, log_prob.subs(x, hi - u)), rule),
    ]


def _moments_fn(log_density):
    """jit((theta, other, v, w) -> (Z, F, KL, nodes dropped for non-finite values)).

    Nodes where log pi < -700 add nothing (exp underflows). Nodes with a nan or infinite
    log pi, score or log pi' are dropped and counted: if they held mass, the comparison of
    Z = sum w pi with the exact normalization fails.
    """
    value_and_score = jax.vmap(jax.value_and_grad(log_density), in_axes=(None, 0))
    values = jax.vmap(log_density, in_axes=(None, 0))

    @jax.jit
    def moments(theta, other, v, w):
        lp, s = value_and_score(theta, v)
        lq = values(other, v)
        live = lp > -700.0  # exp(lp) underflows to 0 below: those nodes add nothing
        finite = jnp.isfinite(lp) & jnp.all(jnp.isfinite(s), axis=-1) & jnp.isfinite(lq)
        p = jnp.where(live & finite, jnp.exp(jnp.where(live, lp, 0.0)), 0.0) * w
        s = jnp.where((live & finite)[:, None], s, 0.0)
        log_ratio = jnp.where(live & finite, lp - lq, 0.0)
        return (jnp.sum(p), jnp.einsum("n,ni,nj->ij", p, s, s), jnp.sum(p * log_ratio),
                jnp.sum(~(live & finite) & ~(lp <= -700.0)))

    return moments


@cache
def _values_fn(log_density):
    """jit((theta, v[n]) -> log pi at each node), compiled once per log-density and shape."""
    return jax.jit(jax.vmap(log_density, in_axes=(None, 0)))


def _count_nodes(region: _Region, theta) -> tuple[np.ndarray, np.ndarray]:
    """0, 1, ..., N-1 with N doubled until the last quarter of the terms is below 1e-20."""
    n = 256
    while True:
        v = np.arange(n, dtype=np.float64)
        lp = np.asarray(_values_fn(region.log_density)(theta, jnp.asarray(v)))
        tail = lp[3 * n // 4:]
        # -inf is a term that is 0 in float64; nan or +inf is not a converged tail
        if not np.any(np.isnan(tail) | (tail == np.inf)) and np.max(tail) < math.log(1e-20) \
                and tail[-1] <= tail[0]:
            return v, np.ones(n)
        if n >= 2**20:
            raise ArithmeticError("the sum over counts has not converged after 2^20 terms")
        n *= 2


def _quantiles(region: _Region, theta, v, w, probs):
    """Quantiles of pi_theta from a coarse pass over nodes v (sorted), weights w."""
    lp = np.asarray(_values_fn(region.log_density)(theta, jnp.asarray(v)))
    mass = np.where(np.isfinite(lp), np.exp(np.minimum(lp, 700.0)), 0.0) * w
    order = np.argsort(v)
    cumulative = np.cumsum(mass[order])
    if not (cumulative[-1] > 0 and np.isfinite(cumulative[-1])):
        return None
    return np.interp(np.asarray(probs) * cumulative[-1], cumulative, v[order])


def _placement(region: _Region, theta, other) -> dict:
    """Where a real-line or half-line rule goes, from a coarse first pass: centred on the
    median and scaled by the interquartile range (robust to heavy tails, where a variance
    is useless), split at the kinks of log pi_theta and of log pi_other (the KL's)."""
    if region.rule is quadrature.split_line_nodes:
        return {"breaks": region.kinks(theta) + region.kinks(other)}
    if region.rule is quadrature.real_line_nodes:
        q = _quantiles(region, theta, *region.rule(STEPS[0]), (0.25, 0.5, 0.75))
        if q is None or not np.all(np.isfinite(q)) or q[2] <= q[0]:
            return {}
        return {"center": float(q[1]), "scale": float(q[2] - q[0]) / 1.349}
    if region.rule is quadrature.half_line_nodes:
        q = _quantiles(region, theta, *region.rule(STEPS[0]), (0.5,))
        return {"scale": float(q[0])} if q is not None and np.isfinite(q[0]) and q[0] > 0 else {}
    return {}


def region_nodes(region: _Region, theta, h, placed: dict) -> tuple[np.ndarray, np.ndarray]:
    """(v, w) of a region: its fixed nodes, the counts summed to a 1e-20 tail, or its rule
    at step h placed by ``_placement``."""
    if region.nodes:
        return np.asarray(region.nodes), np.ones(len(region.nodes))
    if region.rule is None:
        return _count_nodes(region, theta)
    return region.rule(h, **placed)


def numeric_moments(family, theta, other, regions=None, moment_fns=None):
    """(Z, F, KL(theta || other), estimated relative quadrature error, dropped nodes)."""
    regions = regions or _regions(family)
    moment_fns = moment_fns or [_moments_fn(r.log_density) for r in regions]
    theta, other = jnp.asarray(theta), jnp.asarray(other)
    placements = [_placement(r, theta, other) for r in regions]

    def total(h):
        z, F, kl, dropped = 0.0, 0.0, 0.0, 0
        for region, fn, placed in zip(regions, moment_fns, placements):
            v, w = region_nodes(region, theta, h, placed)
            zi, Fi, kli, di = fn(theta, other, jnp.asarray(v), jnp.asarray(w))
            z, F, kl, dropped = z + zi, F + Fi, kl + kli, dropped + int(di)
        return float(z), np.asarray(F), float(kl), dropped

    exact_rule = all(r.nodes or r.rule is None for r in regions)
    if exact_rule:
        z, F, kl, dropped = total(None)
        return z, F, kl, 0.0, dropped
    previous = total(STEPS[0])
    for h in STEPS[1:]:
        current = total(h)
        scale = max(np.max(np.abs(current[1])), 1e-300)
        error = max(np.max(np.abs(current[1] - previous[1])) / scale, abs(current[0] - previous[0]))
        if error <= 1e-12:
            break
        previous = current
    return current[0], current[1], current[2], float(error), current[3]


def exact_evaluator(symbols, expr):
    """float64 values of an exact expression (or Matrix), computed with 30 digits."""
    try:
        fn = sp.lambdify(symbols, expr, modules="mpmath")
    except Exception:  # a function mpmath lacks: SymPy's own evalf, slower but exact
        fn = None

    def evaluate(*values):
        with mpmath.workdps(30):
            if fn is not None:
                try:
                    out = fn(*(mpmath.mpf(float(v)) for v in values))
                    return np.array(mpmath.matrix(out).tolist() if isinstance(out, (list, mpmath.matrix))
                                    else out, dtype=np.float64)
                except Exception:
                    pass
            subs = {s: sp.Float(float(v), 30) for s, v in zip(symbols, values)}
            value = sp.sympify(expr).xreplace(subs).evalf(30)
            return np.array(value.tolist() if isinstance(value, sp.MatrixBase) else value, dtype=np.float64)

    return evaluate


def _strategy(ranges):
    from hypothesis import strategies as st

    point = st.tuples(*(st.floats(lo, hi, allow_nan=False, allow_infinity=False) for lo, hi in ranges))
    return st.tuples(point, point)


def _draw_points(ranges, draws: int, check) -> None:
    """Call ``check(theta, other)`` at ``draws`` Hypothesis-drawn pairs (reproducible)."""
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(max_examples=draws, derandomize=True, database=None, deadline=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(_strategy(ranges))
    def run(pair):
        check(np.array(pair[0], dtype=np.float64), np.array(pair[1], dtype=np.float64))

    run()


def _moments_for(family):
    """(theta, other) -> (Z, F, KL(theta || other), error estimate, dropped nodes) by the
    twin's rules for ``family`` (``twin_vector`` for a vector outcome or states)."""
    if family.is_vector or family.states is not None:
        from .twin_vector import vector_moments_fn

        return vector_moments_fn(family)
    regions = _regions(family)
    fns = [_moments_fn(r.log_density) for r in regions]
    return lambda theta, other: numeric_moments(family, theta, other, regions, fns)


def numeric_twin(family, fisher, kl, primed, normalization, ranges, draws: int = 20) -> TwinResult:
    """Compare the exact F (and KL, Z where given) with JAX autodiff + quadrature."""
    moments = _moments_for(family)
    exact_F = exact_evaluator(family.params, fisher)
    exact_kl = exact_evaluator((*family.params, *primed), kl) if kl is not None else None
    exact_z = exact_evaluator(family.params, normalization) if normalization is not None else None
    errors, kl_errors, z_errors, quad, dropped, points, crashes = [], [], [], [], [], [], []

    def check(theta, other):
        if crashes:  # one crash says it all; the remaining draws are skipped
            return
        try:
            compare(theta, other)
        except Exception as why:  # reported as the twin's failure, not as a traceback
            crashes.append(f"at theta = {theta.tolist()}: {type(why).__name__}: {why}")

    def compare(theta, other):
        z, F, kl_num, quad_error, n_dropped = moments(theta, other)
        F_exact = exact_F(*theta)
        errors.append(float(np.max(np.abs(F - F_exact)) / max(np.max(np.abs(F_exact)), 1e-300)))
        if exact_kl is not None:
            kl_exact = float(exact_kl(*theta, *other))
            # KL(theta || theta) = 0 may be 0/0 in a closed form (a removable singularity)
            if math.isfinite(kl_exact) or not np.array_equal(theta, other):
                kl_errors.append(abs(kl_num - kl_exact) / max(abs(kl_exact), 1e-6))
        if exact_z is not None:
            z_errors.append(abs(z - float(exact_z(*theta))))
        quad.append(quad_error)
        dropped.append(n_dropped)
        points.append(theta.tolist())

    _draw_points(ranges, draws, check)
    return _verdict(errors, kl_errors, z_errors, quad, dropped, points, crashes)


def numeric_normalization(family, ranges, draws: int = 20) -> tuple[float, int]:
    """(max |Z - 1|, points): Z = sum w pi by the twin's rules at Hypothesis-drawn
    parameters, for a density whose exact normalization did not close (not a proof)."""
    moments = _moments_for(family)
    gaps = []
    _draw_points(ranges, draws, lambda theta, _: gaps.append(abs(moments(theta, theta)[0] - 1.0)))
    return max(gaps), len(gaps)


def _verdict(errors, kl_errors, z_errors, quad, dropped, points, crashes=()) -> TwinResult:
    nan = float("nan")
    worst = max(errors) if errors else nan
    worst_kl = max(kl_errors) if kl_errors else None
    worst_z = max(z_errors) if z_errors else nan
    problems = list(crashes)
    if not errors or not worst <= TOLERANCE:
        problems.append(f"F relative error {worst:.2e} > {TOLERANCE:g}")
    if worst_kl is not None and not worst_kl <= TOLERANCE:
        problems.append(f"KL relative error {worst_kl:.2e} > {TOLERANCE:g}")
    if z_errors and not worst_z <= TOLERANCE:
        problems.append(f"normalization error {worst_z:.2e} > {TOLERANCE:g}")
    detail = (f"max rel error F {worst:.1e}" + (f", KL {worst_kl:.1e}" if worst_kl is not None else "")
              + f", |Z - Z_exact| {worst_z:.1e} at {len(errors)} Hypothesis-drawn points"
              + f"; quadrature error estimate {max(quad, default=0.0):.0e}")
    if any(dropped):
        detail += f"; {max(dropped)} node(s) dropped for non-finite values"
    if problems:
        detail = "; ".join(problems) + " (" + detail + ")"
    return TwinResult(not problems, worst, worst_kl, worst_z, max(quad, default=0.0), points, detail)
