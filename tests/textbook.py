"""Helpers for the tests that hold an example family's exact results against textbook
closed forms (test_derive_heavy_tails, test_derive_bounded), and run it through
npg-derive as a person does."""

from __future__ import annotations

import json
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.derive import load_family
from proofs.derive.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "families"


def exact_matrix(name: str, quantity):
    """theta -> quantity(family) (a SymPy matrix of the example ``name``) as floats, the
    exact expression evaluated by mpmath at the working precision."""
    fam = load_family(str(EXAMPLES / f"{name}.py")).family
    fn = sp.lambdify(fam.params, quantity(fam), modules="mpmath")
    return lambda *theta: np.array(mpmath.matrix(fn(*theta)).tolist(), dtype=float)


def check_against_textbook(exact, textbook, draws, dps: int, examples: int = 15) -> None:
    """exact == textbook to 1e-10 (relative to its largest entry) at drawn parameters, one
    strategy in ``draws`` per parameter."""

    @settings(max_examples=examples, deadline=None)
    @given(st.tuples(*draws))
    def check(theta):
        with mpmath.workdps(dps):
            got = exact(*theta)
        want = textbook(*theta)
        assert np.max(np.abs(got - want)) <= 1e-10 * np.max(np.abs(want)), (theta, got, want)

    check()


def derive_summary(name: str, tmp_path: Path) -> dict:
    """``npg-derive EXAMPLE --json``: it exits 0 and its twin agrees to 1e-8; the summary."""
    summary_path = tmp_path / "summary.json"
    code = main([str(EXAMPLES / f"{name}.py"), "--out", str(tmp_path), "--json",
                 str(summary_path), "--draws", "3", "--quiet"])
    summary = json.loads(summary_path.read_text())
    assert code == 0, [c for c in summary["checks"] if not c["ok"]]
    assert summary["numeric"]["max_rel_error"] <= 1e-8
    return summary
