"""Vanilla policy gradient as a user's own algorithm: one module, one registry line.

    theta <- theta + lr * g,   g = grad_theta mean_n log pi_theta(a_n|s_n) A_n

    import npg_num.train as train
    from vpg import VPG
    train.register_algo(VPG)        # the registry line
    # then: npg-train --algo vpg --vpg-lr 0.05 ... (from Python: npg_num.train.cli.main)

Nothing else in the trainer changes: ``TrainConfig(algo="vpg", vpg_lr=...)`` takes its
option, ``npg-train --help`` lists it, the loop calls its step, metrics.csv gets its row
(``beta`` and ``cg_residual`` NaN: no trust region, no linear system).
"""

import jax.numpy as jnp

from npg_num.train.algos import Algo, step_info
from npg_num.train.algos.natural import surrogate
from npg_num.train.options import Setting, number

VPG_LR = Setting("vpg_lr", "float", 0.05, "vpg: the step size of plain gradient ascent, > 0",
                 number(0, low_open=True))


def make_vpg_step(config, policy):
    """theta + lr * g, kept (and counted as rejected) if it is not finite."""

    def step(theta, algo_state, batch):
        sur = surrogate(policy, theta, batch)
        new = theta + config.vpg_lr * sur.g
        gain, kl = sur.evaluate(new)
        ok = jnp.all(jnp.isfinite(new)) & jnp.isfinite(kl)
        info = step_info(
            theta.dtype, kl=jnp.where(ok, kl, 0.0), beta=jnp.nan, accepted=ok, guard_ok=ok,
            line_search_steps=0, step_fraction=jnp.where(ok, 1.0, 0.0), cg_residual=jnp.nan,
            expected_improvement=jnp.where(ok, config.vpg_lr * jnp.vdot(sur.g, sur.g), 0.0),
            surrogate_improvement=jnp.where(ok, gain, 0.0),
            entropy=jnp.mean(policy.head.entropy(sur.out_old)),
        )
        return jnp.where(ok, new, theta), algo_state, info

    return step


VPG = Algo("vpg", "vanilla policy gradient: theta + lr g (an example of a user's algorithm)",
           make_vpg_step, options=(VPG_LR,), defaults={"CartPole-v1": dict(vpg_lr=0.1)})
