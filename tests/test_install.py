"""The package as a user installs it: a wheel (not an editable install) in a fresh venv,
its commands run from a folder that is not the checkout.

Offline: the wheel is built without build isolation (setuptools and wheel come from the
test extra) and installed with ``--no-deps --no-index``; the fresh venv sees this test
venv's site-packages (JAX, SymPy, gymnax, ...) through a ``.pth`` line, which adds the
folder to ``sys.path`` without running its ``.pth`` files, so this checkout's editable
install is not visible there.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "examples" / "families" / "exponential_rate.py"
pytestmark = pytest.mark.timeout(400)


def _source_copy(dest: Path) -> Path:
    """pyproject.toml, the README and the packages it declares, copied (the build writes
    build/ and *.egg-info beside them: not into the checkout)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    dest.mkdir()
    for name in ("pyproject.toml", pyproject["project"]["readme"]):
        shutil.copy2(ROOT / name, dest / name)
    for top in {p.rstrip("*").rstrip(".") for p in patterns}:
        shutil.copytree(ROOT / top, dest / top,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _run(args, cwd, env, timeout=240) -> subprocess.CompletedProcess:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, (f"{args}: exit {out.returncode}\n{out.stdout[-3000:]}\n"
                                 f"{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, environment, working folder, site-packages) of a fresh venv holding the
    built wheel."""
    tmp = tmp_path_factory.mktemp("install")
    src = _source_copy(tmp / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp / "dist"), str(src)], tmp, os.environ)
    (wheel,) = (tmp / "dist").glob("npg-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, os.environ)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   tmp, os.environ).stdout.strip()
    (Path(purelib) / "_test_venv_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)], tmp, os.environ)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "XLA_FLAGS", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "work"
    work.mkdir()
    return venv / "bin", env, work, Path(purelib)


def test_the_packages_come_from_the_wheel(installed):
    bin_dir, env, work, purelib = installed
    out = _run([str(bin_dir / "python"), "-c",
                "import npg_num, npg_sym, proofs, proofs.derive\n"
                "for m in (npg_num, npg_sym, proofs, proofs.derive): print(m.__file__)"],
               work, env)
    for line in out.stdout.split():
        assert Path(line).is_relative_to(purelib), f"imported from {line}, not the wheel"


@pytest.mark.parametrize("command", [["npg-train"], ["npg-eval"], ["npg-derive"],
                                     ["npg-proofs"], ["python", "-m", "proofs"]])
def test_every_command_answers_help(installed, command):
    bin_dir, env, work, _ = installed
    out = _run([str(bin_dir / command[0]), *command[1:], "--help"], work, env, timeout=120)
    assert out.stdout.startswith("usage: ")


def test_npg_train_trains_and_writes_its_run(installed):
    bin_dir, env, work, _ = installed
    _run([str(bin_dir / "npg-train"), "--env", "CartPole-v1", "--algo", "npg",
          "--total-steps", "2048", "--seeds", "1", "--out", "run", "--quiet"], work, env)
    with open(work / "run" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {"seed", "update", "env_steps", "mean_return", "kl", "beta"} <= set(rows[0])
    assert int(rows[-1]["env_steps"]) == 2048


def test_npg_derive_verifies_a_family_file(installed):
    bin_dir, env, work, _ = installed
    target = work / FAMILY.name
    shutil.copy2(FAMILY, target)
    _run([str(bin_dir / "npg-derive"), str(target), "--draws", "3", "--json", "out.json"],
         work, env)
    summary = json.loads((work / "out.json").read_text())
    assert summary["family"] and summary["checks"]
    assert all(check["ok"] for check in summary["checks"])


def test_python_m_proofs_runs_a_claim(installed):
    bin_dir, env, work, _ = installed
    out = _run([str(bin_dir / "python"), "-m", "proofs", "C7", "--report", "report"], work, env)
    assert out.stdout.splitlines()[0].startswith("C7   PASS")
    assert (work / "report" / "derivations.md").is_file()
