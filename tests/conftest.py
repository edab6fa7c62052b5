"""Test setup: float64 JAX, the XLA hang guard, Hypothesis profiles.

Profiles: ``ci`` (derandomized, no deadline, fixed example count) is loaded when CI is
set; ``dev`` otherwise (random, same count). ``HYPOTHESIS_PROFILE`` overrides both.
"""

import os
import signal

# A CI runner may start the suite as a background job, with SIGINT and SIGHUP ignored;
# children inherit that, and npg-train keeps a signal it was started with ignored (nohup).
# The tests stop runs as a person's terminal does: these signals at their defaults.
for _sig in (signal.SIGINT, signal.SIGHUP):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, signal.default_int_handler if _sig == signal.SIGINT else signal.SIG_DFL)

# docs/platform.md: vmapped jitted loops can deadlock in XLA's CPU thread pool without the
# hang guard; and npg-train shows XLA one CPU device per core. Both set here, before JAX
# computes anything, as npg-train sets them: a run a test makes in this process
# (clirun.train_in_process) then has the devices, and so the numbers, of npg-train's own.
from npg_num.xla_cpu import configure  # noqa: E402

configure()
# The tests compile about 2,500 small programs in their own processes (a compiled twin per
# shape Hypothesis draws): there LLVM at -O0, which cuts their compile time by about a
# quarter. The trainer's programs name their own level (npg_num.xla_cpu.compiler_options,
# -O1), which wins over this default, so a run trained here is the program npg-train
# compiles, number for number; subprocesses (clirun.cli_env) get no XLA_FLAGS from here.
if "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=0"
# npg-train's persistent compilation cache: one per test session, not the user's
if "NPG_COMPILE_CACHE" not in os.environ:
    import tempfile

    os.environ["NPG_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="npg-test-jax-cache-")

import jax  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_enable_x64", True)

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, max_examples=25, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=200, **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

# The longest test files first (longest-processing-time order): make test hands whole
# files to two workers (pytest-xdist, --dist loadfile), and a long file handed out last
# would run alone at the end. Seconds per file in a whole quiet run (2026-12-07):
# sweep 115, video 109, user_data 98, proofs 90, trainer 67, cli 67, locomotion 62,
# derive_bounded 62, derive 59, mdp_bounds 46, twins 46; the rest 41 s or less.
_LONGEST_FIRST = ("test_sweep.py", "test_video.py", "test_user_data.py", "test_proofs.py",
                  "test_trainer.py", "test_cli.py", "test_locomotion.py",
                  "test_derive_bounded.py", "test_derive.py", "test_mdp_bounds.py",
                  "test_twins.py", "test_laws.py", "test_approximations.py",
                  "test_install.py", "test_run_faults.py", "test_derive_vector.py",
                  "test_envs.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a file, and of the rest, is kept
