"""Running normalization of observations and rewards, with statistics merged batch by batch
(Chan et al.'s parallel rule).

- observations: z = clip((s - mean) / sqrt(var + 1e-8), -10, 10);
- rewards (``normalize_reward``, as rl-baselines3-zoo's VecNormalize does for MuJoCo):
  r / sqrt(var(R) + 1e-8), where R_t = gamma R_{t-1} + r_t is each environment's running
  discounted return (reset at episode ends) and var(R) its running variance. Two rules
  (``reward_norm``): ``batch`` merges the whole batch's returns, then scales every reward
  of the batch by that one variance; ``step`` is VecNormalize's own: at each step the
  environments' returns are merged first and that step's rewards scaled by the variance
  of that moment, then clipped to [-10, 10] (``clip_reward``). Both see only the rewards
  and episode ends, so the scaling is computed after the rollout, in ``learn``.

The statistics live in the training state, so checkpoints carry them; evaluation reads
the observation statistics frozen.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ObsNorm", "RewardNorm", "init_obs_norm", "init_reward_norm", "normalize",
           "update_obs_norm", "normalize_rewards", "REWARD_NORMS", "REWARD_CLIP"]

REWARD_NORMS = ("batch", "step")
REWARD_CLIP = 10.0  # VecNormalize's clip_reward, in the ``step`` rule


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


def normalize_rewards(reward_norm: RewardNorm, reward_t, done_t, gamma: float,
                      rule: str = "batch"):
    """(scaled rewards, the updated statistics) for rewards [T, E] and episode ends [T, E].

    ``batch``: the returns R_t of this batch are merged into the statistics first, then
    every reward of the batch is divided by the same scale. ``step``: VecNormalize's rule
    (stable-baselines3 ``VecNormalize.step_wait``): for t = 1..T, R_t = gamma R_{t-1} + r_t
    for each environment, the E returns merged into the statistics, r_t divided by the
    scale of that moment and clipped to [-10, 10], and R_t reset where the episode ended.
    """
    if rule not in REWARD_NORMS:
        raise ValueError(f"reward_norm must be one of {REWARD_NORMS}, got {rule!r}")
    if rule == "step":
        def step(carry, xs):
            ret, stats = carry
            r, done = xs
            ret = gamma * ret + r
            stats = update_obs_norm(stats, ret[:, None])
            scaled = jnp.clip(r / jnp.sqrt(stats.var[0] + 1e-8), -REWARD_CLIP, REWARD_CLIP)
            return (jnp.where(done, 0.0, ret), stats), scaled

        (ret_end, stats), scaled = jax.lax.scan(step, (reward_norm.returns, reward_norm.stats),
                                                (reward_t, done_t))
        return scaled, RewardNorm(ret_end, stats)

    def accumulate(ret, xs):
        r, done = xs
        ret = gamma * ret + r
        return jnp.where(done, 0.0, ret), ret

    ret_end, returns = jax.lax.scan(accumulate, reward_norm.returns, (reward_t, done_t))
    stats = update_obs_norm(reward_norm.stats, returns[..., None])
    scaled = reward_t / jnp.sqrt(stats.var[0] + 1e-8)
    return scaled, RewardNorm(ret_end, stats)
