"""Ours against sb3-contrib TRPO on one MuJoCo task, N seeds each, same machine: both
distributions of the deterministic evaluation, with bootstrap intervals.

The same algorithm at the same settings should give returns from the same distribution.
Both sides run rl-baselines3-zoo's TRPO settings for MuJoCo (``hyperparams/trpo.yml``,
"mujoco-defaults"; ``benchmarks/locomotion.py``'s ``sb3_worker`` for sb3-contrib). Ours
is given them in its own units: sb3-contrib's KL is a mean over the A action dimensions,
and its conjugate gradient solves with that KL's Hessian plus ``cg_damping``, so its
target KL 0.01 and damping 0.1 are ``--delta 0.01A --damping 0.1A`` here
(docs/training.md, "Looking for the cause"). ``--ours-args`` replaces that mapping.

1. ``npg-train --seeds N`` (one process, the seeds batched), then ``npg-eval`` with
   ``--episodes`` deterministic episodes per seed;
2. sb3-contrib with the same seeds (0..N-1, or from ``--first-seed``), ``--jobs``
   processes at a time (one torch thread each), each evaluated as sb3 does
   (``evaluate_policy``, deterministic, VecNormalize frozen);
3. per side, the mean over seeds of each seed's mean evaluation, and its 95% percentile
   bootstrap interval (the seeds resampled with replacement); the interval of the
   difference of the two means; whether each side's mean lies in the other's interval.

Resumable: every finished part is saved under ``--out`` and skipped when started again.
Needs the bench extra (``pip install -e '.[mujoco,bench]'``).

    python benchmarks/sb3_compare.py --env Hopper-v5 --seeds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESAMPLES = 10_000


def _save(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _env(threads: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["NPG_COMPILE_CACHE"] = "0"
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def matched_args(env_id: str) -> list[str]:
    """rl-zoo's target KL 0.01 and CG damping 0.1 in this trainer's units (x A)."""
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        a = int(np.prod(env.action_space.shape))
    finally:
        env.close()
    return ["--delta", f"{0.01 * a:g}", "--damping", f"{0.1 * a:g}"]


def run_ours(env_id: str, args, run: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "npg_num.train.cli"]
    if (run / "config.json").is_file():
        cmd += ["--resume", str(run)]
    else:
        cmd += ["--env", env_id, "--algo", "trpo", "--seed", str(args.first_seed),
                "--seeds", str(args.seeds),
                "--total-steps", str(args.steps), "--out", str(run), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, "--quiet"], cwd=ROOT, env=_env(), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sb3_compare: npg-train failed: {proc.stderr.strip()[-2000:]}")
    wall = time.perf_counter() - t0
    sys.path.insert(0, str(HERE))
    from locomotion import evaluate_ours  # imported here: it configures JAX on import

    ev = evaluate_ours(run, args.episodes)
    return {"per_seed": ev["per_seed"], "eval_table": ev["table"], "args": extra,
            "process_wall_s": wall}


def run_sb3(env_id: str, args, seed: int, out: Path) -> dict:
    if not out.is_file():
        proc = subprocess.run(
            [sys.executable, str(HERE / "locomotion.py"), "--sb3-worker", env_id, str(seed),
             str(args.steps), str(args.episodes), str(out)],
            cwd=ROOT, env=_env(threads=1), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"sb3_compare: sb3-contrib seed {seed} failed: "
                             f"{proc.stderr.strip()[-2000:]}")
    return json.loads(out.read_text())


def bootstrap_mean(x, rng) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``x``."""
    x = np.asarray(x, float)
    means = x[rng.integers(0, len(x), (RESAMPLES, len(x)))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_difference(a, b, rng) -> tuple[float, float]:
    """95% percentile bootstrap interval of mean(a) - mean(b), each side resampled."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    da = a[rng.integers(0, len(a), (RESAMPLES, len(a)))].mean(1)
    db = b[rng.integers(0, len(b), (RESAMPLES, len(b)))].mean(1)
    lo, hi = np.percentile(da - db, [2.5, 97.5])
    return float(lo), float(hi)


def table(env_id: str, ours: dict, sb3: list[dict], args) -> str:
    rng = np.random.default_rng(0)
    a = [ours["per_seed"][s] for s in sorted(ours["per_seed"])]
    b = [r["eval_mean"] for r in sorted(sb3, key=lambda r: r["seed"])]
    ia, ib = bootstrap_mean(a, rng), bootstrap_mean(b, rng)
    d = bootstrap_difference(a, b, rng)
    lines = [
        f"## {env_id}: TRPO, {args.seeds} seeds x {args.steps:,} steps each side, "
        f"{args.episodes} deterministic evaluation episodes per seed",
        "",
        "| side | evaluation per seed (mean of its episodes) | mean over seeds | 95% "
        "bootstrap interval | the other side's mean inside it |",
        "|---|---|---|---|---|",
        f"| ours (`{' '.join(ours['args'])}`) | {', '.join(f'{x:,.0f}' for x in a)} | "
        f"{np.mean(a):,.0f} | {ia[0]:,.0f} to {ia[1]:,.0f} | "
        f"{'yes' if ia[0] <= np.mean(b) <= ia[1] else 'no'} |",
        f"| sb3-contrib | {', '.join(f'{x:,.0f}' for x in b)} | {np.mean(b):,.0f} | "
        f"{ib[0]:,.0f} to {ib[1]:,.0f} | {'yes' if ib[0] <= np.mean(a) <= ib[1] else 'no'} |",
        "",
        f"Ours minus sb3-contrib: {np.mean(a) - np.mean(b):,.0f}, 95% bootstrap interval "
        f"{d[0]:,.1f} to {d[1]:,.1f} ({'contains 0' if d[0] <= 0 <= d[1] else 'excludes 0'})"
        f"; {RESAMPLES:,} resamples of the seeds, numpy's generator seeded 0.",
        f"sb3-contrib's training took {np.mean([r['seconds'] for r in sb3]):,.0f} s a seed "
        f"({sb3[0].get('torch_threads')} torch thread, {args.jobs} at a time); ours "
        f"{ours['process_wall_s']:,.0f} s for all {args.seeds} seeds in one process.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first-seed .. first-seed + seeds - 1 on both sides")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2, help="sb3-contrib processes at a time")
    p.add_argument("--ours-args", default=None,
                   help="npg-train flags for ours (default: rl-zoo's target KL and damping "
                        "in our units, --delta 0.01A --damping 0.1A)")
    p.add_argument("--out", type=Path, default=ROOT / "report" / "sb3_compare")
    args = p.parse_args(argv)
    try:
        import sb3_contrib  # noqa: F401
    except ImportError:
        print("sb3_compare: sb3-contrib is not installed (pip install -e '.[mujoco,bench]')",
              file=sys.stderr)
        return 1
    extra = (shlex.split(args.ours_args) if args.ours_args is not None
             else matched_args(args.env))
    tag = "" if args.first_seed == 0 else f"-from{args.first_seed}"
    where = args.out / f"{args.env}-{args.seeds}x{args.steps}{tag}"
    where.mkdir(parents=True, exist_ok=True)
    store = where / "ours.json"
    if store.is_file():
        ours = json.loads(store.read_text())
        ours["per_seed"] = {int(k): v for k, v in ours["per_seed"].items()}
    else:
        print(f"# ours: npg-train {' '.join(extra)}, {args.seeds} seeds", flush=True)
        ours = run_ours(args.env, args, where / "run", extra)
        _save(store, ours)
    print(f"  ours, evaluation per seed: {ours['per_seed']}", flush=True)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"# sb3-contrib: seeds {seeds[0]}..{seeds[-1]}, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        sb3 = list(pool.map(lambda s: run_sb3(args.env, args, s, where / f"sb3-seed{s}.json"),
                            seeds))
    for r in sb3:
        print(f"  sb3 seed {r['seed']}: evaluation {r['eval_mean']:,.1f}, "
              f"{r['seconds']:,.0f} s", flush=True)
    text = table(args.env, ours, sb3, args)
    (where / "results.md").write_text(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
