"""``npg-train``: train NPG, TRPO, ACKTR or PPO from the command line.

The flags are generated from the settings (``TrainConfig``'s fields and every registered
algorithm's options, each with its documentation); anything not given takes the tuned
default for the environment and algorithm (``config.tuned_defaults``). The run itself
(directory, resume, chunks, checkpoints, signals) is ``session.Session``; what a run
directory holds and guarantees is ``rundir``.

Exit codes: 0 done; 1 the run stopped on an error it names (a file that cannot be
written, an environment worker that died: continue with ``--resume``); 2 bad input (one
line on stderr); 129 / 130 / 143 stopped by SIGHUP / SIGINT / SIGTERM after saving a
checkpoint; 70 an internal error (one line naming the file that holds the traceback).

Examples
--------
    npg-train --env CartPole-v1 --algo npg --seeds 8 --out runs/cartpole
    npg-train --resume runs/cartpole
    npg-train --resume runs/cartpole --total-steps 200000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..console import OneLineParser, UsageError, finite_number, parse_whole, run_main, say

__all__ = ["main", "build_parser", "compile_cache_dir", "PROG"]

PROG = "npg-train"
CACHE_ENV = "NPG_COMPILE_CACHE"


def compile_cache_dir(enabled: bool = True):
    """Where JAX's persistent compilation cache lives for npg-train, or None when off.

    ``NPG_COMPILE_CACHE``: ``0``/``off``/``false`` turns it off, any other value is the
    directory; unset, ``$XDG_CACHE_HOME/npg/jax`` (else ``~/.cache/npg/jax``)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if not enabled or value.lower() in ("0", "off", "false", "no"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "npg" / "jax"


def _parse_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a list of layer sizes: {text!r} (write e.g. 64,64)") from None
    if not sizes:
        raise argparse.ArgumentTypeError(f"not a list of layer sizes: {text!r}")
    return sizes


_PARSERS = {"int": parse_whole, "float": finite_number, "str": str, "tuple": _parse_sizes}


def _show(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def _add_setting(group, setting, help_text: str) -> None:
    flag = "--" + setting.name.replace("_", "-")
    if setting.kind == "bool":
        group.add_argument(flag, dest=setting.name, action=argparse.BooleanOptionalAction,
                           default=None, help=help_text)
    else:
        group.add_argument(flag, dest=setting.name, type=_PARSERS[setting.kind],
                           default=None, metavar=setting.name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one flag per common setting and per option of every registered
    algorithm, plus the run flags."""
    from .algos import ALGOS
    from .config import COMMON_SETTINGS

    parser = OneLineParser(
        prog=PROG,
        description="Train the natural policy gradient and its relatives on gymnax and "
        "gymnasium environments, many seeds at once, in one compiled JAX program.",
        epilog="Defaults not given on the command line come tuned per environment and "
        "algorithm (npg_num.train.tuned_defaults); the values shown are the settings' own.",
    )
    cfg = parser.add_argument_group("training configuration")
    for s in COMMON_SETTINGS:
        extra = ""
        if s.name == "algo":
            extra = ": " + "; ".join(f"{a.name} ({a.description})" for a in ALGOS.values())
        _add_setting(cfg, s, f"{s.help}{extra} (default: {_show(s.default)})")
    opts = parser.add_argument_group("algorithm options (each for the algorithms named)")
    owners: dict = {}
    for algo in ALGOS.values():
        for s in algo.options:
            owners.setdefault(s.name, (s, []))[1].append(algo.name)
    for s, names in owners.values():
        _add_setting(opts, s, f"{s.help} [{', '.join(names)}] (default: {_show(s.default)})")
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", default=None,
                     help="run directory: a new or empty folder (default: "
                     "runs/ENV-ALGO-YYYYmmdd-HHMMSS); a folder holding an npg run needs "
                     "--resume or --force; any other non-empty folder is refused")
    run.add_argument("--resume", metavar="DIR", default=None,
                     help="continue the run in DIR with its saved configuration; with "
                     "--total-steps N, train it further, to N steps")
    run.add_argument("--force", action="store_true",
                     help="replace the npg run in --out (only an npg run: a folder of "
                     "npg-train's files); the old run stays intact until the new one has "
                     "written its first checkpoint")
    run.add_argument("--list-envs", action="store_true",
                     help="list the environments this install offers, by backend, the tuned "
                     "ones marked, and exit (with --env-module PKG, PKG's IDs too)")
    run.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                     help="do not write TensorBoard events (events.out.tfevents.*) in the "
                     "run directory (default: written, one tag COLUMN/seed-S per metrics "
                     "column and seed)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bar, no start and compilation lines")
    run.add_argument("--no-compile-cache", dest="compile_cache", action="store_false",
                     help="compile afresh instead of reusing compiled programs from JAX's "
                     "persistent cache (default: on, in $XDG_CACHE_HOME/npg/jax, else "
                     f"~/.cache/npg/jax; the environment variable {CACHE_ENV}=0 turns it "
                     f"off, {CACHE_ENV}=DIR moves it)")
    return parser


def _given(args) -> dict:
    """The settings given on the command line: name -> value."""
    from .algos import ALGOS
    from .config import COMMON_SETTINGS

    names = {s.name for s in COMMON_SETTINGS}
    names |= {s.name for a in ALGOS.values() for s in a.options}
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _plan(args):
    """(config, out, mode) from the arguments; mode "fresh", "force" or "resume"."""
    from .config import default_config
    from .rundir import resume_config

    given = _given(args)
    if args.resume is not None:
        if args.out is not None or args.force:
            raise UsageError("--resume continues a run in its own directory with its saved "
                             "configuration; drop --out/--force")
        out = Path(args.resume)
        if not (out / "config.json").is_file():
            raise UsageError(f"no run to resume in {out}: config.json is missing")
        return resume_config(out, given), out, "resume"
    env = given.pop("env", "CartPole-v1")
    algo = given.pop("algo", "npg")
    config = default_config(env, algo, **given)
    if args.out is None:
        out = Path("runs") / f"{config.env}-{config.algo}-{time.strftime('%Y%m%d-%H%M%S')}"
    elif not args.out.strip():
        raise UsageError("--out must name a folder (an empty name would mean the current "
                         "directory)")
    else:
        out = Path(args.out)
    return config, out, "force" if args.force else "fresh"


def _configure_jax(config, compile_cache: bool) -> None:
    """JAX's settings for this run, before its backend starts (the memory check is the
    first thing to start it): float64 if asked, the compilation cache, and inline
    dispatch for the host rollout's policy calls."""
    import jax

    from .envs import make_env

    if config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)  # else JAX silently computes in float32
    cache = compile_cache_dir(compile_cache)
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError:
            cache = None  # a cache that cannot be written is skipped, not an error
    if cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(cache))
        # the chunk program takes seconds; the small ones are worth keeping too
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    if make_env(config.env, config.env_module).on_host:
        # the host rollout makes one small policy call per step on one device: run it
        # inline on this thread rather than handing it to XLA's thread pool (no tail of
        # milliseconds); it applies only if set before the backend starts
        jax.config.update("jax_cpu_enable_async_dispatch", False)


def _check_memory(config) -> None:
    """Refuse (NPGInputError) a run whose estimated memory exceeds what is available."""
    from .envs import make_env
    from .memory import check_run_fits

    spec = make_env(config.env, config.env_module)
    check_run_fits(config, spec.obs_dim, spec.action_dim)


def _open(config, out: Path, mode: str):
    from .rundir import create_run, open_run, replace_run

    if mode == "resume":
        return open_run(out)
    try:
        return (replace_run if mode == "force" else create_run)(out, config)
    except OSError as err:
        raise UsageError(f"cannot write to --out {out}: {err.strerror or err}") from None


def _start(session, mode: str):
    """(state, updates done, seconds so far) to train from; for a resumed run, its
    checkpoint placed and ``--total-steps`` recorded."""
    from .rundir import save_total_steps

    if mode != "resume":
        return None, 0, 0.0  # the fresh state is built while compiling
    point = session.resume_point()
    config = session.config
    with session.writing("config.json"):
        old_total = save_total_steps(session.out, config.total_steps)
    if old_total is not None:
        say(PROG, f"total steps {old_total} -> {config.total_steps} ({config.num_updates} "
            "updates); config.json updated")
    state = None if point.state is None else session.runner.from_checkpoint(point.state)
    return state, point.updates_done, point.elapsed_s


def _train(session, mode: str, quiet: bool) -> int:
    """Compile and train ``session``; the exit code."""
    from .host_envs import HostEnvError
    from .session import RunWriteError

    config, stop = session.config, session.stop
    state, done, elapsed = _start(session, mode)
    if not quiet:
        verb = f"resuming at update {done} of" if mode == "resume" else "training"
        devices = len(session.runner.sharding.mesh.devices.flat)
        where = (f"in {config.seeds} lane(s), a worker process each"
                 if getattr(session.runner, "processes", False) else f"on {devices} device(s)")
        say(PROG, f"{verb} {config.num_updates} updates x {config.batch_size} steps, "
            f"{config.env} {config.algo}, {config.seeds} seed(s) {where}; "
            f"run directory {session.rundir.final}")
    if mode == "resume" and not session.runner.resumes_exactly:
        say(PROG, f"note: the {config.host_backend} backend cannot save the states of "
            f"{config.env}; the episodes that were in flight start over")
    final = session.rundir.final
    try:
        if done < config.num_updates and not stop.requested():
            state = session.compile(state)
        done = session.train(state, done, elapsed)
    except KeyboardInterrupt:  # a second signal: stop at once
        session.write_timing()
        say(PROG, f"stopped at once; continue with: {PROG} --resume {final} (from its last "
            "checkpoint)")
        return stop.exit_code
    except HostEnvError as err:
        say(PROG, f"error: {err}; continue with: {PROG} --resume {final}")
        return 1
    session.write_timing()
    if done < config.num_updates:
        name = {2: "SIGINT", 15: "SIGTERM", 1: "SIGHUP"}.get(stop.signum, "a signal")
        where = (f"checkpoint saved at update {done} of {config.num_updates}"
                 if done else "nothing to save yet")
        say(PROG, f"stopped by {name}; {where}; continue with: {PROG} --resume {final}")
        if done:  # the curve so far (the resumed run draws the whole one at its end)
            try:
                session.draw_curve()
            except RunWriteError as err:  # the stop itself went well: its exit code stands
                say(PROG, f"note: no learning curve: {err}")
            except KeyboardInterrupt:  # a second signal: no curve, at once
                pass
        return stop.exit_code
    session.finish()
    return 0


def _run(args, stop) -> int:
    from .devices import configure
    from .session import RunWriteError, Session

    # XLA's flags (the hang guard, a device per core) before the backend starts: making an
    # environment (the defaults depend on its spaces) may start it
    configure()
    config, out, mode = _plan(args)
    _configure_jax(config, args.compile_cache)
    _check_memory(config)  # before anything is written, built or compiled
    rundir = _open(config, out, mode)
    session = None
    try:
        session = Session(config, rundir, quiet=args.quiet, stop=stop,
                          tensorboard=args.tensorboard)
        return _train(session, mode, args.quiet)
    except RunWriteError as err:
        say(PROG, f"error: {err}")
        return 1
    finally:
        try:
            if session is not None:
                session.close()
        finally:
            rundir.close()


def main(argv=None) -> int:
    """Entry point of ``npg-train``; returns the exit code (module docstring)."""
    from .session import StopSignals

    def body():
        with StopSignals() as stop:
            args = build_parser().parse_args(argv)
            if args.list_envs:
                from .env_list import print_env_list

                return print_env_list(args.env_module or "")
            return _run(args, stop)

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
