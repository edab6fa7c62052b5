"""Sphinx configuration of the API reference (``make docs``; index.rst says why Sphinx).
Built with ``-W``: a warning fails the build."""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)  # document this checkout, whatever else is installed
sys.path.insert(0, os.path.dirname(__file__))  # plaintext_formulas

project = "npg"
author = "the npg authors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode",
              "plaintext_formulas"]
# the docstrings follow sympy's numpydoc habit (Parameters / Returns / Examples)
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
default_role = "code"  # `x` in a docstring is inline code, as in the Markdown docs
html_theme = "alabaster"
exclude_patterns = ["_build"]
