"""``npg-train``: train NPG or TRPO on a classic-control environment from the command line.

The flags are generated from ``TrainConfig`` (each field's help is its documentation);
anything not given takes the tuned default for the environment and algorithm
(``config.TUNED``). The run directory (``--out``) receives:

- ``config.json``: the full configuration (``--resume`` reads it back);
- ``metrics.csv``: one row per update per seed (``METRICS_COLUMNS``), appended after
  every chunk of updates;
- ``checkpoint.npz``: the state of every seed, written atomically every
  ``--checkpoint-every`` updates and at the end; ``checkpoint.prev.npz``: the one before;
- ``learning_curve.png``: mean and range over seeds of the episodic return;
- ``.npg-train.lock``: held by the process writing the run (``rundir.lock_run_dir``).

``--resume DIR`` continues an interrupted run from its newest usable checkpoint (or from
update 0 if it stopped before the first): rows of ``metrics.csv`` past the checkpoint are
dropped, so nothing is lost or repeated, and the result is the same as an uninterrupted
run. ``--resume DIR --total-steps N`` trains a run further, to N steps. Bad input, a run
that cannot fit in memory, a directory in use: one line on stderr and exit code 2.

Examples
--------
    npg-train --env CartPole-v1 --algo npg --seeds 8 --out runs/cartpole
    npg-train --resume runs/cartpole
    npg-train --resume runs/cartpole --total-steps 200000
"""

from __future__ import annotations

import os

# XLA reads XLA_FLAGS when its backend starts (the first computation), not at import, so
# setting them here, before anything runs, is early enough: the hang guard of NOTES.md and
# one CPU device per core, over which the seeds are sharded (npg_num/train/devices.py).
from npg_num.train.devices import configure as _configure_xla  # noqa: E402

_configure_xla()

import argparse  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ..errors import NPGInputError  # noqa: E402
from .rundir import CHECKPOINT_FILE, CONFIG_FILE, PREVIOUS_CHECKPOINT_FILE  # noqa: E402

__all__ = ["main", "build_parser", "METRICS_COLUMNS", "CLOCK_COLUMNS", "read_metrics"]

PROG = "npg-train"
METRICS_FILE = "metrics.csv"
CURVE_FILE = "learning_curve.png"
TIMING_FILE = "timing.json"

# the pinned columns first (issue 6), then the rest of state.Metrics, then the clock
METRICS_COLUMNS = (
    "seed", "update", "env_steps", "mean_return", "kl", "beta", "accepted", "guard_ok",
    "line_search_steps", "step_fraction", "rejected_total", "episodes", "cg_residual",
    "expected_improvement", "surrogate_improvement", "value_loss", "entropy", "data_ok",
    "time_s",
)
CLOCK_COLUMNS = ("time_s",)  # seconds of training so far: differs run to run


CACHE_ENV = "NPG_COMPILE_CACHE"


def _cache_dir_hint() -> str:
    return "$XDG_CACHE_HOME/npg/jax, else ~/.cache/npg/jax"


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


def _enable_compile_cache(path) -> None:
    """Turn on JAX's persistent compilation cache in ``path``: a repeated run (the same
    program: configuration, seeds, devices, flags) loads its programs instead of
    compiling them. A cache that cannot be written is skipped, not an error."""
    import jax

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    # the chunk program takes seconds; the small ones (init, the policy call) are worth
    # keeping too
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


class _UsageError(Exception):
    """Bad command-line input: reported as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise _UsageError(f"{message} (see {PROG} --help)")


def _parse_int(text: str) -> int:
    """Integers as people write them: 100000, 100_000, 1e5."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _parse_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a list of layer sizes: {text!r} (write e.g. 64,64)"
        ) from None
    if not sizes:
        raise argparse.ArgumentTypeError(f"not a list of layer sizes: {text!r}")
    return sizes


_PARSERS = {"int": _parse_int, "float": _parse_float, "str": str, "tuple": _parse_sizes}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one flag per ``TrainConfig`` field plus the run flags."""
    from .config import TrainConfig

    parser = _Parser(
        prog=PROG,
        description="Train the natural policy gradient (npg) or TRPO on a classic-control "
        "environment, many seeds at once, in one compiled JAX program.",
        epilog="Defaults not given on the command line come tuned per environment and "
        "algorithm (npg_num.train.TUNED); the values shown are CartPole-v1's for npg.",
        allow_abbrev=False,
    )
    cfg = parser.add_argument_group("training configuration")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} (default: {_show(f.default)})"
        if f.type == "bool":
            cfg.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                             default=None, help=help_text)
        else:
            cfg.add_argument(flag, dest=f.name, type=_PARSERS[f.type], default=None,
                             metavar=f.name.upper(), help=help_text)
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", default=None,
                     help="run directory (default: runs/ENV-ALGO-YYYYmmdd-HHMMSS)")
    run.add_argument("--resume", metavar="DIR", default=None,
                     help="continue the run in DIR with its saved configuration; with "
                     "--total-steps N, train it further, to N steps")
    run.add_argument("--force", action="store_true",
                     help="reuse an --out directory that already holds a run (overwrites it)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bar, no start and compilation lines")
    run.add_argument("--no-compile-cache", dest="compile_cache", action="store_false",
                     help="compile afresh instead of reusing compiled programs from JAX's "
                     f"persistent cache (default: on, in {_cache_dir_hint()}; the "
                     f"environment variable {CACHE_ENV}=0 turns it off, {CACHE_ENV}=DIR "
                     "moves it)")
    return parser


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _format(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))  # shortest repr that round-trips: equal values, equal text


def read_metrics(path) -> dict:
    """metrics.csv as a dict of column -> float array (rows in file order)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {c: np.zeros(0) for c in METRICS_COLUMNS}
    return {c: np.asarray([float(r[c]) for r in rows]) for c in rows[0]}


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise _UsageError(f"cannot write to --out {out}: {reason}") from None


def _preload_plotting() -> None:
    """Import matplotlib's figure and Agg canvas on a daemon thread: the learning curve
    needs them at the end of the run, and the import (about 0.4 s) then overlaps the
    compile, which spends most of its time in XLA with the interpreter lock released."""
    import threading

    def work():
        try:
            from matplotlib.backends import backend_agg  # noqa: F401
            from matplotlib import figure  # noqa: F401
        except Exception:  # the plot reports its own errors when it runs
            pass

    threading.Thread(target=work, name="npg-preload-plot", daemon=True).start()


class _Run:
    """The chunked training loop behind the CLI: compile, train, report, checkpoint."""

    def __init__(self, config, out: Path, *, quiet: bool):
        import jax

        from .runner import make_runner

        self.jax = jax
        self.config = config
        self.out = out
        self.quiet = quiet
        self.num_updates = config.num_updates
        # chunks of updates between progress reports; checkpoints fall on chunk ends
        self.chunk_len = max(1, min(config.checkpoint_every, math.ceil(self.num_updates / 25)))
        self.runner = make_runner(config, self.chunk_len)
        # Python's garbage collector skips the objects that exist now (about 250,000 after
        # importing jax, gymnax and optax) until ``main`` unfreezes them: otherwise each full
        # collection while JAX traces the program walks all of them. On the 2-core machine
        # of NOTES.md, tracing the 8-seed CartPole program took 0.38-0.42 s instead of
        # 0.51-0.59 s. Objects created later are collected as usual.
        gc.freeze()
        self.sharding = self.runner.sharding
        self.seeds = [config.seed + i for i in range(config.seeds)]

    def template(self):
        return self.runner.template()

    def timing(self) -> dict:
        """Where this process's time went (timing.json): compiling (before training), the
        updates it ran, their seconds, the first chunk's, and, for host rollouts, the
        simulators, the policy calls, the transfers and ``learn``."""
        clock = dict(getattr(self, "_clock", {}))
        clock["compile_s"] = getattr(self, "compile_s", None)  # before training: not in time_s
        clock["phases_s"] = {k: round(v, 3) for k, v in self.runner.timers.items()}
        clock["env_steps_per_seed"] = clock.get("updates", 0) * self.config.batch_size
        return clock

    def fresh_state(self):
        return self.runner.fresh_state()

    def place(self, tree):
        return self.runner.from_checkpoint(tree)

    def save(self, state, done: int, elapsed: float) -> None:
        from .checkpoint import save_checkpoint

        meta = {"updates_done": done, "elapsed_s": elapsed, "config": self.config.to_dict()}
        save_checkpoint(self.out / CHECKPOINT_FILE, self.runner.checkpoint_tree(state), meta,
                        previous=self.out / PREVIOUS_CHECKPOINT_FILE)

    def compile(self, state):
        """Compile the chunk program (and, for a fresh run, the initial state's) before
        training, between a start line and its duration on stderr; XLA's buffer figures
        are then checked against the memory available. ``state`` None: a fresh run.
        Returns the state to train from."""
        from .memory import check_compiled_fits

        start = time.perf_counter()
        if not self.quiet:
            print(f"{PROG}: compiling the training program...", file=sys.stderr, flush=True)
        _preload_plotting()
        if state is None:
            state = self.fresh_state()
        compiled = self.runner.compile(state)  # the runner's jit reuses it
        self.compile_s = time.perf_counter() - start
        if not self.quiet:
            print(f"{PROG}: compiled in {self.compile_s:.1f} s", file=sys.stderr, flush=True)
        check_compiled_fits(compiled, self.sharding.mesh.devices.flat)
        return state

    def append_rows(self, metrics, n_active: int, elapsed: float) -> None:
        m = self.jax.device_get(metrics)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for u in range(n_active):
            for s, seed in enumerate(self.seeds):
                row = {"seed": seed, "time_s": round(elapsed, 3)}
                for name in m._fields:
                    row[name] = getattr(m, name)[s, u]
                w.writerow([_format(row[c]) for c in METRICS_COLUMNS])
        with open(self.out / METRICS_FILE, "a") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def train(self, state, done: int, elapsed0: float) -> dict:
        from tqdm import tqdm

        cfg = self.config
        batch = cfg.batch_size
        bar = tqdm(
            total=self.num_updates * batch, initial=done * batch, unit="step",
            unit_scale=True, file=sys.stderr, disable=self.quiet, dynamic_ncols=True,
            desc=f"{cfg.env} {cfg.algo} x{cfg.seeds}",
        )
        last_ckpt = done
        start = time.perf_counter()
        self._clock = {"updates": 0, "first_chunk_s": None, "train_s": 0.0}
        last = {}
        try:
            while done < self.num_updates:
                n_active = min(self.chunk_len, self.num_updates - done)
                t_chunk = time.perf_counter()
                state, metrics = self.runner.run(state, n_active)
                if self._clock["first_chunk_s"] is None:  # compilation included
                    self._clock["first_chunk_s"] = time.perf_counter() - t_chunk
                self._clock["updates"] += n_active
                self._clock["train_s"] = time.perf_counter() - start
                done += n_active
                elapsed = elapsed0 + time.perf_counter() - start
                self.append_rows(metrics, n_active, elapsed)
                if done // cfg.checkpoint_every > last_ckpt // cfg.checkpoint_every or (
                    done == self.num_updates
                ):
                    self.save(state, done, elapsed)
                    last_ckpt = done
                last = _summary(metrics, n_active)
                bar.update(n_active * batch)
                bar.set_postfix(last, refresh=True)
        finally:
            bar.close()
        return last


def _summary(metrics, n_active: int) -> dict:
    ret = np.asarray(metrics.mean_return)[:, n_active - 1]
    acc = np.asarray(metrics.accepted)[:, :n_active]
    out = {
        "return": f"{np.nanmean(ret):.1f}" if np.isfinite(ret).any() else "n/a",
        "kl": f"{np.mean(np.asarray(metrics.kl)[:, :n_active]):.4f}",
        "beta": f"{np.mean(np.asarray(metrics.beta)[:, :n_active]):.3g}",
        "accepted": f"{acc.mean():.0%}",
    }
    ls = np.asarray(metrics.line_search_steps)[:, :n_active]
    if ls.any():
        out["backtracks"] = f"{ls.mean():.2f}"
    return out


def _given_config(args) -> dict:
    from .config import TrainConfig

    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(args, f.name) is not None
    }


def _start(args):
    from .config import default_config
    from .rundir import refuse_if_in_use, resume_config

    given = _given_config(args)
    if args.resume is not None:
        if args.out is not None or args.force:
            raise _UsageError(
                "--resume continues a run in its own directory with its saved "
                "configuration; drop --out/--force"
            )
        out = Path(args.resume)
        if not (out / CONFIG_FILE).is_file():
            raise _UsageError(f"no run to resume in {out}: {CONFIG_FILE} is missing")
        refuse_if_in_use(out)
        config = resume_config(out, given)  # only --total-steps may differ from config.json
        _check_writable(out)
        return config, out, True
    env = given.pop("env", "CartPole-v1")
    algo = given.pop("algo", "npg")
    config = default_config(env, algo, **given)
    out = Path(args.out) if args.out is not None else Path("runs") / (
        f"{config.env}-{config.algo}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    if out.exists() and not out.is_dir():
        raise _UsageError(f"cannot write to --out {out}: it is a file, not a directory")
    refuse_if_in_use(out)
    if (out / CONFIG_FILE).exists() and not args.force:
        raise _UsageError(
            f"--out {out} already holds a run; continue it with --resume {out}, "
            "or pass --force to overwrite it"
        )
    _check_writable(out)
    return config, out, False


def main(argv=None) -> int:
    """Entry point of ``npg-train``; returns the exit code (2 for bad input)."""
    try:
        args = build_parser().parse_args(argv)
        config, out, resuming = _start(args)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (_UsageError, NPGInputError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2

    from .rundir import RunDirInUse, lock_run_dir

    try:
        with lock_run_dir(out):  # released however this process ends, kill -9 included
            return _train(args, config, out, resuming)
    except RunDirInUse as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    finally:
        gc.unfreeze()  # frozen by _Run (a no-op if it never got there)


def _configure_jax(config, compile_cache: bool) -> None:
    """JAX's settings for this run, before its backend starts (the memory check is the
    first thing to start it): float64 if asked, the compilation cache, and inline
    dispatch for the host rollout's policy calls."""
    import jax

    from .envs import is_host_env

    if config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)  # else JAX silently computes in float32
    cache = compile_cache_dir(compile_cache)
    if cache is not None:
        _enable_compile_cache(cache)
    if is_host_env(config.env):
        # the host rollout makes one small policy call per step on one device: run it
        # inline on this thread rather than handing it to XLA's thread pool (measured
        # under load: a median of 20-30 us per call against 50 us, and no tail of
        # milliseconds); sharded programs (learn) are dispatched as before. It applies
        # only if set before the backend starts.
        jax.config.update("jax_cpu_enable_async_dispatch", False)


def _train(args, config, out: Path, resuming: bool) -> int:
    """``main`` after the arguments are checked: train, then write the curve and summary."""
    _configure_jax(config, args.compile_cache)
    from .checkpoint import atomic_write_text
    from .envs import PUBLISHED, SOLVED_AT
    from .host_envs import HostEnvError
    from .plotting import plot_learning_curve
    from .rundir import check_total_covers, find_resume_point, save_total_steps

    try:
        _check_memory(config)  # before anything big is built or compiled
        run = _Run(config, out, quiet=args.quiet)
        if resuming:
            point = find_resume_point(out, run.template(), config)
            for line in point.warnings:
                print(f"{PROG}: {line}", file=sys.stderr)
            check_total_covers(config, point.updates_done)
            old_total = save_total_steps(out, config.total_steps)
            if old_total is not None:
                print(f"{PROG}: total steps {old_total} -> {config.total_steps} "
                      f"({config.num_updates} updates); {CONFIG_FILE} updated", file=sys.stderr)
            state = None if point.state is None else run.place(point.state)
            done, elapsed = point.updates_done, point.elapsed_s
            _truncate_metrics(out / METRICS_FILE, done)
        else:
            atomic_write_text(out / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")
            atomic_write_text(out / METRICS_FILE, ",".join(METRICS_COLUMNS) + "\n")
            for stale in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, CURVE_FILE):
                (out / stale).unlink(missing_ok=True)
            state, done, elapsed = None, 0, 0.0  # None: built while compiling
    except NPGInputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2

    devices = len(run.sharding.mesh.devices.flat)
    if not args.quiet:
        verb = f"resuming at update {done} of" if resuming else "training"
        print(f"{PROG}: {verb} {config.num_updates} updates x {config.batch_size} steps, "
              f"{config.env} {config.algo}, {config.seeds} seed(s) on {devices} device(s); "
              f"run directory {out}", file=sys.stderr)
    if resuming and not run.runner.resumes_exactly:
        print(f"{PROG}: note: the {config.host_backend} backend cannot save its simulators; "
              "the episodes that were in flight start over", file=sys.stderr)
    try:
        if done < config.num_updates:
            state = run.compile(state)
        run.train(state, done, elapsed)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; continue with: {PROG} --resume {out}", file=sys.stderr)
        return 130
    except NPGInputError as err:  # the compiled program does not fit in memory
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except HostEnvError as err:
        print(f"{PROG}: error: {err}; continue with: {PROG} --resume {out}", file=sys.stderr)
        return 1
    finally:
        run.runner.close()
    if run.timing().get("updates"):  # this process trained (not a finished run resumed)
        atomic_write_text(out / TIMING_FILE, json.dumps(run.timing(), indent=2) + "\n")

    data = read_metrics(out / METRICS_FILE)
    seeds = run.seeds
    rows = np.asarray(data["seed"]).astype(int)
    returns = np.stack([data["mean_return"][rows == s] for s in seeds])
    steps = data["env_steps"][rows == seeds[0]]
    threshold = SOLVED_AT.get(config.env)
    references = {f"{label}, published evaluation": table[config.env]
                  for label, table in PUBLISHED.items()
                  if config.env in table}
    plot_learning_curve(
        steps, returns, out / CURVE_FILE, threshold=threshold, references=references,
        title=f"{config.algo} on {config.env} ({len(seeds)} seeds)",
    )
    final = returns[:, -1]
    verdict = ""
    if threshold is not None and np.isfinite(final).all():
        verdict = " (solved)" if final.mean() >= threshold else f" (not solved: < {threshold:g})"
    print(f"{PROG}: final mean return {np.mean(final):.1f}{verdict} over {len(seeds)} seed(s); "
          f"per seed: {' '.join(f'{r:.1f}' for r in final)}")
    print(f"{PROG}: wrote {out / METRICS_FILE}, {out / CURVE_FILE}, {out / CHECKPOINT_FILE}")
    return 0


def _check_memory(config) -> None:
    """Refuse (NPGInputError) a run whose estimated memory exceeds what is available."""
    from .envs import make_env
    from .memory import check_run_fits

    spec = make_env(config.env)
    check_run_fits(config, spec.obs_dim, spec.action_dim)


def _truncate_metrics(path: Path, updates_done: int) -> None:
    """Keep the header and the rows of updates <= ``updates_done`` (those the checkpoint
    includes); rows written after it, before the interruption, will be written again."""
    from .checkpoint import atomic_write_text

    if not path.is_file():
        atomic_write_text(path, ",".join(METRICS_COLUMNS) + "\n")
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        atomic_write_text(path, ",".join(METRICS_COLUMNS) + "\n")
        return
    header = lines[0].rstrip("\n").split(",")
    if "update" not in header:
        raise NPGInputError(f"{path} is damaged: its first line is not the header "
                            f"({','.join(METRICS_COLUMNS[:3])},...)")
    col = header.index("update")
    # a run written by an earlier version lacks the newer columns: NaN in its rows
    where = {c: header.index(c) for c in METRICS_COLUMNS if c in header}
    keep = [",".join(METRICS_COLUMNS) + "\n"]
    for line in lines[1:]:
        if not line.endswith("\n"):
            break  # a row cut by the kill
        fields = line.rstrip("\n").split(",")
        if len(fields) != len(header) or not fields[col].isdigit():
            continue  # a damaged row (e.g. zeros where data never reached the disk)
        if int(fields[col]) <= updates_done:
            keep.append(",".join(fields[where[c]] if c in where else "nan"
                                 for c in METRICS_COLUMNS) + "\n")
    atomic_write_text(path, "".join(keep))


if __name__ == "__main__":
    sys.exit(main())
