"""``npg-sweep``: many npg-train runs (environments x algorithms x settings, each over
seeds) on Ray Tune, local by default, a cluster with ``--address``.

    npg-sweep examples/sweeps/delta_grid.toml --out sweeps/delta
    npg-sweep --resume sweeps/delta          # after an interruption, kill -9 included
    npg-sweep FILE --address HOST:PORT       # on a running Ray cluster
    npg-sweep FILE --dry-run                 # list the trials, run nothing

Exit codes: 0 every trial finished; 1 a trial failed (its log named); 2 bad input (one
line); 130 stopped (Ctrl-C; continue with ``--resume``); 70 an internal error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from ...console import OneLineParser, UsageError, run_main, say

__all__ = ["main", "build_parser", "PROG"]

PROG = "npg-sweep"


def build_parser():
    parser = OneLineParser(
        prog=PROG, description="Run a sweep file (TOML: environments, algorithms, seeds, a "
        "grid or an Optuna search space over the training settings, an objective, a "
        "budget) as npg-train runs on Ray Tune; see docs/sweeps.md.")
    parser.add_argument("file", nargs="?", metavar="FILE", help="the sweep file (TOML)")
    parser.add_argument("--out", metavar="DIR", help="the sweep folder: new or empty "
                        "(default: sweeps/NAME-YYYYmmdd-HHMMSS)")
    parser.add_argument("--resume", metavar="DIR", help="continue the sweep in DIR: "
                        "finished trials are kept, unfinished ones resume from their "
                        "checkpoints")
    parser.add_argument("--address", metavar="ADDR", help="a running Ray cluster "
                        "(HOST:PORT, or 'auto'); default: a local Ray on this machine. The "
                        "sweep folder must be on a file system every node sees")
    parser.add_argument("--num-cpus", type=int, metavar="N", help="CPUs of the local Ray "
                        "(default: every core)")
    parser.add_argument("--dry-run", action="store_true", help="print the trials and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def _plan(args):
    """(spec, text, folder, mode) from the arguments."""
    from .spec import load_spec

    if args.resume is not None:
        if args.file is not None or args.out is not None:
            raise UsageError("--resume continues a sweep with its own sweep.toml; drop FILE "
                             "and --out")
        folder = Path(args.resume)
        if not (folder / "sweep.toml").is_file():
            raise UsageError(f"--resume {folder} is not a sweep folder: sweep.toml is "
                             "missing")
        spec, text = load_spec(folder / "sweep.toml")
        return spec, text, folder, "resume"
    if args.file is None:
        raise UsageError("give a sweep file, or --resume DIR (see npg-sweep --help)")
    spec, text = load_spec(args.file)
    if args.out is not None and not args.out.strip():
        raise UsageError("--out must name a folder")
    folder = Path(args.out) if args.out else Path("sweeps") / (
        f"{Path(args.file).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    return spec, text, folder, "fresh"


def _dry_run(spec) -> int:
    from .spec import grid_trials

    trials = grid_trials(spec)
    for t in trials:
        print(f"{t.name}: npg-train {' '.join(t.args)}")
    if spec.search:
        print(f"[search] {spec.trials} trial(s) per environment and algorithm, proposed by "
              f"Optuna (TPE) over {', '.join(spec.search)}; {len(spec.envs) * len(spec.algos)}"
              " studies")
    return 0


def _pending(folder: Path, spec):
    """(every recorded trial, the unfinished ones, the finished names), the grid's
    trials recorded first."""
    from .folder import read_proposals, record_proposal, trial_dir
    from .spec import grid_trials
    from .trial import is_finished

    for t in grid_trials(spec):
        record_proposal(folder, t)
    recorded = read_proposals(folder)
    finished = {t.name for t in recorded if is_finished(trial_dir(folder, t))}
    return recorded, [t for t in recorded if t.name not in finished], finished


def _searches(folder, spec, progress, keep_omp, ray) -> None:
    from .engine import run_search
    from .folder import read_proposals
    from .results import objective_of, trial_rows

    cpus = int(ray.cluster_resources().get("CPU", 1))
    for env in spec.envs:
        for algo in spec.algos:
            mine = [t for t in read_proposals(folder) if (t.env, t.algo) == (env, algo)]
            done = [(t, objective_of(trial_rows(folder, t), spec.objective))
                    for t in mine if t.name in progress.finished]
            run_search(folder, spec, env, algo, done, spec.trials - len(mine), progress,
                       keep_omp, max(1, int(cpus // spec.cpus_per_trial)))


def _sweep(spec, folder: Path, args) -> int:
    from .engine import run_fixed, start_ray
    from .folder import prepare, read_proposals
    from .progress import Progress
    from .results import write_results

    prepare(folder)
    recorded, todo, finished = _pending(folder, spec)
    keep_omp = "OMP_NUM_THREADS" in os.environ
    # a grid with every trial finished has nothing for Ray to do: no cluster is started
    ray = start_ray(args.address, args.num_cpus) if todo or spec.search else None
    try:
        progress = Progress(folder, spec, recorded, finished, args.quiet)
        if finished and not args.quiet:
            progress.say(f"{len(finished)} trial(s) finished earlier; {len(todo)} to run")
        try:
            run_fixed(folder, spec, todo, progress, keep_omp)
            if spec.search and not (progress.failed or progress.stopped):
                import optuna

                optuna.logging.set_verbosity(optuna.logging.WARNING)
                _searches(folder, spec, progress, keep_omp, ray)
        finally:
            progress.close()
    finally:
        if ray is not None:
            ray.shutdown()
    trials = read_proposals(folder)
    rows = write_results(folder, spec, trials, progress.failed)
    return _summary(folder, spec, trials, rows, progress)


def _summary(folder, spec, trials, rows, progress) -> int:
    unfinished = [t.name for t in trials if t.name not in progress.finished]
    if progress.failed:
        say(PROG, f"error: {len(progress.failed)} trial(s) failed (logs in {folder}/logs); "
            f"after fixing the cause: {PROG} --resume {folder}")
        return 1
    if unfinished:
        say(PROG, f"stopped with {len(unfinished)} trial(s) unfinished; continue with: "
            f"{PROG} --resume {folder}")
        return 130
    print(f"{PROG}: {len(trials)} trial(s) finished, {len(rows)} rows; wrote "
          f"{folder / 'results.csv'}, {folder / 'results.md'}, {folder / 'results.png'}")
    return 0


def _run(args) -> int:
    from .folder import create_sweep, open_sweep

    spec, text, folder, mode = _plan(args)
    if args.dry_run:
        return _dry_run(spec)
    with contextlib.ExitStack() as stack:
        if mode == "resume":
            open_sweep(folder, stack)
        else:
            create_sweep(folder, text, stack)
        return _sweep(spec, folder, args)


def main(argv=None) -> int:
    """Entry point of ``npg-sweep``; returns the exit code (module docstring)."""
    try:
        import ray  # noqa: F401
        import optuna  # noqa: F401
    except ImportError as err:
        say(PROG, f"error: npg-sweep needs Ray Tune and Optuna ({err.name} is missing): "
            "pip install 'npg[sweep]'")
        return 2
    return run_main(PROG, lambda: _run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
