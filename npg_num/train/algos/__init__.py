"""Policy steps by name: the algorithm registry (``ALGOS``).

An algorithm is one module and one line below: its module defines an ``Algo`` (the step,
its state, its options with defaults, checks and help, its defaults per environment) and
the registry names it. Nothing else in the trainer knows the algorithm: the configuration
takes its options, the CLI makes their flags, the loop calls its step. A user's own
algorithm joins with ``register_algo`` (no file of this package changes).

- ``npg``, ``trpo``: ``natural.py`` (the natural step; TRPO's line search)
- ``acktr``: ``acktr.py`` (the K-FAC natural step)
- ``ppo``: ``ppo.py`` (the clipped surrogate)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from ...errors import NPGInputError
from .acktr import ACKTR
from .base import Algo, PolicyBatch, no_state, step_info
from .natural import NPG, TRPO
from .ppo import PPO

__all__ = ["Algo", "ALGOS", "PolicyBatch", "get_algo", "register_algo", "step_info",
           "no_state"]

_REGISTRY: dict = {}
ALGOS: Mapping[str, Algo] = MappingProxyType(_REGISTRY)  # read-only view, kept up to date


def register_algo(algo: Algo, *, replace: bool = False) -> Algo:
    """Add ``algo`` to ``ALGOS`` (``npg-train --algo NAME`` then trains with it).

    Its options must not clash with the common ``TrainConfig`` fields, and an option that
    another algorithm also has must be the same ``Setting``. Raises ``NPGInputError``."""
    from ..config import COMMON_SETTINGS

    if not isinstance(algo, Algo):
        raise NPGInputError(f"register_algo takes an Algo, got {type(algo).__name__}")
    if algo.name in _REGISTRY and not replace:
        raise NPGInputError(f"an algorithm named {algo.name!r} is registered already")
    common = {s.name for s in COMMON_SETTINGS}
    for option in algo.options:
        if option.name in common:
            raise NPGInputError(f"{algo.name}: option {option.name!r} is a common "
                                "TrainConfig field")
        for other in _REGISTRY.values():
            theirs = other.option(option.name)
            if other.name != algo.name and theirs is not None and theirs != option:
                raise NPGInputError(f"{algo.name}: option {option.name!r} differs from "
                                    f"{other.name}'s option of that name")
    _REGISTRY[algo.name] = algo
    return algo


def get_algo(name: str) -> Algo:
    """The registered algorithm ``name``; ``NPGInputError`` naming the registered ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise NPGInputError(f"unknown algo {name!r}; allowed: {', '.join(_REGISTRY)}") from None


_REGISTRY.update({a.name: a for a in (
    NPG,
    TRPO,
    ACKTR,
    PPO,
)})
