"""Cost of Fisher-vector products and the natural step, in multiples of one policy gradient.

An MLP 64x64 tanh policy on 1024 states (float32, as in training). Timed, each jitted and
warmed up, median of repeated calls:

  grad      one policy gradient: grad of the importance-weighted surrogate mean(ratio * A)
  fvp_gn    one Fisher-vector product, Gauss-Newton route (J^T F_out J), linearization included
  fvp_kl    one Fisher-vector product, Hessian-of-mean-KL route (jvp of grad), same
  step      one natural step: linearize once, 10 CG iterations + 1 product for q (GN route)
  dense     forming the dense Fisher (P x P) for comparison, when it fits

Ends with the line ``ratios: fvp_gn=X fvp_kl=Y step=Z`` (multiples of ``grad``).
Usage: python benchmarks/fvp.py [--states 1024] [--head categorical|diag_gaussian]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# docs/platform.md: vmapped jitted loops can deadlock in XLA's CPU thread pool without
# this flag; it must be set before JAX computes anything.
from npg_num.xla_cpu import add_hang_guard  # noqa: E402

add_hang_guard()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import npg_num  # noqa: E402


def time_interleaved(calls: dict, rounds: int = 30, min_time: float = 3.0) -> dict:
    """Median seconds per call for each jitted ``(fn, args)``, measured round-robin.

    Interleaving puts every operation under the same background load (this machine is
    shared), so the ratios between them stay meaningful even when absolute times drift.
    """
    for fn, args in calls.values():
        jax.block_until_ready(fn(*args))  # compile and warm up
    samples = {name: [] for name in calls}
    start = time.perf_counter()
    while min(map(len, samples.values())) < rounds or time.perf_counter() - start < min_time:
        for name, (fn, args) in calls.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=1024)
    parser.add_argument("--obs-dim", type=int, default=4)
    parser.add_argument("--actions", type=int, default=2)
    parser.add_argument("--head", default="categorical", choices=["categorical", "diag_gaussian"])
    parser.add_argument("--cg-iters", type=int, default=10)
    args = parser.parse_args()

    key = jax.random.PRNGKey(0)
    k_pol, k_obs, k_act, k_adv, k_v = jax.random.split(key, 5)
    policy, theta = npg_num.mlp_policy(k_pol, args.obs_dim, args.actions, head=args.head)
    obs = jax.random.normal(k_obs, (args.states, args.obs_dim))
    old = policy.apply(theta, obs)
    actions = policy.head.sample(k_act, old)
    advantages = jax.random.normal(k_adv, (args.states,))
    old_logp = policy.head.log_prob(old, actions)
    v = jax.random.normal(k_v, theta.shape)

    def policy_fn(t):
        return policy.apply(t, obs)

    @jax.jit
    def grad(t):
        def surrogate(t):
            return jnp.mean(jnp.exp(policy.head.log_prob(policy_fn(t), actions) - old_logp)
                            * advantages)
        return jax.grad(surrogate)(t)

    def one_fvp(route):
        return jax.jit(lambda t, v: npg_num.fvp(policy_fn, policy.head, t, v, route=route))

    @jax.jit
    def step(t, g):
        matvec = npg_num.make_fvp(policy_fn, policy.head, t, route="gn")
        return npg_num.natural_step(g, matvec, 0.01, damping=0.1, cg_iters=args.cg_iters,
                                    cg_tol=0.0)

    g = grad(theta)
    result = step(theta, g)
    if int(result.cg_iterations) != args.cg_iters:
        raise SystemExit("CG stopped early; the step timing would not be of 10 iterations")
    calls = {
        "grad": (grad, (theta,)),
        "fvp_gn": (one_fvp("gn"), (theta, v)),
        "fvp_kl": (one_fvp("kl"), (theta, v)),
        "step": (step, (theta, g)),
    }
    rows = list(time_interleaved(calls).items())
    if theta.size <= 6000:
        dense = jax.jit(lambda t: npg_num.policy_fisher(policy_fn, policy.head, t))
        rows += list(time_interleaved({"dense F": (dense, (theta,))}, rounds=2, min_time=0).items())

    base = rows[0][1]
    print(f"policy: MLP 64x64 {args.head}, {theta.size} parameters, {args.states} states, "
          f"float32, {jax.devices()[0].platform}, {os.cpu_count()} cores")
    print(f"{'operation':<10} {'ms':>10} {'x grad':>8}")
    for name, seconds in rows:
        print(f"{name:<10} {1e3 * seconds:>10.3f} {seconds / base:>8.2f}")
    r = {name: seconds / base for name, seconds in rows}
    print(f"ratios: fvp_gn={r['fvp_gn']:.2f} fvp_kl={r['fvp_kl']:.2f} step={r['step']:.2f}")


if __name__ == "__main__":
    main()
