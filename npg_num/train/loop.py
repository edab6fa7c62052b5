"""The training loop: ``make_train(config) -> train(key)``, one jitted function.

In the purejaxrl habit, ``train`` is a ``lax.scan`` over updates, so ``jax.vmap(train)(keys)``
runs many seeds in one program. Each update (``Trainer.update``):

1. draws all of its randomness with one threefry call: the next key, the action noise, the
   environments' step and reset keys, and the bits whose ``argsort`` orders the batch;
2. rolls out ``num_steps`` steps of ``num_envs`` gymnax environments (``rollout_device``);
3. learns from the batch (``update.make_learn``: GAE, the policy step of the configured
   algorithm, the value fit, the observation statistics, the metrics), the same function
   the host (MuJoCo) rollout uses.

For progress reports and checkpoints, ``make_trainer(config)`` exposes the same loop in
pieces: ``init(key)``, ``update(state)`` and ``chunk(length)`` (a jit-friendly function
``(state, n_active) -> (state, metrics[length])`` running the first ``n_active`` updates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ..errors import NPGInputError
from ..networks import mlp_policy_spec
from .algos import get_algo
from .config import TrainConfig
from .devices import compiler_options
from .envs import EnvSpec, make_env
from .init import init_mlps
from .normalization import init_obs_norm, init_reward_norm
from .rollout_device import make_device_env
from .sampling import gumbel, normal
from .state import TrainState, new_episodes, pack_metrics, unpack_metrics, zero_metrics
from .update import ValueNet, make_learn, make_value_fit, value_network

__all__ = ["Trainer", "make_trainer", "make_train", "init_networks", "init_learner",
           "learner_parts", "LearnerParts"]


@dataclass(frozen=True)
class Trainer:
    """The pieces of the training loop for one config (see ``make_trainer``)."""

    config: TrainConfig
    spec: EnvSpec
    policy: Any  # networks.Policy
    value: ValueNet  # the value MLP over flat parameters
    init: Callable  # key -> TrainState
    update: Callable  # TrainState -> (TrainState, Metrics)
    rollout: Callable  # (theta, obs_norm, env_state, obs, episodes, noise, env_keys)
    policy_step: Callable  # (theta, algo_state, PolicyBatch) -> (theta, algo_state, info)
    value_fit: Callable  # (params, opt, obs, targets, perms) -> (params, opt)
    learn: Callable  # (state, traj, perm_bits, finished_before) -> (state, Metrics)
    train: Callable  # key -> (TrainState, Metrics[num_updates])

    @property
    def num_updates(self) -> int:
        return self.config.num_updates

    @property
    def value_layers(self) -> Callable:
        """Flat value parameters -> the value MLP's list of {"w", "b"}."""
        return self.value.layers

    def chunk(self, length: int) -> Callable:
        """(state, n_active) -> (state, Metrics[length]): ``n_active <= length`` updates.

        ``n_active`` may be a traced scalar (one compiled program serves every chunk,
        the short last one included); rows past ``n_active`` are zeros, to be dropped.
        Under ``jax.vmap`` over seeds, keep ``n_active`` unbatched (``in_axes=None``), so
        the skip stays a real branch and costs nothing.
        """
        update = self.update
        zeros = zero_metrics(jnp.dtype(self.config.dtype))

        def skip(s):
            return s, zeros

        def run(state, n_active):
            def body(s, i):
                s, m = jax.lax.cond(i < n_active, update, skip, s)
                return s, pack_metrics(m)

            state, packed = jax.lax.scan(body, state, jnp.arange(length))
            return state, unpack_metrics(packed)

        return run


def init_networks(key, config: TrainConfig, obs_dim: int, action_dim: int, discrete: bool):
    """Policy theta0 (``mlp_policy``'s scheme: output gain 0.01, log-std ``log_std_init``,
    same flat layout) and the value MLP (output gain 1), as two flat vectors."""
    dtype = jnp.dtype(config.dtype)
    pi_layers, v_layers = init_mlps(key, [
        ([obs_dim, *config.hidden, action_dim], 0.01),
        ([obs_dim, *config.value_hidden, 1], 1.0),
    ], dtype)
    params = {"layers": pi_layers}
    if not discrete:
        params["log_std"] = jnp.full((action_dim,), config.log_std_init, dtype)
    return ravel_pytree(params)[0], ravel_pytree(v_layers)[0]


def init_learner(key, config: TrainConfig, spec, algo, optimizer) -> dict:
    """The learner's part of a fresh ``TrainState`` (networks, optimizer, statistics,
    counters); ``key`` is the seed's key, split as the device loop always split it."""
    dtype = jnp.dtype(config.dtype)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)  # the state carries raw uint32[2] keys
    k_nets, key = jax.random.split(key)
    theta, value_params = init_networks(k_nets, config, spec.obs_dim, spec.action_dim,
                                        spec.discrete)
    return dict(
        theta=theta,
        value_params=value_params,
        value_opt=optimizer.init(value_params),
        obs_norm=init_obs_norm(spec.obs_dim, dtype),
        key=key,
        update=jnp.asarray(0, jnp.int32),
        rejected=jnp.asarray(0, jnp.int32),
        algo_state=algo.init(config, theta),
        reward_norm=(init_reward_norm(config.num_envs, dtype) if config.normalize_reward
                     else ()),
    )


class LearnerParts(NamedTuple):
    """What every loop builds the same way from a config, whatever its rollout."""

    spec: EnvSpec
    policy: Any  # networks.Policy (the layout only: theta0 is drawn in a compiled program)
    algo: Any  # algos.Algo
    optimizer: Any  # optax Adam of the value function
    value: ValueNet
    value_fit: Callable
    policy_step: Callable
    learn: Callable  # update.make_learn


def learner_parts(config: TrainConfig, advantage_hook: Optional[Callable] = None):
    spec = make_env(config.env, config.env_module)
    policy = mlp_policy_spec(spec.obs_dim, spec.action_dim, hidden=config.hidden,
                             head=spec.head, dtype=jnp.dtype(config.dtype))
    algo = get_algo(config.algo)
    optimizer = optax.adam(config.value_lr)
    value = value_network(config, spec.obs_dim)
    value_fit = make_value_fit(config, value, optimizer)
    policy_step = algo.make_step(config, policy)
    learn = make_learn(config, spec.obs_dim, policy_step, value, value_fit,
                       advantage_hook=advantage_hook)
    return LearnerParts(spec, policy, algo, optimizer, value, value_fit, policy_step, learn)


def make_trainer(config: TrainConfig, *, advantage_hook: Optional[Callable] = None) -> Trainer:
    """Build the training loop for ``config`` on a gymnax environment.

    ``advantage_hook(advantages, update) -> advantages``, if given, sees the batch's
    advantages (after standardization, inside jit) before the policy step: a fault-injection
    point for tests (a NaN there must be rejected by the guard), not a tuning knob.
    """
    if not isinstance(config, TrainConfig):
        raise NPGInputError(f"config must be a TrainConfig, got {type(config).__name__}")
    cfg = config
    dtype = jnp.dtype(cfg.dtype)
    p = learner_parts(cfg, advantage_hook)
    spec, policy, algo, optimizer, value = p.spec, p.policy, p.algo, p.optimizer, p.value
    value_fit, policy_step, learn = p.value_fit, p.policy_step, p.learn
    device_env = make_device_env(cfg, spec, policy)
    n_envs, n_steps, batch = cfg.num_envs, cfg.num_steps, cfg.batch_size
    bit_counts = (2, n_steps * n_envs * spec.action_dim, n_steps * 2 * n_envs * 2, batch)
    n_bits = sum(bit_counts)
    bit_splits = np.cumsum(bit_counts)[:-1].tolist()

    def init(key) -> TrainState:
        learner = init_learner(key, cfg, spec, algo, optimizer)
        env_state, obs = device_env.init(learner["key"])
        return TrainState(env_state=env_state, obs=obs,
                          episodes=new_episodes(n_envs, dtype), **learner)

    def update(state: TrainState):
        # All of an update's randomness from one threefry call (each call site costs
        # compile time): the next key, the action noise, the environments'
        # step and reset keys (any uint32 pair is a threefry key), and the bits whose
        # argsort is one random order of the batch (a single sort: sorting is slow on CPU).
        bits = jax.random.bits(state.key, (n_bits,), jnp.uint32)
        key, noise_bits, key_bits, perm_bits = jnp.split(bits, bit_splits)
        noise_bits = noise_bits.reshape(n_steps, n_envs, spec.action_dim)
        noise = gumbel(noise_bits, dtype) if spec.discrete else normal(noise_bits, dtype)
        env_state, obs, episodes, traj = device_env.rollout(
            state.theta, state.obs_norm, state.env_state, state.obs, state.episodes, noise,
            key_bits.reshape(n_steps, 2, n_envs, 2),
        )
        rolled = state._replace(env_state=env_state, obs=obs, episodes=episodes, key=key)
        return learn(rolled, traj, perm_bits, state.episodes.finished)

    def train(key):
        def body(s, _):
            s, m = update(s)
            return s, pack_metrics(m)

        state, packed = jax.lax.scan(body, init(key), None, length=cfg.num_updates)
        return state, unpack_metrics(packed)

    return Trainer(
        config=cfg, spec=spec, policy=policy, value=value, init=init, update=update,
        rollout=device_env.rollout, policy_step=policy_step, value_fit=value_fit,
        learn=learn, train=train,
    )


def make_train(config: TrainConfig, *, advantage_hook: Optional[Callable] = None) -> Callable:
    """``train(key) -> (TrainState, Metrics)``, the whole loop as one jitted function.

    ``Metrics`` fields are stacked over the ``config.num_updates`` updates;
    ``jax.vmap(train)(keys)`` trains one seed per key in a single program.

    Examples
    --------
    >>> from npg_num.train import default_config
    >>> cfg = default_config("CartPole-v1", total_steps=2048, num_envs=4, num_steps=64)
    >>> state, metrics = make_train(cfg)(jax.random.PRNGKey(0))
    >>> metrics.env_steps.tolist()
    [256, 512, 768, 1024, 1280, 1536, 1792, 2048]
    """
    return jax.jit(make_trainer(config, advantage_hook=advantage_hook).train,
                   compiler_options=compiler_options())
