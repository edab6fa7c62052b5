"""Run the proofs: ``python -m proofs`` (all) or ``python -m proofs C5 K3`` (some).

Prints one row per claim: its id, PASS or FAIL, seconds, title. Writes the derivations,
in LaTeX, to ``report/derivations.md`` (figures in ``report/figures/``). Exits 1 if any
claim fails, 2 on a bad argument, 130 on Ctrl-C.

The claims are independent, so they run in ``--jobs`` processes (default: one per core,
at most 2); rows are printed in claim order and the report is the same whatever the
number of processes. ``--jobs 1`` runs everything in this process.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import multiprocessing
import os
import pkgutil
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import sympy as sp

from npg_num.atomic import atomic_write_text
from npg_num.console import run_main

from ._core import Derivation, Outcome, format_row, run_named, run_proof, worker_init

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


def _default_jobs() -> int:
    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _crashed(module, why: str) -> Outcome:
    d = Derivation(module.CLAIM, module.TITLE, module.STATEMENT)
    return Outcome(module.CLAIM, module.TITLE, False, 0.0, d, f"{module.CLAIM}: {why}")


def _outcomes(modules: list, figure_dir: Path, jobs: int):
    """Each module's ``Outcome``, in order, as soon as it and those before it are done."""
    if jobs <= 1:
        for module in modules:
            yield run_proof(module, figure_dir)
        return
    # spawn, not fork: a forked JAX (imported by npg_num) can deadlock
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=worker_init,
                               initargs=(os.getpid(),))
    try:
        futures = [pool.submit(run_named, m.__name__, figure_dir) for m in modules]
        for module, future in zip(modules, futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                yield _crashed(module, "its process died (killed, or out of memory)")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()


def _main(argv: list[str] | None) -> int:
    proofs = discover()
    parser = argparse.ArgumentParser(
        prog="python -m proofs", description="Machine-check the claims of docs/claims.md."
    )
    parser.add_argument("claims", nargs="*", help=f"claim ids (default: all of {' '.join(proofs)})")
    parser.add_argument("--report", default="report", metavar="DIR", help="report directory")
    parser.add_argument("--jobs", type=int, default=_default_jobs(), metavar="N",
                        help="processes to run the claims in (default: %(default)s, one per "
                             "core up to 2; 1 runs them in this process)")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")
    args = parser.parse_args(argv)
    if args.list:
        for claim, module in proofs.items():
            print(f"{claim:<4} {module.__name__:<45} {module.TITLE}")
        return 0
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    wanted = [c.upper() for c in args.claims] or list(proofs)
    unknown = [c for c in wanted if c not in proofs]
    if unknown:
        print(
            f"error: unknown claim {', '.join(unknown)}; allowed: {' '.join(proofs)}",
            file=sys.stderr,
        )
        return 2
    report_dir = Path(args.report)
    modules = [proofs[c] for c in wanted]
    jobs = min(args.jobs, len(modules))
    start = time.perf_counter()
    outcomes = []
    for outcome in _outcomes(modules, report_dir / "figures", jobs):
        print(format_row(outcome), flush=True)
        if not outcome.passed:
            print(f"     {outcome.error}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    wall = time.perf_counter() - start
    path = _report(outcomes, report_dir)
    failed = [o.claim for o in outcomes if not o.passed]
    total = sum(o.seconds for o in outcomes)
    timing = (f"{wall:.1f}s" if jobs == 1 else
              f"{wall:.1f}s ({total:.1f}s of claims in {jobs} processes)")
    summary = f"{len(outcomes) - len(failed)}/{len(outcomes)} claims pass in {timing}"
    print(f"{summary}; report: {path}" + (f"; FAILED: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """The runner under the commands' error policy (``npg_num.console.run_main``)."""
    return run_main("python -m proofs", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
