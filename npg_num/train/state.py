"""The trainer's state and outputs, as NamedTuples: ``TrainState`` (everything a run
carries from update to update, and what a checkpoint holds), ``Transition`` (one step of
the rollout), ``PolicyStepInfo`` (what a policy step reports) and ``Metrics`` (one row per
update, the columns of metrics.csv).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .normalization import ObsNorm

__all__ = ["Episodes", "TrainState", "Metrics", "METRIC_COLUMNS", "Transition",
           "PolicyStepInfo", "new_episodes", "zero_metrics", "pack_metrics",
           "unpack_metrics"]


class Episodes(NamedTuple):
    running_return: jax.Array  # [num_envs], undiscounted, unscaled
    running_length: jax.Array  # [num_envs]
    last_return: jax.Array  # [num_envs], the most recent finished episode's return
    finished: jax.Array  # [num_envs], episodes finished so far
    ended: jax.Array  # [num_envs] bool: the episode ended at the last step; reset first


class TrainState(NamedTuple):
    theta: jax.Array  # flat policy parameters
    value_params: jax.Array  # flat value-MLP parameters (``Trainer.value_layers`` unflattens)
    value_opt: Any  # optax Adam state (of the flat vector)
    obs_norm: ObsNorm
    env_state: Any  # gymnax states, leading axis num_envs
    obs: jax.Array  # [num_envs, obs_dim], raw observations (the last step's s_{t+1})
    episodes: Episodes
    key: jax.Array
    update: jax.Array  # updates done (int32)
    rejected: jax.Array  # updates whose policy step was rejected (int32)
    algo_state: Any = ()  # the policy step's own state (``algos.Algo.init``; npg, trpo: ())
    reward_norm: Any = ()  # ``normalization.RewardNorm`` with ``normalize_reward``, else ()


class PolicyStepInfo(NamedTuple):
    """What a policy step reports (``algos.step_info`` builds one); the middle columns of
    ``Metrics``."""

    kl: jax.Array  # mean KL(pi_old || pi_new) over the batch after the step (0 if rejected)
    beta: jax.Array  # sqrt(2 delta / x^T F x), the natural step's scale (NaN: none)
    accepted: jax.Array  # the policy step was applied
    guard_ok: jax.Array  # the natural step's guard passed (finite, positive curvature)
    line_search_steps: jax.Array  # trpo: backtracks before acceptance (npg: 0)
    step_fraction: jax.Array  # fraction of the natural step applied (0 when rejected)
    cg_residual: jax.Array  # ||g - (F + damping I) x|| (NaN: no linear system solved)
    expected_improvement: jax.Array  # g . step, the linear model's gain
    surrogate_improvement: jax.Array  # L(theta_new) - L(theta_old), measured
    entropy: jax.Array  # mean policy entropy over the batch (before the step)


class Metrics(NamedTuple):
    """One row per update (per seed): the columns of metrics.csv (``metrics_file``), the
    policy step's ``PolicyStepInfo`` in the middle."""

    update: jax.Array  # 1-based index of this update
    env_steps: jax.Array  # environment steps so far (this seed)
    mean_return: jax.Array  # mean over envs of the last finished episode's return (NaN: none yet)
    kl: jax.Array
    beta: jax.Array
    accepted: jax.Array
    guard_ok: jax.Array
    line_search_steps: jax.Array
    step_fraction: jax.Array
    cg_residual: jax.Array
    expected_improvement: jax.Array
    surrogate_improvement: jax.Array
    entropy: jax.Array
    rejected_total: jax.Array  # rejected steps so far
    episodes: jax.Array  # episodes finished during this update's rollout
    value_loss: jax.Array  # mean (V(s) - G^lambda)^2 before the value fit
    data_ok: jax.Array  # every observation and reward of the batch was finite


# the policy step's info is a slice of Metrics, in its order (``Metrics(**info._asdict())``)
if Metrics._fields[3:3 + len(PolicyStepInfo._fields)] != PolicyStepInfo._fields:
    raise ImportError("Metrics must hold PolicyStepInfo's fields, in order, after mean_return")
METRIC_COLUMNS = Metrics._fields


class Transition(NamedTuple):
    obs: jax.Array  # raw s_t
    action: jax.Array
    reward: jax.Array  # unscaled r_t
    terminated: jax.Array
    done: jax.Array
    next_obs: jax.Array  # raw s_{t+1} before any automatic reset


_INT_METRICS = ("update", "env_steps", "episodes", "line_search_steps", "rejected_total")
_BOOL_METRICS = ("accepted", "guard_ok", "data_ok")


def zero_metrics(dtype) -> Metrics:
    return Metrics(**{
        name: jnp.zeros((), jnp.int32 if name in _INT_METRICS else
                        bool if name in _BOOL_METRICS else dtype)
        for name in Metrics._fields
    })


def pack_metrics(m: Metrics):
    """One update's scalar metrics as (int32[k], float[l]): a scan then stacks two arrays
    instead of sixteen (each stacked output is its own kernel to compile)."""
    ints = jnp.stack([jnp.asarray(getattr(m, n)).astype(jnp.int32)
                      for n in _INT_METRICS + _BOOL_METRICS])
    floats = jnp.stack([getattr(m, n) for n in Metrics._fields
                        if n not in _INT_METRICS + _BOOL_METRICS])
    return ints, floats


def unpack_metrics(packed) -> Metrics:
    """Inverse of ``pack_metrics`` on stacked rows: ``Metrics`` of arrays [..., rows]."""
    ints, floats = packed
    int_names = _INT_METRICS + _BOOL_METRICS
    float_names = [n for n in Metrics._fields if n not in int_names]
    out = {n: ints[..., i] for i, n in enumerate(int_names)}
    out.update({n: out[n].astype(bool) for n in _BOOL_METRICS})
    out.update({n: floats[..., i] for i, n in enumerate(float_names)})
    return Metrics(**out)


def new_episodes(n_envs: int, dtype) -> Episodes:
    """Counters before the first step: no episode yet, every environment about to start."""
    zeros = jnp.zeros((n_envs,), dtype)
    izeros = jnp.zeros((n_envs,), jnp.int32)
    return Episodes(zeros, izeros, zeros, izeros, jnp.ones((n_envs,), bool))
