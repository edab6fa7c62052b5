"""``npg-derive FILE.py[:NAME] [--json PATH] [--out DIR]``: derive and verify a user's family.

Prints one row per check (name, PASS/FAIL, seconds, detail), writes a Markdown/LaTeX
report beside FILE.py (``STEM.report.md``, or ``STEM.NAME.report.md``) or under
``--out DIR``, and with ``--json PATH`` a machine-readable summary.

Exit codes: 0 every exact check passes and the numeric twin agrees (relative error
<= 1e-8); 1 a check fails (a quantity that did not close fails its check); 2 bad input
(one line on stderr, no traceback); 130 Ctrl-C; 70 an internal error (one line naming the
file that holds its traceback). The error policy is ``npg_num.console.run_main``, the one
every console script shares.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from .. import _core
from .loader import FamilyFileError, LoadedFamily, load_family
from .report import json_summary, markdown_report, row, write_json, write_text
from .symbolic import Check, derive_exactly

__all__ = ["main", "run_derivation"]

PROG = "npg-derive"


def _parser() -> argparse.ArgumentParser:
    from npg_num.console import OneLineParser  # errors are one line (UsageError), exit 2

    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("target", metavar="FILE.py[:NAME]", help="a file defining FAMILY (or NAME) = npg_sym.Family(...)")
    p.add_argument("--json", metavar="PATH", help="write the JSON summary here")
    p.add_argument("--out", metavar="DIR", help="write the report here (default: beside FILE.py)")
    p.add_argument("--draws", type=int, default=20, metavar="N",
                   help="Hypothesis-drawn parameter points for the numeric twin (default 20)")
    p.add_argument("--check-seconds", type=float, default=120.0, metavar="S",
                   help="time budget of each exact check (default 120)")
    p.add_argument("--fallback-seconds", type=float, default=20.0, metavar="S",
                   help="budget of each call to SymPy's general integrate/summation (default 20)")
    p.add_argument("--fallback-total", type=float, default=120.0, metavar="S",
                   help="budget of all those calls together (default 120)")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    return p


def _twin_check(loaded: LoadedFamily, result, draws: int):
    """The numeric twin's row, and its result (None when F did not close)."""
    start = time.perf_counter()
    if result.fisher is None:
        return Check("numeric twin", False, 0.0, "needs F, which did not close"), None
    from .twin import numeric_twin  # JAX is imported only here, after the exact checks

    try:
        twin = numeric_twin(result.family, result.fisher, result.kl, result.primed,
                            result.normalization, loaded.ranges, draws)
    except Exception as why:
        return Check("numeric twin", False, time.perf_counter() - start,
                     f"{type(why).__name__}: {why}"), None
    return Check("numeric twin", twin.ok, time.perf_counter() - start, twin.detail), twin


def _numeric_normalization_note(loaded: LoadedFamily, result, draws: int) -> None:
    """When Z did not close exactly, say whether the density is normalized numerically
    (the row stays FAIL: a number is not a proof)."""
    row = next(c for c in result.checks if c.name == "normalized")
    if row.ok or not row.detail.startswith("did not close"):
        return
    from .twin import numeric_normalization

    try:
        gap, points = numeric_normalization(loaded.family, loaded.ranges, draws)
        note = f"numerically |Z - 1| <= {gap:.1e} at {points} Hypothesis-drawn points (not shown exactly)"
    except Exception as why:
        note = f"the numeric normalization failed too: {type(why).__name__}: {why}"
    row.detail = f"{note}; {row.detail}"


def run_derivation(loaded: LoadedFamily, draws: int = 20, check_seconds: float = 120.0,
                   fallback=(20.0, 120.0), on_row=None):
    """(result, twin, derivation): every exact check, then the numeric twin."""
    import npg_sym

    derivation = _core.Derivation(loaded.family.name, "exact derivation", loaded.family.description)
    with npg_sym.fallback_budget(*fallback):
        result = derive_exactly(loaded.family, loaded.bandit, derivation, check_seconds, on_row,
                                loaded.no_kl_closed_form)
    check, twin = _twin_check(loaded, result, draws)
    _numeric_normalization_note(loaded, result, draws)
    result.checks.append(check)
    if on_row is not None:
        on_row(check)
    return result, twin, derivation


def _report_path(loaded: LoadedFamily, out: str | None) -> Path:
    stem = loaded.path.stem if loaded.variable == "FAMILY" else f"{loaded.path.stem}.{loaded.variable}"
    folder = Path(out) if out else loaded.path.parent
    return folder / f"{stem}.report.md"


def _check_budgets(args) -> None:
    if args.draws < 1:
        raise FamilyFileError(f"--draws must be >= 1, got {args.draws}")
    for flag, value in (("--check-seconds", args.check_seconds), ("--fallback-seconds", args.fallback_seconds),
                        ("--fallback-total", args.fallback_total)):
        if not (math.isfinite(value) and value > 0):
            raise FamilyFileError(f"{flag} must be a finite number of seconds > 0, got {value}")


def _writable(path: Path, what: str, family_file: Path) -> None:
    """Refuse, before any derivation, an output that would overwrite the family file or
    that cannot be written (a folder, a read-only place)."""
    if path.resolve() == family_file.resolve():
        raise FamilyFileError(f"{what} {path} is the family file itself; choose another path")
    if path.is_dir():
        raise FamilyFileError(f"{what} {path} is a folder, not a file")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise FamilyFileError(f"{what} {path} cannot be written ({folder} is not a writable folder)")


def _prepare(args) -> tuple[LoadedFamily, Path]:
    _check_budgets(args)
    loaded = load_family(args.target)
    report = _report_path(loaded, args.out)
    _writable(report, "the report", loaded.path)
    if args.json:
        _writable(Path(args.json), "--json", loaded.path)
    return loaded, report


def _derive_and_write(argv: list[str] | None) -> int:
    """The command itself; bad input raises ``UsageError`` (run_main: one line, exit 2)."""
    from npg_num.console import UsageError

    args = _parser().parse_args(argv)
    try:
        loaded, report = _prepare(args)
    except FamilyFileError as why:
        raise UsageError(str(why)) from None
    start = time.perf_counter()
    on_row = None if args.quiet else (lambda c: print(row(c), flush=True))
    result, twin, derivation = run_derivation(
        loaded, args.draws, args.check_seconds, (args.fallback_seconds, args.fallback_total), on_row)
    code = 0 if result.ok else 1
    command = " ".join([PROG, *(argv if argv is not None else sys.argv[1:])])
    try:
        write_text(report, markdown_report(loaded, result, twin, derivation, command))
        if args.json:
            write_json(Path(args.json), json_summary(loaded, result, twin, args.draws, code))
    except OSError as why:
        raise UsageError(f"cannot write the report: {why}") from None
    failed = [c for c in result.checks if not c.ok]
    passed = len(result.checks) - len(failed)
    print(f"{loaded.family.name}: {passed}/{len(result.checks)} checks pass in "
          f"{time.perf_counter() - start:.1f}s; report: {report}")
    for c in failed:
        print(f"{PROG}: FAIL {c.name}: {c.detail}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``npg-derive``; returns the exit code (module docstring).

    ``npg_num.console`` is imported here, not at the top: importing this module stays free
    of JAX (``npg_num`` loads it), while a run loads it at its start.
    """
    from npg_num.console import run_main

    return run_main(PROG, lambda: _derive_and_write(argv))


if __name__ == "__main__":
    sys.exit(main())
