"""The proof machinery: a derivation records what it shows, and fails loudly.

An identity passes only when ``npg_sym.is_zero(lhs - rhs)`` holds: exact rewriting to 0.
Anything else (SymPy could not simplify, an inequality not shown) raises ``ProofError``
naming the identity; a proof never relies on ``assert``, which ``python -O`` strips.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import sympy as sp

from npg_sym import is_zero, tidy

__all__ = ["ProofError", "Derivation", "run_proof", "main_for", "latex"]


def latex(expr) -> str:
    """``sympy.latex``, with primed symbols (theta') typeset as primes of their base."""
    expr = sp.sympify(expr)
    names = {
        s: sp.latex(sp.Symbol(s.name.rstrip("'"))) + "'" * (len(s.name) - len(s.name.rstrip("'")))
        for s in expr.free_symbols
        if isinstance(s, sp.Symbol) and s.name.endswith("'")
    }
    return sp.latex(expr, symbol_names=names)


class ProofError(Exception):
    """A step of a proof failed: names the claim and the identity."""


@dataclass
class Derivation:
    """What a proof shows, in order: text, equations (LaTeX), checked identities, figures."""

    claim: str
    title: str
    statement: str
    blocks: list[tuple[str, ...]] = field(default_factory=list)
    checks: int = 0
    figure_dir: Path | None = None

    def say(self, text: str) -> None:
        self.blocks.append(("text", text))

    def show(self, label: str, expr) -> None:
        """Display ``label = expr`` (``label`` is LaTeX)."""
        self.blocks.append(("math", f"{label} = {latex(expr)}"))

    def math(self, latex: str) -> None:
        self.blocks.append(("math", latex))

    def table(self, markdown: str) -> None:
        self.blocks.append(("table", markdown))

    def identity(self, name: str, lhs, rhs=0, *, label: str | None = None):
        """Require lhs - rhs to simplify to exactly 0 (entrywise for matrices)."""
        lhs_m = lhs if isinstance(lhs, sp.MatrixBase) else None
        if lhs_m is not None or isinstance(rhs, sp.MatrixBase):
            lhs_m, rhs_m = sp.Matrix(lhs), sp.Matrix(rhs)
            if lhs_m.shape != rhs_m.shape:
                raise ProofError(f"{self.claim}: {name}: shapes {lhs_m.shape} != {rhs_m.shape}")
            diff = lhs_m - rhs_m
            bad = [(i, e) for i, e in enumerate(diff) if not is_zero(e)]
            if bad:
                i, e = bad[0]
                raise ProofError(
                    f"{self.claim}: identity '{name}' failed: entry {i} of lhs - rhs "
                    f"simplified to {tidy(e)}, not 0"
                )
        else:
            diff = sp.sympify(lhs) - sp.sympify(rhs)
            if not is_zero(diff):
                raise ProofError(
                    f"{self.claim}: identity '{name}' failed: lhs - rhs simplified to "
                    f"{tidy(diff)}, not 0"
                )
        self.checks += 1
        shown = label or f"{latex(lhs)} = {latex(rhs)}"
        self.blocks.append(("check", name, shown))

    def require(self, name: str, condition: bool, detail: str = "") -> None:
        """Require a non-identity fact (a sign SymPy decided, a rank); ``True`` only."""
        if condition is not True:
            raise ProofError(f"{self.claim}: '{name}' not shown ({condition!r}). {detail}".strip())
        self.checks += 1
        self.blocks.append(("check", name, detail))

    def figure(self, filename: str, caption: str) -> Path:
        """Register a figure; returns the path to save it to (``report/figures/``)."""
        if self.figure_dir is None:
            raise ProofError(f"{self.claim}: no figure directory for '{filename}'")
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        self.blocks.append(("figure", f"figures/{filename}", caption))
        return self.figure_dir / filename

    def markdown(self) -> str:
        lines = [f"## {self.claim}: {self.title}", "", f"**Claim.** {self.statement}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "text":
                lines += [block[1], ""]
            elif kind == "math":
                lines += ["$$", block[1], "$$", ""]
            elif kind == "table":
                lines += [block[1], ""]
            elif kind == "check":
                _, name, shown = block
                lines += [f"- **checked** {name}" + (f": ${shown}$" if shown else ""), ""]
            elif kind == "figure":
                _, path, caption = block
                lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
        return "\n".join(lines)


@dataclass
class Outcome:
    claim: str
    title: str
    passed: bool
    seconds: float
    derivation: Derivation
    error: str = ""


def run_proof(module: ModuleType, figure_dir: Path | None = None) -> Outcome:
    """Run one proof module's ``derive``; any exception is a failure with its message.

    Sets XLA's hang guard first (``npg_num.xla_cpu``; C11 and K2 compute with JAX), before
    the clock starts: it must precede JAX's first computation and is not the proof's work.
    """
    from npg_num.xla_cpu import add_hang_guard

    add_hang_guard()
    d = Derivation(module.CLAIM, module.TITLE, module.STATEMENT, figure_dir=figure_dir)
    start = time.perf_counter()
    try:
        module.derive(d)
        if d.checks == 0:
            raise ProofError(f"{module.CLAIM}: the proof checked nothing")
        passed, error = True, ""
    except ProofError as err:
        passed, error = False, str(err)
    except Exception as err:  # a crash is a failure too, reported with its type
        passed, error = False, f"{module.CLAIM}: {type(err).__name__}: {err}"
    return Outcome(module.CLAIM, module.TITLE, passed, time.perf_counter() - start, d, error)


def run_named(module_name: str, figure_dir: Path | None) -> Outcome:
    """``run_proof`` of a module named by its import path (what a worker process is sent)."""
    import importlib

    return run_proof(importlib.import_module(module_name), figure_dir)


def worker_init(parent: int) -> None:
    """In a worker process of the runner: Ctrl-C is the parent's to handle (it stops the
    workers itself), so the workers ignore it; and a worker whose parent (pid ``parent``,
    passed in because the parent may be gone before this runs) was killed with SIGKILL,
    which it cannot catch, ends itself rather than wait forever."""
    import os
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def format_row(outcome: Outcome) -> str:
    status = "PASS" if outcome.passed else "FAIL"
    return f"{outcome.claim:<4} {status} {outcome.seconds:7.2f}s  {outcome.title}"


def main_for(module: ModuleType) -> int:
    """``main()`` of a single proof module: run it, print its row, 0 on PASS else 1."""
    outcome = run_proof(module, Path("report") / "figures")
    print(format_row(outcome))
    if not outcome.passed:
        print(f"     {outcome.error}", file=sys.stderr)
    return 0 if outcome.passed else 1
