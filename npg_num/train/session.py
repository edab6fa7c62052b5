"""One training run on disk (what ``npg-train`` does once its flags are read): the run
directory made or reopened (``rundir``), the resume point chosen and the metrics checked
(``metrics_file``), the program compiled, the updates run in chunks with a progress bar,
rows appended and checkpoints written, then the timing, the learning curve and a summary.

Stopping: SIGINT (Ctrl-C), SIGTERM (``kill``, a scheduler's time limit) and SIGHUP (a
closed terminal) ask the run to stop at the next safe point (the end of the chunk in
hand; between updates for host rollouts); it then saves a checkpoint there, says how to
continue, and exits with 130, 143 or 129. A second signal stops it at once (the last
checkpoint is where ``--resume`` continues). A resumed run gives the numbers an
uninterrupted one gives, ``time_s`` aside.

Writing: any ``OSError`` while writing the run's files (a full disk, a read-only file
system) ends the run with one line naming the file and the fix (``RunWriteError``); the
checkpoints are written atomically, so the previous one is intact.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..console import say
from . import metrics_file
from .metrics_file import METRICS_FILE
from .rundir import (
    CHECKPOINT_FILE, CONFIG_FILE, CURVE_FILE, PREVIOUS_CHECKPOINT_FILE, TIMING_FILE,
    ResumePoint, check_total_covers, set_aside, usable_checkpoints,
)

__all__ = ["StopSignals", "RunWriteError", "Session", "PROG"]

PROG = "npg-train"
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


class RunWriteError(Exception):
    """A file of the run could not be written: one line naming it and the fix."""

    def __init__(self, path, err: OSError, hint: str):
        self.path, self.err = Path(path), err
        super().__init__(f"cannot write {path}: {err.strerror or err}; {hint}")


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP as requests to stop (a context manager; main thread).
    A signal this process was started with ignored (``nohup``, a shell's background job)
    stays ignored, as the user asked.

    The first signal sets ``signum`` (``requested()`` turns true); a second one raises
    ``KeyboardInterrupt`` at once, or at the end of a ``deferred()`` block (the metrics
    rows and the checkpoint of one chunk are written together or not at all)."""

    def __init__(self):
        self.signum = None
        self._depth = 0
        self._pending = False
        self._saved = {}

    def __enter__(self):
        for sig in EXIT_CODES:
            try:
                if signal.getsignal(sig) == signal.SIG_IGN:
                    continue  # ignored by whoever started us (nohup, a background job): kept
                self._saved[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread: signals stay as they are
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._saved.items():
            signal.signal(sig, old)
        self._saved = {}
        return False

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            if signum == signal.SIGINT:
                say(PROG, "stopping after this chunk of updates (Ctrl-C again to stop at once)")
            return
        if self._depth:
            self._pending = True
            return
        raise KeyboardInterrupt

    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)

    @contextlib.contextmanager
    def deferred(self):
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._pending:
                self._pending = False
                raise KeyboardInterrupt


def _preload_plotting() -> None:
    """Import matplotlib's figure and Agg canvas on a daemon thread: the learning curve
    needs them at the end of the run, and the import then overlaps the compile, which
    spends most of its time in XLA with the interpreter lock released."""
    import threading

    def work():
        try:
            from matplotlib.backends import backend_agg  # noqa: F401
            from matplotlib import figure  # noqa: F401
        except Exception:  # noqa: BLE001 - the plot reports its own errors when it runs
            pass

    threading.Thread(target=work, name="npg-preload-plot", daemon=True).start()


class Session:
    """A run of ``config`` in ``rundir`` (a ``rundir.RunDir``), in chunks of updates."""

    def __init__(self, config, rundir, *, quiet: bool, stop: StopSignals,
                 tensorboard: bool = True):
        from .runner import make_runner
        from .tensorboard_log import TensorBoardLog, _tensorboardx

        self.config, self.rundir, self.quiet, self.stop = config, rundir, quiet, stop
        self.num_updates = config.num_updates
        # chunks of updates between progress reports; checkpoints fall on chunk ends
        self.chunk_len = max(1, min(config.checkpoint_every, math.ceil(self.num_updates / 25)))
        self.runner = make_runner(config, self.chunk_len)
        # Python's garbage collector skips the objects that exist now (those of the imports)
        # until ``close`` unfreezes them: otherwise each full collection while JAX traces
        # the program walks all of them. Objects created later are collected as usual.
        gc.freeze()
        self.seeds = [config.seed + i for i in range(config.seeds)]
        self.tensorboard = None
        if tensorboard:
            try:
                _tensorboardx()  # tensorboardX is there (without PyTorch)
                self.tensorboard = TensorBoardLog(rundir.path, self.seeds)
            except ImportError:
                say(PROG, "note: tensorboardX is not installed, so no TensorBoard events (pip "
                    "install tensorboardX, or pass --no-tensorboard)")
        self.clock = {"updates": 0, "first_chunk_s": None, "train_s": 0.0}
        self.compile_s = None

    @property
    def out(self) -> Path:
        return self.rundir.path

    def close(self) -> None:
        try:
            if self.tensorboard is not None:
                self.tensorboard.close()
            self.runner.close()
        finally:
            gc.unfreeze()

    # -- writing -------------------------------------------------------------------------------

    def _hint(self) -> str:
        final = self.rundir.final
        if self.rundir.pending:
            return (f"the run in {final} is unchanged; free space (or fix the permissions), "
                    f"then run again")
        return f"free space (or fix the permissions), then {PROG} --resume {final}"

    @contextlib.contextmanager
    def writing(self, name: str):
        """Turn an ``OSError`` while writing ``name`` into a ``RunWriteError``."""
        try:
            yield self.out / name
        except OSError as err:
            raise RunWriteError(self.out / name, err, self._hint()) from None

    def save(self, state, done: int, elapsed: float) -> None:
        from .checkpoint import save_checkpoint

        meta = {"updates_done": done, "elapsed_s": elapsed, "config": self.config.to_dict()}
        with self.writing(CHECKPOINT_FILE) as path:
            save_checkpoint(path, self.runner.checkpoint_tree(state), meta,
                            previous=self.out / PREVIOUS_CHECKPOINT_FILE)
        if self.rundir.pending:  # --force: the new run has a checkpoint, it replaces the old
            with self.writing(CHECKPOINT_FILE):
                self.rundir.commit()

    def append(self, metrics, elapsed: float) -> None:
        text = metrics_file.format_rows(metrics, self.seeds, elapsed)
        with self.writing(METRICS_FILE) as path:
            metrics_file.append_text(path, text)
        if self.tensorboard is not None:
            with self.writing("events.out.tfevents.*"):
                self.tensorboard.append(metrics)

    # -- resuming ------------------------------------------------------------------------------

    def resume_point(self) -> ResumePoint:
        """Where ``--resume`` continues: the newest usable checkpoint (a damaged latest one
        moved aside), or an older one when the metrics rows after it are damaged; the
        metrics file rewritten to the rows it keeps. Warnings go to stderr."""
        from .checkpoint import CheckpointError

        config, out = self.config, self.out
        points, problems = usable_checkpoints(out, self.runner.template(), config)
        if not points and problems:
            names = (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE)
            missing = [f"{n} is missing" for n in names if not (out / n).exists()]
            raise CheckpointError(
                f"no usable checkpoint in {out}: {'; '.join(problems + missing)}. To train "
                f"this run again from update 0, move {' and '.join(names)} out of {out} and "
                "resume it")
        if not points:
            say(PROG, f"{out} has no checkpoint yet (the run stopped before its first one): "
                f"starting it from update 0 with its {CONFIG_FILE}")
            points = [ResumePoint(None, 0, 0.0, None, ())]
        elif points[0].source != CHECKPOINT_FILE and (out / CHECKPOINT_FILE).exists():
            with self.writing(CHECKPOINT_FILE):
                moved = set_aside(out / CHECKPOINT_FILE)
            say(PROG, f"warning: {problems[0]}; moved it to {moved.name}; resuming from "
                f"{points[0].source} (update {points[0].updates_done}), the checkpoint "
                "before it")
        return self._check_rows(points)

    def _check_rows(self, points) -> ResumePoint:
        cfg, path = self.config, self.out / METRICS_FILE
        point = points[0]
        check, damaged_file = self._read_rows(path, point.updates_done)
        first = check.first_missing
        if first is not None:
            older = [p for p in points if p.updates_done < first and p.state is not None]
            if older:
                point = older[0]
                say(PROG, f"warning: {METRICS_FILE} lacks good rows from update {first}; "
                    f"computing updates {point.updates_done + 1}-{points[0].updates_done} "
                    f"again from {point.source} (update {point.updates_done})")
                check, _ = self._read_rows(path, point.updates_done)
            else:
                gaps = "; ".join(f"seed {s}: {_ranges(u)}" for s, u in check.missing.items())
                say(PROG, f"warning: {METRICS_FILE} has no good row for {gaps} (no checkpoint "
                    "before them to compute them again from); the curve shows the rest")
        if check.damaged or damaged_file:
            if path.exists():
                with self.writing(METRICS_FILE):
                    kept = set_aside(path)
                say(PROG, f"warning: {len(check.damaged)} damaged row(s) in {METRICS_FILE} "
                    f"(first: line {check.damaged[0][0] if check.damaged else 1}); the file "
                    f"as it was is kept as {kept.name}")
        with self.writing(METRICS_FILE) as p:
            atomic_write_text(p, metrics_file.header_line() + "".join(check.lines))
        if self.tensorboard is not None:  # the events of the rows kept, none after them
            with self.writing("events.out.tfevents.*"):
                self.tensorboard.rebuild(path)
        check_total_covers(cfg, point.updates_done)
        return point

    def _read_rows(self, path: Path, done: int):
        """(MetricsCheck, whether the file as a whole is unreadable) for updates <= done."""
        try:
            return metrics_file.check_metrics(path, self.seeds, done,
                                              self.config.batch_size), False
        except FileNotFoundError:
            unreadable = False
            if done:
                say(PROG, f"warning: {METRICS_FILE} is missing from {self.out}; a new one is "
                    "started")
        except (ValueError, OSError, UnicodeDecodeError) as err:
            unreadable = True
            say(PROG, f"warning: {METRICS_FILE} cannot be read ({err})")
        missing = {s: list(range(1, done + 1)) for s in self.seeds} if done else {}
        return metrics_file.MetricsCheck([], [], missing), unreadable

    # -- training ------------------------------------------------------------------------------

    def compile(self, state):
        """Compile the chunk program (for a fresh run, the initial state's too) between a
        start line and its duration on stderr; XLA's buffer figures are then checked
        against the memory available. ``state`` None: a fresh run. Returns the state."""
        from .memory import check_compiled_fits

        start = time.perf_counter()
        if not self.quiet:
            say(PROG, "compiling the training program...")
        _preload_plotting()
        if state is None:
            state = self.runner.fresh_state()
        compiled = self.runner.compile(state)  # the runner's jit reuses it
        self.compile_s = time.perf_counter() - start
        if not self.quiet:
            say(PROG, f"compiled in {self.compile_s:.1f} s")
        check_compiled_fits(compiled, self.runner.sharding.mesh.devices.flat)
        return state

    def _progress_bar(self, done: int):
        from tqdm import tqdm

        cfg = self.config
        return tqdm(total=self.num_updates * cfg.batch_size, initial=done * cfg.batch_size,
                    unit="step", unit_scale=True, file=sys.stderr, disable=self.quiet,
                    dynamic_ncols=True, desc=f"{cfg.env} {cfg.algo} x{cfg.seeds}")

    def train(self, state, done: int, elapsed0: float) -> int:
        """Run updates ``done + 1 ..`` until the last or a stop request; returns the updates
        done. Rows go to ``metrics.csv`` after each chunk, checkpoints every
        ``checkpoint_every`` updates, at the end and when stopped."""
        cfg, stop = self.config, self.stop
        bar = self._progress_bar(done)
        saved, start = done, time.perf_counter()
        elapsed = elapsed0
        try:
            while done < self.num_updates and not stop.requested():
                n = min(self.chunk_len, self.num_updates - done)
                t_chunk = time.perf_counter()
                new_state, metrics = self.runner.run(state, n, stop.requested)
                k = int(np.shape(metrics.update)[1])
                if self.clock["first_chunk_s"] is None:  # compilation included
                    self.clock["first_chunk_s"] = time.perf_counter() - t_chunk
                self.clock["updates"] += k
                self.clock["train_s"] = time.perf_counter() - start
                elapsed = elapsed0 + time.perf_counter() - start
                with stop.deferred():  # the rows and their checkpoint: both or neither
                    self.append(metrics, elapsed)
                    state, done = new_state, done + k
                    due = done // cfg.checkpoint_every > saved // cfg.checkpoint_every
                    if due or done == self.num_updates or stop.requested():
                        self.save(state, done, elapsed)
                        saved = done
                self._report(bar, metrics, k)
            if done > saved:  # a stop that came after the last chunk's check: saved here
                with stop.deferred():
                    self.save(state, done, elapsed)
        finally:
            bar.close()
        return done

    def _report(self, bar, metrics, k: int) -> None:
        if self.stop.signum == signal.SIGHUP:
            bar.disable = True  # the terminal is gone
        try:
            bar.update(k * self.config.batch_size)
            bar.set_postfix(_summary(metrics, k), refresh=True)
        except (OSError, ValueError):
            bar.disable = True

    def timing(self) -> dict:
        """Where this process's time went (timing.json): compiling (before training), the
        updates it ran, their seconds, the first chunk's, and, for host rollouts, the
        simulators, the policy calls, the transfers and ``learn``, in total and per
        update (``per_update_s``: simulator, policy, learn, waiting and wall, one value per
        update; ``per_update_mean_s``; the critical path of an update)."""
        clock = dict(self.clock)
        clock["compile_s"] = self.compile_s  # before training: not in time_s
        clock["phases_s"] = {k: round(v, 3) for k, v in self.runner.timers.items()}
        clock["env_steps_per_seed"] = clock.get("updates", 0) * self.config.batch_size
        per_update = getattr(self.runner, "per_update", {})
        if per_update.get("wall"):  # host loops: each update's phases, in order
            clock["per_update_s"] = {k: [round(x, 5) for x in v] for k, v in per_update.items()}
            clock["per_update_mean_s"] = {k: round(float(np.mean(v)), 5)
                                          for k, v in per_update.items()}
            clock["critical_path"] = getattr(
                self.runner, "critical_path",
                "serial: simulator + policy + learn + waiting = wall")
        return clock

    def write_timing(self) -> None:
        if self.clock["updates"]:  # this process trained (not a finished run resumed)
            with self.writing(TIMING_FILE) as path:
                atomic_write_text(path, json.dumps(self.timing(), indent=2) + "\n")

    def draw_curve(self) -> tuple:
        """The learning curve from what ``metrics.csv`` holds (all of it, or, for a run
        that was stopped, the updates so far); returns (returns [seeds, updates], the
        environment's solved threshold or None)."""
        from .envs import PUBLISHED, solved_at
        from .plotting import plot_learning_curve

        cfg, out = self.config, self.out
        steps, returns = metrics_file.load_curve(out / METRICS_FILE, self.seeds,
                                                 cfg.batch_size)
        threshold = solved_at(cfg.env, cfg.env_module)
        references = {f"{label}, published evaluation": table[cfg.env]
                      for label, table in PUBLISHED.items() if cfg.env in table}
        with self.writing(CURVE_FILE) as path:
            plot_learning_curve(steps, returns, path, threshold=threshold,
                                references=references,
                                title=f"{cfg.algo} on {cfg.env} ({len(self.seeds)} seeds)")
        return returns, threshold

    def finish(self) -> None:
        """The learning curve (from what ``metrics.csv`` holds) and the summary lines."""
        cfg, out = self.config, self.out
        returns, threshold = self.draw_curve()
        final = returns[:, -1] if returns.shape[1] else np.full(len(self.seeds), np.nan)
        verdict = ""
        if threshold is not None and np.isfinite(final).all():
            verdict = (" (solved)" if final.mean() >= threshold
                       else f" (not solved: < {threshold:g})")
        mean = np.nanmean(final) if np.isfinite(final).any() else math.nan
        print(f"{PROG}: final mean return {mean:.1f}{verdict} over {len(self.seeds)} "
              f"seed(s); per seed: {' '.join(f'{r:.1f}' for r in final)}")
        print(f"{PROG}: wrote {out / METRICS_FILE}, {out / CURVE_FILE}, {out / CHECKPOINT_FILE}")


def _ranges(updates) -> str:
    """[1, 2, 3, 7] -> 'updates 1-3, 7'."""
    parts, start = [], None
    for i, u in enumerate(updates):
        if start is None:
            start = u
        if i + 1 == len(updates) or updates[i + 1] != u + 1:
            parts.append(str(start) if start == u else f"{start}-{u}")
            start = None
    return "updates " + ", ".join(parts)


def _summary(metrics, k: int) -> dict:
    ret = np.asarray(metrics.mean_return)[:, k - 1]
    acc = np.asarray(metrics.accepted)[:, :k]
    out = {
        "return": f"{np.nanmean(ret):.1f}" if np.isfinite(ret).any() else "n/a",
        "kl": f"{np.mean(np.asarray(metrics.kl)[:, :k]):.4f}",
        "beta": f"{np.mean(np.asarray(metrics.beta)[:, :k]):.3g}",
        "accepted": f"{acc.mean():.0%}",
    }
    ls = np.asarray(metrics.line_search_steps)[:, :k]
    if ls.any():
        out["backtracks"] = f"{ls.mean():.2f}"
    return out

