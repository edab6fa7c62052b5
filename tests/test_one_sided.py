"""npg_sym.one_sided (derivatives across a kink |a| at the point) and the kink route's
second kink (|x - mu'| under a Laplace law): values against independent computations,
and the refusals that keep a non-smooth point from passing."""

import mpmath
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import npg_sym
from npg_sym.one_sided import hessian_at, taylor_at_kink

m, n = sp.symbols("m n", real=True)
b = sp.Symbol("b", positive=True)
x = sp.Symbol("x", real=True)
LAPLACE = npg_sym.Family("laplace", (m, b), x, -sp.log(2 * b) - sp.Abs(x - m) / b, None, "Laplace")


def test_a_c2_kink_has_its_one_sided_hessian():
    # (m - n)^2 / 2 + |m - n|^3 is C^2 in n at n = m with second derivative 1
    f = (m - n) ** 2 / 2 + sp.Abs(m - n) ** 3 + b * n
    assert hessian_at(f, [n, b], {n: m}, "H") == sp.Matrix([[1, 1], [1, 0]])


@pytest.mark.parametrize("f", [sp.Abs(m - n), (m - n) ** 2 * sp.sign(m - n), sp.Abs(m - n) * b])
def test_a_kink_that_is_not_c2_is_refused(f):
    # |m - n| (gradient jumps), (m - n)^2 sign(m - n) (second derivative jumps), |m - n| b
    # (the b-derivative of the two sides differs on the kink)
    with pytest.raises(npg_sym.NotClosedError, match="one-sided pieces"):
        hessian_at(f, [n, b], {n: m}, "H")


def test_taylor_terms_across_a_kink():
    eps = sp.Symbol("eps", real=True)
    assert taylor_at_kink(eps**2 + sp.Abs(eps) ** 3, eps, 2, "T") == (0, 0, 1)
    with pytest.raises(npg_sym.NotClosedError, match="term 1 differs"):
        taylor_at_kink(sp.Abs(eps), eps, 2, "T")


@settings(max_examples=10, deadline=None)
@given(st.floats(-2, 2), st.floats(0.3, 3), st.floats(-2, 2))
@example(0.4, 1.0, 0.4)  # the two kinks at one point
def test_second_kink_against_quadrature(mu, scale, mu2):
    # E[x |x - n| + sign(x - n) x^2] is not even in n - m: both cases and the sign(r) join
    f = x * sp.Abs(x - n) + sp.sign(x - n) * x**2
    exact = _exact(f)(mu, scale, mu2)

    def integrand(t):
        return (t * abs(t - mu2) + mpmath.sign(t - mu2) * t**2) * mpmath.exp(-abs(t - mu) / scale) / (2 * scale)

    with mpmath.workdps(30):
        kinks = sorted({mu, mu2})
        want = mpmath.quad(integrand, [-mpmath.inf, *kinks, mpmath.inf])
    assert abs(exact - want) <= 1e-10 * max(1, abs(want))


_CACHE = {}


def _exact(f):
    if f not in _CACHE:
        value = npg_sym.expectation(LAPLACE, f)
        assert not value.has(sp.Integral)
        _CACHE[f] = sp.lambdify((m, b, n), value, modules="mpmath")
    return _CACHE[f]
