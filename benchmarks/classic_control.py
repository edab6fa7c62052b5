"""Classic control: how fast the jitted NPG/TRPO trainer is, and that it learns.

Prints tables and ratios measured in this one run (the machine is noisy: compare ratios,
not absolute times across runs):

1. CartPole-v1, 100k steps per seed, npg and trpo, 1 and 8 seeds (vmapped): compile and
   run timed apart, every seed's final return.
   Then the same npg run with XLA's default compile options and with every seed on one
   device: what the two CPU settings of ``npg_num.train.devices`` buy. And ``npg-train`` with
   8 seeds in a fresh process, timed from the outside: what a person waits.
2. Where the time goes (8 seeds, npg and trpo): compile, rollout (policy + environment),
   the policy step (gradient, FVP/CG, line search), the value fit, and the rest (GAE,
   values, bookkeeping), each timed as its own jitted loop of the same size.
3. Throughput at the same batch (8 seeds x 8 envs): raw gymnax steps/s with random actions,
   rollout with the policy, and training (with and without compile) as fractions of them.
4. sb3-contrib TRPO with the rl-zoo CartPole hyperparameters (n_envs 2, n_steps 512,
   batch 512, cg_damping 1e-3, GAE lambda 0.98, gamma 0.99, critic lr 1e-3, 20 critic
   updates), 100k steps, when sb3_contrib imports (the bench extra: ``pip install sb3-contrib
   torch==2.13.0``), and
   the per-seed speed ratio.
5. (unless --quick) Acrobot-v1 and Pendulum-v1 for 1M steps, 8 seeds, npg and trpo: the
   final return and the budget from which the mean return over seeds (averaged over the
   last 10 updates) reaches the target (Acrobot -100, Pendulum -250) and stays there.

Results also go to report/bench_classic_control.json.

    python benchmarks/classic_control.py [--quick] [--no-sb3] [--seeds 8]
"""

from __future__ import annotations

import os

from npg_num.train.devices import configure  # noqa: E402

# as the CLI: the hang guard (docs/platform.md) and one CPU device per core, seeds sharded over them
configure()

import argparse  # noqa: E402
import gc  # noqa: E402
import warnings  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from npg_num import make_fvp, natural_step  # noqa: E402
from npg_num.train.envs import SOLVED_AT, make_env  # noqa: E402
from npg_num.train import (  # noqa: E402
    PolicyBatch, default_config, make_trainer, per_seed, seed_keys, seed_sharding,
)
from npg_num.train.devices import compiler_options  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _block(tree):
    jax.block_until_ready(tree)
    return tree


def time_training(config, devices=None, options="trainer"):
    """Compile and run ``train`` over the config's seeds (``per_seed``, as the CLI does),
    timed apart.

    ``devices``: the devices the seeds are sharded over (default all, as the CLI does);
    ``options``: "trainer" (``xla_cpu.compiler_options()``, as the CLI) or "xla" (XLA's own
    defaults), for the comparison rows."""
    trainer = make_trainer(config)
    keys = seed_keys(config)
    sharding = seed_sharding(config.seeds, devices)
    keys = jax.device_put(keys, sharding)
    opts = compiler_options() if options == "trainer" else None
    fn = jax.jit(per_seed(trainer.train, sharding), compiler_options=opts)
    t0 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    t1 = time.perf_counter()
    _, metrics = _block(compiled(keys))
    t2 = time.perf_counter()
    return trainer, metrics, t1 - t0, t2 - t1


def _loop_time(fn, *args):
    """Run time of ``fn`` over the seeds (compiled first, not counted): every argument has
    a leading seed axis, sharded over the devices and run ``per_seed`` as in training."""
    sharding = seed_sharding(jax.tree.leaves(args)[0].shape[0])
    args = jax.device_put(args, sharding)
    compiled = jax.jit(per_seed(fn, sharding),
                       compiler_options=compiler_options()).lower(*args).compile()
    t0 = time.perf_counter()
    _block(compiled(*args))
    return time.perf_counter() - t0


def time_parts(trainer, seeds):
    """Each phase of the update as its own jitted loop over num_updates, vmapped over seeds.

    The loops carry their outputs forward so that XLA cannot hoist the work out of them;
    the policy step and value fit run on a fixed batch of the right shape (their cost does
    not depend on the data, except the line search's number of tries).
    """
    cfg, spec = trainer.config, trainer.spec
    n_upd, t, e, b = cfg.num_updates, cfg.num_steps, cfg.num_envs, cfg.batch_size
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    state = jax.vmap(trainer.init)(keys)
    noise = jax.random.gumbel(keys[0], (t, e, spec.action_dim))
    env_keys = jax.random.split(keys[1], (t, 2, e))

    def rollout_loop(s):
        def body(s, _):
            env_state, obs, ep, traj = trainer.rollout(
                s.theta, s.obs_norm, s.env_state, s.obs, s.episodes, noise, env_keys
            )
            return s._replace(env_state=env_state, obs=obs, episodes=ep), traj.reward.sum()

        return jax.lax.scan(body, s, None, length=n_upd)[1]

    obs = jax.random.normal(keys[0], (seeds, b, spec.obs_dim))
    actions = jax.random.bernoulli(keys[1], 0.5, (seeds, b)).astype(jnp.int32)
    adv = jax.random.normal(keys[2], (seeds, b))
    n_f = b // cfg.fisher_subsample
    order = jnp.broadcast_to(jnp.arange(b), (seeds, b))  # the Fisher subsample: the first n_f
    perms = jnp.broadcast_to(jnp.arange(b), (seeds, cfg.value_epochs, b))

    def policy_loop(theta, o, a, ad, idx):
        def body(th, _):
            th2, _, info = trainer.policy_step(th, (), PolicyBatch(o, a, ad, idx))
            # a small move keeps the loop honest (no hoisting) and the line search typical
            return th + 1e-3 * (th2 - th), info.kl

        return jax.lax.scan(body, theta, None, length=n_upd)

    def cg_loop(theta, o, ad):
        """Only the Fisher-vector products and CG of the natural step (on the subsample)."""
        obs_f = o[:n_f]
        g = jax.grad(lambda t: jnp.mean(trainer.policy.apply(t, o)[..., 0] * ad))(theta)

        def body(th, _):
            fvp = make_fvp(lambda t: trainer.policy.apply(t, obs_f), trainer.policy.head, th,
                           route=cfg.fvp_route)
            res = natural_step(g, fvp, cfg.delta, damping=cfg.damping, cg_iters=cfg.cg_iters)
            return th + 1e-3 * res.step, res.beta

        return jax.lax.scan(body, theta, None, length=n_upd)

    def value_loop(p, s, o, tgt, pr):
        def body(c, _):
            return trainer.value_fit(c[0], c[1], o, tgt, pr), None

        return jax.lax.scan(body, (p, s), None, length=n_upd)

    return {
        "rollout": _loop_time(rollout_loop, state),
        "policy_step": _loop_time(policy_loop, state.theta, obs, actions, adv, order),
        "fvp_cg": _loop_time(cg_loop, state.theta, obs, adv),
        "value_fit": _loop_time(value_loop, state.value_params, state.value_opt, obs, adv,
                                perms),
    }


def raw_env_throughput(env_id, seeds, n_envs, n_steps):
    """Steps/s of the bare gymnax environment (random actions, auto-reset): ``seeds``
    groups of ``n_envs`` environments, vmapped and sharded over the devices as in
    training."""
    spec = make_env(env_id)
    env, params = spec.env, spec.params

    def run(key):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n_envs),
                                                            params)

        def body(carry, k):
            state, total = carry
            ka, ks = jax.random.split(k)
            act = jax.vmap(env.action_space(params).sample)(jax.random.split(ka, n_envs))
            _, state, r, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, n_envs), state, act, params
            )
            return (state, total + r.sum()), None

        return jax.lax.scan(body, (state, 0.0), jax.random.split(key, n_steps))[0][1]

    secs = _loop_time(run, jax.random.split(jax.random.PRNGKey(0), seeds))
    return seeds * n_envs * n_steps / secs


def cli_end_to_end(seeds, cache_dir=None):
    """``npg-train`` on CartPole-v1 with ``seeds`` seeds in a fresh process, as a person
    runs it: imports, compilation, the chunked loop with its CSV rows and checkpoints,
    the learning curve. ``cache_dir``: JAX's persistent compilation cache there (None:
    off, a cold compile). Returns (wall seconds, compile seconds (timing.json), training
    seconds (the last metrics row), the final mean return); wall minus both is the CLI's
    fixed overhead (imports, setup, writing the curve)."""
    import subprocess
    import sys
    import tempfile

    from npg_num.train.metrics_file import read_metrics

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        env = {k: v for k, v in os.environ.items()  # the CLI sets its own XLA flags
               if k not in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR")}
        env["NPG_COMPILE_CACHE"] = str(cache_dir) if cache_dir else "0"
        proc = subprocess.run(
            [sys.executable, "-m", "npg_num.train.cli", "--env", "CartPole-v1", "--seeds",
             str(seeds), "--out", str(out), "--quiet"],
            capture_output=True, text=True, cwd=ROOT, env=env,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"npg-train failed: {proc.stderr.strip()}")
        data = read_metrics(out / "metrics.csv")
        last = data["update"] == data["update"].max()
        compile_s = json.loads((out / "timing.json").read_text())["compile_s"]
        return (wall, compile_s, float(data["time_s"][last][0]),
                float(np.mean(data["mean_return"][last])))


def sb3_trpo_cartpole(total_steps, seed=0):
    """sb3-contrib TRPO, rl-zoo CartPole-v1 hyperparameters; None if not installed."""
    try:
        import torch
        from sb3_contrib import TRPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        return None
    env = make_vec_env("CartPole-v1", n_envs=2, seed=seed)
    model = TRPO(
        "MlpPolicy", env, n_steps=512, batch_size=512, cg_damping=1e-3, gae_lambda=0.98,
        gamma=0.99, learning_rate=1e-3, n_critic_updates=20, seed=seed, device="cpu",
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    secs = time.perf_counter() - t0
    episodes = [ep["r"] for ep in model.ep_info_buffer]
    return {
        "seconds": secs,
        "final_return_last10": float(np.mean(episodes[-10:])) if episodes else float("nan"),
        "torch_threads": torch.get_num_threads(),
    }


def _smoothed_ok(returns, target, window):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no episode finished yet: all NaN
        mean = np.nanmean(returns, axis=0)
    mean = np.where(np.isnan(mean), -np.inf, mean)
    smooth = np.convolve(mean, np.ones(window) / window, mode="valid")  # ends at update i
    return smooth >= target


def first_budget(steps, returns, target, window=10):
    """The first env-step count from which the mean over seeds, averaged over the last
    ``window`` updates (one update's mean is of only seeds x envs episodes, and Pendulum's
    returns depend much on the start state), stays >= target to the end."""
    ok = _smoothed_ok(returns, target, window)
    if not ok[-1]:
        return None
    bad = np.nonzero(~ok)[0]
    first = 0 if len(bad) == 0 else bad[-1] + 1
    return int(steps[first + window - 1])


def first_reached(steps, returns, target, window=10):
    """The first env-step count at which that smoothed mean is >= target (None: never),
    and the fraction of the later updates at which it is."""
    ok = _smoothed_ok(returns, target, window)
    hits = np.nonzero(ok)[0]
    if len(hits) == 0:
        return None, 0.0
    return int(steps[hits[0] + window - 1]), float(ok[hits[0]:].mean())


def fmt_returns(r):
    return " ".join(f"{x:.1f}" for x in r)


def cartpole_table(args, env_id: str, steps: int) -> dict:
    """npg and trpo on CartPole, 1 and N seeds, compile and run timed apart."""
    print(f"## CartPole-v1, {steps // 1000}k steps per seed (compile and run timed apart)\n")
    print("| algo | seeds | compile s | run s | total s | s per seed | mean final | "
          "final return per seed |")
    print("|---|---|---|---|---|---|---|---|")
    cart = {}
    for algo in ("npg", "trpo"):
        for seeds in (1, args.seeds):
            cfg = default_config(env_id, algo, seeds=seeds, total_steps=steps)
            trainer, m, tc, tr = time_training(cfg)
            final = np.asarray(m.mean_return)[:, -1]
            cart[(algo, seeds)] = dict(compile_s=tc, run_s=tr, final=final.tolist(),
                                       env_steps=int(np.asarray(m.env_steps)[0, -1]),
                                       rejected=int(np.asarray(m.rejected_total)[:, -1].sum()))
            print(f"| {algo} | {seeds} | {tc:.2f} | {tr:.2f} | {tc + tr:.2f} | "
                  f"{(tc + tr) / seeds:.2f} | {final.mean():.1f} | {fmt_returns(final)} |",
                  flush=True)
    return cart


def cpu_settings_table(args, env_id: str, steps: int, cart: dict) -> dict:
    """What the two CPU settings of npg_num.train.devices buy, measured here: the same npg
    run with XLA's default compile options, and with all seeds on one device."""
    print(f"\n## npg, {args.seeds} seeds: the CPU settings of npg_num.train.devices, same run\n")
    print("| variant | devices | compile s | run s | total s | mean final |")
    print("|---|---|---|---|---|---|")
    base = cart[("npg", args.seeds)]
    n_dev = len(seed_sharding(args.seeds).mesh.devices.flat)
    print(f"| as trained above (LLVM -O1, seeds sharded) | {n_dev} | {base['compile_s']:.2f} | "
          f"{base['run_s']:.2f} | {base['compile_s'] + base['run_s']:.2f} | "
          f"{np.mean(base['final']):.1f} |")
    variants = {}
    cfg = default_config(env_id, "npg", seeds=args.seeds, total_steps=steps)
    for name, kw in (("XLA default compile options (-O2)", dict(options="xla")),
                     ("all seeds on one device", dict(devices=jax.devices()[:1]))):
        _, m, tc, tr = time_training(cfg, **kw)
        final = np.asarray(m.mean_return)[:, -1]
        n = len(seed_sharding(args.seeds, kw.get("devices")).mesh.devices.flat)
        variants[name] = dict(compile_s=tc, run_s=tr, devices=n, final=final.tolist())
        print(f"| {name} | {n} | {tc:.2f} | {tr:.2f} | {tc + tr:.2f} | {final.mean():.1f} |",
              flush=True)
    return variants


def cli_table(args) -> dict:
    """npg-train end to end in fresh processes: cache off, empty, filled."""
    import tempfile

    print(f"\n## The CLI end to end: npg-train, CartPole-v1, {args.seeds} seeds, "
          "a fresh process\n")
    print("| compilation cache | wall s (imports, compile, training with CSV rows and "
          "checkpoints, plot) | compile s | training s (from metrics.csv) | "
          "fixed overhead s (wall - compile - training) | mean final |")
    print("|---|---|---|---|---|---|")
    cli_runs = {}
    with tempfile.TemporaryDirectory() as cache:
        for name, where in (("off (cold compile)", None), ("empty (first run)", cache),
                            ("filled (a repeated run)", cache)):
            wall, compile_s, train_s, final = cli_end_to_end(args.seeds, where)
            overhead = wall - compile_s - train_s
            cli_runs[name] = dict(wall_s=wall, compile_s=compile_s, training_s=train_s,
                                  overhead_s=overhead, final_mean=final)
            print(f"| {name} | {wall:.2f} | {compile_s:.2f} | {train_s:.2f} | {overhead:.2f} | "
                  f"{final:.1f} |", flush=True)
    return cli_runs


def parts_table(args, env_id: str, steps: int, cart: dict) -> dict:
    print(f"\n## Where the time goes ({args.seeds} seeds, each phase as its own jitted loop)\n")
    print("| algo | compile s | rollout s | policy step s (of which FVP/CG) | "
          "value fit s | rest (GAE, values, bookkeeping) s | full run s |")
    print("|---|---|---|---|---|---|---|")
    parts = {}
    for algo in ("npg", "trpo"):
        cfg = default_config(env_id, algo, seeds=args.seeds, total_steps=steps)
        p = time_parts(make_trainer(cfg), args.seeds)
        full = cart[(algo, args.seeds)]
        rest = full["run_s"] - p["rollout"] - p["policy_step"] - p["value_fit"]
        parts[algo] = dict(p, rest=rest, compile=full["compile_s"], run=full["run_s"])
        print(f"| {algo} | {full['compile_s']:.2f} | {p['rollout']:.2f} | "
              f"{p['policy_step']:.2f} ({p['fvp_cg']:.2f}) | {p['value_fit']:.2f} | {rest:.2f} | "
              f"{full['run_s']:.2f} |", flush=True)
    return parts


def throughput_table(args, env_id: str, steps: int, cart: dict, parts: dict) -> dict:
    cfg = default_config(env_id, "npg", seeds=args.seeds, total_steps=steps)
    n_envs = cfg.num_envs * args.seeds
    raw = raw_env_throughput(env_id, args.seeds, cfg.num_envs, cfg.num_updates * cfg.num_steps)
    total_steps = args.seeds * cfg.num_updates * cfg.batch_size
    roll = total_steps / parts["npg"]["rollout"]
    print(f"\n## Throughput at the same batch ({args.seeds} seeds x {cfg.num_envs} envs = "
          f"{n_envs} environments)\n")
    print("| what | env steps/s | fraction of raw env | fraction of rollout |")
    print("|---|---|---|---|")
    print(f"| raw gymnax {env_id}, random actions | {raw:,.0f} | 1 | |")
    print(f"| rollout with the policy (no learning) | {roll:,.0f} | {roll / raw:.2f} | 1 |")
    thr = {}
    for algo in ("npg", "trpo"):
        full = cart[(algo, args.seeds)]
        run_only = total_steps / full["run_s"]
        with_compile = total_steps / (full["run_s"] + full["compile_s"])
        thr[algo] = dict(run=run_only, with_compile=with_compile)
        print(f"| {algo} training, run only | {run_only:,.0f} | {run_only / raw:.3f} | "
              f"{run_only / roll:.2f} |")
        print(f"| {algo} training, compile included | {with_compile:,.0f} | "
              f"{with_compile / raw:.3f} | {with_compile / roll:.2f} |")
    return dict(raw_env=raw, rollout=roll, training=thr)


def sb3_table(args, steps: int, cart: dict, results: dict) -> None:
    print("\n## sb3-contrib TRPO (rl-zoo CartPole-v1 hyperparameters), same run\n", flush=True)
    sb3 = sb3_trpo_cartpole(steps)
    if sb3 is None:
        print("sb3_contrib is not installed (pip install 'npg[bench]'): skipped.")
        return
    results["sb3_trpo"] = sb3
    print("| trainer | seconds per seed (compile included) | speed-up per seed | final return |")
    print("|---|---|---|---|")
    print(f"| sb3-contrib TRPO, 1 seed, torch {sb3['torch_threads']} threads | "
          f"{sb3['seconds']:.1f} | 1 | {sb3['final_return_last10']:.1f} (last 10 episodes) |")
    ratios = {}
    for algo in ("npg", "trpo"):
        for seeds in (1, args.seeds):
            c = cart[(algo, seeds)]
            per_seed = (c["compile_s"] + c["run_s"]) / seeds
            ratio = sb3["seconds"] / per_seed
            ratios[f"{algo}_{seeds}"] = ratio
            print(f"| npg_num {algo}, {seeds} seed(s) | {per_seed:.2f} | "
                  f"{ratio:.1f}x | {np.mean(c['final']):.1f} (mean over seeds) |")
    results["speedup_per_seed"] = ratios


def long_runs_table(args) -> dict:
    print(f"\n## 1M steps, {args.seeds} seeds: final return and budget to the target\n")
    print("| env | algo | target | mean final | min seed | first reached (share of "
          "later updates at target) | budget from which the mean (over seeds and the "
          "last 10 updates) stays >= target | run s | final return per seed |")
    print("|---|---|---|---|---|---|---|---|---|")
    long = {}
    for env in ("Acrobot-v1", "Pendulum-v1"):
        for algo in ("npg", "trpo"):
            cfg = default_config(env, algo, seeds=args.seeds)
            _, m, tc, tr = time_training(cfg)
            r = np.asarray(m.mean_return)
            env_steps = np.asarray(m.env_steps)[0]
            target = SOLVED_AT[env]
            budget = first_budget(env_steps, r, target)
            reached, share = first_reached(env_steps, r, target)
            final = r[:, -1]
            long[f"{env}_{algo}"] = dict(final=final.tolist(), budget=budget,
                                         first_reached=reached, share_after=share,
                                         compile_s=tc, run_s=tr, total_steps=int(env_steps[-1]))
            shown = f"{budget:,}" if budget is not None else "not held at the end"
            first = f"{reached:,} ({share:.0%})" if reached is not None else "never"
            print(f"| {env} | {algo} | {target:g} | {final.mean():.1f} | "
                  f"{final.min():.1f} | {first} | {shown} | {tr:.1f} | "
                  f"{fmt_returns(final)} |", flush=True)
    return long


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CartPole only (no 1M-step runs)")
    parser.add_argument("--no-sb3", action="store_true", help="skip the sb3-contrib baseline")
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    results = {"machine": {"devices": str(jax.devices()), "cpus": os.cpu_count(),
                           "load_avg_at_start": os.getloadavg()}}
    steps, env_id = 100_000, "CartPole-v1"
    # as npg-train does once its imports are done (session.Session): the garbage collector
    # skips the objects imported so far, so collections while JAX traces the training
    # programs do not walk all of them
    make_env(env_id)  # imports gymnax
    gc.freeze()
    # the goal counts compilation: never reuse programs from JAX's persistent cache, even
    # if JAX_COMPILATION_CACHE_DIR is set (the CLI subprocess below gets no cache either)
    jax.config.update("jax_enable_compilation_cache", False)

    cart = cartpole_table(args, env_id, steps)
    results["cartpole"] = {f"{a}_{s}": v for (a, s), v in cart.items()}
    results["cpu_settings"] = cpu_settings_table(args, env_id, steps, cart)
    cli_runs = cli_table(args)
    results["cli_runs"] = cli_runs
    cold = cli_runs["off (cold compile)"]
    results["cli_end_to_end"] = dict(wall_s=cold["wall_s"], training_s=cold["training_s"],
                                     final_mean=cold["final_mean"])
    parts = parts_table(args, env_id, steps, cart)
    results["time_parts"] = parts
    results["throughput"] = throughput_table(args, env_id, steps, cart, parts)
    if not args.no_sb3:
        sb3_table(args, steps, cart, results)
    if not args.quick:
        results["long_runs"] = long_runs_table(args)

    out = ROOT / "report" / "bench_classic_control.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")

if __name__ == "__main__":
    main()
