"""The training configuration: ``TrainConfig`` and the defaults per environment.

A ``TrainConfig`` holds the fields every run has (the environment, the batch, the value
function, normalization, ...) and the options of its algorithm (``config.options``; read
them as attributes too: ``config.delta``), each with its documentation and check
(``options.Setting``). Defaults come in layers, later ones winning:

1. each setting's own default;
2. ``ENV_DEFAULTS`` by the environment's keys (``envs.env_keys``: ``"gymnax"``, or
   ``"host"``, ``"host-discrete"`` / ``"host-continuous"``, then the family such as
   ``"mujoco"`` or ``"box2d"``), then by ID;
3. the algorithm's ``Algo.defaults`` by the same keys, then by ID;
4. what the caller gives (``default_config(env, algo, **given)``, the CLI's flags).

A default that names an option the algorithm does not have is skipped (the MuJoCo
defaults set ``cg_iters``, which PPO does not take).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import NPGInputError
from .algos import ALGOS, get_algo
from .envs import SUPPORTED_ENVS, check_env_id, env_keys, make_env
from .host_envs import HOST_BACKENDS
from .normalization import REWARD_NORMS
from .options import Setting, choice, flag, number, sizes, whole

HOST_SCHEDULES = ("batched", "lanes")

__all__ = ["TrainConfig", "TUNED", "ENV_DEFAULTS", "MUJOCO_DEFAULTS", "RL_ZOO_TRPO",
           "DTYPES", "COMMON_SETTINGS", "default_config", "tuned_defaults", "tuned_ids"]

DTYPES = ("float32", "float64")


def _env_check(name, value) -> None:
    if not isinstance(value, str) or not value.strip():  # resolved in ``validate``
        raise NPGInputError(f"{name} must name an environment, got {value!r}")


def _module_check(name, value) -> None:
    if not isinstance(value, str):
        raise NPGInputError(f"{name} must be a module name (or names, comma separated), "
                            f"got {value!r}")


def _algo_check(name, value) -> None:
    get_algo(value)


def _field(kind: str, default, help: str, check):
    return field(default=default, metadata={"kind": kind, "help": help, "check": check})


class AlgoOptions(dict):
    """The options of a config's algorithm: a read-only, hashable dict."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a TrainConfig's options are read-only; use config.replace(...)")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse

    def __hash__(self):
        return hash(tuple(sorted(self.items())))

    def __reduce__(self):
        return (AlgoOptions, (dict(self),))


@dataclass(frozen=True, init=False)
class TrainConfig:
    """Everything a training run depends on; ``make_train(config)`` is a pure function of it.

    ``TrainConfig(env=..., algo=..., delta=..., ...)`` takes the common fields and the
    algorithm's options by name (an option of another algorithm, or an unknown name, is
    refused with ``NPGInputError``); options not given take their ``Setting`` default.
    ``default_config(env, algo)`` gives the tuned defaults instead. Each field's
    ``metadata["help"]`` is its documentation (and the CLI's ``--help``).
    """

    env: str = _field("str", "CartPole-v1", "environment: a gymnax ID (on the device), a "
                      "gymnasium ID (flat Box observation, Discrete or Box action; on the "
                      "host), or your own class as pkg.module:ClassName; npg-train "
                      "--list-envs lists them", _env_check)
    env_module: str = _field("str", "", "packages to import before making --env (comma "
                             "separated), e.g. the one whose import registers your ID",
                             _module_check)
    algo: str = _field("str", "npg", "the algorithm (its options below)", _algo_check)
    total_steps: int = _field("int", 100_000, "environment steps per seed; the run makes "
                              "total_steps // (num_envs * num_steps) updates", whole(1))
    seeds: int = _field("int", 1, "number of seeds trained at once (vmapped, sharded over "
                        "devices)", whole(1))
    seed: int = _field("int", 0, "the first seed; seed i uses PRNGKey(seed + i)", whole(0))
    num_envs: int = _field("int", 8, "parallel environments per seed", whole(1, 1 << 20))
    num_steps: int = _field("int", 128, "steps per environment per update (batch = "
                            "num_envs * num_steps)", whole(1, 1 << 20))
    gamma: float = _field("float", 0.99, "discount factor in [0, 1]", number(0, 1))
    gae_lambda: float = _field("float", 0.95, "GAE lambda in [0, 1]", number(0, 1))
    normalize_advantages: bool = _field("bool", True, "standardize advantages over the batch",
                                        flag)
    reward_scale: float = _field("float", 0.1, "rewards are multiplied by this for the value "
                                 "fit and the advantages (returns are reported unscaled), > 0",
                                 number(0, low_open=True))
    hidden: tuple = _field("tuple", (64, 64), "policy MLP hidden sizes (tanh), e.g. 64,64",
                           sizes)
    value_hidden: tuple = _field("tuple", (64, 64), "value MLP hidden sizes (tanh)", sizes)
    log_std_init: float = _field("float", 0.0, "initial log standard deviation (continuous "
                                 "actions)", number())
    value_lr: float = _field("float", 1e-3, "Adam learning rate of the value function, > 0",
                             number(0, low_open=True))
    value_epochs: int = _field("int", 5, "epochs of value-function fitting per update",
                               whole(1, 10_000))
    value_minibatches: int = _field("int", 4, "minibatches per value epoch (must divide the "
                                    "batch)", whole(1))
    normalize_obs: bool = _field("bool", True, "normalize observations by running mean and "
                                 "std", flag)
    normalize_reward: bool = _field("bool", False, "divide rewards by the running std of the "
                                    "discounted return (VecNormalize's reward scaling), then "
                                    "by reward_scale", flag)
    reward_norm: str = _field("str", "batch", "with normalize_reward: batch (the statistics "
                              "updated once per batch, one scale for the whole batch) or step "
                              "(VecNormalize's rule: updated every step, each step's rewards "
                              "scaled by the statistics of that moment, then clipped to "
                              "[-10, 10])", choice(*REWARD_NORMS))
    checkpoint_every: int = _field("int", 10, "CLI: write a checkpoint every this many "
                                   "updates", whole(1))
    dtype: str = _field("str", "float32", "float32 or float64 for parameters and computations",
                        choice(*DTYPES))
    host_backend: str = _field("str", "gymnasium-subproc", "environments on the host only: "
                               "gymnasium-subproc (gymnasium's environments in blocks, one "
                               "per core, stepped at once), gymnasium (all in this process; "
                               "the same numbers), or envpool (C++ threads; a resumed run "
                               "restarts the episodes in flight)", choice(*HOST_BACKENDS))
    host_schedule: str = _field("str", "batched", "environments on the host only: batched "
                                "(every seed's environments stepped together, one learn "
                                "for all seeds, one phase after another) or lanes (each "
                                "seed a loop of its own in a worker process, so that one "
                                "seed learns while the others collect; a seed's numbers "
                                "are then those of a one-seed run, whatever runs beside "
                                "it)", choice(*HOST_SCHEDULES))
    options: Mapping = _field("options", None, "the algorithm's own options", None)

    def __init__(self, **values):
        common = {f.name: f for f in dataclasses.fields(self) if f.name != "options"}
        algo = get_algo(values.get("algo", common["algo"].default))
        given = dict(values.pop("options", None) or {})
        for name in list(values):
            if name not in common:
                given[name] = values.pop(name)
        for name, f in common.items():
            object.__setattr__(self, name, values.get(name, f.default))
        options = {s.name: s.default for s in algo.options}
        for name, value in given.items():
            if name not in options:
                raise NPGInputError(_not_an_option(name, algo.name))
            options[name] = value
        object.__setattr__(self, "options", AlgoOptions(options))
        self.validate()

    def __getattr__(self, name: str):  # config.delta: the algorithm's option
        options = self.__dict__.get("options")
        if options is not None and name in options:
            return options[name]
        raise AttributeError(f"TrainConfig has no field or {self.__dict__.get('algo')} "
                             f"option {name!r}")

    # -- derived sizes -------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` (fields or options) applied; a new ``algo`` starts from
        its own option defaults."""
        values = self.to_dict() if "algo" not in changes else {
            k: v for k, v in self.to_dict().items() if k not in self.options}
        return TrainConfig.from_dict({**values, **changes})

    def to_dict(self) -> dict:
        """The fields and the options in one flat dict (as ``config.json`` holds them)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "options"}
        d["hidden"] = list(self.hidden)
        d["value_hidden"] = list(self.value_hidden)
        d.update(self.options)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The inverse of ``to_dict``. Options of other registered algorithms are dropped
        (a ``config.json`` written before options belonged to their algorithm holds every
        algorithm's); any other unknown key is refused."""
        if not isinstance(d, Mapping):
            raise NPGInputError(f"a configuration must be a mapping, got {type(d).__name__}")
        d = dict(d)
        algo = get_algo(d.get("algo", "npg"))
        own = {s.name for s in algo.options}
        theirs = {s.name for a in ALGOS.values() for s in a.options} - own
        d = {k: v for k, v in d.items() if k not in theirs}
        for k in ("hidden", "value_hidden"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return cls(**d)

    def settings(self) -> Iterator[Setting]:
        """The common settings, then the algorithm's options."""
        yield from COMMON_SETTINGS
        yield from get_algo(self.algo).options

    def validate(self) -> None:
        """Raise ``NPGInputError`` (one sentence) for the first value out of range."""
        for setting in self.settings():
            setting.validate(getattr(self, setting.name))
        if self.num_updates < 1:
            raise NPGInputError(f"total_steps ({self.total_steps}) must be at least one batch "
                                f"(num_envs * num_steps = {self.batch_size})")
        if self.batch_size > 1 << 24:
            raise NPGInputError(f"the batch num_envs * num_steps ({self.batch_size}) must be "
                                f"at most {1 << 24}")
        if self.seed + self.seeds > 2**31 - 1:
            raise NPGInputError(f"seed + seeds ({self.seed} + {self.seeds}) must be below "
                                f"2^31 (seed i uses PRNGKey(seed + i))")
        check_env_id(self.env, self.env_module)
        if self.host_backend == "envpool" and make_env(self.env, self.env_module).on_host:
            _check_envpool(self.env)
        if self.batch_size % self.value_minibatches:
            raise NPGInputError(f"value_minibatches ({self.value_minibatches}) must divide the "
                                f"batch ({self.batch_size})")
        algo = get_algo(self.algo)
        if algo.check is not None:
            algo.check(self)


COMMON_SETTINGS = tuple(
    Setting(f.name, f.metadata["kind"], f.default, f.metadata["help"], f.metadata["check"])
    for f in dataclasses.fields(TrainConfig) if f.name != "options"
)


def _not_an_option(name: str, algo: str) -> str:
    owners = [a.name for a in ALGOS.values() if a.option(name) is not None]
    if owners:
        return (f"{name} is an option of {', '.join(owners)}, not of {algo} "
                f"(--algo {owners[0]} takes it)")
    names = sorted({s.name for s in COMMON_SETTINGS} | {s.name for s in get_algo(algo).options})
    return f"unknown config field {name!r}; allowed for {algo}: {', '.join(names)}"


# MuJoCo locomotion: rl-baselines3-zoo's TRPO settings for these tasks (hyperparams/trpo.yml,
# the "mujoco-defaults": batch 2048 = 2 envs x 1024 steps, gamma 0.99, GAE lambda 0.95, CG
# 25 iterations with damping 0.1, the Fisher on the whole batch, 20 critic epochs of
# minibatches of 128 at Adam lr 1e-3, target KL 0.01, observations and rewards normalized
# as VecNormalize does), with what docs/training.md ("Locomotion") says was changed and why.
# sb3-contrib's KL is a mean over action dimensions, so its target KL 0.01 and damping 0.1
# are delta 0.01 A and damping 0.1 A here (A action dimensions); rl-zoo's numbers are taken
# as they are (a smaller, less damped step): every result in docs/training.md used them.
MUJOCO_DEFAULTS: dict[str, Any] = dict(
    total_steps=1_000_000, num_envs=2, num_steps=1024, gamma=0.99, gae_lambda=0.95,
    cg_iters=25, damping=0.1, fisher_subsample=1, value_epochs=20, value_minibatches=16,
    value_lr=1e-3, delta=0.01, checkpoint_every=10, normalize_reward=True, reward_scale=1.0,
)


def _rl_zoo(n_envs: int, n_steps: int, critic_epochs: int, minibatch: int = 128,
            **rest) -> dict:
    """An rl-zoo TRPO entry in this trainer's fields: ``n_envs`` x ``n_steps`` per update,
    ``n_critic_updates`` epochs of minibatches of ``minibatch`` (sb3's ``batch_size``)."""
    return dict(num_envs=n_envs, num_steps=n_steps, value_epochs=critic_epochs,
                value_minibatches=max(1, n_envs * n_steps // minibatch), **rest)


# rl-baselines3-zoo's TRPO entries (hyperparams/trpo.yml) for the gymnasium tasks this
# trainer runs on the host; "normalize: true" is VecNormalize (normalize_reward here, with
# reward_scale 1); sb3-contrib's own defaults fill the rest (CG 15 iterations, damping 0.1,
# target KL 0.01, critic lr 1e-3, the Fisher on the whole batch).
RL_ZOO_TRPO: dict[str, dict[str, Any]] = {
    "LunarLander-v3": _rl_zoo(2, 512, 15, total_steps=200_000, damping=0.01,
                              gae_lambda=0.98, cg_iters=15, fisher_subsample=1),
    "LunarLanderContinuous-v3": _rl_zoo(2, 1024, 20, total_steps=100_000,
                                        normalize_reward=True, reward_scale=1.0,
                                        cg_iters=15, damping=0.1, fisher_subsample=1),
    "BipedalWalker-v3": dict(total_steps=1_000_000),  # rl-zoo: the mujoco-defaults
    "BipedalWalkerHardcore-v3": dict(total_steps=10_000_000),
    "Humanoid-v5": dict(total_steps=2_000_000),  # rl-zoo's Humanoid-v4 (marked untuned)
}

# Defaults by the environment's keys (``envs.env_keys``), then by ID, for every algorithm
# (docs/training.md, "Environments"). Any continuous-action task on the host starts from
# rl-zoo's MuJoCo defaults (its entries for Box2D's walkers are those too); a discrete one
# on the host from the settings' own (tuned on CartPole), in this process
# (``host_backend="gymnasium"``: the environments are cheap, a worker costs more than it
# saves); MuJoCo with each seed in a lane of its own (``lanes.LaneRunner``: 1.6-2.2x the
# batched schedule's steps/s measured in the same run on 2 cores, the same returns;
# docs/training.md, "Lanes"), with its workers when a run is given
# ``host_schedule="batched"``. Acrobot and MountainCar (sparse) with GAE lambda 0.98;
# Pendulum with gamma 0.95. Ant: a smaller initial standard deviation (e^-1, not 1): with
# std 1 the control cost (0.5 |a|^2) outweighs the reward for staying alive and TRPO did
# not learn in 1M steps (docs/training.md, "Locomotion"); measured for trpo, given to all
# for the same reason.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "host": dict(host_backend="gymnasium"),
    "host-continuous": MUJOCO_DEFAULTS,
    "mujoco": dict(MUJOCO_DEFAULTS, host_backend="gymnasium-subproc", host_schedule="lanes"),
    "Acrobot-v1": dict(total_steps=1_000_000, gae_lambda=0.98),
    "Pendulum-v1": dict(total_steps=1_000_000, gamma=0.95, gae_lambda=0.95),
    "MountainCarContinuous-v0": dict(total_steps=1_000_000, gae_lambda=0.98),
    "MountainCar-v0": dict(total_steps=1_000_000, gae_lambda=0.98),  # as its twin; unmeasured
    "Swimmer-v5": dict(gamma=0.9999),
    "Ant-v5": dict(log_std_init=-1.0),
    **RL_ZOO_TRPO,
}
# the keys above that are kinds, not IDs
ENV_KINDS = ("gymnax", "host", "host-discrete", "host-continuous", "mujoco", "box2d",
             "classic_control", "toy_text")


def _check_envpool(env_id: str) -> None:
    try:
        import envpool
    except ImportError:
        return  # EnvpoolEnvs says how to install it
    if env_id not in envpool.list_all_envs():
        raise NPGInputError(f"--host-backend envpool: envpool has no {env_id}; use "
                            "--host-backend gymnasium-subproc or gymnasium")


def tuned_defaults(env: str, algo: str, env_module: str = "") -> dict:
    """The changes from the settings' own defaults that ``default_config(env, algo)``
    makes (the layers of the module docstring), options the algorithm lacks left out."""
    spec = get_algo(algo)
    allowed = {s.name for s in COMMON_SETTINGS} | {s.name for s in spec.options}
    out: dict = {}
    keys = env_keys(make_env(env, env_module or "")) + (env,)
    for table in (ENV_DEFAULTS, spec.defaults):
        for key in keys:
            out.update(table.get(key, {}))
    return {k: v for k, v in out.items() if k in allowed}


def tuned_ids() -> tuple:
    """The IDs with an entry of their own in ``ENV_DEFAULTS`` or an algorithm's defaults."""
    ids = [k for k in ENV_DEFAULTS if k not in ENV_KINDS]
    for a in ALGOS.values():
        ids += [k for k in a.defaults if k not in ENV_KINDS and k not in ids]
    return tuple(dict.fromkeys(SUPPORTED_ENVS + tuple(ids)))


class _Tuned(Mapping):
    """``TUNED[(env, algo)]``: ``tuned_defaults(env, algo)`` for every ID with tuned
    entries that this install can make (``tuned_ids``) and every registered algorithm
    (computed when read, so a registered algorithm appears)."""

    def __getitem__(self, key):
        env, algo = key
        if env not in _known_envs() or algo not in ALGOS:
            raise KeyError(key)
        return tuned_defaults(env, algo)

    def __iter__(self):
        return ((env, algo) for env in _known_envs() for algo in ALGOS)

    def __len__(self):
        return len(_known_envs()) * len(ALGOS)


def _known_envs() -> tuple:
    out = []
    for env in tuned_ids():
        try:
            make_env(env)
        except NPGInputError:  # an extra not installed here (box2d, mujoco)
            continue
        out.append(env)
    return tuple(out)


TUNED: Mapping = _Tuned()


def default_config(env: str = "CartPole-v1", algo: str = "npg", **overrides) -> TrainConfig:
    """The tuned configuration for ``env`` and ``algo`` (``tuned_defaults``), ``overrides``
    (common fields or the algorithm's options, ``env_module`` among them) applied."""
    env_module = overrides.get("env_module", "")
    check_env_id(env, env_module)
    get_algo(algo)
    return TrainConfig(**{**tuned_defaults(env, algo, env_module), **overrides, "env": env,
                          "algo": algo})
