"""Run the proofs: ``python -m proofs`` (all) or ``python -m proofs C5 K3`` (some).

Prints one row per claim: its id, PASS or FAIL, seconds, title. Writes the derivations,
in LaTeX, to ``report/derivations.md`` (figures in ``report/figures/``). Exits 1 if any
claim fails, 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import sympy as sp

from npg_num.atomic import atomic_write_text

from ._core import format_row, run_proof

__all__ = ["discover", "main"]


def _order(claim: str) -> tuple[int, int]:
    match = re.fullmatch(r"([CK])(\d+)", claim)
    return ({"C": 0, "K": 1}[match.group(1)], int(match.group(2))) if match else (2, 0)


def discover() -> dict:
    """Claim id -> proof module, for every module of this package that declares ``CLAIM``."""
    import proofs

    found = {}
    for info in pkgutil.iter_modules(proofs.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"proofs.{info.name}")
        claim = getattr(module, "CLAIM", None)
        if claim is None:
            continue
        if claim in found:
            raise RuntimeError(f"two proofs claim {claim}: {found[claim].__name__}, {module.__name__}")
        found[claim] = module
    return dict(sorted(found.items(), key=lambda kv: _order(kv[0])))


def _report(outcomes, report_dir: Path) -> Path:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# npg derivation report",
        "",
        f"Generated {when} by `python -m proofs` with SymPy {sp.__version__}. Each claim "
        "passes only if every identity below simplifies to exactly 0.",
        "",
        "| claim | result | seconds | checks | title |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        status = "PASS" if o.passed else "FAIL"
        lines.append(
            f"| {o.claim} | {status} | {o.seconds:.2f} | {o.derivation.checks} | {o.title} |"
        )
    lines.append("")
    for o in outcomes:
        lines.append(o.derivation.markdown())
        if not o.passed:
            lines += ["", f"**FAILED:** `{o.error}`", ""]
        lines.append("")
    path = report_dir / "derivations.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    proofs = discover()
    parser = argparse.ArgumentParser(
        prog="python -m proofs", description="Machine-check the claims of docs/claims.md."
    )
    parser.add_argument("claims", nargs="*", help=f"claim ids (default: all of {' '.join(proofs)})")
    parser.add_argument("--report", default="report", metavar="DIR", help="report directory")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")
    args = parser.parse_args(argv)
    if args.list:
        for claim, module in proofs.items():
            print(f"{claim:<4} {module.__name__:<45} {module.TITLE}")
        return 0
    wanted = [c.upper() for c in args.claims] or list(proofs)
    unknown = [c for c in wanted if c not in proofs]
    if unknown:
        print(
            f"error: unknown claim {', '.join(unknown)}; allowed: {' '.join(proofs)}",
            file=sys.stderr,
        )
        return 2
    report_dir = Path(args.report)
    outcomes = []
    for claim in wanted:
        outcome = run_proof(proofs[claim], report_dir / "figures")
        print(format_row(outcome), flush=True)
        if not outcome.passed:
            print(f"     {outcome.error}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    path = _report(outcomes, report_dir)
    failed = [o.claim for o in outcomes if not o.passed]
    total = sum(o.seconds for o in outcomes)
    summary = f"{len(outcomes) - len(failed)}/{len(outcomes)} claims pass in {total:.1f}s"
    print(f"{summary}; report: {path}" + (f"; FAILED: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
