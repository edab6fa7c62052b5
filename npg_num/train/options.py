"""Settings and their checks: one ``Setting`` per configuration value (a ``TrainConfig``
field or an algorithm's own option), carrying its type, default, documentation and the
check of its range.

A check is a function ``value -> None`` that raises ``NPGInputError`` with one sentence
naming the value and what is allowed. The same checks serve the common fields
(``config.TrainConfig``) and the algorithms' options (``algos.Algo.options``), and the
CLI builds its flags and their help from the same settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import NPGInputError

__all__ = ["Setting", "INT_MAX", "whole", "number", "choice", "flag", "sizes", "flag_name"]

# int32: the trainer counts steps, updates and seeds in int32 on the device
INT_MAX = 2**31 - 1


def flag_name(name: str) -> str:
    """``ppo_lr`` -> ``--ppo-lr``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Setting:
    """One configuration value: ``name`` (the config key; the flag is ``--name-with-dashes``),
    ``kind`` (``int``, ``float``, ``str``, ``bool`` or ``tuple`` of ints), ``default``,
    ``help`` (its documentation) and ``check`` (raises ``NPGInputError`` when out of range)."""

    name: str
    kind: str
    default: Any
    help: str
    check: Callable[[str, Any], None]

    def validate(self, value) -> None:
        self.check(self.name, value)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            and math.isfinite(v))


def whole(low: int = 1, high: int = INT_MAX) -> Callable:
    """A whole number in [low, high]."""
    def check(name, v):
        if not _is_int(v) or not low <= v <= high:
            what = ("a positive integer" if low == 1 else
                    "a non-negative integer" if low == 0 else f"an integer >= {low}")
            raise NPGInputError(f"{name} must be {what} (at most {high}), got {v!r}")
    return check


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> Callable:
    """A finite number in the interval given (closed unless ``*_open``)."""
    def inside(v):
        ok_low = v > low if low_open else v >= low
        ok_high = v < high if high_open else v <= high
        return ok_low and ok_high

    def describe():
        if math.isinf(low) and math.isinf(high):
            return "a finite number"
        if math.isinf(high):
            return f"a finite number {'>' if low_open else '>='} {low:g}"
        if math.isinf(low):
            return f"a finite number {'<' if high_open else '<='} {high:g}"
        return (f"in {'(' if low_open else '['}{low:g}, {high:g}"
                f"{')' if high_open else ']'}")

    def check(name, v):
        if not _is_number(v) or not inside(v):
            raise NPGInputError(f"{name} must be {describe()}, got {v!r}")
    return check


def choice(*allowed: str) -> Callable:
    def check(name, v):
        if v not in allowed:
            raise NPGInputError(f"unknown {name} {v!r}; allowed: {', '.join(allowed)}")
    return check


def flag(name, v) -> None:
    if not isinstance(v, (bool, np.bool_)):
        raise NPGInputError(f"{name} must be true or false, got {v!r}")


def sizes(name, v) -> None:
    if not (isinstance(v, tuple) and len(v) >= 1
            and all(_is_int(h) and 1 <= h <= 65_536 for h in v)):
        raise NPGInputError(f"{name} must be a non-empty tuple of positive integers "
                            f"(each at most 65536), got {v!r}")
