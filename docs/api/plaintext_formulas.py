"""Sphinx hook: read the project's docstrings as they are written, plain-text formulas
included, instead of as reStructuredText that they are not.

The docstrings follow sympy's layout (Parameters / Examples sections, ``literals``,
doctests) but write formulas as plain text: ``|x|`` for an absolute value, and aligned
formula blocks indented under a paragraph. reST reads the first as a substitution and the
second as a block quote (and fails on its indentation). Before napoleon sees a docstring,
this hook turns each indented block that follows a blank line into a literal block
(monospace, as the formulas were aligned) and escapes ``|`` everywhere else outside
inline literals.
"""

from __future__ import annotations

import re

_INLINE_LITERAL = re.compile(r"(``.+?``)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _escape_pipes(line: str) -> str:
    parts = _INLINE_LITERAL.split(line)
    return "".join(p if i % 2 else p.replace("|", r"\|") for i, p in enumerate(parts))


def _is_doctest(line: str) -> bool:
    return line.lstrip().startswith((">>>", "..."))


def plain_text_formulas(lines: list[str]) -> list[str]:
    """The docstring's lines with indented formula blocks made literal and pipes escaped
    elsewhere (doctests and their output untouched)."""
    out: list[str] = []
    base = min((_indent(x) for x in lines[1:] if x.strip()), default=0)
    base = min(base, _indent(lines[0])) if lines and lines[0].strip() else base
    literal_at = None  # the indentation of the literal block we are in, if any
    in_doctest = False
    for i, line in enumerate(lines):
        blank = not line.strip()
        if literal_at is not None and not blank and _indent(line) < literal_at:
            literal_at = None
        if blank:
            in_doctest = False
        elif _is_doctest(line):
            in_doctest = True
        if literal_at is None and not blank and not in_doctest and _indent(line) > base \
                and i > 0 and not lines[i - 1].strip() and _opens_block(out):
            literal_at = _indent(line)
        if literal_at is not None or in_doctest or blank:
            out.append(line)
        else:
            out.append(_escape_pipes(line))
    return out


def _opens_block(out: list[str]) -> bool:
    """Mark the paragraph before an indented block as introducing a literal block; False
    where the block is already literal, or is a list item's or field's continuation."""
    prev = next((j for j in range(len(out) - 1, -1, -1) if out[j].strip()), None)
    if prev is None:
        return False
    text = out[prev].rstrip()
    if text.endswith("::"):
        return True
    if re.match(r"\s*([-*+]|\d+\.|:\w[^:]*:)\s", text + " "):
        return False
    out.insert(prev + 1, "")
    out.insert(prev + 2, "::")
    return True


def process(app, what, name, obj, options, lines):  # noqa: ARG001 - Sphinx's signature
    lines[:] = plain_text_formulas(lines)


def setup(app):
    app.connect("autodoc-process-docstring", process, priority=400)  # before napoleon
    return {"parallel_read_safe": True}
