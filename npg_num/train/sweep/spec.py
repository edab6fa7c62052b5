"""The sweep file (TOML, read with ``tomllib``): what a sweep trains, and its trials.

    [sweep]
    envs = ["CartPole-v1", "Pendulum-v1"]   # environment IDs (npg-train --env)
    algos = ["npg"]                         # algorithms (npg-train --algo)
    seeds = 4                               # seeds per trial, vmapped in one program
    seed = 0                                # the first seed (optional, default 0)
    objective = "final_return"              # or "best_return"

    [budget]
    total_steps = 100000    # steps per seed and trial (default: each env's tuned total)
    trials = 12             # [search] only: settings tried per environment and algorithm
    cpus_per_trial = 1      # Ray resources one trial asks for

    [settings]              # TrainConfig fields held fixed in every trial
    num_envs = 8

    [grid]                  # every combination of these values ...
    delta = [0.005, 0.01, 0.02]

    [search]                # ... or, instead of [grid], a space for Optuna's TPE
    delta = { loguniform = [0.001, 0.05] }
    damping = { uniform = [0.0, 0.1] }
    cg_iters = { int = [5, 25] }            # inclusive bounds
    hidden = { choice = [[32, 32], [64, 64]] }

A trial is one setting (an environment, an algorithm, one value per swept field) trained
on all the seeds at once: one ``npg-train`` run directory. Every trial's configuration is
checked here (``default_config``) before anything runs, so a bad value is one line naming
it. ``objective`` is computed from ``metrics.csv`` per seed, then averaged over seeds:
``final_return`` the seed's return at its last update, ``best_return`` its highest.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from pathlib import Path
from typing import NamedTuple

from ...errors import NPGInputError
from ..options import flag_name

__all__ = ["SweepSpec", "Trial", "load_spec", "parse_spec", "grid_trials", "make_trial",
           "trial_config", "OBJECTIVES", "DISTRIBUTIONS"]

OBJECTIVES = ("final_return", "best_return")
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
_TABLES = {"sweep", "budget", "settings", "grid", "search"}
_KEYS = {
    "sweep": {"envs", "algos", "seeds", "seed", "objective", "search_seed"},
    "budget": {"total_steps", "trials", "cpus_per_trial"},
}
# fields a sweep sets itself, not through [settings], [grid] or [search]
_RESERVED = {"env", "algo", "seeds", "seed", "total_steps"}


class SweepSpec(NamedTuple):
    envs: tuple
    algos: tuple
    seeds: int
    seed: int
    objective: str
    total_steps: int | None
    trials: int
    cpus_per_trial: float
    settings: dict  # field -> value, every trial
    grid: dict  # field -> list of values
    search: dict  # field -> (distribution, args)
    search_seed: int

    @property
    def swept(self) -> tuple:
        """The swept fields, in the file's order."""
        return tuple(self.grid) or tuple(self.search)


class Trial(NamedTuple):
    """One setting: ``name`` (its run directory under ``trials/``), ``env``, ``algo``,
    ``values`` (swept field -> value) and ``args`` (npg-train's flags, without --out)."""

    name: str
    env: str
    algo: str
    values: dict
    args: tuple

    def to_dict(self) -> dict:
        return {"name": self.name, "env": self.env, "algo": self.algo,
                "values": self.values, "args": list(self.args)}

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        values = {k: _value(v) for k, v in d["values"].items()}
        return cls(d["name"], d["env"], d["algo"], values, tuple(d["args"]))


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise NPGInputError(message)


def _whole(table: str, key: str, value, low: int) -> int:
    _need(isinstance(value, int) and not isinstance(value, bool) and value >= low,
          f"[{table}] {key} must be a whole number >= {low}, got {value!r}")
    return value


def _strings(key: str, value) -> tuple:
    if isinstance(value, str):
        value = [value]
    _need(isinstance(value, list) and value and all(isinstance(v, str) for v in value),
          f"[sweep] {key} must be a list of names, got {value!r}")
    _need(len(set(value)) == len(value), f"[sweep] {key} names one twice: {value!r}")
    return tuple(value)


def _value(v):
    """A TOML value as TrainConfig takes it (lists of sizes become tuples)."""
    return tuple(v) if isinstance(v, list) else v


def _check_fields(table: str, names) -> None:
    for name in names:
        _need(name not in _RESERVED, f"[{table}] {name}: set {name} in [sweep] or [budget], "
              "not here")


def _distribution(name: str, spec) -> tuple:
    _need(isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in DISTRIBUTIONS,
          f"[search] {name} must be one of {{ uniform = [low, high] }}, {{ loguniform = "
          f"[low, high] }}, {{ int = [low, high] }}, {{ choice = [values] }}; got {spec!r}")
    kind, args = next(iter(spec.items()))
    _need(isinstance(args, list) and args, f"[search] {name}: {kind} takes a list, got "
          f"{args!r}")
    if kind == "choice":
        return kind, [_value(a) for a in args]
    _need(len(args) == 2 and all(isinstance(a, (int, float)) and math.isfinite(a)
                                 for a in args) and args[0] < args[1],
          f"[search] {name}: {kind} takes [low, high] with low < high, got {args!r}")
    if kind == "int":
        _need(all(isinstance(a, int) for a in args), f"[search] {name}: int takes whole "
              f"bounds, got {args!r}")
    if kind == "loguniform":
        _need(args[0] > 0, f"[search] {name}: loguniform needs low > 0, got {args!r}")
    return kind, list(args)


def parse_spec(data: dict) -> SweepSpec:
    """A ``SweepSpec`` from the parsed TOML; ``NPGInputError`` (one line) for a bad file."""
    unknown = set(data) - _TABLES
    if unknown:
        raise NPGInputError(f"unknown table [{sorted(unknown)[0]}]; a sweep file has "
                            f"{', '.join(f'[{t}]' for t in sorted(_TABLES))}")
    for table, keys in _KEYS.items():
        extra = set(data.get(table, {})) - keys
        if extra:
            raise NPGInputError(f"[{table}] has no key {sorted(extra)[0]!r}; allowed: "
                                f"{', '.join(sorted(keys))}")
    sweep, budget = data.get("sweep", {}), data.get("budget", {})
    _need("envs" in sweep, "[sweep] envs is missing (a list of environment IDs)")
    objective = sweep.get("objective", "final_return")
    _need(objective in OBJECTIVES, f"[sweep] objective must be one of "
          f"{', '.join(OBJECTIVES)}, got {objective!r}")
    grid, search = data.get("grid", {}), data.get("search", {})
    _need(not (grid and search), "a sweep has [grid] or [search], not both")
    for name, values in grid.items():
        _need(isinstance(values, list) and values, f"[grid] {name} must be a non-empty list "
              f"of values, got {values!r}")
    _check_fields("settings", data.get("settings", {}))
    _check_fields("grid", grid)
    _check_fields("search", search)
    total = budget.get("total_steps")
    cpus = budget.get("cpus_per_trial", 1)
    _need(isinstance(cpus, (int, float)) and not isinstance(cpus, bool) and cpus > 0,
          f"[budget] cpus_per_trial must be a number > 0, got {cpus!r}")
    spec = SweepSpec(
        envs=_strings("envs", sweep["envs"]),
        algos=_strings("algos", sweep.get("algos", ["npg"])),
        seeds=_whole("sweep", "seeds", sweep.get("seeds", 1), 1),
        seed=_whole("sweep", "seed", sweep.get("seed", 0), 0),
        objective=objective,
        total_steps=None if total is None else _whole("budget", "total_steps", total, 1),
        trials=_whole("budget", "trials", budget.get("trials", 10), 1),
        cpus_per_trial=cpus,
        settings={k: _value(v) for k, v in data.get("settings", {}).items()},
        grid={k: [_value(v) for v in vs] for k, vs in grid.items()},
        search={k: _distribution(k, v) for k, v in search.items()},
        search_seed=_whole("sweep", "search_seed", sweep.get("search_seed", 0), 0),
    )
    for env, algo in itertools.product(spec.envs, spec.algos):
        for values in _corners(spec):
            make_trial(spec, env, algo, values)  # each raises for a bad value
    return spec


def _corners(spec: SweepSpec):
    """Settings that check every swept value: the grid's combinations, or each search
    dimension's bounds (its choices) with the others at their first."""
    if spec.grid:
        yield from (dict(zip(spec.grid, combo))
                    for combo in itertools.product(*spec.grid.values()))
        return
    first = {k: args[0] for k, (_, args) in spec.search.items()}
    yield first
    for k, (_, args) in spec.search.items():
        for a in args[1:]:
            yield {**first, k: a}


def load_spec(path) -> tuple:
    """(SweepSpec, the file's text) from a TOML file; ``NPGInputError`` for a bad one."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise NPGInputError(f"cannot read the sweep file {path}: {err.strerror or err}") \
            from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise NPGInputError(f"{path} is not valid TOML: {err}") from None
    return parse_spec(data), text


def _args(spec: SweepSpec, env: str, algo: str, values: dict) -> tuple:
    fields = {**spec.settings, **values}
    args = ["--env", env, "--algo", algo, "--seeds", str(spec.seeds), "--seed",
            str(spec.seed)]
    if spec.total_steps is not None:
        args += ["--total-steps", str(spec.total_steps)]
    for name in sorted(fields):
        v = fields[name]
        if isinstance(v, bool):
            args.append(flag_name(name) if v else "--no-" + flag_name(name)[2:])
        elif isinstance(v, tuple):
            args += [flag_name(name), ",".join(str(x) for x in v)]
        else:
            args += [flag_name(name), repr(v) if isinstance(v, float) else str(v)]
    return tuple(args)


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "x".join(str(x) for x in v)
    return str(v)


def trial_config(spec: SweepSpec, env: str, algo: str, values: dict):
    """The ``TrainConfig`` npg-train makes of the trial's flags."""
    from ..config import default_config

    total = {} if spec.total_steps is None else {"total_steps": spec.total_steps}
    return default_config(env, algo, seeds=spec.seeds, seed=spec.seed,
                          **{**spec.settings, **values}, **total)


def make_trial(spec: SweepSpec, env: str, algo: str, values: dict) -> Trial:
    """The trial of ``values`` (swept field -> value) on ``env`` and ``algo``; its name is
    a function of everything it runs (readable part + hash). Raises ``NPGInputError`` for
    a configuration npg-train would refuse."""
    try:
        trial_config(spec, env, algo, values)
    except NPGInputError as err:
        where = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
        raise NPGInputError(f"{env} {algo}{' ' + where if where else ''}: {err}") from None
    args = _args(spec, env, algo, values)
    digest = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:8]
    readable = "-".join([env, algo] + [f"{k}={_short(v)}" for k, v in values.items()])
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", readable)[:100] + "-" + digest
    return Trial(name, env, algo, {k: values[k] for k in values}, args)


def grid_trials(spec: SweepSpec) -> list:
    """Every trial of a grid sweep (one per env, algo and combination), in a fixed order;
    for a [search] sweep, none (Optuna proposes them)."""
    if spec.search:
        return []
    return [make_trial(spec, env, algo, values)
            for env, algo in itertools.product(spec.envs, spec.algos)
            for values in _corners(spec)]
