"""C11 measured: how close K-FAC (ACKTR), PPO, vanilla and truncated-CG steps come to the
exact natural step, at what cost; and the four trainers' learning curves.

1. Snapshots. npg is trained (1 seed, float64) on CartPole-v1 and Pendulum-v1; at the
   start, the middle and the end of training, one fresh batch is rolled out with the
   snapshot policy (GAE advantages from its value function, standardized, as the trainer
   does). On that batch, with F the exact Fisher of the mean KL over the whole batch
   (dense, Gauss-Newton form) and g the surrogate's gradient:

     exact    beta (F + lam I)^-1 g, solved directly (the reference; lam = npg's damping)
     cgK      npg's step with K = 1, 3, 10, 30 CG iterations on the same F (no subsample)
     kfac     ACKTR's step: beta K^-1 g, K the K-FAC Fisher from the batch's own actions
              (acktr's damping)
     ppo      PPO's accumulated update: its epochs of minibatch Adam from a fresh Adam state
     vanilla  g, sized by the exact F so that 1/2 step^T (F + lam I) step = delta

   Every step but PPO's is sized to the same trust region delta (npg's) by its own metric.
   Columns: cosine to the exact step, the achieved mean KL(pi || pi') over the batch and its
   ratio to delta, the surrogate gain L(theta + step) - L(theta), and the wall time of
   computing the step (jitted, median of interleaved calls, at the middle snapshot) as a
   multiple of one policy gradient on the batch.
2. Learning curves of npg, trpo, acktr and ppo (tuned defaults, 8 seeds) on CartPole-v1
   (100k steps) and Pendulum-v1 (1M steps), one PNG; time-to-solve: the first env-step count
   at which the 8-seed mean return, averaged over the last 10 updates, reaches the target
   (475, -250), and the run's compile and run seconds.

Writes report/bench_approximations.json and report/figures/approximations_curves.png (the
C11 section of ``python -m proofs`` shows them). The last line is

    cosines: vanilla=A kfac=B ppo=C cg1=D cg3=E cg10=F cg30=G   (means over the snapshots)

    python benchmarks/approximations.py [--seeds 8] [--no-curves]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# classic_control configures XLA first (hang guard, one CPU device per core), as the CLI
from classic_control import first_reached, fmt_returns, time_training  # noqa: E402

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from fvp import time_interleaved  # noqa: E402

from npg_num import densify, make_fvp, natural_step  # noqa: E402
from npg_num.kfac import kfac_factors  # noqa: E402
from npg_num.train import PolicyBatch, default_config, make_trainer  # noqa: E402
from npg_num.kfac import kfac_natural_step  # noqa: E402
from npg_num.train.envs import SOLVED_AT  # noqa: E402
from npg_num.train.gae import gae  # noqa: E402
from npg_num.train.normalization import normalize  # noqa: E402
from npg_num.train.algos.ppo import init_ppo, make_ppo_step  # noqa: E402
from npg_num.train.sampling import gumbel, normal  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENVS = ("CartPole-v1", "Pendulum-v1")
ALGOS = ("npg", "trpo", "acktr", "ppo")
METHODS = ("exact", "cg1", "cg3", "cg10", "cg30", "kfac", "ppo", "vanilla")
COSINE_LINE = ("vanilla", "kfac", "ppo", "cg1", "cg3", "cg10", "cg30")


def snapshot_batch(trainer, state, key) -> PolicyBatch:
    """A fresh batch from the snapshot policy: the trainer's rollout, then GAE on the
    snapshot's value function, advantages standardized (``update.learn``'s steps 1-2)."""
    cfg, spec = trainer.config, trainer.spec
    dtype = jnp.dtype(cfg.dtype)
    t, e = cfg.num_steps, cfg.num_envs
    k_noise, k_env, k_order = jax.random.split(key, 3)
    bits = jax.random.bits(k_noise, (t, e, spec.action_dim), jnp.uint32)
    noise = gumbel(bits, dtype) if spec.discrete else normal(bits, dtype)
    env_keys = jax.random.bits(k_env, (t, 2, e, 2), jnp.uint32)
    _, _, _, traj = trainer.rollout(state.theta, state.obs_norm, state.env_state, state.obs,
                                    state.episodes, noise, env_keys)

    def norm(x):
        return normalize(state.obs_norm, x, cfg.normalize_obs)

    v_t = trainer.value.apply(state.value_params, norm(traj.obs))
    v_tp1 = trainer.value.apply(state.value_params, norm(traj.next_obs))
    adv = gae(traj.reward * cfg.reward_scale, v_t, v_tp1, traj.terminated, traj.done,
              gamma=cfg.gamma, lambda_=cfg.gae_lambda).reshape(-1)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    batch = cfg.batch_size
    obs = norm(traj.obs).reshape(batch, spec.obs_dim)
    actions = traj.action.reshape((batch,) + traj.action.shape[2:])
    return PolicyBatch(obs, actions, adv, jax.random.permutation(k_order, batch))


def step_functions(env: str, trainer):
    """Each method's step at (theta, batch), jitted; and the evaluation of a step."""
    cfg = trainer.config
    policy, head = trainer.policy, trainer.policy.head
    delta, lam = cfg.delta, cfg.damping
    acktr = default_config(env, "acktr", dtype=cfg.dtype)
    ppo_cfg = default_config(env, "ppo", dtype=cfg.dtype)
    ppo_step = make_ppo_step(ppo_cfg, policy)

    def grad(theta, b):
        return jax.grad(lambda t: jnp.mean(head.log_prob(policy.apply(t, b.obs), b.actions)
                                           * b.advantages))(theta)

    def fvp(theta, b):
        return make_fvp(lambda t: policy.apply(t, b.obs), head, theta, route="gn")

    def exact(theta, b):
        g = grad(theta, b)
        f = densify(fvp(theta, b), theta.size, theta.dtype) + lam * jnp.eye(theta.size)
        x = jnp.linalg.solve(f, g)
        return jnp.sqrt(2 * delta / jnp.vdot(x, f @ x)) * x

    def cg(k):
        return lambda theta, b: natural_step(grad(theta, b), fvp(theta, b), delta,
                                             damping=lam, cg_iters=k, cg_tol=0.0).step

    def kfac(theta, b):
        factors = kfac_factors(policy, theta, b.obs, b.actions)
        return kfac_natural_step(policy, factors, grad(theta, b), delta, acktr.damping).step

    def ppo(theta, b):
        new, _, _ = ppo_step(theta, init_ppo(ppo_cfg, theta), b)
        return new - theta

    def vanilla(theta, b):
        g = grad(theta, b)
        fg = fvp(theta, b)(g) + lam * g
        return jnp.sqrt(2 * delta / jnp.vdot(g, fg)) * g

    steps = {"exact": exact, "cg1": cg(1), "cg3": cg(3), "cg10": cg(10), "cg30": cg(30),
             "kfac": kfac, "ppo": ppo, "vanilla": vanilla}

    def evaluate(theta, b, step):
        out_old = policy.apply(theta, b.obs)
        out = policy.apply(theta + step, b.obs)
        ratio = jnp.exp(head.log_prob(out, b.actions) - head.log_prob(out_old, b.actions))
        return jnp.mean(head.kl(out_old, out)), jnp.mean((ratio - 1.0) * b.advantages)

    return {k: jax.jit(f) for k, f in steps.items()}, jax.jit(grad), jax.jit(evaluate)


def snapshots(env: str):
    """npg trained in float64, 1 seed; the states at the start, middle and end."""
    cfg = default_config(env, "npg", dtype="float64")
    trainer = make_trainer(cfg)
    half = cfg.num_updates // 2
    chunk = jax.jit(trainer.chunk(cfg.num_updates - half))
    s0 = trainer.init(jax.random.PRNGKey(0))
    s1, m1 = chunk(s0, half)
    s2, m2 = chunk(s1, cfg.num_updates - half)
    returns = [float("nan"), float(np.asarray(m1.mean_return)[half - 1]),
               float(np.asarray(m2.mean_return)[cfg.num_updates - half - 1])]
    names = ("start", f"middle ({half * cfg.batch_size // 1000}k)",
             f"end ({cfg.num_updates * cfg.batch_size // 1000}k)")
    return trainer, list(zip(names, (s0, s1, s2), returns))


def approximation_table(env: str) -> list[dict]:
    trainer, snaps = snapshots(env)
    steps, grad, evaluate = step_functions(env, trainer)
    delta = trainer.config.delta
    rows = []
    for i, (name, state, ret) in enumerate(snaps):
        batch = snapshot_batch(trainer, state, jax.random.PRNGKey(100 + i))
        theta = state.theta
        result = {k: f(theta, batch) for k, f in steps.items()}
        ref = result["exact"]
        times = {}
        if i == 1:  # wall time, at the middle snapshot (the cost depends on sizes only)
            calls = {"grad": (grad, (theta, batch))}
            calls.update({k: (f, (theta, batch)) for k, f in steps.items() if k != "exact"})
            times = time_interleaved(calls, rounds=15, min_time=2.0)
            times.update(time_interleaved({"exact": (steps["exact"], (theta, batch))},
                                          rounds=2, min_time=0))
        for k in METHODS:
            step = result[k]
            kl, gain = (float(x) for x in evaluate(theta, batch, step))
            cos = float(jnp.vdot(step, ref) / (jnp.linalg.norm(step) * jnp.linalg.norm(ref)))
            rows.append(dict(env=env, snapshot=name, snapshot_return=ret, method=k,
                             cosine=cos, kl=kl, kl_over_delta=kl / delta, gain=gain,
                             x_grad=(times[k] / times["grad"]) if times else None,
                             ms=(1e3 * times[k]) if times else None,
                             params=int(theta.size), states=int(batch.obs.shape[0])))
    return rows


def print_table(rows) -> None:
    print("| env | snapshot (return) | method | cosine to exact | mean KL | KL / delta | "
          "surrogate gain | time x grad |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ret = "" if np.isnan(r["snapshot_return"]) else f" ({r['snapshot_return']:.0f})"
        t = "" if r["x_grad"] is None else f"{r['x_grad']:.1f}"
        print(f"| {r['env']} | {r['snapshot']}{ret} | {r['method']} | {r['cosine']:.3f} | "
              f"{r['kl']:.2e} | {r['kl_over_delta']:.2f} | {r['gain']:.2e} | {t} |")


def learning_curves(seeds: int) -> dict:
    out = {}
    for env in ENVS:
        for algo in ALGOS:
            cfg = default_config(env, algo, seeds=seeds)
            _, m, t_compile, t_run = time_training(cfg)
            returns = np.asarray(m.mean_return)
            steps = np.asarray(m.env_steps)[0]
            reached, share = first_reached(steps, returns, SOLVED_AT[env])
            with warnings.catch_warnings():  # no episode finished yet: an all-NaN column
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(returns, 0)
            out[f"{env} {algo}"] = dict(
                env=env, algo=algo, steps=steps.tolist(), mean=mean.tolist(),
                final=returns[:, -1].tolist(), compile_s=t_compile, run_s=t_run,
                reached=reached, share_after=share, total_steps=int(steps[-1]))
            print(f"{env:<12} {algo:<6} compile {t_compile:5.1f} s  run {t_run:6.1f} s  "
                  f"mean final {returns[:, -1].mean():7.1f}  solved at "
                  f"{reached if reached is not None else 'never'}  per seed: "
                  f"{fmt_returns(returns[:, -1])}", flush=True)
    return out


def plot_curves(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    for ax, env in zip(axes, ENVS):
        for algo in ALGOS:
            c = curves[f"{env} {algo}"]
            ax.plot(c["steps"], c["mean"], label=algo, linewidth=1.5)
        ax.axhline(SOLVED_AT[env], linestyle="--", color="gray", linewidth=1)
        ax.set_title(f"{env}, mean over {len(c['final'])} seeds")
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel("episodic return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--no-curves", action="store_true", help="the table only")
    args = parser.parse_args()
    load = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} at the start", flush=True)
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        rows = [r for env in ENVS for r in approximation_table(env)]
    print_table(rows)
    results = {"load_avg_at_start": load, "command": "python benchmarks/approximations.py",
               "date": started, "table": rows}
    if not args.no_curves:
        curves = learning_curves(args.seeds)
        plot_curves(curves, ROOT / "report" / "figures" / "approximations_curves.png")
        results["curves"] = curves
    results["seconds"] = time.perf_counter() - t0
    out = ROOT / "report" / "bench_approximations.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    means = {k: np.mean([r["cosine"] for r in rows if r["method"] == k]) for k in COSINE_LINE}
    print(f"wrote {out}")
    print("cosines: " + " ".join(f"{k}={means[k]:.3f}" for k in COSINE_LINE))


if __name__ == "__main__":
    main()
