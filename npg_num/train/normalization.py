"""Running normalization of observations and rewards, with statistics merged batch by batch
(Chan et al.'s parallel rule).

- observations: z = clip((s - mean) / sqrt(var + 1e-8), -10, 10);
- rewards (``normalize_reward``, as rl-baselines3-zoo's VecNormalize does for MuJoCo):
  r / sqrt(var(R) + 1e-8), where R_t = gamma R_{t-1} + r_t is each environment's running
  discounted return (reset at episode ends) and var(R) its running variance.

The statistics live in the training state, so checkpoints carry them; evaluation reads
the observation statistics frozen.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ObsNorm", "RewardNorm", "init_obs_norm", "init_reward_norm", "normalize",
           "update_obs_norm", "normalize_rewards"]


class ObsNorm(NamedTuple):
    mean: jax.Array  # [obs_dim]
    var: jax.Array  # [obs_dim]
    count: jax.Array  # scalar, observations seen (starts at a small epsilon)


def init_obs_norm(obs_dim: int, dtype) -> ObsNorm:
    """Mean 0, variance 1, and a tiny count, so the first batch sets the statistics."""
    return ObsNorm(jnp.zeros((obs_dim,), dtype), jnp.ones((obs_dim,), dtype),
                   jnp.asarray(1e-4, dtype))


def normalize(obs_norm: ObsNorm, obs, enabled: bool):
    if not enabled:
        return obs
    z = (obs - obs_norm.mean) / jnp.sqrt(obs_norm.var + 1e-8)
    return jnp.clip(z, -10.0, 10.0)


def update_obs_norm(obs_norm: ObsNorm, batch):
    """Merge a batch's mean and variance into the running ones (Chan et al.'s parallel rule)."""
    batch = batch.reshape(-1, batch.shape[-1])
    n_b = batch.shape[0]
    mean_b = jnp.mean(batch, axis=0)
    var_b = jnp.var(batch, axis=0)
    n = obs_norm.count + n_b
    d = mean_b - obs_norm.mean
    mean = obs_norm.mean + d * (n_b / n)
    m2 = obs_norm.var * obs_norm.count + var_b * n_b + d**2 * obs_norm.count * n_b / n
    return ObsNorm(mean, m2 / n, n)


class RewardNorm(NamedTuple):
    returns: jax.Array  # [num_envs] the running discounted return of each episode in flight
    stats: ObsNorm  # running mean and variance of those returns, shape [1]


def init_reward_norm(num_envs: int, dtype) -> RewardNorm:
    return RewardNorm(jnp.zeros((num_envs,), dtype), init_obs_norm(1, dtype))


def normalize_rewards(reward_norm: RewardNorm, reward_t, done_t, gamma: float):
    """(rewards / sqrt(var(R) + 1e-8), the updated statistics) for rewards [T, E].

    The returns R_t of this batch are merged into the statistics first, then every reward
    of the batch is divided by the same scale (VecNormalize scales step by step with the
    statistics of that moment; one scale per batch keeps the batch consistent).
    """
    def accumulate(ret, xs):
        r, done = xs
        ret = gamma * ret + r
        return jnp.where(done, 0.0, ret), ret

    ret_end, returns = jax.lax.scan(accumulate, reward_norm.returns, (reward_t, done_t))
    stats = update_obs_norm(reward_norm.stats, returns[..., None])
    scaled = reward_t / jnp.sqrt(stats.var[0] + 1e-8)
    return scaled, RewardNorm(ret_end, stats)
