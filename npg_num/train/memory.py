"""How much memory a training run needs, against what the machine has: checked before
compiling (an estimate from the configuration) and after (XLA's own figures).

What the estimate counts, per seed (``estimate_run_memory``), in the run's dtype:

- the state, three times over (the chunk program's input and output, and the host copy a
  checkpoint is written from): policy and value parameters, Adam's two moments, the
  observation statistics, and per environment its observation, episode counters and an
  allowance of ``obs_dim + 8`` numbers for the simulator's state;
- one update's buffers: the rollout (observations before and after, actions, action
  noise, rewards, flags, random bits: ``4 (obs_dim + action_dim) + 16`` numbers per step)
  and the networks' activations over the batch, counted twice (the forward pass and its
  tangent or cotangent: ``2 (sum(hidden) + sum(value_hidden) + action_dim + 1)`` numbers
  per step).

Per update, not per run: a run keeps no buffer over its updates (metrics go to disk
chunk by chunk), so ``total_steps`` does not enter. Not counted: the Python process with
its imports (in memory before the check, so the available memory already excludes it),
the compiler's working memory, and the metrics read back at the end to draw the curve;
these are most of a small run, so the estimate matters for runs whose size grows with
seeds, environments and steps. How close it comes to XLA's own figures is measured in
docs/training.md ("Memory"). After compiling, ``check_compiled_fits`` checks XLA's figures
themselves, so a configuration the estimate gets wrong is still refused before its
buffers are allocated.

Available memory: on a CPU, ``MemAvailable`` of ``/proc/meminfo``, lowered to the cgroup's
limit less its usage where a container sets one; elsewhere ``os.sysconf``. On an
accelerator, each device's ``memory_stats()`` (limit less in use), against the seeds that
device trains.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple, Optional

from ..errors import NPGInputError

__all__ = ["MemoryNeed", "estimate_run_memory", "available_host_memory",
           "check_run_fits", "check_compiled_fits", "format_bytes"]


class MemoryNeed(NamedTuple):
    """Bytes a run needs: per seed, and in all (``total``)."""

    seeds: int
    state_bytes: int  # one seed's training state
    update_bytes: int  # one seed's buffers during one update

    @property
    def per_seed(self) -> int:
        return 3 * self.state_bytes + self.update_bytes

    @property
    def total(self) -> int:
        return self.seeds * self.per_seed


def _mlp_params(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def estimate_run_memory(config, obs_dim: int, action_dim: int) -> MemoryNeed:
    """The memory ``config`` needs (see the module docstring for what is counted)."""
    itemsize = 8 if config.dtype == "float64" else 4
    policy = _mlp_params([obs_dim, *config.hidden, action_dim]) + action_dim  # + log-std
    value = _mlp_params([obs_dim, *config.value_hidden, 1])
    per_env = 2 * obs_dim + 8 + 5  # observation, simulator allowance, episode counters
    state = policy + 3 * value + 2 * obs_dim + 16 + config.num_envs * per_env
    per_step = (4 * (obs_dim + action_dim) + 16
                + 2 * (sum(config.hidden) + sum(config.value_hidden) + action_dim + 1))
    update = config.batch_size * per_step
    return MemoryNeed(int(config.seeds), int(state * itemsize), int(update * itemsize))


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; binary units, three significant figures."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _meminfo_available(path="/proc/meminfo") -> Optional[int]:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(root="/sys/fs/cgroup") -> Optional[int]:
    """A container's memory limit less its usage (cgroup v2, else v1), if it sets one."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes",
                                    "memory/memory.usage_in_bytes")):
        try:
            limit = Path(root, limit_file).read_text().strip()
            usage = int(Path(root, usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:
            return None  # no limit
        return max(0, int(limit) - usage)
    return None


def available_host_memory() -> Optional[int]:
    """Bytes of memory this process can still take (None if the OS does not say)."""
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    room = _cgroup_room()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


def _device_room(devices) -> Optional[int]:
    """The least free memory over ``devices`` (accelerators report it; None if not)."""
    rooms = []
    for d in devices:
        try:
            stats = d.memory_stats() or {}
        except Exception:  # noqa: BLE001 - a backend without memory statistics
            return None
        if "bytes_limit" not in stats:
            return None
        rooms.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
    return min(rooms) if rooms else None


def _refuse(needed: int, what: str, available: int, where: str) -> NPGInputError:
    return NPGInputError(
        f"this run needs about {format_bytes(needed)} of memory ({what}) but {where} has "
        f"{format_bytes(available)} available; use fewer seeds (--seeds), environments "
        "(--num-envs) or steps per update (--num-steps)"
    )


def check_run_fits(config, obs_dim: int, action_dim: int, *, devices=None,
                   available: Optional[int] = None) -> MemoryNeed:
    """Raise ``NPGInputError`` (one line, both numbers) if the estimate for ``config`` does
    not fit; returns the estimate.

    ``devices``: the devices the seeds are spread over (default: ``jax.devices()``); on a
    CPU the whole run is in host memory, elsewhere each device holds its own seeds.
    ``available``: bytes, to override what the machine reports (tests).
    """
    need = estimate_run_memory(config, obs_dim, action_dim)
    what = f"{need.seeds} seed(s) x {format_bytes(need.per_seed)} each"
    if devices is None:
        import jax

        devices = jax.devices()
    devices = list(devices)
    on_host = available is not None or not devices or devices[0].platform == "cpu"
    if on_host:
        room = available_host_memory() if available is None else available
        if room is not None and need.total > room:
            raise _refuse(need.total, what, room, "this machine")
        return need
    used = math.gcd(len(devices), need.seeds)  # as devices.seed_sharding spreads them
    per_device = need.seeds // used * need.per_seed
    room = _device_room(devices[:used])
    if room is not None and per_device > room:
        raise _refuse(per_device, f"{need.seeds // used} seed(s) a device x "
                      f"{format_bytes(need.per_seed)}", room, f"each {devices[0].platform}")
    return need


def check_compiled_fits(compiled, devices) -> Optional[int]:
    """After compiling: raise ``NPGInputError`` if the buffers XLA assigned to the program
    (outputs and temporaries; the inputs exist already) exceed the memory available now.
    Returns those bytes (all devices together), or None if XLA does not report them."""
    try:
        stats = compiled.memory_analysis()
        extra = (stats.output_size_in_bytes + stats.temp_size_in_bytes
                 - stats.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - a backend without memory analysis
        return None
    devices = list(devices)
    if devices and devices[0].platform != "cpu":
        room = _device_room(devices)
        if room is not None and extra > room:
            raise _refuse(extra, "the compiled program's buffers, per device", room,
                          f"each {devices[0].platform}")
        return extra * len(devices)
    total = extra * max(1, len(devices))  # XLA reports one device's share
    room = available_host_memory()
    if room is not None and total > room:
        raise _refuse(total, "the compiled program's buffers", room, "this machine")
    return total
