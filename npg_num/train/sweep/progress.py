"""The progress display of a running sweep (a Ray Tune callback, on the driver): one bar
of updates over all trials with the trials done, running and failed, and one line per
trial as it ends. Each ending also rewrites results.csv and results.md."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ray.tune import Callback

from .results import write_results
from .spec import SweepSpec, Trial, trial_config
from .trial import STOPPED_CODES

__all__ = ["Progress"]

PROG = "npg-sweep"


class Progress(Callback):
    """Counts updates per trial from the trials' reports; ``failed`` and ``stopped`` hold
    the names of trials whose npg-train exited with an error or a signal."""

    def __init__(self, sweep: Path, spec: SweepSpec, trials: list, finished: set,
                 quiet: bool):
        from tqdm import tqdm

        self.sweep, self.spec, self.quiet = sweep, spec, quiet
        self.trials: dict = {}
        self.total: dict = {}
        self.done: dict = {}
        self.finished = set(finished)
        self.failed: set = set()
        self.stopped: set = set()
        self.running: set = set()
        self.start = time.monotonic()
        self.bar = tqdm(total=0, unit="update", file=sys.stderr, disable=quiet,
                        dynamic_ncols=True, desc=PROG)
        for t in trials:
            self.add_trial(t)

    def add_trial(self, trial: Trial) -> None:
        if trial.name in self.trials:
            return
        self.trials[trial.name] = trial
        n = trial_config(self.spec, trial.env, trial.algo, trial.values).num_updates
        self.total[trial.name] = n
        self.done[trial.name] = n if trial.name in self.finished else 0
        self._draw()

    def _draw(self) -> None:
        self.bar.total = sum(self.total.values())
        self.bar.n = sum(min(self.done[k], self.total[k]) for k in self.done)
        self.bar.set_postfix_str(
            f"trials {len(self.finished)}/{len(self.trials)} done, {len(self.running)} "
            f"running, {len(self.failed)} failed", refresh=True)

    def say(self, line: str) -> None:
        if not self.quiet:
            self.bar.write(f"{PROG}: {line}", file=sys.stderr)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.config["name"])
        self._draw()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        name = trial.config["name"]
        self.done[name] = max(self.done.get(name, 0), int(result.get("updates_done", 0)))
        if result.get("finished"):
            self._ended(name, int(result["rc"]), result.get("line", ""),
                        result["objective"])
        self._draw()

    def on_trial_error(self, iteration, trials, trial, **info):
        name = trial.config["name"]
        self.running.discard(name)
        self.failed.add(name)
        self.say(f"trial {name} failed in Ray (see {self.sweep}/.tune)")
        self._draw()

    def _ended(self, name: str, rc: int, line: str, value: float) -> None:
        self.running.discard(name)
        trial = self.trials[name]
        setting = " ".join(f"{k}={v}" for k, v in trial.values.items())
        if rc == 0:
            self.finished.add(name)
            self.done[name] = self.total[name]
            self.say(f"done {trial.env} {trial.algo} {setting}: {self.spec.objective} "
                     f"{value:.1f} (mean of {self.spec.seeds} seed(s))")
        elif rc in STOPPED_CODES:
            self.stopped.add(name)
            self.say(f"stopped {name} (checkpoint saved)")
        else:
            self.failed.add(name)
            self.say(f"failed {name} (exit {rc}): {line} (log: {self.sweep}/logs/"
                     f"{name}.log)")
        write_results(self.sweep, self.spec, list(self.trials.values()), self.failed,
                      plot=False)

    def close(self) -> None:
        self.running.clear()
        self._draw()
        self.bar.close()
