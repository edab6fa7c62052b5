"""Issue 23 item 3: parameters that enter through nonlinear maps, and declared parameter
ranges used as convergence conditions. Exact Fishers against textbook forms (written here,
not from our output) at Hypothesis-drawn parameters; npg-derive end to end; and the same
files without their declaration, which must not pass."""

import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import npg_sym
from npg_sym.declared import declared_substitution, normalize_declared_ranges
from proofs.derive.cli import main

from textbook import EXAMPLES, check_against_textbook, derive_summary, exact_matrix


def test_gaussian_with_tanh_mean_and_log_scale():
    # N(m, sigma^2): F = diag(1, 2)/sigma^2 (Lehmann and Casella, Theory of Point
    # Estimation, 2nd ed., Table 2.6.1), reparameterized by m = tanh(a), sigma = e^s:
    # F' = J^T F J with J = diag(sech(a)^2, e^s) (the same book, sec. 2.6).
    def textbook(a, s):
        return np.diag([math.cosh(a) ** -4 * math.exp(-2 * s), 2.0])

    exact = exact_matrix("gaussian_tanh_mean", npg_sym.fisher)
    check_against_textbook(exact, lambda a, s: textbook(a, s), (st.floats(-2, 2), st.floats(-1, 1)), dps=30)


def test_nonlinear_parameters_end_to_end(tmp_path):
    summary = derive_summary("gaussian_tanh_mean", tmp_path)
    assert all(c["ok"] for c in summary["checks"])


def _row(summary, name):
    return next(c for c in summary["checks"] if c["name"] == name)


def test_declared_shape_closes_and_names_the_condition(tmp_path):
    summary = derive_summary("pareto_declared_shape", tmp_path)
    # E[x] and E[x^2] converge only for alpha > 2: the policy gradient row says so ...
    assert "needs alpha > 2 (declared)" in _row(summary, "policy gradient g = grad E[r]")["routes"]
    # ... and the rows that do not need it do not name it
    assert not any("declared" in r for r in _row(summary, "F = E[s s^T]")["routes"])
    # g = d/dalpha (r0 + r1 alpha/(alpha - 1) + r2 alpha/(alpha - 2)) (Pareto moments:
    # Johnson, Kotz and Balakrishnan vol. 1, ch. 20), at a point inside the range
    alpha, r1, r2 = sp.symbols("alpha r1 r2")
    g = sp.sympify(summary["gradient"][0]).subs({alpha: 3, r1: 1, r2: 1})
    assert abs(float(g) - (-1 / 4 - 2)) < 1e-12


def _without_declaration(name, tmp_path):
    text = (EXAMPLES / f"{name}.py").read_text()
    assert "    declared_ranges=" in text
    stripped = "\n".join(line for line in text.splitlines() if "declared_ranges=" not in line)
    path = tmp_path / f"{name}_undeclared.py"
    path.write_text(stripped + "\n")
    return path


def test_without_the_declaration_convergence_is_not_concluded(tmp_path):
    path = _without_declaration("pareto_declared_shape", tmp_path)
    summary_path = tmp_path / "summary.json"
    code = main([str(path), "--out", str(tmp_path), "--json", str(summary_path), "--draws", "2", "--quiet",
                 "--fallback-total", "2"])  # SymPy's general routes: only time
    row = _row(json.loads(summary_path.read_text()), "policy gradient g = grad E[r]")
    assert code == 1 and not row["ok"]
    assert "did not close" in row["detail"] and "declared" not in row["detail"]


_GEOMETRIC_F = []


@settings(max_examples=15, deadline=None)
@given(st.floats(0.01, 0.99))
def test_a_declared_probability_has_the_textbook_fisher(p):
    # Geometric: F = 1/(p^2 (1 - p)) (the negative binomial's r/(p^2 (1 - p)) with r = 1:
    # Johnson, Kemp and Kotz, Univariate Discrete Distributions, 3rd ed., ch. 5)
    if not _GEOMETRIC_F:
        _GEOMETRIC_F.append(exact_matrix("geometric_declared_p", npg_sym.fisher))
    with mpmath.workdps(30):
        got = _GEOMETRIC_F[0](p)[0, 0]
    want = 1 / (p**2 * (1 - p))
    assert abs(got - want) <= 1e-10 * want


def test_a_declared_probability_end_to_end(tmp_path):
    summary = derive_summary("geometric_declared_p", tmp_path)
    assert "needs 0 < p < 1 (declared)" in _row(summary, "normalized")["routes"]


def test_a_probability_without_its_declaration_does_not_pass(tmp_path):
    summary_path = tmp_path / "summary.json"
    path = _without_declaration("geometric_declared_p", tmp_path)
    code = main([str(path), "--out", str(tmp_path), "--json", str(summary_path), "--draws", "2", "--quiet",
                 "--fallback-total", "2"])  # SymPy's general routes: only time
    row = _row(json.loads(summary_path.read_text()), "normalized")
    assert code == 1 and not row["ok"]
    assert "converges only for |1 - p| < 1, not shown from the assumptions" in row["detail"]


def test_twin_ranges_must_lie_inside_the_declared_ones(tmp_path, capsys):
    text = (EXAMPLES / "pareto_declared_shape.py").read_text() + '\nPARAMETER_RANGES = {"alpha": (1.0, 3.0)}\n'
    (tmp_path / "f.py").write_text(text)
    code = main([str(tmp_path / "f.py"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "outside the declared range alpha > 2" in err, err


@pytest.mark.parametrize("given, message", [
    ({"nu": (2, sp.oo)}, "not a parameter"),
    ("bad", "must be a pair"),
    ({"p": (1, 1)}, "lo < hi"),
    ({"p": (-sp.oo, sp.oo)}, "not both infinite"),
])
def test_bad_declared_ranges_are_refused(given, message):
    p = sp.Symbol("p", positive=True)
    if given == "bad":
        given = {p: 3}
    else:
        given = {(sp.Symbol(k) if k == "nu" else p): v for k, v in given.items()}
    with pytest.raises(npg_sym.NPGInputError, match=message):
        normalize_declared_ranges((p,), given)


@pytest.mark.parametrize("lo, hi", [(2, sp.oo), (-sp.oo, 3), (0, 1), (-2, 5)])
def test_the_substitution_covers_the_range_exactly(lo, hi):
    # p(w) for w > 0 lies inside (lo, hi), and w(p(w)) = w: the map is onto the range
    p = sp.Symbol("p", real=True)
    forward, back, _ = declared_substitution(((p, sp.sympify(lo), sp.sympify(hi)),))
    (w, w_of_p), = back.items()
    assert sp.simplify(w_of_p.subs(p, forward[p]) - w) == 0
    inside = [forward[p] - lo if lo != -sp.oo else None, hi - forward[p] if hi != sp.oo else None]
    assert all(npg_sym.integrals.provably_positive(e) for e in inside if e is not None)


BERNOULLI = '''import sympy as sp
import npg_sym
p = sp.Symbol("p", real=True)
x = sp.Symbol("x", real=True)
FAMILY = npg_sym.Family("bernoulli_p", (p,), x, x * sp.log(p) + (1 - x) * sp.log(1 - p), (0, 1),
                        "Bernoulli(p)"{declared})
'''


def test_the_loader_takes_signs_from_a_declared_range(tmp_path, capsys):
    # log(p) and log(1 - p) of a real p: real only for 0 < p < 1
    path = tmp_path / "bernoulli.py"
    path.write_text(BERNOULLI.format(declared=""))
    assert main([str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "log pi needs 1 - p > 0" in err and "declared_ranges=" in err, err
    path.write_text(BERNOULLI.format(declared=", declared_ranges={p: (0, 1)}"))
    assert main([str(path), "--out", str(tmp_path), "--draws", "2", "--quiet"]) == 0
