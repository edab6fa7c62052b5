"""npg_num.train: training NPG and TRPO on full environments (the maths core of npg_num
never imports this package).

One concern a module:

- ``config``: ``TrainConfig`` and the tuned defaults per environment (``TUNED``);
- ``state``: ``TrainState``, ``Metrics``, ``Transition`` (NamedTuples);
- ``envs``: environments by gymnasium ID (gymnax on the device);
- ``rollout_device``: the ``lax.scan`` rollout of gymnax environments;
- ``algos``: the policy steps by name (``ALGOS``: npg, trpo);
- ``update``: GAE, the policy step, the value fit and the metrics, shared by every rollout;
- ``loop``: ``make_trainer`` / ``make_train``, the whole loop jitted;
- ``devices``: XLA's CPU settings and the seeds spread over devices (``per_seed``);
- ``checkpoint``, ``plotting``, ``cli`` (``npg-train``).
"""

from .algos import ALGOS, Algo, PolicyBatch, get_algo
from .config import DTYPES, TUNED, TrainConfig, default_config
from .devices import per_seed, seed_keys, seed_sharding
from .envs import SOLVED_AT, SUPPORTED_ENVS, EnvSpec, make_env
from .gae import gae, lambda_returns
from .loop import Trainer, make_train, make_trainer
from .state import METRIC_COLUMNS, Metrics, TrainState, Transition

__all__ = [
    "ALGOS",
    "Algo",
    "PolicyBatch",
    "get_algo",
    "DTYPES",
    "TUNED",
    "TrainConfig",
    "default_config",
    "per_seed",
    "seed_keys",
    "seed_sharding",
    "SOLVED_AT",
    "SUPPORTED_ENVS",
    "EnvSpec",
    "make_env",
    "gae",
    "lambda_returns",
    "Trainer",
    "make_train",
    "make_trainer",
    "METRIC_COLUMNS",
    "Metrics",
    "TrainState",
    "Transition",
]
