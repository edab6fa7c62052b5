"""How long npg-derive takes on each family file, and which route closed each quantity.

Each family runs as a person runs it: ``npg-derive FILE --json ...`` in a fresh process
(imports included), one after another. Prints, per family, one row per check (result,
routes, seconds), then a summary table (exit code, wall seconds, checks passed, the
slowest check) and the machine load before and after.

Usage: python benchmarks/derive.py [--skip-unclosed] [FILE.py ...]
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


def run_one(path: Path, workdir: Path) -> dict:
    summary = workdir / f"{path.stem}.json"
    start = time.perf_counter()
    proc = subprocess.run([*_script(), str(path), "--json", str(summary), "--out", str(workdir), "--quiet"],
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="family files (default: examples/families)")
    parser.add_argument("--skip-unclosed", action="store_true",
                        help="leave out examples/families/unclosed (minutes each)")
    args = parser.parse_args(argv)
    files = args.files or [
        *sorted(FAMILIES.glob("*.py")), *sorted((FAMILIES / "registry").glob("*.py")),
        *([] if args.skip_unclosed else sorted((FAMILIES / "unclosed").glob("*.py"))),
    ]
    print(f"npg-derive on {len(files)} family files; load average before: {_load()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="npg-derive-bench-") as tmp:
        for path in files:
            results.append(run_one(path.resolve(), Path(tmp)))
            _print_rows(results[-1])
    _summary(results)
    print(f"\nload average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
