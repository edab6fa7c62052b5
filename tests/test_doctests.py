"""The examples in docstrings and in the guides are run: documentation that lies fails the
build. Docstrings: every module of npg_sym, npg_num (npg_num.train included) and proofs.
Guides: the README and every docs/*.md page that holds a ``>>>`` example."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import npg_num
import npg_sym
import proofs

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.NORMALIZE_WHITESPACE
GUIDES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
          if ">>>" in p.read_text(encoding="utf-8")]


def _modules(package):
    """Every module of the package, subpackages (npg_num.train) included."""
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        yield info.name


@pytest.mark.parametrize("name", [*_modules(npg_sym), *_modules(npg_num), *_modules(proofs)])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_the_worked_examples_are_found():
    """The README's and geometry guide's examples exist as doctests (a page that lost its
    ``>>>`` would silently stop being checked)."""
    assert {p.name for p in GUIDES} >= {"README.md", "geometry.md"}


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.name)
def test_guide_examples(path):
    result = doctest.testfile(str(path), module_relative=False, optionflags=FLAGS,
                              encoding="utf-8")
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) failed in {path.name}"
