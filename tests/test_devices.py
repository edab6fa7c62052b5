"""npg_num.xla_cpu: the XLA flags the CLI, proofs, tests and benchmarks set before JAX
starts (also importable from npg_num.train.devices, the training wing's path)."""

import subprocess
import sys

import pytest

from npg_num import xla_cpu


def test_configure_adds_the_hang_guard_and_one_device_per_core(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    flags = xla_cpu.configure().split()
    assert flags[0] == xla_cpu.HANG_GUARD
    assert f"--xla_force_host_platform_device_count={xla_cpu.available_cores()}" in flags


def test_configure_keeps_the_users_flags_and_is_idempotent(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4 --xla_dump_to=x")
    once = xla_cpu.configure()
    assert once.split().count("--xla_force_host_platform_device_count=4") == 1
    assert "--xla_dump_to=x" in once.split()
    assert sum(f.startswith("--xla_force_host_platform_device_count") for f in once.split()) == 1
    assert xla_cpu.configure() == once


def test_configure_explicit_count_and_bad_count(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert "--xla_force_host_platform_device_count=3" in xla_cpu.configure(3).split()
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    with pytest.raises(ValueError, match="cpu_devices"):
        xla_cpu.configure(0)


def test_configured_process_sees_one_device_per_core():
    """In a fresh process (XLA reads its flags once), configure() before any computation
    gives one CPU device per available core, and the trainer's compile options compile."""
    code = (
        "from npg_num.xla_cpu import configure, compiler_options, available_cores\n"
        "configure()\n"
        "import jax, jax.numpy as jnp\n"
        "assert len(jax.devices()) == available_cores(), (jax.devices(), available_cores())\n"
        "f = jax.jit(lambda x: jnp.tanh(x) * 2, compiler_options=compiler_options())\n"
        "assert float(f(jnp.float32(0.5))) == float(jnp.tanh(jnp.float32(0.5)) * 2)\n"
        "print('ok', compiler_options())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "xla_backend_optimization_level" in out.stdout


def test_compiler_options_fall_back_when_refused(monkeypatch):
    """A jaxlib that does not know the option compiles with XLA's defaults instead."""
    monkeypatch.setattr(xla_cpu, "_CPU_OPTIONS", {"xla_no_such_option_here": 1})
    xla_cpu._accepted.cache_clear()
    try:
        assert xla_cpu.compiler_options() is None
    finally:
        xla_cpu._accepted.cache_clear()
    monkeypatch.undo()
    assert xla_cpu.compiler_options() == {"xla_backend_optimization_level": 1}


def test_add_hang_guard_adds_no_device_count(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=x")
    flags = xla_cpu.add_hang_guard().split()
    assert flags == [xla_cpu.HANG_GUARD, "--xla_dump_to=x"]
    assert xla_cpu.add_hang_guard().split() == flags


def test_one_xla_setup_reached_from_both_paths_without_the_training_wing():
    """npg_num.train.devices re-exports npg_num.xla_cpu's functions (not copies), and the
    core module loads no training code (the proofs import it)."""
    code = (
        "import sys\n"
        "import npg_num.xla_cpu as x\n"
        "assert 'npg_num.train' not in sys.modules, 'xla_cpu loaded the training wing'\n"
        "from npg_num.train import devices as d\n"
        "names = ('configure', 'add_hang_guard', 'compiler_options', 'available_cores', "
        "'HANG_GUARD')\n"
        "assert all(getattr(d, n) is getattr(x, n) for n in names)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
