"""MuJoCo locomotion: returns at 1M steps beside the published ones, and training speed
beside raw environment stepping and sb3-contrib TRPO, measured in one run.

For each environment:

1. raw single-environment gymnasium steps/s (``gymnasium.make``, random actions, the way
   sb3 steps it), measured just before and just after our training, in this run;
2. ``npg-train`` with ``--seeds N --total-steps STEPS`` (cold compile: the persistent
   cache off) in a fresh process; its training time, env-steps/s over all seeds, and
   where the time went (``timing.json``: simulator, policy calls, transfers, the learner
   with its compile);
3. ``npg-eval``: the deterministic policy (mean action, observation normalization frozen),
   ``--episodes`` episodes per seed on gymnasium's environments;
4. with ``--sb3``, sb3-contrib TRPO with rl-baselines3-zoo's MuJoCo hyperparameters, seed
   0, the same number of steps, in a fresh process (torch's threads as it sets them):
   time, steps/s, its training episodes' mean return, and its deterministic evaluation
   (VecNormalize frozen), the same number of episodes.

Then a Markdown table beside the published numbers (sb3-contrib's TRPO table, tianshou's
NPG), a learning-curve PNG per environment (the run's own, with the published lines),
and everything as JSON. Resumable: each finished part is saved (OUT/ENV/results.json)
and skipped when the benchmark is started again; an interrupted training run continues
with ``npg-train --resume``. An interrupted sb3 run starts over (sb3 has no resume).

    python benchmarks/locomotion.py --envs Hopper-v5,HalfCheetah-v5 --seeds 3 --sb3
    python benchmarks/locomotion.py --envs Walker2d-v5,Swimmer-v5,Ant-v5 --seeds 3

``--speed`` only compares the host backends and schedules in short runs (``--speed-updates``
updates each); ``--pairs K`` then measures the lanes against raw stepping K more times,
each pair back to back, and prints the median, for a ratio that one slow spell of a shared
machine does not decide. ``--limit`` measures what bounds the lanes on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from npg_num.train.devices import configure

configure()  # as the CLI: the hang guard, one CPU device per core

import jax  # noqa: E402
from npg_num.train.algos import ALGOS  # noqa: E402

# as npg-train does for host rollouts: the per-step policy call runs inline
jax.config.update("jax_cpu_enable_async_dispatch", False)

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_KEYS = ("sb3-contrib TRPO", "tianshou NPG")


# -- helpers ----------------------------------------------------------------------------------


def _save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _env():
    """A child's environment: no XLA flags of ours (the CLI sets its own), quiet TF/JAX."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS",)}
    env["NPG_COMPILE_CACHE"] = "0"  # cold compiles: what a first run costs
    return env


def raw_steps_per_second(env_id: str, seconds: float = 5.0, seed: int = 0) -> float:
    """One gymnasium environment (``gymnasium.make``, wrappers included), random actions,
    resets on episode end: steps per second over about ``seconds``."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        n += len(actions)
    rate = n / (time.perf_counter() - t0)
    env.close()
    return rate


def backend_steps_per_second(env_id: str, backend: str, n_envs: int, seconds: float = 5.0):
    """Raw stepping of ``n_envs`` environments through a host backend (or gymnasium's own
    ``AsyncVectorEnv``/``SyncVectorEnv``), random actions, no policy: steps/s."""
    rng = np.random.default_rng(0)
    if backend in ("gymnasium-async", "gymnasium-sync"):
        import gymnasium as gym

        mode = "async" if backend == "gymnasium-async" else "sync"
        # spawn, not fork: this process runs JAX's threads
        kwargs = {"context": "spawn"} if mode == "async" else {}
        envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode=mode,
                            vector_kwargs=kwargs)
        envs.reset(seed=0)
        dim = envs.single_action_space.shape[0]
        step = envs.step
    else:
        from npg_num.train.host_envs import make_host_envs

        envs = make_host_envs(env_id, list(range(n_envs)), backend)
        envs.reset_all()
        dim = len(envs.action_low)
        step = envs.step
    actions = rng.uniform(-1, 1, (500, n_envs, dim))
    step(actions[0])  # a worker's start-up is not stepping
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions:
            step(a)
        n += len(actions) * n_envs
    rate = n / (time.perf_counter() - t0)
    envs.close()
    return rate


def cpu_seconds(pids=()) -> float | None:
    """CPU seconds (user + system, every thread) used so far by this process and the
    processes ``pids``; None where Linux's ``/proc`` cannot tell (another OS, a process
    gone)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (man 5 proc)
    return total


def training_steps_per_second(env_id: str, backend: str, seeds: int, updates: int,
                              algo: str = "trpo", schedule: str = "batched") -> dict:
    """``updates`` updates of npg-train's host loop (compiled first, not timed; with
    ``schedule="lanes"`` in its worker processes, all updates in one chunk, as npg-train's
    chunks of 10): environment steps per second over all seeds, the loop's phases (for
    lanes, each phase's seconds summed over the lanes, so shares can pass 100%), and the
    CPU seconds the run used per environment step (this process and, for lanes, its
    workers; None where they cannot be read)."""
    from npg_num.train import default_config
    from npg_num.train.lanes import LaneRunner
    from npg_num.train.runner import HostRunner

    config = default_config(env_id, algo, seeds=seeds, host_backend=backend,
                            host_schedule=schedule)
    lanes = schedule == "lanes"
    runner = LaneRunner(config, updates) if lanes else HostRunner(config, 1)
    try:
        state = runner.fresh_state()
        state, _ = runner.run(state, 2)  # compile, start the workers
        if lanes:
            runner.clear_timers()
        else:
            runner.timers.clear()
            runner.per_update.clear()
        pids = runner.worker_pids if lanes else ()
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        state, _ = runner.run(state, updates)
        secs, cpu1 = time.perf_counter() - t0, cpu_seconds(pids)
    finally:
        runner.close()
    phases = {k: v / secs for k, v in runner.timers.items()}
    phases["waiting"] = sum(runner.per_update["waiting"]) / secs * (seeds if lanes else 1)
    steps = updates * config.batch_size * seeds
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / steps
    return {"steps_per_s": steps / secs, "phase_share": phases, "cpu_per_step_s": cpu}


def lanes_ratios(env_id: str, seeds: int, updates: int, pairs: int) -> list:
    """The lanes' training steps/s over raw single-environment stepping, ``pairs`` times,
    each pair measured back to back (raw, then the lanes), so that a slow spell of a
    shared machine lands in one pair rather than in a ratio of two distant figures."""
    ratios = []
    for _ in range(pairs):
        raw = raw_steps_per_second(env_id)
        lanes = training_steps_per_second(env_id, "gymnasium", seeds, updates,
                                          schedule="lanes")
        ratios.append(lanes["steps_per_s"] / raw)
    return ratios


def speed_table(env_id: str, seeds: int, updates: int, pairs: int = 0) -> str:
    """Backends compared in one run: raw stepping and training steps/s; then, with
    ``pairs``, the lanes against raw in that many back-to-back pairs, and their median."""
    n_envs = seeds * 2
    raw1 = raw_steps_per_second(env_id)
    rows = [f"## {env_id}: host backends, {seeds} seeds x 2 environments, same run", "",
            f"raw single-environment gymnasium (gymnasium.make): {raw1:,.0f} steps/s", "",
            "shares of the training time per phase (timing.json's per_update_s): waiting is "
            "the rest of each update (the hand-offs, transfers and the loop's Python); the "
            "phases run one after the other, so an update's critical path is their sum", "",
            "| backend | raw stepping of the environments, steps/s | x single env "
            "| training, steps/s (all seeds) | x single env | simulator | policy | learn "
            "| waiting |",
            "|---|---|---|---|---|---|---|---|---|"]
    for backend in ("gymnasium", "gymnasium-sync", "gymnasium-async", "gymnasium-subproc",
                    "envpool", "lanes"):
        if backend == "lanes":  # the schedule: a gymnasium lane per seed, in its process
            train = training_steps_per_second(env_id, "gymnasium", seeds, updates,
                                              schedule="lanes")
            rows.append(_training_row("`--host-schedule lanes` (gymnasium, a process per "
                                      "seed; phases summed over the seeds) | |", train, raw1))
            continue
        try:
            raw = backend_steps_per_second(env_id, backend, n_envs)
        except Exception as err:  # noqa: BLE001 - a missing optional backend is a row
            rows.append(f"| {backend} | not available: {err} | | | | | | | |")
            continue
        if backend in ("gymnasium-sync", "gymnasium-async"):  # not npg-train backends
            rows.append(f"| {backend} (gymnasium.vector) | {raw:,.0f} | {raw / raw1:.2f} "
                        f"| | | | | | |")
            continue
        train = training_steps_per_second(env_id, backend, seeds, updates)
        rows.append(_training_row(f"{backend} | {raw:,.0f} | {raw / raw1:.2f}", train, raw1))
    if pairs:
        ratios = lanes_ratios(env_id, seeds, updates, pairs)
        rows += ["", f"lanes x raw single env, {pairs} more pairs (raw, then the lanes, "
                 f"back to back): {', '.join(f'{r:.2f}' for r in ratios)}; median "
                 f"{float(np.median(ratios)):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}"]
    return "\n".join(rows) + "\n"


def _training_row(first: str, train: dict, raw1: float) -> str:
    """A row of ``speed_table``: its first cells as given, then the training figures."""
    ph = train["phase_share"]
    learn = ph.get("learn", 0) + ph.get("learn_first", 0)
    return (f"| {first} | {train['steps_per_s']:,.0f} | {train['steps_per_s'] / raw1:.2f} | "
            f"{ph.get('simulator', 0):.0%} | {ph.get('policy', 0):.0%} | {learn:.0%} | "
            f"{ph['waiting']:.0%} |")


def mj_step_seconds(env_id: str, steps: int = 20_000, seed: int = 0) -> float:
    """MuJoCo's own cost of one environment step: ``mj_step`` x the task's frame skip on
    its model and data (from a reset state, zero control), timed alone from Python."""
    import gymnasium as gym
    import mujoco

    env = gym.make(env_id)
    env.reset(seed=seed)
    sim = env.unwrapped
    model, data, skip = sim.model, sim.data, sim.frame_skip
    mujoco.mj_step(model, data, nstep=skip)  # warm
    t0 = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(model, data, nstep=skip)
        if not np.isfinite(data.qacc).all():  # never expected from a rest pose; kept honest
            mujoco.mj_resetData(model, data)
    secs = (time.perf_counter() - t0) / steps
    env.close()
    return secs


def lane_costs(env_id: str, updates: int, algo: str = "trpo") -> dict:
    """One lane alone (a one-seed run as ``--host-schedule lanes`` runs each seed: in-process
    gymnasium environments, the lean step where it applies, the numpy policy), in this
    process: seconds per environment step of each phase, averaged over ``updates``
    updates after two (compile, warm-up)."""
    from npg_num.train import default_config
    from npg_num.train.runner import HostRunner

    config = default_config(env_id, algo, seeds=1, host_backend="gymnasium")
    runner = HostRunner(config, 1, numpy_policy=True)
    try:
        state, _ = runner.run(runner.fresh_state(), 2)
        runner.per_update.clear()
        cpu0 = time.process_time()
        runner.run(state, updates)
        cpu = (time.process_time() - cpu0) / (updates * config.batch_size)
    finally:
        runner.close()
    costs = {k: float(np.mean(v)) / config.batch_size for k, v in runner.per_update.items()}
    # the CPU seconds of every thread: learn runs on XLA's thread pool, on more than one
    # core at a time, so the lane's cost in cores is above its wall time
    costs["cpu"] = cpu
    return costs


def limit_table(env_id: str, seeds: int, updates: int, cores: int) -> str:
    """The physical limit of the host loop on this machine, from costs measured in one
    run: per environment step, the simulator (MuJoCo alone, and through gymnasium), the
    policy call's share and ``learn``'s share; with everything overlapped on ``cores``
    cores, steps/s cannot exceed cores / (their sum)."""
    raw = raw_steps_per_second(env_id)
    mj = mj_step_seconds(env_id)
    train = training_steps_per_second(env_id, "gymnasium-subproc", seeds, updates)
    ph, rate = train["phase_share"], train["steps_per_s"]
    per_step = {k: ph.get(k, 0.0) / rate for k in ("simulator", "policy", "learn", "begin",
                                                     "transfer")}
    gym_s = 1.0 / raw
    other = 1.0 / rate - sum(per_step.values())
    learner = per_step["learn"] + per_step["begin"] + per_step["transfer"]
    bound_gym = cores / (gym_s + per_step["policy"] + learner)
    bound_mj = cores / (mj + per_step["policy"] + learner)
    us = lambda x: f"{x * 1e6:,.1f}"  # noqa: E731
    rows = [
        f"## {env_id}: the limit on {cores} cores ({seeds} seeds, {updates} updates, same run)",
        "",
        "| per environment step | us |", "|---|---|",
        f"| MuJoCo alone (mj_step x frame skip) | {us(mj)} |",
        f"| one gymnasium step (1 / raw rate) | {us(gym_s)} |",
        f"| the training loop's simulator phase (worker hand-off included) | "
        f"{us(per_step['simulator'])} |",
        f"| policy calls (its share of one call for all environments) | "
        f"{us(per_step['policy'])} |",
        f"| learn + set-up + transfer (an update's cost / its batch) | {us(learner)} |",
        f"| the rest of the loop (Python between phases) | {us(other)} |",
        "",
        f"measured training: {rate:,.0f} steps/s = {rate / raw:.2f} x raw "
        f"({raw:,.0f} steps/s, one gymnasium environment)",
        f"bound, gymnasium stepping, all phases overlapped on {cores} cores: "
        f"{bound_gym:,.0f} steps/s = {bound_gym / raw:.2f} x raw",
        f"bound, stepping at MuJoCo's own cost (no Python per step), overlapped: "
        f"{bound_mj:,.0f} steps/s = {bound_mj / raw:.2f} x raw",
    ]
    lane = lane_costs(env_id, updates)
    lanes = training_steps_per_second(env_id, "gymnasium", seeds, updates, schedule="lanes")
    wall, cpu, rate = lane["wall"], lane["cpu"], lanes["steps_per_s"]
    rows += [
        "", "### `--host-schedule lanes`: one lane alone, per environment step (us)", "",
        "| simulator | policy | learn | waiting | all (wall) | all (CPU, every thread) |",
        "|---|---|---|---|---|---|",
        f"| {us(lane['simulator'])} | {us(lane['policy'])} | {us(lane['learn'])} | "
        f"{us(lane['waiting'])} | {us(wall)} | {us(cpu)} |", "",
        f"bound, {cores} cores each busy with lanes all the time, from the wall time: "
        f"{cores / wall:,.0f} steps/s = {cores / wall / raw:.2f} x raw",
        f"bound from the CPU time (learn's thread pool counted): {cores / cpu:,.0f} steps/s "
        f"= {cores / cpu / raw:.2f} x raw",
        f"measured, {seeds} lanes: {rate:,.0f} steps/s = {rate / raw:.2f} x raw",
    ]
    if lanes["cpu_per_step_s"] is not None:
        used = lanes["cpu_per_step_s"]
        rows.append(
            f"the {seeds} lanes used {us(used)} us of CPU per environment step "
            f"({used / cpu:.2f} x a lane alone), the cores busy "
            f"{100 * used * rate / cores:.0f}% of the time")
    return "\n".join(rows) + "\n"


def _set_aside_if_stale(env_id: str, args, where: Path) -> None:
    """A run (and its results) made with another configuration than the one this benchmark
    would start now (the defaults changed since) is moved aside, not resumed or reported;
    the sb3-contrib baseline, which does not depend on our configuration, is kept. A run
    that a live npg-train holds (its lock) is left alone: this raises, naming the process."""
    from npg_num.train import TrainConfig, default_config
    from npg_num.train.rundir import refuse_if_in_use

    run = where / "run"
    if not (run / "config.json").is_file():
        return
    try:
        saved = TrainConfig.from_dict(json.loads((run / "config.json").read_text())).to_dict()
    except Exception:  # unreadable: npg-train --resume says what is wrong with it
        return
    want = default_config(env_id, args.algo, seeds=args.seeds, total_steps=args.steps,
                          host_backend=args.backend,
                          host_schedule=args.schedule).to_dict()
    changed = sorted(k for k in want if saved.get(k) != want[k])
    if changed:
        refuse_if_in_use(run)  # RunDirInUse: another process is writing it
        stamp, n = time.strftime('%Y%m%d-%H%M%S'), 1
        while (aside := where.with_name(f"{where.name}.stale-{stamp}-{n}")).exists():
            n += 1
        where.rename(aside)
        where.mkdir()
        kept = aside / "results.json"
        if kept.is_file():
            sb3 = json.loads(kept.read_text()).get("sb3")
            if sb3:
                _save(where / "results.json", {"sb3": sb3})
        print(f"  the run there was made with other settings ({', '.join(changed)}): "
              f"moved to {aside}", flush=True)


def _finished(run: Path) -> bool:
    """Whether the run in ``run`` has made all of its updates."""
    from npg_num.train import TrainConfig
    from npg_num.train.metrics_file import read_metrics

    if not (run / "metrics.csv").is_file() or not (run / "config.json").is_file():
        return False
    config = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    data = read_metrics(run / "metrics.csv")
    return len(data["update"]) > 0 and data["update"].max() >= config.num_updates


def train_ours(env_id: str, args, run: Path) -> dict:
    """npg-train in a fresh process (resumed if a run is there); its timing and metrics."""
    from npg_num.train.metrics_file import read_metrics

    cmd = [sys.executable, "-m", "npg_num.train.cli"]
    if (run / "config.json").is_file():
        cmd += ["--resume", str(run)]
    else:
        cmd += ["--env", env_id, "--algo", args.algo, "--seeds", str(args.seeds),
                "--total-steps", str(args.steps), "--host-backend", args.backend,
                "--host-schedule", args.schedule, "--out", str(run)]
    cmd += ["--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"npg-train failed for {env_id}: {proc.stderr.strip()[-2000:]}")
    data = read_metrics(run / "metrics.csv")
    seeds = sorted(int(s) for s in set(data["seed"].astype(int)))
    last_update = data["update"].max()
    final = {s: float(np.nanmean(data["mean_return"][(data["seed"] == s) &
                                                     (data["update"] > last_update - 10)]))
             for s in seeds}
    train_s = float(data["time_s"].max())
    steps = float(data["env_steps"].max())
    timing = json.loads((run / "timing.json").read_text()) if (run / "timing.json").is_file() \
        else {}
    return {"train_s": train_s, "process_wall_s": wall, "env_steps_per_seed": steps,
            "steps_per_s": steps * len(seeds) / train_s, "seeds": seeds,
            "final_training_return": final, "timing": timing,
            "resumed": "--resume" in cmd}


def evaluate_ours(run: Path, episodes: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "npg_num.train.evaluate", str(run),
                           "--episodes", str(episodes)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"npg-eval failed: {proc.stderr.strip()[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    per_seed = {int(r.split()[0]): float(r.split()[2]) for r in lines[1:-1]}
    mean, std = (float(x.split("=")[1]) for x in lines[-1].split())
    return {"per_seed": per_seed, "mean_over_episodes": mean, "std_over_episodes": std,
            "table": proc.stdout}


# -- sb3-contrib ----------------------------------------------------------------------------------


def sb3_worker(env_id: str, seed: int, steps: int, episodes: int, out: Path) -> None:
    """sb3-contrib TRPO, rl-baselines3-zoo's MuJoCo settings (hyperparams/trpo.yml:
    normalize, n_envs 2, n_steps 1024, batch_size 128, gamma 0.99, gae_lambda 0.95,
    sub_sampling_factor 1, cg_max_steps 25, cg_damping 0.1, n_critic_updates 20,
    learning_rate 1e-3)."""
    import torch
    from sb3_contrib import TRPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    env = VecNormalize(make_vec_env(env_id, n_envs=2, seed=seed), gamma=0.99)
    model = TRPO("MlpPolicy", env, n_steps=1024, batch_size=128, gamma=0.99,
                 gae_lambda=0.95, sub_sampling_factor=1, cg_max_steps=25, cg_damping=0.1,
                 n_critic_updates=20, learning_rate=1e-3, seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    secs = time.perf_counter() - t0
    training = [ep["r"] for ep in model.ep_info_buffer]  # the last 100 episodes
    eval_env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=seed + 10_000), gamma=0.99,
                            training=False, norm_reward=False)
    eval_env.obs_rms = env.obs_rms
    rewards, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes,
                                 deterministic=True, return_episode_rewards=True)
    _save(out, {"seconds": secs, "steps": steps, "steps_per_s": steps / secs,
                "training_return_last100": float(np.mean(training)),
                "eval_mean": float(np.mean(rewards)), "eval_std": float(np.std(rewards)),
                "eval_episodes": [float(r) for r in rewards],
                "torch_threads": torch.get_num_threads(), "seed": seed})


def train_sb3(env_id: str, args, out: Path):
    try:
        import sb3_contrib  # noqa: F401
    except ImportError:
        print("  sb3-contrib is not installed (the bench extra: pip install sb3-contrib "
              "torch==2.13.0): skipped")
        return None
    proc = subprocess.run([sys.executable, __file__, "--sb3-worker", env_id, "0",
                           str(args.steps), str(args.episodes), str(out)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sb3-contrib failed for {env_id}: {proc.stderr.strip()[-2000:]}")
    return json.loads(out.read_text())


# -- the report -----------------------------------------------------------------------------------


def _fmt(x, digits=0):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def markdown(results: dict, args) -> str:
    from npg_num.train.envs import PUBLISHED

    lines = [
        f"## {args.algo}, {args.seeds} seeds x {args.steps:,} steps, backend {args.backend}",
        "",
        "| env | eval return, mean +- std over seeds | per seed | final training return "
        "| sb3-contrib TRPO published | tianshou NPG published | sb3 here (seed 0): eval / "
        "training |",
        "|---|---|---|---|---|---|---|",
    ]
    for env_id, r in results.items():
        ours = r.get("ours", {})
        ev = r.get("eval", {})
        per_seed = list(ev.get("per_seed", {}).values())
        train_final = list(ours.get("final_training_return", {}).values())
        sb3 = r.get("sb3")
        lines.append(
            f"| {env_id} | {_fmt(np.mean(per_seed) if per_seed else None)} +- "
            f"{_fmt(np.std(per_seed) if per_seed else None)} | "
            f"{', '.join(_fmt(x) for x in per_seed)} | "
            f"{_fmt(np.mean(train_final) if train_final else None)} | "
            f"{_fmt(PUBLISHED['sb3-contrib TRPO'].get(env_id))} | "
            f"{_fmt(PUBLISHED['tianshou NPG'].get(env_id), 1)} | "
            + (f"{_fmt(sb3['eval_mean'])} / {_fmt(sb3['training_return_last100'])} |"
               if sb3 else "not run |"))
    lines += [
        "",
        "| env | our training s | env-steps/s (all seeds) | raw 1-env gymnasium steps/s "
        "| ratio to raw | sb3 s (1 seed) | sb3 steps/s | ours / sb3 (steps/s) "
        "| simulator | policy calls | transfers | learn (first, with compile) | learn (rest) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id, r in results.items():
        ours, sb3 = r.get("ours", {}), r.get("sb3")
        raw = r.get("raw_steps_per_s")
        rate = ours.get("steps_per_s")
        ph = ours.get("timing", {}).get("phases_s", {})
        lines.append(
            f"| {env_id} | {_fmt(ours.get('train_s'))} | {_fmt(rate)} | {_fmt(raw)} | "
            f"{_fmt(rate / raw if rate and raw else None, 2)} | "
            f"{_fmt(sb3['seconds'] if sb3 else None)} | "
            f"{_fmt(sb3['steps_per_s'] if sb3 else None)} | "
            f"{_fmt(rate / sb3['steps_per_s'] if sb3 and rate else None, 2)} | "
            + " | ".join(_fmt(ph.get(k), 1) for k in ("simulator", "policy", "transfer",
                                                       "learn_first", "learn")) + " |")
    for env_id, r in results.items():
        ours = r.get("ours", {})
        timing = ours.get("timing", {})
        part, whole = timing.get("env_steps_per_seed"), ours.get("env_steps_per_seed")
        if part and whole and part < whole:
            lines.append(f"\n{env_id} was resumed: its phase columns (simulator to learn) "
                         f"time the process that finished it, {part:,.0f} of the "
                         f"{whole:,.0f} steps per seed; the training seconds and steps/s "
                         "cover the whole run.")
    return "\n".join(lines) + "\n"


def _short_tables(args, prefix: str, table_of) -> int:
    """``--speed`` and ``--limit``: one table per task, printed and written to
    ``OUT/PREFIX-ENV.md``."""
    for env_id in args.envs.split(","):
        table = table_of(env_id)
        print(table, flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{prefix}-{env_id}.md").write_text(table)
    return 0


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a whole number >= 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", default="Hopper-v5,HalfCheetah-v5")
    p.add_argument("--algo", default="trpo", choices=list(ALGOS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--backend", default="gymnasium-subproc",
                   help="npg-train --host-backend (default: gymnasium-subproc)")
    p.add_argument("--schedule", default="batched", choices=("batched", "lanes"),
                   help="npg-train --host-schedule (default: batched)")
    p.add_argument("--sb3", action="store_true", help="also sb3-contrib TRPO, seed 0")
    p.add_argument("--out", type=Path, default=ROOT / "report" / "locomotion")
    p.add_argument("--speed", action="store_true",
                   help="only compare the host backends' speed (short runs), then stop")
    p.add_argument("--speed-updates", type=int, default=10)
    p.add_argument("--pairs", type=_count, default=0,
                   help="with --speed: then measure the lanes against raw stepping in this "
                        "many back-to-back pairs and print their median (default 0)")
    p.add_argument("--limit", action="store_true",
                   help="only measure the per-step costs (MuJoCo, gymnasium, policy, learn) "
                        "and the steps/s they bound on this machine's cores, then stop")
    p.add_argument("--sb3-worker", nargs=5, metavar=("ENV", "SEED", "STEPS", "EPISODES", "OUT"),
                   help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.pairs and not args.speed:
        parser.error("--pairs goes with --speed")
    if args.sb3_worker:
        env_id, seed, steps, episodes, out = args.sb3_worker
        sb3_worker(env_id, int(seed), int(steps), int(episodes), Path(out))
        return 0
    if args.limit:
        cores = os.cpu_count() or 1
        return _short_tables(args, "limit", lambda env_id: limit_table(
            env_id, args.seeds, args.speed_updates, cores))
    if args.speed:
        return _short_tables(args, "speed", lambda env_id: speed_table(
            env_id, args.seeds, args.speed_updates, args.pairs))
    tag = f"{args.algo}-{args.seeds}x{args.steps}-{args.backend}" + (
        "-lanes" if args.schedule == "lanes" else "")
    results = {}
    for env_id in args.envs.split(","):
        where = args.out / tag / env_id
        where.mkdir(parents=True, exist_ok=True)
        _set_aside_if_stale(env_id, args, where)
        store = where / "results.json"
        r = json.loads(store.read_text()) if store.is_file() else {}
        print(f"# {env_id}", flush=True)
        run = where / "run"
        if "ours" not in r or not _finished(run):
            before = raw_steps_per_second(env_id)
            r["ours"] = train_ours(env_id, args, run)
            after = raw_steps_per_second(env_id)
            r["raw_steps_per_s_before_after"] = [before, after]
            r["raw_steps_per_s"] = (before + after) / 2
            _save(store, r)
        print(f"  ours: {r['ours']['train_s']:.0f} s, {r['ours']['steps_per_s']:,.0f} steps/s; "
              f"raw gymnasium {r['raw_steps_per_s']:,.0f} steps/s", flush=True)
        if "eval" not in r:
            r["eval"] = evaluate_ours(run, args.episodes)
            _save(store, r)
        print(f"  eval per seed: {r['eval']['per_seed']}", flush=True)
        if args.sb3 and not r.get("sb3"):
            r["sb3"] = train_sb3(env_id, args, where / "sb3.json")
            _save(store, r)
        if r.get("sb3"):
            print(f"  sb3-contrib TRPO: {r['sb3']['seconds']:.0f} s, eval "
                  f"{r['sb3']['eval_mean']:.0f}", flush=True)
        results[env_id] = r
    # the table covers every task measured under this tag, in earlier runs of the benchmark
    # too (make bench-mujoco runs it twice, with two sets of tasks)
    from npg_num.train.envs import MUJOCO_ENVS

    for env_id in MUJOCO_ENVS:
        store = args.out / tag / env_id / "results.json"
        if env_id not in results and store.is_file():
            results[env_id] = json.loads(store.read_text())
    results = {e: results[e] for e in sorted(results, key=lambda e: (
        MUJOCO_ENVS.index(e) if e in MUJOCO_ENVS else len(MUJOCO_ENVS), e))}
    table = markdown(results, args)
    (args.out / tag / "results.md").write_text(table)
    _save(args.out / tag / "results.json", results)
    print()
    print(table)
    print(f"learning curves: {args.out / tag}/ENV/run/learning_curve.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
