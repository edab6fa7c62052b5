"""npg_sym's public API: every name of ``npg_sym.__all__`` is used by a test that checks what
it computes (the bookkeeping test fails for a name no test file mentions), and the names
the rest of the suite reaches only through other functions are checked here by value,
against results written from the textbook, not from our own output."""

import re
from pathlib import Path

import pytest
import sympy as sp

import npg_sym

TESTS = Path(__file__).resolve().parent


def _mentions(name: str) -> int:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return sum(len(pattern.findall(p.read_text())) for p in TESTS.glob("*.py")
               if p.name != Path(__file__).name)


_THIS = Path(__file__).read_text().split("# -- values", 1)[1]


@pytest.mark.parametrize("name", sorted(npg_sym.__all__))
def test_every_public_name_of_npg_sym_is_tested(name):
    assert getattr(npg_sym, name) is not None
    assert _mentions(name) + len(re.findall(rf"\b{re.escape(name)}\b", _THIS)) >= 1, (
        f"npg_sym.{name} is public but no test uses it")


# -- values ------------------------------------------------------------------------------------

mu, sigma, x = sp.symbols("mu sigma x", real=True)


def test_families_lookup_support_kinds_and_primed_symbols():
    gauss = npg_sym.get_family("gaussian_mean_std")
    assert npg_sym.get_family(gauss) is gauss
    with pytest.raises(npg_sym.NPGInputError):
        npg_sym.get_family("no_such_family")
    assert npg_sym.classify_support(sp.Interval(-sp.oo, sp.oo)) == "real_line"
    assert npg_sym.classify_support(sp.Interval(0, 1)) == "interval"
    assert npg_sym.classify_support((0, 1, 2)) == "finite"
    assert set(npg_sym.SUPPORT_KINDS) >= {"finite", "real_line", "half_line", "interval",
                                         "counts"}
    primes = npg_sym.primed(gauss)
    assert len(primes) == 2 and not set(primes) & set(gauss.params)
    assert [p.is_positive for p in primes] == [q.is_positive for q in gauss.params]


def test_integration_routes_are_the_ones_expectations_use():
    gauss = npg_sym.get_family("gaussian_mean_std")
    routes = npg_sym.integration_routes(gauss)
    assert routes[0] == "gaussian integral" and routes[-1] == "sympy.integrate"
    used = npg_sym.exact_expectation(gauss, gauss.outcome ** 3).routes
    assert set(used) - {"constant"} <= set(routes)
    assert npg_sym.integration_routes(npg_sym.categorical_softmax(3)) == ("finite sum",)
    assert not hasattr(npg_sym, "ROUTES")  # one ROUTES in the project: npg_num's FVP routes


def test_exact_expectations_of_the_gaussian():
    gauss = npg_sym.get_family("gaussian_mean_std")
    m, s = gauss.params
    x = gauss.outcome
    z = npg_sym.normalization(gauss)
    assert isinstance(z, npg_sym.ExpectationResult) and sp.simplify(z.value - 1) == 0
    second = npg_sym.exact_expectation(gauss, x ** 2)
    assert sp.simplify(second.value - (m ** 2 + s ** 2)) == 0 and second.routes
    # int exp(-x^2/2) (x^2 + 1) dx = 2 sqrt(2 pi)
    assert sp.simplify(npg_sym.gaussian_integral((x ** 2 + 1) * sp.exp(-x ** 2 / 2), x)
                       - 2 * sp.sqrt(2 * sp.pi)) == 0


def test_categorical_softmax_has_a_singular_fisher_with_the_ones_in_its_null_space():
    fam = npg_sym.categorical_softmax(3)
    F = npg_sym.fisher(fam)
    assert npg_sym.is_zero(npg_sym.det(F))
    basis = npg_sym.null_space(F)
    assert len(basis) == 1
    ones = sp.Matrix([1, 1, 1])
    assert npg_sym.is_zero(sp.Matrix(basis[0]).cross(ones).norm() ** 2)  # parallel to 1
    assert npg_sym.is_zero(npg_sym.tidy_matrix(F * ones).norm() ** 2)
    assert all(npg_sym.is_zero(e) for e in npg_sym.fisher_from_hessian(fam) - F)


def test_exact_rewriting_helpers():
    t = sp.Symbol("t", real=True)
    expr = sp.exp(t) / (1 + sp.exp(t)) - 1 / (1 + sp.exp(-t))
    assert npg_sym.is_zero(expr) and not npg_sym.is_zero(expr + t)
    assert npg_sym.tidy(sp.sin(t) ** 2 + sp.cos(t) ** 2) == 1
    rational, back, rational_everywhere = npg_sym.exp_to_rational(sp.exp(2 * t) + 1)
    u = rational.free_symbols.pop()
    assert rational_everywhere and rational == u ** 2 + 1 and u.is_positive
    assert back(rational) == sp.exp(2 * t) + 1
    a, b, c, d = sp.symbols("a b c d", real=True)
    m = sp.Matrix([[a, b], [c, d]])
    assert sp.expand(npg_sym.det(m) - (a * d - b * c)) == 0
    assert sp.expand(npg_sym.adjugate(m) - sp.Matrix([[d, -b], [-c, a]])) == sp.zeros(2)


def test_taylor_terms_and_the_kl_of_the_gaussian():
    eps = sp.Symbol("eps")
    terms = npg_sym.taylor_terms(sp.Lambda(eps, sp.exp(2 * eps)), 3)
    assert list(terms) == [1, 2, 2, sp.Rational(4, 3)]
    gauss = npg_sym.get_family("gaussian_mean_std")
    d = npg_sym.direction_symbols(gauss)
    assert len(d) == 2 and all(s.is_real for s in d)
    t0, t1, t2 = npg_sym.kl_taylor(gauss, 2, d)
    s = gauss.params[1]
    # KL quadratic term: 1/2 d^T F d with F = diag(1/s^2, 2/s^2)
    assert t0 == 0 and npg_sym.is_zero(t1)
    assert npg_sym.is_zero(t2 - (d[0] ** 2 / s ** 2 + 2 * d[1] ** 2 / s ** 2) / 2)


def test_trust_region_solution_has_every_stage():
    F = sp.diag(2, 8)
    g = sp.Matrix([2, 4])
    delta = sp.Rational(1, 8)
    sol = npg_sym.solve_trust_region(F, g, delta)
    assert isinstance(sol, npg_sym.TrustRegionSolution)
    gFg = (g.T * F.inv() * g)[0]  # = 4/2 + 16/8 = 4
    assert sp.simplify(sol.beta - sp.sqrt(2 * delta / gFg)) == 0
    assert sp.simplify(sol.step - sol.beta * F.inv() * g) == sp.zeros(2, 1)
    assert sol.null_basis == ()


def test_bandit_surrogate_taylor_is_eta_then_the_gradient():
    b = npg_sym.bandit("bernoulli_logit")
    assert isinstance(b, npg_sym.Bandit)
    d = npg_sym.direction_symbols(b.family)
    t0, t1 = npg_sym.surrogate_taylor(b, 1, d)
    assert npg_sym.is_zero(t0 - npg_sym.expected_reward(b))
    g = npg_sym.policy_gradient(b)
    assert npg_sym.is_zero(t1 - sum(gi * di for gi, di in zip(g, d)))


def test_geometry_of_polar_coordinates():
    polar = npg_sym.geometry.polar_to_cartesian()
    r, phi = polar.source
    G = npg_sym.pullback(npg_sym.euclidean_metric(2), polar)
    assert npg_sym.euclidean_metric(2) == sp.eye(2)
    assert sp.simplify(G - sp.diag(1, r ** 2)) == sp.zeros(2)  # ds^2 = dr^2 + r^2 dphi^2
    assert sp.simplify(npg_sym.metric_from_squared_distance(polar) - G) == sp.zeros(2)
    # a radial displacement at angle phi points along (cos phi, sin phi)
    assert sp.simplify(npg_sym.pushforward(sp.Matrix([1, 0]), polar)
                       - sp.Matrix([sp.cos(phi), sp.sin(phi)])) == sp.zeros(2, 1)
    # the gradient of w1 = x = r cos(phi): (cos phi, -r sin phi) in (r, phi)
    assert sp.simplify(npg_sym.pullback_covector(sp.Matrix([1, 0]), polar)
                       - sp.Matrix([sp.cos(phi), -r * sp.sin(phi)])) == sp.zeros(2, 1)


def test_reparameterization_and_sufficient_statistics():
    rep = npg_sym.get_reparameterization("gaussian_mean_std", "gaussian_mean_logstd")
    assert isinstance(rep, npg_sym.Reparameterization)
    assert isinstance(rep.map, npg_sym.CoordinateMap)
    m, s = rep.map.source
    assert sp.simplify(rep.jacobian() - sp.diag(1, 1 / s)) == sp.zeros(2)  # log s
    x = npg_sym.get_family("gaussian_natural").outcome
    assert tuple(npg_sym.sufficient_statistics("gaussian_natural")) == (x, x ** 2)


def test_kl_taylor_under_the_integral_equals_the_closed_form_terms():
    gauss = npg_sym.get_family("gaussian_mean_std")
    d = npg_sym.direction_symbols(gauss)
    closed = npg_sym.kl_taylor(gauss, 3, d)
    under = npg_sym.kl_taylor_under_integral(gauss, 3, d)
    assert all(npg_sym.is_zero(a - b) for a, b in zip(closed, under))


def test_a_transformed_family_carries_its_outcome_map():
    base = npg_sym.get_family("gaussian_unit_mean")
    u = base.outcome
    y = sp.Symbol("y", real=True)
    squashed = npg_sym.Family.transformed(base, y, sp.tanh(u), sp.atanh(y))
    omap = squashed.outcome_map
    assert isinstance(omap, npg_sym.OutcomeMap)
    assert omap.pull_back(y ** 2 + sp.atanh(y)) == sp.tanh(u) ** 2 + u
    # the Jacobian term: log pi_y(y) = log pi_u(atanh y) - log(1 - y^2)
    expected = base.log_prob.xreplace({u: sp.atanh(y)}) - sp.log(1 - y ** 2)
    assert npg_sym.is_zero(sp.expand_log(squashed.log_prob - expected, force=True))
