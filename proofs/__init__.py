"""proofs: one module per claim of docs/claims.md, each named after its conclusion.

Each module declares ``CLAIM``, ``TITLE``, ``STATEMENT`` and ``derive(d)``, and has a
``main() -> int``. ``python -m proofs`` runs them all and writes ``report/derivations.md``.
"""

from ._core import Derivation, ProofError, run_proof

__all__ = ["Derivation", "ProofError", "run_proof"]
