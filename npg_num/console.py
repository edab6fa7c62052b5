"""What the console scripts (``npg-train``, ``npg-eval``, ``npg-derive``) share: an
argument parser whose errors are one line, number parsers with bounds, and the error
policy of ``run_main``: bad input is one line on stderr and exit code 2, Ctrl-C is exit
130, an error writing a file is one line naming it, and anything unforeseen is one line
with the path of a file holding the traceback (exit 70), never a traceback on screen.

Nothing here imports JAX.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import traceback
from typing import Callable

from .errors import NPGInputError

__all__ = ["UsageError", "OneLineParser", "parse_whole", "whole_in", "finite_number",
           "run_main", "say", "EXIT_USAGE", "EXIT_INTERNAL"]

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, not the user's input


class UsageError(NPGInputError):
    """Bad command-line input: reported as one line and exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise ``UsageError`` (one line, naming
    ``--help``) instead of printing the usage block and exiting."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def parse_whole(text: str) -> int:
    """Whole numbers as people write them: ``100000``, ``100_000``, ``1e5``."""
    cleaned = str(text).replace("_", "").strip()
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)


def whole_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number (``parse_whole``) in [low, high]."""
    def parse(text: str) -> int:
        value = parse_whole(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not in [{low}, {high}]")
        return value
    return parse


def finite_number(text: str) -> float:
    """An argparse type: a finite float (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def say(prog: str, message: str) -> None:
    """``PROG: message`` on stderr; a closed terminal (after SIGHUP) is not an error."""
    try:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _save_traceback(prog: str) -> str:
    """Write the current exception's traceback to a new file; returns its path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fd, path = tempfile.mkstemp(prefix=f"{prog}-traceback-{stamp}-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"{prog} {' '.join(sys.argv[1:])}\n\n")
        traceback.print_exc(file=f)
    return path


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run ``body()`` under the error policy of the module docstring; its exit code."""
    try:
        return body()
    except SystemExit as stop:  # --help, --version
        return stop.code if isinstance(stop.code, int) else 0
    except NPGInputError as err:
        say(prog, f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say(prog, "interrupted")
        return 130
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        say(prog, f"error: cannot use{where}: {err.strerror or err}")
        return 1
    except Exception as err:  # noqa: BLE001 - the last resort: one line, the traceback saved
        try:
            path = _save_traceback(prog)
            where = f"the traceback is in {path}"
        except OSError:
            where = "its traceback could not be saved"
        say(prog, f"internal error: {type(err).__name__}: {err} (a bug in {prog}; {where}; "
            "please report it)")
        return EXIT_INTERNAL
