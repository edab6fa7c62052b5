"""``npg-train --list-envs``: the environments this install offers, by backend (the rows of
``envs.ENV_BACKENDS``), each gymnasium ID checked by making it once (its spaces, its
extra), the ones with tuned defaults marked."""

from __future__ import annotations

import warnings

from ..errors import NPGInputError

__all__ = ["env_rows", "print_env_list"]


def _latest_only(ids) -> list:
    """gymnasium keeps old versions (Hopper-v2 ... v5): list the newest of each name."""
    newest: dict = {}
    for env_id in ids:
        name, _, version = env_id.rpartition("-v")
        if not name or not version.isdigit():
            newest[env_id] = (env_id, -1)
            continue
        if name not in newest or int(version) > newest[name][1]:
            newest[name] = (env_id, int(version))
    return [v[0] for v in newest.values()]


def env_rows(env_module: str = "") -> list:
    """(backend, ID, status) for every ID: ``ok``, ``ok, tuned`` or why not (one line)."""
    import gymnasium

    from .config import tuned_ids
    from .envs import GYMNAX_ENVS, _gymnax_ids, backend_of, make_env
    from .gym_envs import import_env_modules

    import_env_modules(env_module)
    tuned = set(tuned_ids())
    rows = []
    gymnax = list(dict.fromkeys(GYMNAX_ENVS + _gymnax_ids()))
    hosted = [e for e in _latest_only(gymnasium.registry) if e not in GYMNAX_ENVS
              and not e.startswith(("phys2d/", "tabular/", "GymV2"))]
    for env_id in gymnax + hosted:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                backend = backend_of(env_id, env_module)
                make_env(env_id, env_module)
            status = "ok, tuned" if env_id in tuned else "ok"
        except NPGInputError as err:
            backend = "gymnasium" if env_id in hosted else "gymnax"
            why = str(err).partition(": ")[2] or str(err)
            status = "not usable: " + why.split("; npg-train takes")[0]
        except Exception as err:  # noqa: BLE001 - a listing goes on (MNISTBandit downloads)
            backend = "gymnasium" if env_id in hosted else "gymnax"
            status = f"not usable here: {type(err).__name__}: {str(err).splitlines()[0]}"
        rows.append((backend, env_id, status))
    return rows


def print_env_list(env_module: str = "") -> int:
    from .envs import ENV_BACKENDS

    rows = env_rows(env_module)
    for name, backend in ENV_BACKENDS.items():
        print(f"{name}: {backend.what}")
        for b, env_id, status in rows:
            if b == name:
                print(f"  {env_id:<32} {status}")
    print("  (any gymnasium.Env class: --env pkg.module:ClassName, run from the folder "
          "holding pkg or with pkg installed)")
    return 0
