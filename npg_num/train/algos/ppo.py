"""PPO's policy step (Schulman et al. 2017): the clipped surrogate, epochs of minibatch Adam.

With r_n(theta') = pi_theta'(a_n|s_n) / pi_theta(a_n|s_n) and eps = ``ppo_clip``:

    maximize  mean_n min(r_n A_n, clip(r_n, 1 - eps, 1 + eps) A_n) + c_H mean_n H(pi_theta'(.|s_n))

by ``ppo_epochs`` epochs of ``ppo_minibatches`` minibatch steps of Adam (optax; gradients
clipped to global norm ``ppo_max_grad_norm``; the learning rate annealed linearly to 0 over
the run when ``ppo_anneal_lr``). The Adam state is the step's ``algo_state``, checkpointed
with the run. The value function is fit by the shared ``update.learn`` (its own Adam), not
by a joint loss.

What the step reports (``PolicyStepInfo``): ``kl`` is the achieved mean KL(pi_old ||
pi_new) over the batch after all epochs; ``beta`` is NaN (PPO has no trust-region scale; 0
would read as a rejected natural step); ``cg_residual`` is NaN (no linear system is
solved); ``expected_improvement`` is g . (theta' - theta) with g the surrogate's gradient at
theta (the linear model's gain of the accumulated update); ``surrogate_improvement`` the
measured L(theta') - L(theta) of the unclipped surrogate. The guard: a non-finite theta',
KL or gain (e.g. from a NaN in the advantages) keeps theta and the Adam state, bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ...errors import NPGInputError
from ..options import Setting, flag, number, whole
from ..sampling import epoch_orders
from .base import Algo, step_info

__all__ = ["PPO", "PPOState", "init_ppo", "make_ppo_step", "ppo_optimizer"]


class PPOState(NamedTuple):
    opt: Any  # optax state of the policy's Adam


def ppo_optimizer(config) -> optax.GradientTransformation:
    """Adam (eps 1e-5, as cleanrl) after clipping the gradient's global norm."""
    lr: Any = config.ppo_lr
    if config.ppo_anneal_lr:
        steps = config.num_updates * config.ppo_epochs * config.ppo_minibatches
        lr = optax.linear_schedule(config.ppo_lr, 0.0, transition_steps=steps)
    return optax.chain(optax.clip_by_global_norm(config.ppo_max_grad_norm),
                       optax.adam(lr, eps=1e-5))


def init_ppo(config, theta) -> PPOState:
    return PPOState(ppo_optimizer(config).init(theta))


def make_ppo_step(config, policy) -> Callable:
    """The PPO step: ``step(theta, PPOState, batch) -> (theta', PPOState', info)``."""
    head = policy.head
    optimizer = ppo_optimizer(config)
    epochs, n_mini = config.ppo_epochs, config.batch_size // config.ppo_minibatches
    eps, c_h = config.ppo_clip, config.ppo_entropy_coef

    def loss(theta, obs, actions, adv, logp_old):
        out = policy.apply(theta, obs)
        ratio = jnp.exp(head.log_prob(out, actions) - logp_old)
        clipped = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - eps, 1.0 + eps) * adv)
        return -(jnp.mean(clipped) + c_h * jnp.mean(head.entropy(out)))

    def step(theta, algo_state: PPOState, batch):
        obs, actions, adv = batch.obs, batch.actions, batch.advantages
        out_old = jax.lax.stop_gradient(policy.apply(theta, obs))
        logp_old = head.log_prob(out_old, actions)
        idx = epoch_orders(batch.order, n_mini, epochs).reshape(-1, n_mini)

        def minibatch(carry, i):
            th, s = carry
            grads = jax.grad(loss)(th, obs[i], actions[i], adv[i], logp_old[i])
            updates, s = optimizer.update(grads, s, th)
            return (optax.apply_updates(th, updates), s), None

        (new, opt), _ = jax.lax.scan(minibatch, (theta, algo_state.opt), idx)

        def surrogate(t):
            return jnp.mean(jnp.exp(head.log_prob(policy.apply(t, obs), actions) - logp_old)
                            * adv)

        g = jax.grad(surrogate)(theta)
        out_new = policy.apply(new, obs)
        kl = jnp.mean(head.kl(out_old, out_new))
        gain = jnp.mean(jnp.expm1(head.log_prob(out_new, actions) - logp_old) * adv)
        ok = jnp.all(jnp.isfinite(new)) & jnp.isfinite(kl) & jnp.isfinite(gain)
        keep = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
        theta_new = keep(new, theta)
        state = PPOState(jax.tree.map(keep, opt, algo_state.opt))
        dtype = theta.dtype
        zero = jnp.asarray(0.0, dtype)
        info = step_info(
            dtype,
            kl=keep(kl, zero),
            beta=jnp.nan,
            accepted=ok,
            guard_ok=ok,
            line_search_steps=0,
            step_fraction=keep(jnp.asarray(1.0, dtype), zero),
            cg_residual=jnp.nan,
            expected_improvement=keep(jnp.vdot(g, new - theta), zero),
            surrogate_improvement=keep(gain, zero),
            entropy=jnp.mean(head.entropy(out_old)),
        )
        return theta_new, state, info

    return step


def check_minibatches(config) -> None:
    if config.batch_size % config.ppo_minibatches:
        raise NPGInputError(f"ppo_minibatches ({config.ppo_minibatches}) must divide the batch "
                            f"({config.batch_size})")


PPO_OPTIONS = (
    Setting("ppo_epochs", "int", 10, "ppo: epochs over the batch per update", whole(1, 10_000)),
    Setting("ppo_minibatches", "int", 4, "ppo: minibatches per epoch (must divide the batch)",
            whole(1)),
    Setting("ppo_clip", "float", 0.2, "ppo: the ratio is clipped to [1 - clip, 1 + clip], "
            "in (0, 1)", number(0, 1, low_open=True, high_open=True)),
    Setting("ppo_lr", "float", 1e-3, "ppo: Adam learning rate of the policy, > 0",
            number(0, low_open=True)),
    Setting("ppo_anneal_lr", "bool", True, "ppo: anneal the learning rate linearly to 0 over "
            "the run", flag),
    Setting("ppo_max_grad_norm", "float", 0.5, "ppo: clip each minibatch gradient to this "
            "global norm, > 0", number(0, low_open=True)),
    Setting("ppo_entropy_coef", "float", 0.0, "ppo: weight of the entropy bonus, >= 0",
            number(0)),
)

# MuJoCo: rl-zoo's PPO learning rate 3e-4 and minibatches of 64 (2048 / 32), clip 0.2
PPO = Algo(
    "ppo", "PPO's clipped surrogate, epochs of minibatch Adam", make_ppo_step, init_ppo,
    options=PPO_OPTIONS,
    defaults={"mujoco": dict(ppo_lr=3e-4, ppo_minibatches=32)},
    check=check_minibatches,
)
