"""How long npg-derive takes on each family file, and which route closed each quantity.

Each family runs as a person runs it: ``npg-derive FILE --json ...`` in a fresh process
(imports included), one after another. Prints, per family, one row per check (result,
routes, seconds), then a summary table (exit code, wall seconds, checks passed, the
slowest check) and the machine load before and after. With no files given, it ends with
the time against d of the diagonal Gaussian in R^d, d = 1..6
(``examples/families/diagonal_gaussian.py:D1`` ... ``:D6``).

Usage: python benchmarks/derive.py [--skip-unclosed] [--no-dimensions] [--dimensions-only]
       [FILE.py[:NAME] ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ROOT / "examples" / "families"


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _script() -> list[str]:
    installed = Path(sys.executable).with_name("npg-derive")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "proofs.derive.cli"]


DIMENSIONS = range(1, 7)
"""d of the diagonal Gaussian's time-against-d table."""


def run_one(path: Path, workdir: Path, variable: str | None = None) -> dict:
    summary = workdir / f"{path.stem}{'.' + variable if variable else ''}.json"
    target = f"{path}:{variable}" if variable else str(path)
    start = time.perf_counter()
    proc = subprocess.run([*_script(), target, "--json", str(summary), "--out", str(workdir), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    data = json.loads(summary.read_text()) if summary.exists() else None
    return {"path": path, "code": proc.returncode, "wall": wall, "summary": data,
            "stderr": proc.stderr.strip().splitlines()[-1:] if proc.returncode == 2 else []}


def _print_rows(result: dict) -> None:
    data = result["summary"]
    name = data["family"] if data else result["path"].stem
    print(f"\n{name}  ({result['path'].relative_to(ROOT)})  exit {result['code']}  wall {result['wall']:.1f} s")
    if data is None:
        print(f"  no summary: {result['stderr']}")
        return
    for c in data["checks"]:
        routes = ", ".join(c["routes"]) or "-"
        status = "PASS" if c["ok"] else "FAIL"
        print(f"  {c['name']:<30} {status} {c['seconds']:8.2f}s  {routes}")


def _summary(results) -> None:
    print("\n| family | exit | wall s | checks passed | slowest check (s) | routes used |")
    print("|---|---|---|---|---|---|")
    for r in results:
        data = r["summary"]
        if data is None:
            print(f"| {r['path'].stem} | {r['code']} | {r['wall']:.1f} | - | - | - |")
            continue
        checks = data["checks"]
        slow = max(checks, key=lambda c: c["seconds"])
        routes = sorted({route for c in checks for route in c["routes"]})
        passed = sum(c["ok"] for c in checks)
        print(f"| {data['family']} | {r['code']} | {r['wall']:.1f} | {passed}/{len(checks)} | "
              f"{slow['name']} ({slow['seconds']:.1f}) | {', '.join(routes)} |")


def _dimensions(workdir: Path) -> None:
    """The diagonal Gaussian in R^d: wall seconds and the slowest checks against d."""
    path = FAMILIES / "diagonal_gaussian.py"
    print("\n| d | parameters | exit | wall s | checks passed | F = E[s s^T] s | natural step s | twin s |")
    print("|---|---|---|---|---|---|---|---|")
    for d in DIMENSIONS:
        r = run_one(path, workdir, f"D{d}")
        data = r["summary"]
        if data is None:
            print(f"| {d} | {2 * d} | {r['code']} | {r['wall']:.1f} | - | - | - | - |")
            continue
        seconds = {c["name"]: c["seconds"] for c in data["checks"]}
        passed = sum(c["ok"] for c in data["checks"])
        print(f"| {d} | {len(data['params'])} | {r['code']} | {r['wall']:.1f} | {passed}/{len(data['checks'])} | "
              f"{seconds['F = E[s s^T]']:.1f} | {seconds['natural step (KKT)']:.1f} | "
              f"{seconds['numeric twin']:.1f} |", flush=True)


def _target(text: str) -> tuple[Path, str | None]:
    path, _, variable = text.partition(":")
    return Path(path).resolve(), variable or None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="family files, FILE.py or FILE.py:NAME (default: examples/families)")
    parser.add_argument("--skip-unclosed", action="store_true",
                        help="leave out examples/families/unclosed (minutes each)")
    parser.add_argument("--no-dimensions", action="store_true",
                        help="leave out the diagonal Gaussian's time-against-d table")
    parser.add_argument("--dimensions-only", action="store_true",
                        help="only the diagonal Gaussian's time-against-d table")
    args = parser.parse_args(argv)
    targets = [_target(f) for f in args.files] or [(p, None) for p in (
        *sorted(FAMILIES.glob("*.py")), *sorted((FAMILIES / "registry").glob("*.py")),
        *([] if args.skip_unclosed else sorted((FAMILIES / "unclosed").glob("*.py"))),
    )]
    if args.dimensions_only:
        targets = []
    print(f"npg-derive on {len(targets)} family files; load average before: {_load()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="npg-derive-bench-") as tmp:
        for path, variable in targets:
            results.append(run_one(path, Path(tmp), variable))
            _print_rows(results[-1])
        if targets:
            _summary(results)
        if not (args.files or args.no_dimensions):
            _dimensions(Path(tmp))
    print(f"\nload average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
