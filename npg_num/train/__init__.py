"""npg_num.train: training the natural policy gradient and its relatives (npg, trpo, acktr,
ppo) on full environments. The maths core of npg_num never imports this package.

One concern a module:

- ``options``: ``Setting``, a configuration value with its default, help and check;
- ``config``: ``TrainConfig`` and the defaults per environment (``tuned_defaults``);
- ``algos``: the algorithm registry (``ALGOS``, ``register_algo``), one module each;
- ``state``: ``TrainState``, ``Metrics``, ``Transition``, ``PolicyStepInfo``;
- ``envs``: environments by ID through one table of backends (gymnax on the device;
  gymnasium's registry and a user's ``pkg.module:ClassName`` on the host), with
  ``gym_envs`` (making one gymnasium environment, one-line errors) and ``env_list``
  (``npg-train --list-envs``);
- ``rollout_device`` (gymnax, ``lax.scan``), ``rollout_host`` with ``host_envs`` and
  ``host_worker`` (simulators stepped on the host);
- ``gae``, ``normalization``, ``sampling``, ``init``: the pieces of an update;
- ``update``: one ``learn`` (GAE, the policy step, the value fit, the metrics) for both
  rollouts; ``loop``: ``make_trainer`` / ``make_train``, the whole loop jitted;
- ``runner``: the loop in chunks, on the device or the host; ``devices``: XLA's CPU
  settings and the seeds spread over devices (``per_seed``);
- ``session``: one run on disk (resume, chunks, checkpoints, signals); ``rundir``: the run
  directory; ``checkpoint``; ``metrics_file``; ``tensorboard_log`` (the same rows as
  TensorBoard events); ``memory``; ``plotting``;
- ``cli`` (``npg-train``) and ``evaluate`` (``npg-eval``).
"""

from .algos import ALGOS, Algo, PolicyBatch, get_algo, register_algo
from .config import DTYPES, TUNED, TrainConfig, default_config, tuned_defaults
from .devices import per_seed, seed_keys, seed_sharding
from .envs import SOLVED_AT, SUPPORTED_ENVS, EnvSpec, make_env
from .gae import gae, lambda_returns
from .loop import Trainer, make_train, make_trainer
from .options import Setting
from .state import METRIC_COLUMNS, Metrics, PolicyStepInfo, TrainState, Transition

__all__ = [
    "ALGOS",
    "Algo",
    "PolicyBatch",
    "get_algo",
    "register_algo",
    "Setting",
    "DTYPES",
    "TUNED",
    "TrainConfig",
    "default_config",
    "tuned_defaults",
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
    "PolicyStepInfo",
    "TrainState",
    "Transition",
]
