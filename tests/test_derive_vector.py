"""Vector actions and state-conditional policies (issue 24): each example's exact Fisher
against its textbook closed form, written here from the references (never from our own
output), at Hypothesis-drawn parameters to 1e-10; the numeric twin (blocks, tensor rules,
states as weighted nodes) within its tolerance, and failing on a wrong F; bad input in one
line; the bridge to the trainer's Gaussian MLP head (npg_num's Gauss-Newton FVP)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import strategies as st
from scipy import special

import npg_num
import npg_sym
from proofs.derive import FamilyFileError, load_family
from proofs.derive.twin import TOLERANCE, numeric_twin

from textbook import EXAMPLES, check_against_textbook, derive_summary, exact_matrix

REAL = st.floats(-1.5, 1.5)
POSITIVE = st.floats(0.3, 3.0)


def _diagonal_gaussian(m1, m2, m3, s1, s2, s3):
    # N(mu, sigma^2) in (mu, log sigma): I = diag(1/sigma^2, 2) (Lehmann and Casella, Theory
    # of Point Estimation, 2nd ed., sec. 2.6: I(mu, sigma) = diag(1, 2)/sigma^2, and
    # d sigma/d s = sigma); independent coordinates add their informations.
    return np.diag([math.exp(-2 * s) for s in (s1, s2, s3)] + [2.0, 2.0, 2.0])


def _categorical(*logits):
    # The softmax family is exponential with the one-hot statistic T: F = Cov[T] =
    # diag(p) - p p^T (Amari and Nagaoka, Methods of Information Geometry, sec. 2.2).
    p = special.softmax(np.array(logits, dtype=float))
    return np.diag(p) - np.outer(p, p)


def _dirichlet(a1, a2, a3):
    # Minka (2000), "Estimating a Dirichlet distribution": the Hessian of the log-likelihood
    # is -diag(psi1(a_k)) + psi1(a0), so F_ij = psi1(a_i) [i = j] - psi1(a0).
    a = np.array([a1, a2, a3])
    return np.diag(special.polygamma(1, a)) - special.polygamma(1, a.sum())


def _cholesky_gaussian(m1, m2, l11, l21, l22):
    # Kay, Fundamentals of Statistical Signal Processing I (1993), eq. (3.31):
    # F_ij = d_i mu^T Sigma^-1 d_j mu + tr(Sigma^-1 d_i Sigma Sigma^-1 d_j Sigma) / 2.
    L = np.array([[l11, 0.0], [l21, l22]])
    sigma_inv = np.linalg.inv(L @ L.T)
    d_mu = [np.array([1.0, 0.0]), np.array([0.0, 1.0])] + [np.zeros(2)] * 3
    d_sigma = [np.zeros((2, 2))] * 2
    for i, j in ((0, 0), (1, 0), (1, 1)):  # l11, l21, l22
        dL = np.zeros((2, 2))
        dL[i, j] = 1.0
        d_sigma.append(dL @ L.T + L @ dL.T)
    return np.array([[d_mu[i] @ sigma_inv @ d_mu[j]
                      + np.trace(sigma_inv @ d_sigma[i] @ sigma_inv @ d_sigma[j]) / 2
                      for j in range(5)] for i in range(5)])


def _states_average(states, per_state):
    return sum(w * per_state(s) for s, w in states)


def _linear_gaussian(w1, w2, q, states=((-1, 1 / 2), (0, 1 / 3), (2, 1 / 6))):
    # Kakade (2001), "A natural policy gradient": F(theta) = E_{s ~ rho}[F_s(theta)]; for
    # a ~ N(w^T phi(s), e^(2q)), F_s = [[phi phi^T e^(-2q), 0], [0, 2]] (Kay eq. (3.31)).
    def at(s):
        phi = np.array([1.0, s])
        out = np.zeros((3, 3))
        out[:2, :2] = np.outer(phi, phi) * math.exp(-2 * q)
        out[2, 2] = 2.0
        return out

    return _states_average(states, at)


def _linear_softmax(w1, w2):
    # Kakade (2001): for a log-linear policy F = E_s[Cov_{a ~ pi(.|s)}[phi(s, a)]]; here
    # phi(s, a) = (a, a s), a in {0, 1}, so Cov = p (1 - p) (1, s)(1, s)^T.
    def at(s):
        p = 1 / (1 + math.exp(-(w1 + w2 * s)))
        phi = np.array([1.0, s])
        return p * (1 - p) * np.outer(phi, phi)

    return _states_average(((0, 0.25), (1, 0.25), (2, 0.5)), at)


TEXTBOOK_F = {
    "diagonal_gaussian": (_diagonal_gaussian, (REAL,) * 6),
    "categorical_softmax4": (_categorical, (REAL,) * 4),
    "dirichlet3": (_dirichlet, (POSITIVE,) * 3),
    "gaussian2d_cholesky": (_cholesky_gaussian, (REAL, REAL, POSITIVE, REAL, POSITIVE)),
    "linear_gaussian_states": (_linear_gaussian, (REAL,) * 3),
    "linear_gaussian_gaussian_states": (
        # s ~ N(1, 4): E[phi phi^T] = [[1, E s], [E s, E s^2]] = [[1, 1], [1, 5]].
        lambda w1, w2, q: np.block([[np.array([[1.0, 1.0], [1.0, 5.0]]) * math.exp(-2 * q),
                                     np.zeros((2, 1))], [np.zeros((1, 2)), np.array([[2.0]])]]),
        (REAL,) * 3),
    "linear_softmax_states": (_linear_softmax, (REAL,) * 2),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK_F))
def test_exact_fisher_is_the_textbook_one(name):
    # -E[Hess log pi], the cheapest exact route; npg-derive checks that the other two agree.
    textbook, draws = TEXTBOOK_F[name]
    check_against_textbook(exact_matrix(name, npg_sym.fisher_from_hessian), textbook, draws,
                           dps=30, examples=6)


@pytest.mark.parametrize("name", ["diagonal_gaussian", "linear_softmax_states"])
def test_score_outer_product_route_is_the_textbook_one_too(name):
    textbook, draws = TEXTBOOK_F[name]
    check_against_textbook(exact_matrix(name, npg_sym.fisher), textbook, draws, dps=30, examples=5)


def _family(name):
    return load_family(str(EXAMPLES / f"{name}.py"))


@pytest.mark.parametrize("name", sorted(TEXTBOOK_F))
def test_numeric_twin_agrees_within_its_tolerance(name):
    loaded = _family(name)
    fam = loaded.family
    F = npg_sym.fisher_from_hessian(fam)
    twin = numeric_twin(fam, F, None, (), sp.Integer(1), loaded.ranges, draws=1)
    assert twin.ok, twin.detail
    assert twin.max_rel_error <= TOLERANCE and twin.normalization_max_error <= TOLERANCE


@pytest.mark.parametrize("name", ["gaussian2d_cholesky", "linear_softmax_states"])
def test_numeric_twin_fails_on_a_wrong_fisher(name):
    loaded = _family(name)
    F = npg_sym.fisher_from_hessian(loaded.family)
    twin = numeric_twin(loaded.family, F * (1 + sp.Rational(1, 10**6)), None, (), sp.Integer(1),
                        loaded.ranges, draws=1)
    assert not twin.ok and twin.max_rel_error > TOLERANCE


def test_npg_derive_end_to_end_on_states(tmp_path):
    """Every row passes, the twin agrees, and the JSON names the outcome and the states."""
    summary = derive_summary("linear_softmax_states", tmp_path)
    assert summary["outcomes"] == ["a"] and summary["outcome"] == "a"
    assert summary["states"] == {"symbol": "s", "kind": "finite", "values": ["0", "1", "2"],
                                 "weights": ["1/4", "1/4", "1/2"]}
    routes = {r for c in summary["checks"] for r in c["routes"]}
    assert "finite states" in routes
    kl = sp.sympify(summary["kl"])
    assert kl.free_symbols <= {sp.Symbol(n) for n in ("w1", "w2", "w1_", "w2_")}


def test_vector_expectations_factor_and_the_simplex_is_normalized():
    fam = _family("dirichlet3").family
    assert fam.is_vector and fam.support is npg_sym.SIMPLEX and fam.support_kind == "simplex"
    assert fam.outcomes == fam.outcome
    result = npg_sym.exact_expectation(fam, fam.outcome[0])
    a1, a2, a3 = fam.params
    assert sp.simplify(result.value - a1 / (a1 + a2 + a3)) == 0  # E[x1] = a1 / a0
    assert "stick-breaking onto (0, 1)^2" in result.routes
    assert npg_sym.normalization(fam).value == 1
    assert "stick-breaking onto the unit cube" in npg_sym.integration_routes(fam)


def test_a_product_of_a_gaussian_a_count_and_a_coin_has_the_block_diagonal_fisher():
    """Independent coordinates of three kinds: F is block-diagonal with each one's textbook
    F: N(w, 1) in w: 1; Poisson with log-rate t: e^t; Bernoulli with logit q: p (1 - p)
    (Lehmann and Casella, sec. 2.6)."""
    w, t, q = sp.symbols("w t q", real=True)
    x, c = sp.symbols("x c", real=True)
    n = sp.Symbol("n", integer=True, nonnegative=True)
    fam = npg_sym.Family(
        "mixed", (w, t, q), (x, n, c),
        -(x - w) ** 2 / 2 - sp.log(2 * sp.pi) / 2 + n * t - sp.exp(t) - sp.loggamma(n + 1)
        + c * q - sp.log(1 + sp.exp(q)), (None, sp.Naturals0, (0, 1)), "")
    p = sp.exp(q) / (1 + sp.exp(q))
    want = sp.diag(1, sp.exp(t), p * (1 - p))
    assert (npg_sym.fisher(fam) - want).applyfunc(sp.simplify) == sp.zeros(3, 3)
    assert npg_sym.normalization(fam).value == 1


def test_the_full_covariance_gaussian_closes_by_its_moments_and_by_fubini():
    fam = _family("gaussian2d_cholesky").family
    m1, m2, l11, l21, l22 = fam.params
    x1, x2 = fam.outcome
    # Cov(x1, x2) = (L L^T)_12 = l11 l21, by the moments of N(m, L L^T)
    value = npg_sym.exact_expectation(fam, (x1 - m1) * (x2 - m2))
    assert sp.simplify(value.value - l11 * l21) == 0
    assert "gaussian moments (Isserlis)" in value.routes
    # E[e^(x1 + x2)] = e^(1^T m + 1^T Sigma 1 / 2) (the normal moment generating function): not
    # a polynomial, so one coordinate at a time
    value = npg_sym.exact_expectation(fam, sp.exp(x1 + x2))
    want = sp.exp(m1 + m2 + (l11**2 + 2 * l11 * l21 + l21**2 + l22**2) / 2)
    assert sp.simplify(value.value / want) == 1
    assert "fubini (x2, then x1)" in value.routes


def test_gaussian_states_average_the_state_moments():
    fam = _family("linear_gaussian_gaussian_states").family
    s = fam.states.symbol
    assert sp.simplify(npg_sym.exact_expectation(fam, s**2).value - 5) == 0  # 4 + 1^2
    assert "gaussian states" in npg_sym.exact_expectation(fam, s).routes


BAD_FILES = {
    "support of the wrong length": (
        "FAMILY = npg_sym.Family('f', (m,), (x, y), -(x - m)**2/2 - y**2/2, (None,), '')",
        "tuple of 2 coordinate supports"),
    "weights that do not sum to 1": (
        "FAMILY = npg_sym.Family('f', (m,), x, -(x - m*s)**2/2, None, '', "
        "states=npg_sym.States.finite(s, {0: 0.5, 1: 0.25}))", "sum to 1"),
    "a state without assumptions": (
        "FAMILY = npg_sym.Family('f', (m,), x, -(x - m)**2/2, None, '', "
        "states=npg_sym.States.gaussian(sp.Symbol('t'), 0, 1))", "real=True"),
    "a negative state variance": (
        "FAMILY = npg_sym.Family('f', (m,), x, -(x - m*s)**2/2, None, '', "
        "states=npg_sym.States.gaussian(s, 0, -1))", "positive number"),
    "a state named like a parameter": (
        "FAMILY = npg_sym.Family('f', (m,), x, -(x - m)**2/2, None, '', "
        "states=npg_sym.States.finite(sp.Symbol('m', real=True), {0: 1}))",
        "the state and a parameter are both named 'm'"),
    "a repeated outcome symbol": (
        "FAMILY = npg_sym.Family('f', (m,), (x, x), -(x - m)**2, None, '')", "distinct"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_vector_or_state_input_is_one_sentence(tmp_path, case):
    body, words = BAD_FILES[case]
    path = tmp_path / "bad.py"
    path.write_text("import sympy as sp\nimport npg_sym\n"
                    "m = sp.Symbol('m', real=True)\nx, y, s = sp.symbols('x y s', real=True)\n" + body + "\n")
    with pytest.raises(FamilyFileError) as err:
        load_family(str(path))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_npg_derive_exits_2_with_one_line_on_a_bad_vector_file(tmp_path, capsys):
    from proofs.derive.cli import main

    path = tmp_path / "bad.py"
    path.write_text("import sympy as sp\nimport npg_sym\nm = sp.Symbol('m', real=True)\n"
                    "x, y = sp.symbols('x y', real=True)\n"
                    "FAMILY = npg_sym.Family('f', (m,), (x, y), -(x - m)**2 - y**2, sp.Interval(0, 1), '')\n")
    assert main([str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "npg_sym.SIMPLEX" in err


def test_the_json_summary_names_a_vector_outcome_and_no_states():
    from proofs.derive.report import json_summary
    from proofs.derive.symbolic import SymbolicDerivation

    loaded = _family("diagonal_gaussian")
    result = SymbolicDerivation(loaded.family, loaded.bandit, sp.Symbol("delta", positive=True))
    summary = json_summary(loaded, result, None, 1, 1)
    assert summary["outcome"] == summary["outcomes"] == ["x1", "x2", "x3"]
    assert summary["states"] is None and summary["support_kind"] == "product"
    assert {"x1", "x2", "x3", "m1", "s3"} <= set(summary["symbols"])
    # the default reward of a vector outcome: r0 + sum_i (r x_i + r' x_i^2)
    assert sp.sympify(summary["reward"]).free_symbols == {sp.Symbol(n) for n in (
        "x1", "x2", "x3", *(f"r{i}" for i in range(7)))}


def test_the_diagonal_gaussian_is_the_output_fisher_of_the_gauss_newton_route():
    """Item 4: npg-derive's exact F of the diagonal Gaussian in d = action size (theta =
    (mean, log-std)) is DIAG_GAUSSIAN's closed-form output Fisher, and J^T F J averaged over
    states with that F is npg_num's Gauss-Newton FVP of an MLP policy, densified."""
    d = 2
    namespace = {}
    exec((EXAMPLES / "diagonal_gaussian.py").read_text(), namespace)
    fam = namespace["diagonal_gaussian"](d)
    F_exact = sp.lambdify(fam.params, npg_sym.fisher(fam), modules="numpy")

    def F_out(mean, log_std):
        return np.asarray(F_exact(*np.asarray(mean), *np.asarray(log_std)), dtype=float)

    head = npg_num.DIAG_GAUSSIAN
    mean, log_std = jnp.array([0.3, -1.2]), jnp.array([0.4, -0.7])
    basis = jnp.eye(2 * d)
    dense_head = jnp.stack([jnp.concatenate(head.fisher_vp((mean, log_std), (u[:d], u[d:])))
                            for u in basis], axis=1)
    np.testing.assert_allclose(np.asarray(dense_head), F_out(mean, log_std), rtol=1e-12, atol=0)

    policy, theta = npg_num.mlp_policy(jax.random.PRNGKey(0), 3, d, hidden=(5,),
                                       head="diag_gaussian", log_std_init=-0.3, dtype=jnp.float64)
    theta = theta + 0.1 * jax.random.normal(jax.random.PRNGKey(1), theta.shape, jnp.float64)
    obs = jax.random.normal(jax.random.PRNGKey(2), (4, 3), jnp.float64)

    def policy_fn(t):
        return policy.apply(t, obs)

    @jax.jit  # one compiled program: op-by-op dispatch is most of the cost otherwise
    def gn_route_and_jacobians(t):
        gn = npg_num.densify(npg_num.make_fvp(policy_fn, head, t, route="gn"), t.size)
        return gn, jax.jacobian(policy_fn)(t), policy_fn(t)

    gn, (jac_mean, jac_log_std), (means, log_stds) = gn_route_and_jacobians(theta)  # jac: [N, d, P]
    gn = np.asarray(gn)
    want = np.zeros((theta.size, theta.size))
    for n in range(obs.shape[0]):
        J = np.concatenate([np.asarray(jac_mean[n]), np.asarray(jac_log_std[n])])  # [2d, P]
        want += J.T @ F_out(means[n], log_stds[n]) @ J / obs.shape[0]
    np.testing.assert_allclose(gn, want, rtol=1e-10, atol=1e-12 * np.max(np.abs(want)))
