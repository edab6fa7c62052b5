"""Measure the parameterization gap of the natural and the vanilla step on a small network.

    python benchmarks/invariance.py [--seeds 5]

The setting of ``tests/test_invariance.py``: a tanh MLP policy (2 inputs, 4 hidden units)
over 64 fixed states in float64, an exact expected-return objective, and a
reparameterization theta = f(phi): a random invertible linear map of all weights, or the
standard deviation in place of the log-std of the Gaussian head. For each step rule one
step is taken in theta and one in phi (both with 1/2 d^T F d = delta, CG to convergence),
the second is mapped back, and the mean KL between the two new policies is the gap.

Prints the median gap over seeds at each delta, the log-log slope of gap against delta
(2 for an O(delta^2) gap, 1 for O(delta)), and the vanilla / natural ratio.
"""

from __future__ import annotations

import argparse
import sys

# docs/platform.md: vmapped jitted loops can deadlock in XLA's CPU thread pool without
# this flag; it must be set before JAX computes anything.
from npg_num.xla_cpu import add_hang_guard  # noqa: E402

add_hang_guard()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

jax.config.update("jax_enable_x64", True)

import npg_num  # noqa: E402

OBS_DIM, HIDDEN, N_STATES, LOG_STD = 2, (4,), 64, -1.0
DELTAS = (1e-2, 1e-3, 1e-4)
ACTIONS = {"diag_gaussian": 1, "categorical": 2}
CASES = [("diag_gaussian", "linear"), ("categorical", "linear"), ("diag_gaussian", "std")]


MIN_RELATIVE_CURVATURE = 1e-10  # as in tests/test_invariance.py
EXACT_NULL = {"diag_gaussian": 0, "categorical": HIDDEN[-1] + 1}  # logit-shift directions


def gaps(seed: int, head: str, kind: str, rule: str) -> np.ndarray | None:
    """The KL gap at each delta, or None when the Fisher is nearly singular on its range."""
    k_init, k_noise, k_states, k_task, k_q1, k_q2, k_u = jax.random.split(jax.random.PRNGKey(seed), 7)
    policy, theta0 = npg_num.mlp_policy(k_init, OBS_DIM, ACTIONS[head], hidden=HIDDEN, head=head,
                                        dtype=jnp.float64)
    theta = theta0 + 0.3 * jax.random.normal(k_noise, theta0.shape)
    if head == "diag_gaussian":
        params = policy.unravel(theta)
        params["log_std"] = jnp.full_like(params["log_std"], LOG_STD)
        theta = ravel_pytree(params)[0]
    states = jax.random.normal(k_states, (N_STATES, OBS_DIM))
    task = jax.random.normal(k_task, (N_STATES, ACTIONS[head]))
    p = theta.shape[0]
    u = jax.random.uniform(k_u, (p,), minval=-1.0, maxval=1.0)
    matrix = jax.random.orthogonal(k_q1, p) @ jnp.diag(jnp.exp(u)) @ jax.random.orthogonal(k_q2, p)

    def policy_fn(t):
        return policy.apply(t, states)

    if head == "categorical":
        def reward(a):
            return jnp.take_along_axis(task, a, axis=1)
    else:
        def reward(a):
            return -((a[..., 0] - task[:, None, 0]) ** 2)

    spectrum = np.linalg.eigvalsh(np.asarray(npg_num.policy_fisher(policy_fn, policy.head, theta)))
    if spectrum[EXACT_NULL[head]] < MIN_RELATIVE_CURVATURE * spectrum[-1]:
        return None
    objective = npg_num.expected_return(policy_fn, policy.head, reward)
    cmap = npg_num.linear_map(matrix) if kind == "linear" else npg_num.std_for_log_std(policy)
    out = []
    for delta in DELTAS:
        r = npg_num.compare_steps(policy_fn, policy.head, objective, theta, cmap, delta,
                                  rule=rule, cg_iters=150, cg_tol=1e-13)
        out.append(float(r.kl_gap))
    return np.array(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="random problems per case")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        print(f"error: --seeds must be a positive integer, got {args.seeds}", file=sys.stderr)
        return 2
    header = " | ".join(f"gap @ delta={d:g}" for d in DELTAS)
    print(f"| head | map | rule | {header} | slope | vanilla / natural @ {DELTAS[-1]:g} |")
    print("|---|---|---|" + "---|" * len(DELTAS) + "---|---|")
    for head, kind in CASES:
        medians = {}
        for rule in npg_num.STEP_RULES:
            rows = [gaps(s, head, kind, rule) for s in range(args.seeds)]
            kept = [r for r in rows if r is not None]
            if len(kept) < len(rows):
                print(f"({head}, {kind}, {rule}: skipped {len(rows) - len(kept)} ill-conditioned draws)")
            medians[rule] = np.median(np.array(kept), axis=0)
        for rule in npg_num.STEP_RULES:
            m = medians[rule]
            positive = np.all(m > 0)
            slope = np.polyfit(np.log10(DELTAS), np.log10(m), 1)[0] if positive else float("nan")
            natural_last = medians["natural"][-1]
            # A natural gap at round-off (linear maps) makes the ratio meaningless.
            ratio = (f"{medians['vanilla'][-1] / natural_last:.3g}" if natural_last > 1e-15
                     else "natural gap is round-off")
            cells = " | ".join(f"{v:.3g}" for v in m)
            tail = ratio if rule == "vanilla" else ""
            print(f"| {head} | {kind} | {rule} | {cells} | {slope:.2f} | {tail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
