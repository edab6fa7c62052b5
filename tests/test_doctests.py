"""The examples in docstrings are run: documentation that lies fails the build."""

import doctest
import importlib
import pkgutil

import pytest

import npg_num
import npg_sym


def _modules(package):
    """Every module of the package, subpackages (npg_num.train) included."""
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        yield info.name


@pytest.mark.parametrize("name", [*_modules(npg_sym), *_modules(npg_num)])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
