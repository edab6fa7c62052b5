"""Bounded actions (issue 23 item 1): the tanh-squashed Gaussian (a transformed outcome),
the Beta and the truncated Gaussian on [-1, 1]. Their exact Fishers against textbook
closed forms written here from the references (never from our own output), at
Hypothesis-drawn parameters to 1e-10; each family end to end through npg-derive (every
check passes, the numeric twin agrees to 1e-8); ``Family.transformed`` refusing maps it
cannot treat."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import strategies as st

import npg_sym
from proofs.derive import load_family

from textbook import EXAMPLES, check_against_textbook, derive_summary, exact_matrix

LOCATION = st.floats(-1.0, 1.0)
SCALE = st.floats(0.2, 3.0)
SHAPE = st.floats(0.1, 20.0)


def _gaussian(m, s):
    # N(m, s^2): F = diag(1, 2) / s^2 (Lehmann and Casella, Theory of Point Estimation,
    # 2nd ed., Table 2.6.1). y = tanh(u) is invertible and free of theta, so y's Fisher is
    # u's (the same book, sec. 2.6: information is unchanged by a one-to-one map of the data).
    return np.diag([1.0, 2.0]) / s**2


def _beta(p, q):
    # Beta(p, q): F = [[psi1(p) - psi1(p+q), -psi1(p+q)], [-psi1(p+q), psi1(q) - psi1(p+q)]]
    # (Johnson, Kotz and Balakrishnan, Continuous Univariate Distributions vol. 2, ch. 25).
    t = mpmath.psi(1, p + q)
    return np.array([[mpmath.psi(1, p) - t, -t], [-t, mpmath.psi(1, q) - t]], dtype=float)


def _truncated_gaussian(m, s):
    # N(m, s^2) on [-1, 1]; z = (x - m)/s on [a, b]. log pi = -z^2/2 - log(s Z) with Z the
    # mass, so the score is (z, z^2)/s less its mean and F = Cov(z, z^2) / s^2. Moments of z
    # by the recurrence m_k = (k - 1) m_(k-2) + (a^(k-1) phi(a) - b^(k-1) phi(b)) / Z
    # (Johnson, Kotz and Balakrishnan vol. 1, sec. 13.10.1).
    with mpmath.workdps(40):
        a, b = (-1 - mpmath.mpf(m)) / s, (1 - mpmath.mpf(m)) / s
        mass = mpmath.ncdf(b) - mpmath.ncdf(a)
        moments = [mpmath.mpf(1), (mpmath.npdf(a) - mpmath.npdf(b)) / mass]
        for k in (2, 3, 4):
            ends = a ** (k - 1) * mpmath.npdf(a) - b ** (k - 1) * mpmath.npdf(b)
            moments.append((k - 1) * moments[k - 2] + ends / mass)
        m1, m2, m3, m4 = moments[1:]
        cov = [[m2 - m1**2, m3 - m1 * m2], [m3 - m1 * m2, m4 - m2**2]]
        return np.array([[float(c / s**2) for c in row] for row in cov])


TEXTBOOK_F = {
    "tanh_gaussian": (_gaussian, (LOCATION, SCALE)),
    "beta_two_shapes": (_beta, (SHAPE, SHAPE)),
    "truncated_gaussian": (_truncated_gaussian, (LOCATION, SCALE)),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK_F))
def test_exact_fisher_is_the_textbook_one(name):
    textbook, draws = TEXTBOOK_F[name]
    check_against_textbook(exact_matrix(name, npg_sym.fisher), textbook, draws, dps=40)


@pytest.mark.parametrize("name", sorted(TEXTBOOK_F))
def test_npg_derive_passes_and_the_twin_agrees(tmp_path, name):
    summary = derive_summary(name, tmp_path)
    rows = {c["name"] for c in summary["checks"]}
    assert ("F = F of the base" in rows) == (name == "tanh_gaussian")


def test_expectations_of_a_transformed_outcome_are_taken_on_the_base():
    fam = load_family(str(EXAMPLES / "tanh_gaussian.py")).family
    y = fam.outcome
    (mu, sigma) = fam.params
    with npg_sym.record_expectations() as records:
        value = npg_sym.expectation(fam, sp.atanh(y) ** 2)
    assert sp.simplify(value - (mu**2 + sigma**2)) == 0
    assert records[-1].routes[0] == "onto the base (y = tanh(u))"


BASE = npg_sym.FAMILIES["gaussian_mean_std"]
U = BASE.outcome
Y = sp.Symbol("y", real=True)


@pytest.mark.parametrize("args, message", [
    ((Y, sp.tanh(U) + BASE.params[0], sp.atanh(Y)), "may depend only on"),
    ((Y, sp.tanh(U), sp.atanh(Y) / 2), "not its inverse"),
    ((Y, sp.tanh(U), sp.atanh(Y) + sp.Symbol("c")), "the inverse .* may depend only on y"),
    ((Y, sp.cos(U), sp.acos(Y)), "strictly monotone"),
    ((U, sp.tanh(U), sp.atanh(U)), "must be a symbol other than"),
])
def test_transformed_refuses_maps_it_cannot_treat(args, message):
    with pytest.raises(npg_sym.NPGInputError, match=message):
        npg_sym.Family.transformed(BASE, *args)


def test_transformed_refuses_a_discrete_base():
    with pytest.raises(npg_sym.NPGInputError, match="discrete"):
        npg_sym.Family.transformed(npg_sym.FAMILIES["bernoulli_logit"], Y,
                                   2 * sp.Symbol("x", real=True), Y / 2)


def test_a_truncated_gaussian_mass_is_shown_positive_and_a_reversed_one_is_not():
    """erf is increasing: c (erf(p) - erf(q)) > 0 when c > 0 and p - q > 0, and only then."""
    from npg_sym.integrals import provably_positive

    mu, s = sp.Symbol("mu", real=True), sp.Symbol("s", positive=True)
    assert provably_positive(sp.erf((1 - mu) / s) - sp.erf((-1 - mu) / s))
    assert provably_positive(3 * s * (sp.erf(mu + 2) - sp.erf(mu)))
    assert not provably_positive(sp.erf(mu) - sp.erf(mu + 1))
    assert not provably_positive(sp.erf(mu) - sp.erf(2 * mu))  # the sign depends on mu
