"""Environments by ID, through one table of backends (``ENV_BACKENDS``) chosen from the ID:

- ``gymnax``: gymnax's JAX environments (classic control, MinAtar, bsuite, misc), stepped
  on the device inside the jitted loop (``rollout_device``);
- ``gymnasium``: any ID in gymnasium's registry (MuJoCo, Box2D with the ``box2d`` extra,
  classic control, IDs that a ``--env-module`` package registers), stepped on the host
  (``rollout_host`` over ``host_envs``: in process, in worker processes, or envpool where
  envpool has the task);
- ``entry-point``: a user's ``gymnasium.Env`` class named ``pkg.module:ClassName``, on
  the host like the above.

``backend_of(env_id, env_module)`` picks the row: an entry point by its colon; gymnax's
versions of gymnasium's classic-control IDs (``GYMNAX_ENVS``, bit-compatible with the
runs made before this table) first; then gymnasium's registry (after importing
``env_module``); then gymnax's own IDs. Anything else is an ``NPGInputError`` with the
closest IDs and how to add one's own.

``make_env(env_id, env_module)`` returns an ``EnvSpec``: the gymnax environment with its
parameters (``None`` on the host) and what a policy needs to know (observation size,
action count or dimension, the head, the action bounds that continuous actions are
clipped to). Spaces the policy cannot take (Dict, Tuple, MultiDiscrete, MultiBinary,
images) are refused here, before anything is compiled, naming the space and what is
supported: a ``Box`` observation (flattened; an image, ``uint8`` or more than
``MAX_OBS_SIZE`` numbers, is refused) and a ``Discrete`` or one-dimensional ``Box`` action.

gymnax 1.0's ``env.step_env(key, state, action, params)`` returns ``(obs, state, reward,
terminated, info)``; ``env.is_truncated(state, params)`` is the time limit, which the
trainer bootstraps (a termination it does not).
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, NamedTuple

import numpy as np

from ..errors import NPGInputError

__all__ = ["EnvSpec", "EnvBackend", "ENV_BACKENDS", "make_env", "backend_of", "env_keys",
           "check_env_id", "check_spaces", "solved_at", "SUPPORTED_ENVS", "GYMNAX_ENVS",
           "MUJOCO_ENVS", "SOLVED_AT", "PUBLISHED", "MAX_OBS_SIZE"]

# gymnasium IDs that gymnax implements: rolled out on the device
GYMNAX_ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0",
               "MountainCar-v0")
# gymnasium's MuJoCo locomotion tasks with published TRPO figures (benchmarks/locomotion.py)
MUJOCO_ENVS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5")
# the IDs with an entry of their own in the defaults (``config.ENV_DEFAULTS``); any other
# ID of the backends below is accepted too, with the defaults of its kind
SUPPORTED_ENVS = GYMNAX_ENVS + MUJOCO_ENVS
# an observation with more numbers than this, or of uint8, is an image: refused (the
# policy is an MLP); MinAtar's 10x10xC grids are flattened
MAX_OBS_SIZE = 4096

# The return that counts as solved: gymnasium's ``reward_threshold`` where it has one;
# Pendulum-v1 has none in gymnasium, -250 is this project's target (issue 6).
SOLVED_AT = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "Pendulum-v1": -250.0,
    "MountainCarContinuous-v0": 90.0,
}

# Published returns at 1M steps, for reference lines and the locomotion benchmark:
# sb3-contrib's documented TRPO results and tianshou's NPG results (issue 12).
PUBLISHED = {
    "sb3-contrib TRPO": {"HalfCheetah-v5": 1803.0, "Hopper-v5": 3372.0, "Walker2d-v5": 4502.0,
                         "Swimmer-v5": 359.0, "Ant-v5": 3554.0},
    "tianshou NPG": {"HalfCheetah-v5": 3485.0, "Hopper-v5": 1915.0, "Walker2d-v5": 2503.0,
                     "Swimmer-v5": 31.5, "Ant-v5": 2358.0},
}


class EnvBackend(NamedTuple):
    name: str
    on_host: bool  # stepped on the host (``HostRunner``), else in the jitted loop
    what: str  # one line for --list-envs and the docs


ENV_BACKENDS = {
    "gymnax": EnvBackend("gymnax", False, "gymnax (JAX), stepped on the device in the jitted "
                         "loop"),
    "gymnasium": EnvBackend("gymnasium", True, "gymnasium's registry, stepped on the host "
                            "(--host-backend gymnasium, gymnasium-subproc, envpool)"),
    "entry-point": EnvBackend("entry-point", True, "your gymnasium.Env class, "
                              "pkg.module:ClassName, stepped on the host"),
}


class EnvSpec(NamedTuple):
    env_id: str
    env: Any  # the gymnax Environment (static: hashed by identity inside jit); None: host
    params: Any  # its EnvParams (a pytree); None for a host environment
    obs_dim: int  # the observation flattened
    action_dim: int  # number of actions (discrete) or the action vector's size (continuous)
    discrete: bool
    head: str  # "categorical" or "diag_gaussian", the policy head this action space needs
    action_low: Any  # float array [action_dim] for continuous actions, else None
    action_high: Any
    max_episode_steps: int  # the time limit; 0: the environment has none that we know of
    backend: str = "gymnax"  # the row of ``ENV_BACKENDS``
    family: str = "gymnax"  # gymnax, mujoco, box2d, classic_control, ..., user
    env_module: str = ""  # the packages imported before making it (``--env-module``)
    action_start: int = 0  # a gymnasium Discrete space's ``start``: added to the index
    can_snapshot: bool = False  # host: its simulators' states can be saved (MuJoCo)

    @property
    def on_host(self) -> bool:
        return ENV_BACKENDS[self.backend].on_host


# modules gymnax imports at the top of its environments but uses only to draw them
# (Pong's colours, the Visualizer's figures): seaborn alone takes 2-3 s to import (scipy,
# pandas), more than the rest of gymnax
_DRAWING_MODULES = ("seaborn", "matplotlib.pyplot")


class _ImportedOnFirstUse:
    """A module's stand-in for ``import_gymnax``: the real module is imported when an
    attribute is first asked for, and answers from then on."""

    __spec__ = None  # what the import system checks of a module it finds in sys.modules

    def __init__(self, name: str):
        self.__name__ = name

    def __getattr__(self, attr):
        import importlib

        real = importlib.import_module(self.__name__)
        self.__dict__.update(vars(real))
        return getattr(real, attr)


def import_gymnax(module: str = "gymnax"):
    """``import gymnax`` (or one of its modules, returned), with the drawing modules
    (``_DRAWING_MODULES``) imported only when gymnax first draws. The stand-ins are in
    ``sys.modules`` only while gymnax's modules import them, so any other
    ``import seaborn`` gets the real module."""
    import importlib
    import importlib.util
    import sys

    stand_ins = {}
    try:
        for name in _DRAWING_MODULES:
            if name not in sys.modules and importlib.util.find_spec(name) is not None:
                stand_ins[name] = sys.modules[name] = _ImportedOnFirstUse(name)
        return importlib.import_module(module)
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


@functools.lru_cache(maxsize=None)
def _gymnax_ids() -> tuple:
    try:
        import_gymnax()
        from gymnax.registration import registered_envs
    except ImportError:
        return ()
    return tuple(registered_envs)


def backend_of(env_id, env_module: str = "") -> str:
    """The ``ENV_BACKENDS`` row of ``env_id`` (module docstring), or ``NPGInputError``."""
    from .gym_envs import import_env_modules, is_entry_point, require_gymnasium

    if not isinstance(env_id, str) or not env_id.strip():
        raise NPGInputError(f"--env must name an environment, got {env_id!r}")
    if is_entry_point(env_id):
        return "entry-point"
    if env_id in GYMNAX_ENVS:
        return "gymnax"
    import_env_modules(env_module)
    if env_id in require_gymnasium(env_id).registry:
        return "gymnasium"
    if env_id in _gymnax_ids():
        return "gymnax"
    raise _unknown(env_id, env_module)


def _unknown(env_id: str, env_module: str) -> NPGInputError:
    import gymnasium

    known = list(dict.fromkeys(list(gymnasium.registry) + list(_gymnax_ids())))
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.6)
    near = f" (did you mean {' or '.join(close)}?)" if close else ""
    where = f" (after importing {env_module})" if env_module else ""
    hint = (" Atari needs: pip install 'gymnasium[atari]'" if env_id.startswith("ALE/")
            else "")
    return NPGInputError(
        f"unknown environment {env_id!r}: not in gymnasium's registry{where} nor gymnax's"
        f"{near}; npg-train --list-envs lists them; your own: --env pkg.module:ClassName, or "
        f"--env-module PKG for the IDs PKG registers.{hint}")


def check_env_id(env_id, env_module: str = "") -> None:
    """Raise ``NPGInputError`` (one line, with the closest IDs) unless ``env_id`` names an
    environment of one of the backends."""
    backend_of(env_id, env_module)


def env_keys(spec: EnvSpec) -> tuple:
    """The keys of the defaults that ``spec`` shares with others, general first
    (``config.ENV_DEFAULTS``, an algorithm's ``defaults``): ``gymnax`` or ``host``, then
    ``host-discrete`` / ``host-continuous``, then the family (``mujoco``, ``box2d``)."""
    if not spec.on_host:
        return ("gymnax",)
    kind = "host-discrete" if spec.discrete else "host-continuous"
    return ("host", kind) + ((spec.family,) if spec.family not in ("user",) else ())


def solved_at(env_id: str, env_module: str = ""):
    """The return that counts as solved: ``SOLVED_AT``, else gymnasium's
    ``reward_threshold`` for a registered ID, else None."""
    if env_id in SOLVED_AT:
        return SOLVED_AT[env_id]
    try:
        import gymnasium

        spec = gymnasium.registry.get(env_id)
    except ImportError:
        return None
    return None if spec is None else spec.reward_threshold


def _space_name(space) -> str:
    if type(space).__module__.startswith("gymnasium"):
        return str(space)  # Tuple(Discrete(32), Discrete(11), Discrete(2)), ...
    shape = getattr(space, "shape", None)
    dtype = getattr(space, "dtype", None)
    bits = [str(tuple(shape))] if shape is not None else []
    if dtype is not None:
        bits.append(np.dtype(dtype).name)
    return f"{type(space).__name__}({', '.join(bits)})"


SUPPORTED_SPACES = (f"npg-train takes a Box observation (flattened; images, uint8 or over "
                    f"{MAX_OBS_SIZE} numbers, refused) and a Discrete or one-dimensional Box "
                    "action")


def check_spaces(env_id: str, obs_space, action_space) -> None:
    """Refuse (``NPGInputError``, one line) spaces the MLP policy cannot take."""
    kind = type(obs_space).__name__
    if kind != "Box":
        raise NPGInputError(f"{env_id}: observation space {_space_name(obs_space)} is not "
                            f"supported; {SUPPORTED_SPACES}")
    shape, dtype = tuple(obs_space.shape), np.dtype(obs_space.dtype)
    size = int(np.prod(shape))
    if len(shape) >= 2 and (dtype == np.uint8 or size > MAX_OBS_SIZE):
        raise NPGInputError(f"{env_id}: image observations ({_space_name(obs_space)}) are not "
                            f"supported; {SUPPORTED_SPACES}")
    kind = type(action_space).__name__
    if kind == "Discrete" or (kind == "Box" and len(action_space.shape) == 1):
        return
    raise NPGInputError(f"{env_id}: action space {_space_name(action_space)} is not "
                        f"supported; {SUPPORTED_SPACES}")


@functools.lru_cache(maxsize=64)
def make_env(env_id: str, env_module: str = "") -> EnvSpec:
    """The spec of ``env_id``, made by its backend (``backend_of``); spaces checked.

    Examples
    --------
    >>> spec = make_env("CartPole-v1")
    >>> spec.obs_dim, spec.action_dim, spec.head, spec.backend
    (4, 2, 'categorical', 'gymnax')
    """
    backend = backend_of(env_id, env_module)
    if ENV_BACKENDS[backend].on_host:
        return _host_spec(env_id, env_module or "", backend)
    env, params = _gymnax_env(env_id)
    obs_space, space = env.observation_space(params), env.action_space(params)
    check_spaces(env_id, obs_space, space)
    obs_dim = int(np.prod(obs_space.shape))
    steps = int(params.max_steps_in_episode)
    if type(space).__name__ == "Discrete":
        return EnvSpec(env_id, env, params, obs_dim, int(space.n), True, "categorical", None,
                       None, steps)
    low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)
    high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)
    return EnvSpec(env_id, env, params, obs_dim, int(np.prod(space.shape)), False,
                   "diag_gaussian", low, high, steps)


def _host_spec(env_id: str, env_module: str, backend: str) -> EnvSpec:
    """The spec of a gymnasium environment, read off one instance of it."""
    from .gym_envs import family, make_gym_env
    from .host_envs import _is_mujoco

    env = make_gym_env(env_id, env_module)
    try:
        obs_space, space = env.observation_space, env.action_space
        check_spaces(env_id, obs_space, space)
        obs_dim = int(np.prod(obs_space.shape))
        spec = getattr(env, "spec", None)
        steps = int(getattr(spec, "max_episode_steps", None) or 0)
        common = dict(backend=backend, family=family(env_id), env_module=env_module,
                      can_snapshot=_is_mujoco(env.unwrapped))
        if type(space).__name__ == "Discrete":
            return EnvSpec(env_id, None, None, obs_dim, int(space.n), True, "categorical",
                           None, None, steps, action_start=int(getattr(space, "start", 0)),
                           **common)
        low = np.asarray(space.low, np.float32)
        high = np.asarray(space.high, np.float32)
        return EnvSpec(env_id, None, None, obs_dim, int(np.prod(space.shape)), False,
                       "diag_gaussian", low, high, steps, **common)
    finally:
        env.close()


# the gymnax class of each of ``GYMNAX_ENVS`` (what ``gymnax.make`` builds, without
# arguments); other gymnax IDs come from ``gymnax.make``
_GYMNAX_CLASSES = {
    "MountainCar-v0": ("mountain_car", "MountainCar"),
    "CartPole-v1": ("cartpole", "CartPole"),
    "Acrobot-v1": ("acrobot", "Acrobot"),
    "Pendulum-v1": ("pendulum", "Pendulum"),
    "MountainCarContinuous-v0": ("continuous_mountain_car", "ContinuousMountainCar"),
}


def _gymnax_env(env_id: str):
    """``gymnax.make(env_id)`` for the classic-control IDs, importing only their modules.

    ``import gymnax`` imports every gymnax environment, Pong's seaborn and pyplot among
    them (a large part of every start). Here the packages
    ``gymnax``, ``gymnax.environments`` and ``.classic_control`` stand in as bare
    namespaces while the one module is imported, then are taken out again, so a later
    ``import gymnax`` runs gymnax's own ``__init__`` (reusing the modules loaded here).
    """
    import importlib
    import importlib.util
    import sys
    import types

    if env_id not in _GYMNAX_CLASSES or (
            "gymnax" in sys.modules and hasattr(sys.modules["gymnax"], "make")):
        return import_gymnax().make(env_id)  # MinAtar, bsuite, misc; or imported in full
    module_name, class_name = _GYMNAX_CLASSES[env_id]
    spec = importlib.util.find_spec("gymnax")
    if spec is None or not spec.submodule_search_locations:
        raise NPGInputError(f"{env_id} needs gymnax, which is not installed: pip install gymnax")
    root = spec.submodule_search_locations[0]
    stubs = {}
    for name, path in (("gymnax", root), ("gymnax.environments", f"{root}/environments"),
                       ("gymnax.environments.classic_control",
                        f"{root}/environments/classic_control")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [path]
            stubs[name] = sys.modules[name] = stub
    try:
        module = importlib.import_module(f"gymnax.environments.classic_control.{module_name}")
    finally:
        for name, stub in stubs.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]
    env = getattr(module, class_name)()
    return env, env.default_params
