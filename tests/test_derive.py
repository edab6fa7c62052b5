"""npg-derive end to end: registry families as user files, textbook Fishers, a wrong family,
bad input, the JSON summary, the numeric twin's quadrature, and the layering.

Most runs call ``main`` in this process (SymPy and JAX imported once); one runs the
installed console script in a subprocess, as a person would.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import npg_sym
from npg_sym import is_zero as exactly_zero
from proofs.derive import load_family, quadrature
from proofs.derive.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "families"
PINNED = ("family", "params", "fisher", "beta", "checks", "numeric")


def derive(tmp_path, target, *extra):
    out = tmp_path / "out"
    summary = tmp_path / "summary.json"
    code = main([str(target), "--out", str(out), "--json", str(summary), "--draws", "5", *extra])
    return code, (json.loads(summary.read_text()) if summary.exists() else None)


def parsed(summary, text):
    """A JSON string back to SymPy, each symbol with the assumptions the summary records."""
    names = {name: sp.Symbol(name, **assumptions) for name, assumptions in summary["symbols"].items()}
    return sp.sympify(text, locals=names)


def fisher_of(summary):
    return sp.Matrix([[parsed(summary, e) for e in row] for row in summary["fisher"]])


@pytest.mark.parametrize("key", sorted(npg_sym.FAMILIES))
def test_registry_families_written_as_files_give_npg_syms_F_and_beta(tmp_path, key):
    code, summary = derive(tmp_path, EXAMPLES / "registry" / f"{key}.py")
    assert code == 0, [c for c in summary["checks"] if not c["ok"]]
    fam = npg_sym.FAMILIES[key]
    assert summary["params"] == [p.name for p in fam.params]
    F = npg_sym.fisher(fam)
    assert all(exactly_zero(e) for e in fisher_of(summary) - F)
    delta = sp.Symbol("delta", positive=True)
    _, beta = npg_sym.natural_step(F, npg_sym.policy_gradient(npg_sym.bandit(fam)), delta)
    assert exactly_zero(parsed(summary, summary["beta"]) - beta)
    assert summary["numeric"]["max_rel_error"] <= 1e-8


TEXTBOOK = {
    "exponential_rate": lambda lam: sp.Matrix([[1 / lam**2]]),
    "poisson_lograte": lambda t: sp.Matrix([[sp.exp(t)]]),
    "inverse_gaussian": lambda mu, lam: sp.diag(lam / mu**3, 1 / (2 * lam**2)),
    "gamma_shape_rate": lambda k, b: sp.Matrix([[sp.polygamma(1, k), -1 / b], [-1 / b, k / b**2]]),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_textbook_fishers(tmp_path, name):
    code, summary = derive(tmp_path, EXAMPLES / f"{name}.py")
    assert code == 0, [c for c in summary["checks"] if not c["ok"]]
    params = [parsed(summary, p) for p in summary["params"]]
    expected = TEXTBOOK[name](*params)
    assert all(exactly_zero(e) for e in fisher_of(summary) - expected)
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["F = Hess KL"]["ok"] and checks["F = -E[Hess log pi]"]["ok"]
    assert checks["numeric twin"]["ok"] and summary["numeric"]["max_rel_error"] <= 1e-8


def test_the_json_summary_has_the_pinned_keys_and_parses(tmp_path):
    code, summary = derive(tmp_path, EXAMPLES / "inverse_gaussian.py")
    assert code == 0 and set(PINNED) <= set(summary)
    assert summary["family"] == "inverse_gaussian" and summary["params"] == ["mu", "lam"]
    for row in summary["fisher"]:  # plain sympify, no locals: the pinned contract
        assert all(isinstance(sp.sympify(e), sp.Expr) for e in row)
    assert sp.sympify(summary["beta"]).has(sp.Symbol("delta"))
    assert all({"name", "ok"} <= set(c) for c in summary["checks"])
    assert summary["checks"][0]["name"] == "normalized"
    assert isinstance(summary["numeric"]["max_rel_error"], float)


def test_an_unnormalized_density_exits_1_naming_the_check(tmp_path, capsys):
    code, summary = derive(tmp_path, EXAMPLES / "unnormalized_exponential.py")
    assert code == 1 and summary["exit_code"] == 1 and not summary["ok"]
    err = capsys.readouterr().err
    assert "FAIL normalized" in err and "1/lam, not 1" in err
    failed = {c["name"] for c in summary["checks"] if not c["ok"]}
    assert {"normalized", "score has mean 0"} <= failed


def write(tmp_path, body, name="family.py"):
    path = tmp_path / name
    path.write_text("import sympy as sp\nimport npg_sym\n" + textwrap.dedent(body))
    return path


GOOD = """
lam = sp.Symbol("lam", positive=True)
x = sp.Symbol("x", positive=True)
"""
FAMILY = 'FAMILY = npg_sym.Family("f", ({params}), x, {log_prob}, {support}, "")\n'


def family_file(params="lam,", log_prob="sp.log(lam) - lam * x", support="sp.Interval(0, sp.oo)",
                symbols=GOOD):
    return symbols + FAMILY.format(params=params, log_prob=log_prob, support=support)


BAD_INPUTS = {
    "missing file": (None, "no such file"),
    "no FAMILY": ("x = 1\n", "defines no FAMILY"),
    "FAMILY not a Family": ("FAMILY = 3\n", "not an npg_sym.Family"),
    "syntax error": ("FAMILY = (\n", "syntax error"),
    "the file raises": ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
    "a parameter without assumptions": (
        family_file(symbols='lam = sp.Symbol("lam")\nx = sp.Symbol("x", positive=True)\n'),
        "parameter 'lam' has no assumptions"),
    "real where log needs positive": (
        family_file(symbols='lam = sp.Symbol("lam", real=True)\nx = sp.Symbol("x", positive=True)\n'),
        "declare it with positive=True"),
    "an unsupported support": (family_file(support="sp.Integers"), "unsupported support"),
    "a support that depends on theta": (family_file(support="sp.Interval(0, lam)"), "must not depend"),
    "a name sympify reads as a function": (
        family_file(params="beta,", log_prob="sp.log(beta) - beta * x",
                    symbols='beta = sp.Symbol("beta", positive=True)\nx = sp.Symbol("x", positive=True)\n'),
        "rename the symbol 'beta'"),
    "a stray symbol": (family_file(log_prob="sp.log(lam) - lam * x * sp.Symbol('c')"), "neither parameters"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    body, message = BAD_INPUTS[case]
    target = tmp_path / "missing.py" if body is None else write(tmp_path, body)
    code = main([str(target), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("npg-derive: error: "), err
    assert message in err and "Traceback" not in err


def test_the_console_script_as_a_person_runs_it(tmp_path):
    """The installed npg-derive: rows, a report beside the file, exit codes 0 / 2."""
    script = Path(sys.executable).with_name("npg-derive")
    assert script.exists(), "npg-derive is not installed (make test installs it; so does pip install .)"
    target = tmp_path / "exponential_rate.py"
    target.write_text((EXAMPLES / "exponential_rate.py").read_text())
    proc = subprocess.run([str(script), str(target), "--draws", "3"], capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if " PASS " in line or " FAIL " in line]
    assert len(rows) == 12 and all(" PASS " in r for r in rows)
    assert rows[0].startswith("normalized") and rows[-1].startswith("numeric twin")
    report = (tmp_path / "exponential_rate.report.md").read_text()
    assert "| F = Hess KL | PASS |" in report and "$$" in report and "## Numeric twin" in report
    bad = subprocess.run([str(script), str(tmp_path / "nope.py")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_a_family_that_does_not_close_fails_with_the_routes_tried(tmp_path, capsys):
    # a von Mises law in 2x (normalized: Z = 2 pi I0(kappa) over any whole period), which
    # the circular route does not centre (it needs cos(x - c)) and no other route closes
    body = family_file(params="mu, kappa",
                       log_prob="kappa * sp.cos(2 * x - mu) - sp.log(2 * sp.pi * sp.besseli(0, kappa))",
                       support="sp.Interval(-sp.pi, sp.pi)",
                       symbols='mu = sp.Symbol("mu", real=True)\nkappa = sp.Symbol("kappa", positive=True)\n'
                               'x = sp.Symbol("x", real=True)\n')
    code, summary = derive(tmp_path, write(tmp_path, body), "--fallback-seconds", "1",
                           "--fallback-total", "3")
    assert code == 1
    first = summary["checks"][0]
    assert first["name"] == "normalized" and not first["ok"]
    assert "did not close" in first["detail"] and "beta integral" in first["detail"]
    assert "numerically |Z - 1| <= " in first["detail"] and "not shown exactly" in first["detail"]
    assert summary["fisher"] is None and summary["numeric"]["max_rel_error"] is None
    assert "needs F" in {c["name"]: c for c in summary["checks"]}["numeric twin"]["detail"]


def test_a_wrong_exact_fisher_is_caught_by_the_twin():
    from proofs.derive.twin import numeric_twin

    loaded = load_family(str(EXAMPLES / "gamma_shape_rate.py"))
    fam = loaded.family
    F = npg_sym.fisher(fam)
    k, b = fam.params
    good = numeric_twin(fam, F, None, (), sp.Integer(1), loaded.ranges, draws=4)
    wrong = numeric_twin(fam, F + sp.Matrix([[0, 0], [0, 1e-6 * k / b**2]]), None, (),
                         sp.Integer(1), loaded.ranges, draws=4)
    assert good.ok and good.max_rel_error < 1e-12
    assert not wrong.ok and 1e-8 < wrong.max_rel_error < 1e-5


@given(a=st.floats(0.3, 5.0), b=st.floats(0.3, 5.0))
def test_quadrature_rules_on_known_integrals(a, b):
    """The twin's rules: Gamma(a) on the half-line, B(a, b) on (0, 1) split at 1/2 (each
    half in the distance to its end), N(a, b^2) on the line (centred and scaled as the twin
    places it); all to 1e-12."""
    from scipy import special

    u, w = quadrature.half_line_nodes(1 / 32)
    assert np.isclose(np.sum(w * np.exp((a - 1) * np.log(u) - u)), special.gamma(a), rtol=1e-12)
    v, wv = quadrature.from_end_nodes(0.5, 1 / 32)
    halves = np.exp((a - 1) * np.log(v) + (b - 1) * np.log1p(-v)) + np.exp(
        (a - 1) * np.log1p(-v) + (b - 1) * np.log(v))
    assert np.isclose(np.sum(wv * halves), special.beta(a, b), rtol=1e-12)
    x, wx = quadrature.real_line_nodes(1 / 32, center=a, scale=b)
    with np.errstate(over="ignore"):
        normal = np.exp(-((x - a) ** 2) / (2 * b**2)) / (b * np.sqrt(2 * np.pi))
    assert np.isclose(np.sum(wx * normal), 1.0, rtol=1e-12)


def test_the_bridge_imports_jax_only_for_the_twin():
    code = "import sys, proofs.derive, proofs.derive.cli; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@given(a=st.floats(-2.0, 2.0), b=st.floats(0.3, 3.0))
def test_split_rule_integrates_a_kink_to_full_accuracy(a, b):
    """A Laplace density has a kink at its location: split there, the rule keeps 1e-12."""
    x, w = quadrature.split_line_nodes(1 / 32, [a], scale=b)
    with np.errstate(over="ignore"):
        density = np.exp(-np.abs(x - a) / b) / (2 * b)
    assert np.isclose(np.sum(w * density), 1.0, rtol=1e-12)
    assert np.isclose(np.sum(w * density * np.abs(x - a)), b, rtol=1e-12)


def test_file_colon_name_picks_another_variable(tmp_path):
    body = family_file() + 'OTHER = npg_sym.Family("g", (lam,), x, sp.log(2 * lam) - 2 * lam * x, sp.Interval(0, sp.oo), "")\n'
    target = write(tmp_path, body)
    code, summary = derive(tmp_path, f"{target}:OTHER")
    assert code == 0 and summary["family"] == "g" and summary["variable"] == "OTHER"
    assert sp.simplify(fisher_of(summary)[0] - 1 / parsed(summary, "lam") ** 2) == 0
    assert (tmp_path / "out" / "family.OTHER.report.md").exists()


@pytest.mark.parametrize("argv, message", [
    (["--draws", "0"], "--draws must be >= 1"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    ([], "the following arguments are required"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, argv, message):
    target = [str(write(tmp_path, family_file()))] if argv else []
    try:
        code = main([*target, *argv])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


SYMBOLS_MU_G = 'mu = sp.Symbol("mu", real=True)\ng = sp.Symbol("g", positive=True)\nx = sp.Symbol("x", real=True)\n'
NORMAL = "-(x - mu)**2 / (2 * g**2) - sp.log(g) - sp.log(2 * sp.pi) / 2"
ISSUE_23_BAD_FILES = {
    "params without the comma": (family_file(params="lam"), "write params=(lam,) with the comma"),
    "params as a list": (family_file(params="[lam]"), "params must be a tuple"),
    "outcome named like a parameter, other assumptions": (
        'lam = sp.Symbol("lam", positive=True)\nx = sp.Symbol("lam", real=True)\n'
        + FAMILY.format(params="lam,", log_prob="sp.log(lam) - lam * x", support="sp.Interval(0, sp.oo)"),
        "the outcome and a parameter are both named 'lam'"),
    "a parameter named delta": (
        family_file(params="delta, g", log_prob=NORMAL.replace("mu", "delta"), support="None",
                    symbols=SYMBOLS_MU_G.replace('"mu"', '"delta"').replace("mu =", "delta =")),
        "'delta' is reserved"),
    "a parameter named r1": (
        family_file(params="r1, g", log_prob=NORMAL.replace("mu", "r1"), support="None",
                    symbols=SYMBOLS_MU_G.replace('"mu"', '"r1"').replace("mu =", "r1 =")),
        "'r1' is reserved"),
    "a parameter named like a primed one": (
        family_file(params="mu_, g", log_prob=NORMAL.replace("mu", "mu_"), support="None",
                    symbols=SYMBOLS_MU_G.replace('"mu"', '"mu_"').replace("mu =", "mu_ =")),
        "'mu_' is reserved"),
    "NO_KL_CLOSED_FORM not a sentence": (family_file() + "NO_KL_CLOSED_FORM = 3\n",
                                         "NO_KL_CLOSED_FORM must be a sentence"),
}


@pytest.mark.parametrize("case", sorted(ISSUE_23_BAD_FILES))
def test_bad_family_files_exit_2_with_one_line(tmp_path, capsys, case):
    body, message = ISSUE_23_BAD_FILES[case]
    code = main([str(write(tmp_path, body)), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("npg-derive: error: "), err
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv, message", [
    (["--check-seconds", "nan"], "--check-seconds must be a finite number of seconds > 0"),
    (["--check-seconds", "inf"], "--check-seconds must be a finite number of seconds > 0"),
    (["--fallback-total", "0"], "--fallback-total must be a finite number of seconds > 0"),
    (["--json", "{family}"], "is the family file itself"),
    (["--json", "{tmp}"], "is a folder, not a file"),
    (["--json", "{family}/summary.json"], "cannot be written"),  # under a file, not a folder
])
def test_bad_budgets_and_outputs_are_refused_before_the_derivation(tmp_path, capsys, argv, message):
    target = write(tmp_path, family_file())
    before = target.read_text()
    argv = [a.format(family=target, tmp=tmp_path) for a in argv]
    code = main([str(target), "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr()
    assert code == 2 and err.err.count("\n") == 1 and message in err.err, err.err
    assert err.out == "" and not (tmp_path / "out").exists()  # nothing derived, nothing written
    assert target.read_text() == before


def _fail_with(exc):
    def derivation(*args, **kwargs):
        raise exc
    return derivation


def test_an_internal_error_is_one_line_naming_the_saved_traceback(tmp_path, capsys, monkeypatch):
    """A bug inside npg-derive: exit 70, one line naming the file that holds the traceback."""
    import tempfile

    import proofs.derive.cli as cli

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cli, "run_derivation", _fail_with(RuntimeError("planted bug")))
    code = main([str(write(tmp_path, family_file())), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 70 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("npg-derive: internal error: RuntimeError: planted bug"), err
    saved = [p for p in tmp_path.glob("npg-derive-traceback-*.txt") if str(p) in err]
    assert len(saved) == 1, err
    assert "Traceback" in saved[0].read_text() and "planted bug" in saved[0].read_text()


def test_ctrl_c_is_exit_130_and_one_line(tmp_path, capsys, monkeypatch):
    import proofs.derive.cli as cli

    monkeypatch.setattr(cli, "run_derivation", _fail_with(KeyboardInterrupt()))
    code = main([str(write(tmp_path, family_file())), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 130 and err == "npg-derive: interrupted\n", err
