"""Exact expectations on every kind of support: each route against an independent number.

Laws (Hypothesis): a route's closed form, evaluated at drawn shapes, equals a numeric
integral of the same integrand (the twin's double-exponential rules, themselves checked
in test_derive.py) or a direct sum, to 1e-10. Then what a route must
refuse (divergence not excluded by the assumptions, unknown convergence), what happens
when nothing closes (NotClosedError naming every route, never an unevaluated Integral),
the time budgets, and the Family's support validation.
"""

import math
import signal
import time

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import npg_sym
from npg_sym import Family, NPGInputError, NotClosedError
from npg_sym.budget import OutOfTime, time_limit
from npg_sym.integrals import (
    RouteDoesNotApply,
    bessel_k_integral,
    beta_integral,
    besselk_half_integer,
    gamma_integral,
    parse_term,
    power_integral,
    split_log_density,
)
from npg_sym.series import power_series_sum
from proofs.derive import quadrature

v = sp.Symbol("v", positive=True)
shapes = st.fractions(min_value="1/4", max_value=4, max_denominator=8).map(sp.Rational)
powers = st.fractions(min_value="1/2", max_value=3, max_denominator=4).map(sp.Rational)


def close_to(exact, numeric, rtol=1e-10):
    value = complex(sp.N(exact, 30))
    assert abs(value.imag) < 1e-20
    assert abs(value.real - float(numeric)) <= rtol * max(1.0, abs(float(numeric))), (exact, numeric)


def form(term, log_density):
    return parse_term(term, v).times(split_log_density(log_density, v))


H = 1 / 64
U, W = quadrature.half_line_nodes(H)  # int_0^oo du, double-exponential rule
L, WL = quadrature.from_end_nodes(0.5, H)  # int_0^(1/2) du, accurate near 0


@given(s=shapes, q=powers, b=shapes, m=st.integers(0, 2))
def test_gamma_integral_matches_quadrature(s, q, b, m):
    """int_0^oo v^(s-1) log(v)^m exp(-b v^q) dv: Gamma derivatives vs quadrature."""
    exact = gamma_integral(form(sp.log(v) ** m, (s - 1) * sp.log(v) - b * v**q), v)
    log_u = np.log(U)
    with np.errstate(over="ignore"):  # u^q overflows where exp(-b u^q) is 0 anyway
        f = np.exp((float(s) - 1) * log_u - float(b) * U ** float(q)) * log_u**m
    close_to(exact, np.sum(W * f))


@given(order=st.integers(-3, 3), a=shapes, b=shapes)
def test_bessel_k_integral_matches_quadrature(order, a, b):
    """int_0^oo v^(s-1) exp(-a v - b/v) dv with half-integer s: the elementary K form."""
    s = sp.Rational(2 * order + 1, 2)
    exact = bessel_k_integral(form(sp.Integer(1), (s - 1) * sp.log(v) - a * v - b / v), v)
    assert not exact.has(sp.besselk)
    close_to(exact, np.sum(W * np.exp((float(s) - 1) * np.log(U) - float(a) * U - float(b) / U)))
    close_to(besselk_half_integer(s, sp.Rational(3, 2)), mpmath.besselk(float(s), 1.5), rtol=1e-14)


@given(p=shapes, q=shapes, m=st.integers(0, 2), n=st.integers(0, 2))
def test_beta_integral_matches_quadrature(p, q, m, n):
    """int_0^1 v^(p-1) (1-v)^(q-1) log(v)^m log(1-v)^n dv, each half of (0, 1) in the
    distance to its own end (log1p keeps log(1 - v) accurate near 0)."""
    term = sp.log(v) ** m * sp.log(1 - v) ** n
    exact = beta_integral(form(term, (p - 1) * sp.log(v) + (q - 1) * sp.log(1 - v)), v)
    p, q = float(p), float(q)

    def f(a, b, log_a, log_b):  # a = v, b = 1 - v
        return np.exp((p - 1) * log_a + (q - 1) * log_b) * log_a**m * log_b**n

    left = f(L, 1 - L, np.log(L), np.log1p(-L))
    right = f(1 - L, L, np.log1p(-L), np.log(L))
    close_to(exact, np.sum(WL * (left + right)))


@given(s=shapes, m=st.integers(0, 2))
def test_power_integral_matches_quadrature(s, m):
    """int_1^oo x^(-s-1) log(x)^m dx and int_0^1 x^(s-1) log(x)^m dx."""
    tail = power_integral(form(sp.log(v) ** m, (-s - 1) * sp.log(v)), v, sp.Integer(1), sp.oo)
    head = power_integral(form(sp.log(v) ** m, (s - 1) * sp.log(v)), v, sp.Integer(0), sp.Integer(1))
    s = float(s)
    close_to(tail, np.sum(W * np.exp((-s - 1) * np.log1p(U)) * np.log1p(U) ** m))
    halves = (np.exp((s - 1) * np.log(L)) * np.log(L) ** m
              + np.exp((s - 1) * np.log1p(-L)) * np.log1p(-L) ** m)
    close_to(head, np.sum(WL * halves))


@given(rate=shapes, k=st.integers(0, 3), r=st.integers(1, 4), odds=st.integers(1, 6))
def test_power_series_match_direct_sums(rate, k, r, odds):
    """Poisson, geometric and negative-binomial kernels times n^k vs sums to 3000 terms."""
    n = sp.Symbol("n", integer=True, nonnegative=True)
    z = sp.Rational(odds, 7)  # |z| < 1
    j = np.arange(3000, dtype=np.float64)
    lgamma = np.vectorize(math.lgamma)
    kernels = [
        (n * sp.log(rate) - sp.log(sp.gamma(n + 1)), j * math.log(rate) - lgamma(j + 1)),
        (n * sp.log(z), j * math.log(z)),
        (sp.log(sp.binomial(n + r - 1, n)) + n * sp.log(z),
         lgamma(j + r) - lgamma(j + 1) - math.lgamma(r) + j * math.log(z)),
    ]
    for log_kernel, log_terms in kernels:
        exact = power_series_sum(n**k, log_kernel, n)
        close_to(exact, math.fsum(j**k * np.exp(log_terms)))


def test_routes_refuse_what_the_assumptions_do_not_settle():
    t = sp.Symbol("t", real=True)
    with pytest.raises(RouteDoesNotApply, match="s/q"):  # int_0^oo v^(t-1) e^-v: t > 0 unknown
        gamma_integral(form(sp.Integer(1), (t - 1) * sp.log(v) - v), v)
    with pytest.raises(RouteDoesNotApply, match="rate b"):
        gamma_integral(form(sp.Integer(1), -t * v), v)
    p, n = sp.Symbol("p", positive=True), sp.Symbol("n", integer=True, nonnegative=True)
    with pytest.raises(RouteDoesNotApply, match=r"\|p\| < 1"):
        power_series_sum(sp.Integer(1), n * sp.log(p), n)


def exponential(log_prob=None, support=sp.Interval(0, sp.oo)):
    lam, x = sp.Symbol("lam", positive=True), sp.Symbol("x", positive=True)
    lp = sp.log(lam) - lam * x if log_prob is None else log_prob(lam, x)
    return Family("exp", (lam,), x, lp, support, "")


def test_expectation_routes_are_recorded_and_the_constant_route_needs_no_integral():
    fam = exponential()
    (lam,), x = fam.params, fam.outcome
    with npg_sym.record_expectations() as records:
        assert sp.simplify(npg_sym.expectation(fam, x**2) - 2 / lam**2) == 0
        assert npg_sym.expectation(fam, lam**3) == lam**3
    assert records[0].routes == ("gamma integral",)
    assert records[1].routes == ("constant",)


def von_mises():
    mu, kappa = sp.Symbol("mu", real=True), sp.Symbol("kappa", positive=True)
    x = sp.Symbol("x", real=True)
    return Family("von_mises", (mu, kappa), x,
                  kappa * sp.cos(x - mu) - sp.log(2 * sp.pi * sp.besseli(0, kappa)),
                  sp.Interval(-sp.pi, sp.pi), "")


def test_von_mises_mean_resultant_closes_by_circular_moments():
    """E[cos(x - mu)] = I_1(kappa) / I_0(kappa) (Mardia and Jupp, Directional Statistics, 3.5.17)."""
    fam = von_mises()
    (mu, kappa), x = fam.params, fam.outcome
    r = npg_sym.exact_expectation(fam, sp.cos(x - mu))
    assert r.routes == ("circular moments",)
    assert sp.simplify(r.value - sp.besseli(1, kappa) / sp.besseli(0, kappa)) == 0


def test_no_route_closes_a_non_periodic_integrand_and_the_error_names_every_route():
    """x sin(x) under a von Mises law: x is not periodic, so no route applies."""
    fam = von_mises()
    x = fam.outcome
    start = time.perf_counter()
    with npg_sym.fallback_budget(per_call=1.0), pytest.raises(NotClosedError) as err:
        npg_sym.expectation(fam, x * sp.sin(x))
    assert time.perf_counter() - start < 20
    routes = [route for route, _ in err.value.tried]
    assert routes == ["circular moments", "truncated gaussian integral", "beta integral",
                      "sympy.integrate"], routes
    assert "could not be derived exactly" in str(err.value) and "E[" in str(err.value)


def test_the_general_route_is_skipped_once_its_total_budget_is_spent():
    fam = exponential()
    x = fam.outcome
    with npg_sym.fallback_budget(per_call=1.0, total=0.0), pytest.raises(NotClosedError, match="spent"):
        npg_sym.expectation(fam, sp.sin(x))


def test_time_limit_interrupts_and_keeps_an_outer_timer():
    signal.setitimer(signal.ITIMER_REAL, 100.0)  # as pytest-timeout's alarm would be
    previous = signal.signal(signal.SIGALRM, lambda *a: None)
    try:
        with pytest.raises(OutOfTime, match="busy loop"):
            with time_limit(0.2, "busy loop"):
                while True:
                    pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < left <= 100  # re-armed, less the time spent
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_out_of_time_is_not_swallowed_by_except_exception():
    with pytest.raises(OutOfTime):
        with time_limit(0.1, "guarded"):
            try:
                while True:
                    pass
            except Exception:  # SymPy has such handlers; the budget must get through
                pass


@pytest.mark.parametrize("support, kind", [
    ((0, 1), "finite"), (None, "real_line"), (sp.Reals, "real_line"),
    (sp.Interval(-sp.oo, sp.oo), "real_line"), (sp.Interval(0, sp.oo), "half_line"),
    (sp.Interval(-sp.oo, 3), "half_line"), (sp.Interval(0, 1), "interval"),
    (sp.Naturals0, "counts"),
])
def test_supported_supports(support, kind):
    assert npg_sym.classify_support(support) == kind


@pytest.mark.parametrize("support, message", [
    (sp.Integers, "unsupported support"), ([0, 1], "unsupported support"),
    ((), "non-empty tuple"), (sp.Interval(0, sp.Symbol("c", positive=True)), "must not depend"),
    (sp.Interval(1, 1), "unsupported support"), (sp.Naturals, "unsupported support"),
])
def test_unsupported_supports_are_refused_with_the_allowed_ones(support, message):
    with pytest.raises(NPGInputError, match=message):
        exponential(support=support)


def test_fisher_from_kl_takes_the_limit_where_the_kl_is_0_over_0():
    a, b = sp.symbols("a b", real=True)
    assert npg_sym.limits.value_at((sp.exp(a) - sp.exp(b)) / (a - b), {b: a}, "slope") == sp.exp(a)
    with pytest.raises(NotClosedError, match="limit"):
        npg_sym.limits.value_at(sp.sin(1 / (a - b)) * 0 + 1 / (a - b), {b: a}, "pole")


def test_log_change_onto_gamma_closes_the_gumbel_moments():
    """x = -log(y) maps exp(-(x - mu) - e^-(x - mu)) dx onto a Gamma integral in y."""
    mu, x = sp.Symbol("mu", real=True), sp.Symbol("x", real=True)
    fam = Family("gumbel", (mu,), x, -(x - mu) - sp.exp(-(x - mu)), None, "")
    with npg_sym.record_expectations() as records:
        mean = npg_sym.expectation(fam, x)
        var = npg_sym.expectation(fam, (x - mean) ** 2)
    assert sp.simplify(mean - (mu + sp.EulerGamma)) == 0
    assert sp.simplify(var - sp.pi**2 / 6) == 0
    assert "log change onto gamma" in records[0].routes


def test_points_plus_power_series_closes_a_zero_inflated_poisson():
    z, t = sp.symbols("z t", real=True)
    n = sp.Symbol("n", integer=True, nonnegative=True)
    p0 = 1 / (1 + sp.exp(-z))
    poisson = n * t - sp.exp(t) - sp.loggamma(n + 1)
    fam = Family("zip", (z, t), n, sp.Piecewise(
        (sp.log(p0 + (1 - p0) * sp.exp(-sp.exp(t))), sp.Eq(n, 0)), (sp.log(1 - p0) + poisson, True)),
        sp.Naturals0, "")
    assert npg_sym.normalization(fam).value == 1
    result = npg_sym.exact_expectation(fam, n)
    assert result.routes == ("points + power series",)
    assert sp.simplify(result.value - (1 - p0) * sp.exp(t)) == 0
