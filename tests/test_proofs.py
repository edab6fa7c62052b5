"""The proofs runner: one row per claim, PASS/FAIL and seconds, a report, exit codes."""

import re
import subprocess
import sys
import types

import pytest
import sympy as sp

import proofs
from proofs import ProofError
from proofs.__main__ import discover, main

FOUNDATION_CLAIMS = ["C3", "C4", "C5", "C6", "K3"]
ROW = re.compile(r"^(?P<claim>[CK]\d+)\s+(?P<status>PASS|FAIL)\s+(?P<secs>\d+\.\d+)s\s+\S")


def test_every_foundation_claim_has_a_proof():
    found = discover()
    for claim in FOUNDATION_CLAIMS:
        assert claim in found
        module = found[claim]
        assert callable(module.derive) and callable(module.main)
        assert not module.__name__.split(".")[-1][-1].isdigit()  # named after its conclusion


def test_unknown_claim_is_a_usage_error(capsys):
    assert main(["C99"]) == 2
    assert "unknown claim C99" in capsys.readouterr().err


def test_a_failing_identity_fails_the_claim(tmp_path, monkeypatch, capsys):
    """A proof whose identity does not simplify to 0 is a FAIL and the runner exits 1."""
    bogus = types.ModuleType("proofs.bogus")
    bogus.CLAIM, bogus.TITLE, bogus.STATEMENT = "C3", "bogus", "x = x + 1"

    def derive(d):
        x = sp.Symbol("x", real=True)
        d.identity("x = x + 1", x, x + 1)

    bogus.derive = derive
    monkeypatch.setattr("proofs.__main__.discover", lambda: {"C3": bogus})
    assert main(["--report", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert re.search(r"^C3\s+FAIL", captured.out, re.M)
    assert "identity 'x = x + 1' failed" in captured.err


def test_undecided_sign_is_a_failure():
    d = proofs.Derivation("C0", "t", "s")
    with pytest.raises(ProofError, match="not shown"):
        d.require("x > 0", sp.Symbol("x", real=True).is_positive)


def test_full_runner_in_a_subprocess(tmp_path):
    """`python -m proofs` as a user runs it: one row per claim in claim order, every claim
    PASS, exit 0, and the report with each claim's section in LaTeX and its row."""
    out = subprocess.run(
        [sys.executable, "-m", "proofs", "--report", str(tmp_path)],
        capture_output=True, text=True, timeout=600,  # no speed asserted: a loaded machine
    )
    rows = [ROW.match(line) for line in out.stdout.splitlines() if ROW.match(line)]
    assert out.returncode == 0, out.stdout + out.stderr
    claims = [r["claim"] for r in rows]
    assert set(FOUNDATION_CLAIMS) <= set(claims)
    assert claims == list(discover())  # each once, in the runner's claim order
    assert all(r["status"] == "PASS" for r in rows)
    report = (tmp_path / "derivations.md").read_text()
    assert "## C3: KL is quadratic to second order" in report
    assert "$$" in report and r"\frac" in report  # LaTeX from sympy.latex
    assert all(f"| {claim} | PASS |" in report for claim in claims)


def _report_without_clock(path) -> str:
    """The report with its generation time and the seconds column taken out."""
    text = path.read_text()
    text = re.sub(r"^Generated .*$", "", text, flags=re.M)
    return re.sub(r"^\| ([CK]\d+) \| (PASS|FAIL) \| [\d.]+ \|", r"| \1 | \2 | - |", text, flags=re.M)


def test_one_process_or_two_write_the_same_report(tmp_path, capsys):
    """The claims are independent: run in 2 worker processes or in this one, the rows come
    in claim order and the report is the same but for the clock."""
    assert main(["C7", "C6", "--jobs", "2", "--report", str(tmp_path / "two")]) == 0
    two = capsys.readouterr().out
    assert main(["C7", "C6", "--jobs", "1", "--report", str(tmp_path / "one")]) == 0
    one = capsys.readouterr().out
    for out in (one, two):
        assert [m["claim"] for m in map(ROW.match, out.splitlines()) if m] == ["C7", "C6"]
    assert "in 2 processes" in two and "processes" not in one
    assert _report_without_clock(tmp_path / "one" / "derivations.md") == \
        _report_without_clock(tmp_path / "two" / "derivations.md")


def test_jobs_must_be_positive(capsys):
    assert main(["C6", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_workers_end_with_a_runner_killed_by_sigkill(tmp_path):
    """SIGKILL cannot be caught, so the runner cannot stop its workers: they notice their
    parent is gone and end themselves instead of running on (or waiting) forever."""
    import os
    import signal
    import time

    runner = subprocess.Popen([sys.executable, "-m", "proofs", "--jobs", "2", "--report",
                               str(tmp_path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def workers():
        out = subprocess.run(["ps", "-o", "pid=,ppid=", "-e"], capture_output=True, text=True)
        return [int(p) for p, pp in (ln.split() for ln in out.stdout.splitlines())
                if int(pp) == runner.pid]

    deadline = time.time() + 120
    while len(workers()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    found = workers()
    assert len(found) >= 2, "the runner started no workers"
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in found):
        time.sleep(0.2)
    assert not [p for p in found if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
