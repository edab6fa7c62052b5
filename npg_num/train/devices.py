"""Devices: the XLA settings for training on a CPU (the hang guard, one device per core,
an LLVM level that shortens compilation without slowing the run), and how seeds are
spread over devices (``seed_keys``, ``seed_sharding``, ``per_seed``).

XLA reads ``XLA_FLAGS`` once, when its first backend starts (the first computation, not
``import jax``), so :func:`configure` must run before anything is computed; the CLI and the
benchmarks call it first thing.

- ``--xla_cpu_enable_concurrency_optimized_scheduler=false``: the hang guard, against a
  deadlock of XLA's CPU thread pool on vmapped training loops (docs/platform.md).
- ``--xla_force_host_platform_device_count=N`` (N = the cores this process may use): XLA
  then shows N CPU devices, and the trainer shards its seeds over them
  (``seed_sharding``), each device running its own seeds on its own thread; one CPU
  device with XLA's own intra-op threads keeps the other cores mostly idle, the
  operations of a small MLP being too small to split. An explicit device count already
  in ``XLA_FLAGS`` is kept.

:func:`compiler_options` gives the per-program options the trainer compiles with: on CPU,
LLVM at ``-O1`` instead of ``-O2`` (shorter compiles, the same run time). What each
setting buys is measured in docs/training.md ("What the CPU settings buy").
"""

from __future__ import annotations

import functools
import math
import os
from typing import Callable

HANG_GUARD = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
DEVICE_COUNT = "--xla_force_host_platform_device_count"

__all__ = ["configure", "add_hang_guard", "compiler_options", "available_cores",
           "HANG_GUARD", "seed_keys", "seed_sharding", "per_seed"]


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def add_hang_guard() -> str:
    """Add only the hang guard to ``XLA_FLAGS`` (the tests and the single-device
    benchmarks); returns the new value. Call before the first JAX computation."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    if HANG_GUARD not in flags:
        flags.insert(0, HANG_GUARD)
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return os.environ["XLA_FLAGS"]


def configure(cpu_devices: int | None = None) -> str:
    """Add the hang guard and a CPU device count to ``XLA_FLAGS``; returns the new value.

    ``cpu_devices``: how many CPU devices XLA should show (default: one per available
    core). Flags the user already set win. Call before the first JAX computation.
    """
    flags = add_hang_guard().split()
    if not any(f.startswith(DEVICE_COUNT) for f in flags):
        n = available_cores() if cpu_devices is None else int(cpu_devices)
        if n < 1:
            raise ValueError(f"cpu_devices must be >= 1, got {n}")
        flags.append(f"{DEVICE_COUNT}={n}")
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return os.environ["XLA_FLAGS"]


_CPU_OPTIONS = {"xla_backend_optimization_level": 1}


@functools.lru_cache(maxsize=None)
def _accepted(backend: str) -> bool:
    """Whether this jaxlib knows the options (a debug option can be renamed or dropped in
    a later XLA): one tiny compile, once per process."""
    import jax
    import jax.numpy as jnp

    try:
        jax.jit(jnp.negative, compiler_options=_CPU_OPTIONS).lower(1.0).compile()
    except Exception:  # noqa: BLE001 - any refusal means: compile with XLA's defaults
        return False
    return True


def compiler_options() -> dict | None:
    """Per-program XLA options for the trainer's programs: LLVM -O1 on CPU, else none (also
    none if this jaxlib refuses the option)."""
    import jax

    backend = jax.default_backend()
    if backend == "cpu" and _accepted(backend):
        return dict(_CPU_OPTIONS)
    return None


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
