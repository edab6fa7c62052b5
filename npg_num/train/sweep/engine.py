"""The engine: Ray Tune runs the trials, one Ray task per trial (``cpus_per_trial`` CPUs
each), in parallel as far as the cluster's CPUs allow; for a ``[search]`` space, Optuna's
TPE (Ray Tune's ``OptunaSearch``) proposes the settings, one study per environment and
algorithm.

Ray is used to execute and to propose, never as the sweep's memory: every trial is
recorded in the sweep folder (``proposals.jsonl``) by this driver before it starts, and
a trial's state is its run directory. A resumed sweep therefore runs its recorded,
unfinished trials first (a fixed list), then asks Optuna for the rest of the budget, the
finished trials given to the new study as evaluated points.

Tune's trainable runs in a Ray worker; it starts ``npg-train`` (``trial.run_trial``) and
reports progress (``updates_done``, ``num_updates``) about every second and, at the end,
``objective`` (NaN if the trial failed) and ``rc`` (npg-train's exit code).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

from .folder import TUNE_DIR, record_proposal
from .results import objective_of, trial_rows
from .spec import SweepSpec, Trial, make_trial

__all__ = ["start_ray", "run_fixed", "run_search", "search_space"]


def start_ray(address, num_cpus):
    """Connect to the cluster at ``address``, or start a local one (``ray.init()``:
    every core, or ``num_cpus``); Ray's own chatter kept off the terminal."""
    import logging

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's tables: we draw our own
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # Ray starts its workers 15 nicer than itself (its worker_niceness), and a trial's
    # npg-train inherits that: the trials, the whole work of a sweep, would yield the cores
    # to anything else on the machine, and a sweep beside other busy work would crawl.
    # They run at the priority npg-sweep was started with (`nice npg-sweep` still lowers
    # it). A cluster given by --address keeps its own setting (docs/sweeps.md).
    os.environ.setdefault("RAY_worker_niceness", "0")
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    kwargs = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True,
                  include_dashboard=False)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    return ray


def _trainable(config, sweep, keep_omp, objective, trials):
    """One Tune trial: the recorded trial named in ``config`` trained by npg-train."""
    from ray import tune

    trial = trials.get(config["name"]) or Trial.from_dict(config["trial"])
    last = [-1]

    def report(done, total):
        if done != last[0]:
            last[0] = done
            tune.report({"updates_done": done, "num_updates": total or 0,
                         "objective": math.nan, "rc": -1})

    from .trial import run_trial

    rc, line = run_trial(sweep, trial, keep_omp=keep_omp, report=report)
    value = objective_of(trial_rows(sweep, trial), objective) if rc == 0 else math.nan
    tune.report({"updates_done": max(last[0], 0), "num_updates": 0, "objective": value,
                 "rc": rc, "line": line, "finished": True})


def _tuner(trainable, sweep: Path, spec: SweepSpec, tune_config, param_space, callback):
    from ray import tune

    resources = tune.with_resources(trainable, {"cpu": spec.cpus_per_trial})
    run_config = tune.RunConfig(
        storage_path=str((sweep / TUNE_DIR).resolve()), verbose=0, callbacks=[callback],
        failure_config=tune.FailureConfig(max_failures=2))  # a lost worker: resumed
    return tune.Tuner(resources, param_space=param_space, tune_config=tune_config,
                      run_config=run_config)


def run_fixed(sweep: Path, spec: SweepSpec, trials: list, callback, keep_omp: bool):
    """Run ``trials`` (recorded already), as many at once as the CPUs allow."""
    from ray import tune

    if not trials:
        return
    table = {t.name: t for t in trials}
    trainable = tune.with_parameters(_trainable, sweep=str(sweep), keep_omp=keep_omp,
                                     objective=spec.objective, trials=table)
    space = {"name": tune.grid_search([t.name for t in trials])}
    _tuner(trainable, sweep, spec, tune.TuneConfig(trial_dirname_creator=_dirname),
           space, callback).fit()


def _dirname(trial) -> str:
    return f"t{trial.trial_id}"


def search_space(spec: SweepSpec) -> dict:
    """The ``[search]`` space as Optuna distributions (a choice as the index of its value,
    so that lists of sizes are choices too)."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)

    space = {}
    for name, (kind, args) in spec.search.items():
        if kind == "choice":
            space[name] = CategoricalDistribution([str(i) for i in range(len(args))])
        elif kind == "int":
            space[name] = IntDistribution(args[0], args[1])
        else:
            space[name] = FloatDistribution(float(args[0]), float(args[1]),
                                            log=kind == "loguniform")
    return space


def decode(spec: SweepSpec, point: dict) -> dict:
    """A point of ``search_space`` as field values (in the file's order)."""
    out = {}
    for name, (kind, args) in spec.search.items():
        v = point[name]
        out[name] = args[int(v)] if kind == "choice" else (int(v) if kind == "int"
                                                             else float(v))
    return out


def encode(spec: SweepSpec, values: dict) -> dict:
    return {name: str(args.index(values[name])) if kind == "choice" else values[name]
            for name, (kind, args) in spec.search.items()}


def _recording_searcher(spec, sweep, env, algo, on_new: Callable, **kwargs):
    from ray.tune.search.optuna import OptunaSearch

    class RecordingOptuna(OptunaSearch):
        """OptunaSearch whose every proposal is recorded in the sweep folder before the
        trial runs, under the name of its settings."""

        def suggest(self, trial_id):
            point = super().suggest(trial_id)
            if not isinstance(point, dict):
                return point
            trial = make_trial(spec, env, algo, decode(spec, point))
            if record_proposal(sweep, trial):
                on_new(trial)
            return {"name": trial.name, "trial": trial.to_dict()}

    return RecordingOptuna(**kwargs)


def run_search(sweep: Path, spec: SweepSpec, env: str, algo: str, done: list, todo: int,
               callback, keep_omp: bool, max_concurrent: int) -> None:
    """Ask Optuna for ``todo`` more trials of ``env`` and ``algo``; ``done``: finished
    trials (Trial, objective) it learns from first."""
    import optuna
    from ray import tune

    if todo <= 0:
        return
    seen = [(encode(spec, t.values), v) for t, v in done if math.isfinite(v)]
    searcher = _recording_searcher(
        spec, sweep, env, algo, callback.add_trial, space=search_space(spec),
        metric="objective", mode="max",
        sampler=optuna.samplers.TPESampler(seed=spec.search_seed),
        points_to_evaluate=[p for p, _ in seen] or None,
        evaluated_rewards=[v for _, v in seen] or None)
    trainable = tune.with_parameters(_trainable, sweep=str(sweep), keep_omp=keep_omp,
                                     objective=spec.objective, trials={})
    config = tune.TuneConfig(search_alg=searcher, num_samples=todo,
                             max_concurrent_trials=max_concurrent,
                             trial_dirname_creator=_dirname)
    _tuner(trainable, sweep, spec, config, None, callback).fit()
