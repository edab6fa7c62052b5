"""Devices: how seeds are spread over devices (``seed_keys``, ``seed_sharding``,
``per_seed``), and, re-exported from :mod:`npg_num.xla_cpu` (the one place the project
configures XLA), the CPU settings the trainer runs with: the hang guard, one device per
core, the per-program compiler options.

XLA reads ``XLA_FLAGS`` once, when its first backend starts, so :func:`configure` must run
before anything is computed; the CLI and the benchmarks call it first thing.
"""

from __future__ import annotations

import math
from typing import Callable

from ..xla_cpu import (  # noqa: F401 - the training wing's historical import path
    DEVICE_COUNT,
    HANG_GUARD,
    add_hang_guard,
    available_cores,
    compiler_options,
    configure,
)

__all__ = ["configure", "add_hang_guard", "compiler_options", "available_cores",
           "HANG_GUARD", "seed_keys", "seed_sharding", "per_seed"]


def seed_keys(config):
    """One PRNG key per seed: PRNGKey(seed + i), i < seeds; shape [seeds, 2]."""
    import jax
    import jax.numpy as jnp

    return jnp.stack([jax.random.PRNGKey(config.seed + i) for i in range(config.seeds)])


def seed_sharding(num_seeds: int, devices=None):
    """A ``NamedSharding`` that splits a leading seed axis over devices.

    Uses the largest number of ``devices`` (default ``jax.devices()``) that divides
    ``num_seeds``, so each device trains whole seeds. ``jax.device_put(state, sharding)``
    on a vmapped state (every leaf has the seed axis first) places it; ``per_seed`` runs a
    function on it device by device.
    """
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = list(jax.devices() if devices is None else devices)
    n = math.gcd(len(devices), int(num_seeds))
    mesh = Mesh(np.asarray(devices[:n]), ("seeds",))
    return NamedSharding(mesh, PartitionSpec("seeds"))


def per_seed(fn: Callable, sharding, in_axes=0) -> Callable:
    """``jax.vmap(fn, in_axes)`` over a seed axis sharded by ``sharding``
    (``seed_sharding``), each device running its own seeds with no communication.

    Wrap it in ``jax.jit``. ``in_axes``: 0, None, or a tuple of them, one per argument;
    arguments with ``in_axes`` None are replicated. Every output has the seed axis first
    and comes out sharded like the seeds. It computes what ``jax.jit(jax.vmap(fn))``
    computes on the same sharded inputs, bit for bit (tested).

    Why not ``jax.jit(jax.vmap(fn))`` on sharded inputs: a vmapped ``while_loop`` runs
    while any seed's condition holds, so under the SPMD partitioner the conjugate-gradient
    and line-search loops reduce their condition over all seeds, a cross-device all-reduce
    (a barrier between the devices' threads) every iteration. Here each device's loop
    waits only for its own seeds (docs/training.md has the times).
    """
    import jax
    from jax.sharding import PartitionSpec

    seeds, replicated = PartitionSpec(sharding.mesh.axis_names[0]), PartitionSpec()
    if isinstance(in_axes, (tuple, list)):
        in_specs = tuple(replicated if a is None else seeds for a in in_axes)
    else:
        in_specs = replicated if in_axes is None else seeds
    return jax.shard_map(jax.vmap(fn, in_axes=in_axes), mesh=sharding.mesh,
                         in_specs=in_specs, out_specs=seeds, check_vma=False)
