"""npg-derive: a user's own policy family, derived, verified and twin-checked in one command.

The bridge between the two halves (SymPy and JAX) for families outside the registries,
so it lives beside the proofs. Importing this package imports SymPy only; JAX is imported
by ``proofs.derive.twin`` when the numeric twin runs.

    loader    FILE.py[:NAME] -> a checked Family, its bandit reward, the twin's ranges
    symbolic  the exact checks (normalization, score mean, F three ways, KL and its Taylor
              terms, policy gradient, natural step), one timed row each
    twin      JAX autodiff + quadrature vs the exact F, KL and Z at Hypothesis-drawn points
    report    Markdown/LaTeX report and JSON summary
    cli       the npg-derive command
"""

from .loader import FamilyFileError, LoadedFamily, check_family, load_family, parse_target
from .symbolic import CHECKS, Check, SymbolicDerivation, derive_exactly

__all__ = [
    "FamilyFileError",
    "LoadedFamily",
    "check_family",
    "load_family",
    "parse_target",
    "CHECKS",
    "Check",
    "SymbolicDerivation",
    "derive_exactly",
]
