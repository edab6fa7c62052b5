"""Environments by their gymnasium IDs: classic control through gymnax (pure JAX, stepped
on the device inside the jitted loop), MuJoCo locomotion through gymnasium (stepped on the
host, ``host_envs``; the optional extra ``mujoco`` (``pip install 'gymnasium[mujoco]'``)).

``make_env(env_id)`` returns an ``EnvSpec``: the gymnax environment with its parameters
(or ``None`` for a host environment) and what a policy needs to know about it
(observation size, action count or dimension, the head, and the action bounds that
continuous actions are clipped to before a step).

gymnax 1.0's ``env.step(key, state, action, params)`` returns six values ``(obs, state,
reward, terminated, truncated, info)`` and resets by itself at episode end;
``info["final_observation"]`` is the observation before that reset, which the trainer uses
to bootstrap the value of time-limit truncations.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import NPGInputError

__all__ = ["EnvSpec", "make_env", "SUPPORTED_ENVS", "GYMNAX_ENVS", "MUJOCO_ENVS", "SOLVED_AT",
           "PUBLISHED", "is_host_env", "env_kind", "check_env_id"]

# gymnasium IDs that gymnax implements: rolled out on the device
GYMNAX_ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0")
# gymnasium's MuJoCo locomotion tasks: rolled out on the host
MUJOCO_ENVS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5")
SUPPORTED_ENVS = GYMNAX_ENVS + MUJOCO_ENVS

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


def check_env_id(env_id) -> None:
    """Raise ``NPGInputError`` naming the supported IDs unless ``env_id`` is one."""
    if env_id not in SUPPORTED_ENVS:
        raise NPGInputError(
            f"unknown environment {env_id!r}; supported: {', '.join(SUPPORTED_ENVS)}"
        )


def env_kind(env_id: str) -> str:
    """``"mujoco"`` (rolled out on the host) or ``"gymnax"`` (on the device): the key of
    the defaults that environments of a kind share (``config.ENV_DEFAULTS``)."""
    return "mujoco" if env_id in MUJOCO_ENVS else "gymnax"


def is_host_env(env_id: str) -> bool:
    """Whether ``env_id`` is rolled out on the host (MuJoCo) rather than on the device."""
    return env_id in MUJOCO_ENVS


class EnvSpec(NamedTuple):
    env_id: str
    env: Any  # the gymnax Environment (static: hashed by identity inside jit); None: host
    params: Any  # its EnvParams (a pytree); None for a host environment
    obs_dim: int
    action_dim: int  # number of actions (discrete) or the action vector's size (continuous)
    discrete: bool
    head: str  # "categorical" or "diag_gaussian", the policy head this action space needs
    action_low: Any  # float array [action_dim] for continuous actions, else None
    action_high: Any
    max_episode_steps: int


def make_env(env_id: str) -> EnvSpec:
    """The gymnax twin of a gymnasium environment ID.

    Examples
    --------
    >>> spec = make_env("CartPole-v1")
    >>> spec.obs_dim, spec.action_dim, spec.head
    (4, 2, 'categorical')
    """
    check_env_id(env_id)
    if is_host_env(env_id):
        return _mujoco_spec(env_id)
    env, params = _gymnax_env(env_id)
    obs_dim = int(np.prod(env.observation_space(params).shape))
    space = env.action_space(params)
    discrete = hasattr(space, "n")
    if discrete:
        return EnvSpec(
            env_id, env, params, obs_dim, int(space.n), True, "categorical", None, None,
            int(params.max_steps_in_episode),
        )
    low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)
    high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)
    return EnvSpec(
        env_id, env, params, obs_dim, int(np.prod(space.shape)), False, "diag_gaussian",
        low, high, int(params.max_steps_in_episode),
    )


def _mujoco_spec(env_id: str) -> EnvSpec:
    """The spec of a gymnasium MuJoCo task, read off one instance of it."""
    from .host_envs import _require_gymnasium_mujoco

    gym = _require_gymnasium_mujoco(env_id)
    env = gym.make(env_id)
    try:
        space = env.action_space
        low = np.asarray(space.low, np.float32)
        high = np.asarray(space.high, np.float32)
        return EnvSpec(
            env_id, None, None, int(np.prod(env.observation_space.shape)),
            int(np.prod(space.shape)), False, "diag_gaussian", low, high,
            int(env.spec.max_episode_steps),
        )
    finally:
        env.close()


# the gymnax class of each supported ID (what ``gymnax.make`` builds, without arguments)
_GYMNAX_CLASSES = {
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

    module_name, class_name = _GYMNAX_CLASSES[env_id]
    if "gymnax" in sys.modules and hasattr(sys.modules["gymnax"], "make"):
        return sys.modules["gymnax"].make(env_id)  # already imported in full
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
