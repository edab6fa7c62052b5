"""Running observation normalization: a mean and variance merged batch by batch (Chan et
al.'s parallel rule), and z = clip((s - mean) / sqrt(var + 1e-8), -10, 10).

The statistics live in the training state, so checkpoints carry them; evaluation reads
them frozen.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ObsNorm", "init_obs_norm", "normalize", "update_obs_norm"]


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
