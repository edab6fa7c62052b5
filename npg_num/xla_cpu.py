"""XLA's settings for a CPU: the one place the project configures XLA.

XLA reads ``XLA_FLAGS`` once, when its first backend starts (the first computation, not
``import jax``; importing ``npg_num`` computes nothing), so these functions must run
before anything is computed. Entry points call them first thing: ``npg-train``
(:func:`configure`), ``npg-eval``, ``python -m proofs`` and the tests
(:func:`add_hang_guard`).

- ``HANG_GUARD``, ``--xla_cpu_enable_concurrency_optimized_scheduler=false``: against a
  deadlock of XLA's CPU thread pool seen with vmapped training loops (docs/platform.md).
- ``--xla_force_host_platform_device_count=N`` (N = the cores this process may use, by
  :func:`configure`): XLA then shows N CPU devices, and the trainer shards its seeds over
  them (``npg_num.train.devices.seed_sharding``). An explicit device count already in
  ``XLA_FLAGS`` is kept.
- :func:`compiler_options`: the per-program options the trainer compiles with (LLVM at
  ``-O1`` on CPU; docs/training.md, "What the CPU settings buy", has what it buys).

Only the standard library is imported at module level; ``compiler_options`` imports jax.
"""

from __future__ import annotations

import functools
import os

HANG_GUARD = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
DEVICE_COUNT = "--xla_force_host_platform_device_count"

__all__ = ["HANG_GUARD", "DEVICE_COUNT", "available_cores", "add_hang_guard", "configure",
           "compiler_options"]


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def add_hang_guard() -> str:
    """Add only the hang guard to ``XLA_FLAGS`` (first, once); returns the new value.

    For the tests, the proofs, ``npg-eval`` and single-device benchmarks. Call before the
    first JAX computation; calling it again changes nothing.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    if HANG_GUARD not in flags:
        flags.insert(0, HANG_GUARD)
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return os.environ["XLA_FLAGS"]


def configure(cpu_devices: int | None = None) -> str:
    """Add the hang guard and a CPU device count to ``XLA_FLAGS``; returns the new value.

    ``cpu_devices``: how many CPU devices XLA should show (default: one per available
    core). Flags the user already set win. Raises ``ValueError`` for a count below 1.
    Call before the first JAX computation.
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
