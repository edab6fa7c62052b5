"""The natural policy gradient (``npg``) and TRPO (``trpo``): the natural step of
``npg_num.natural_step`` on the Fisher-vector products of ``npg_num.make_fvp``.

With the surrogate L(theta') = mean_n exp(log pi_theta'(a_n|s_n) - log pi_theta(a_n|s_n)) A_n,
its gradient g at theta, and F the Fisher of the mean KL (on the first
``batch / fisher_subsample`` states of a random order of the batch):

    npg:   theta <- theta + beta x,  x = (F + damping I)^-1 g  (CG),
           beta = sqrt(2 delta / x^T (F + damping I) x)
    trpo:  theta <- theta + s^i beta x for the first i = 0, 1, ... with
           L(theta') > L(theta) and mean KL(pi_theta || pi_theta') <= delta;
           none: theta is kept (the step is rejected)

The guard (``npg_num.trust_region_step``): a non-finite or non-positive-curvature step
keeps theta and is counted by the loop. ``surrogate`` and ``take_full_step`` serve ACKTR
too (``acktr.py``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from ...errors import NPGInputError
from ...fvp import ROUTES, make_fvp
from ...natural_step import natural_step
from ..options import Setting, choice, number, whole
from .base import Algo, PolicyBatch, step_info

__all__ = ["NPG", "TRPO", "DELTA", "DAMPING", "Surrogate", "surrogate", "take_full_step"]

DELTA = Setting("delta", "float", 0.01, "trust-region radius: the mean KL per update, > 0 "
                "(npg, trpo, acktr)", number(0, low_open=True))
DAMPING = Setting("damping", "float", 0.01, "Tikhonov damping added to the Fisher in CG "
                  "(npg, trpo); acktr: K-FAC's factored Tikhonov damping; >= 0", number(0))
CG_ITERS = Setting("cg_iters", "int", 10, "conjugate-gradient iterations (Fisher-vector "
                   "products) per update", whole(1, 10_000))
FISHER_SUBSAMPLE = Setting("fisher_subsample", "int", 8, "the Fisher-vector products use "
                           "batch / k randomly chosen states (1 = the whole batch)", whole(1))
FVP_ROUTE = Setting("fvp_route", "str", "gn", f"Fisher-vector product route: "
                    f"{' or '.join(ROUTES)} (Gauss-Newton J^T F_out J, or the Hessian of the "
                    "mean KL)", choice(*ROUTES))
LINE_SEARCH_STEPS = Setting("line_search_steps", "int", 10, "trpo: at most this many step "
                            "sizes tried", whole(1, 10_000))
LINE_SEARCH_SHRINK = Setting("line_search_shrink", "float", 0.8, "trpo: each try multiplies "
                             "the step by this, in (0, 1)",
                             number(0, 1, low_open=True, high_open=True))

NATURAL_OPTIONS = (DELTA, DAMPING, CG_ITERS, FISHER_SUBSAMPLE, FVP_ROUTE)


class Surrogate(NamedTuple):
    """The surrogate at theta: its gradient, the old outputs, and how to score a step."""

    g: jax.Array  # grad L at theta
    out_old: Any  # the policy's outputs at theta (stop-gradient)
    evaluate: Callable  # theta' -> (L(theta') - L(theta), mean KL(pi_theta || pi_theta'))


def surrogate(policy, theta, batch: PolicyBatch) -> Surrogate:
    """g = grad_theta mean_n log pi_theta(a_n|s_n) A_n (the surrogate's gradient at theta,
    where every ratio is 1) by one forward pass and its pullback."""
    head = policy.head
    obs, actions, advantages = batch.obs, batch.actions, batch.advantages
    out_old, pullback = jax.vjp(lambda t: policy.apply(t, obs), theta)
    out_old = jax.lax.stop_gradient(out_old)
    logp_old = head.log_prob(out_old, actions)
    (g,) = pullback(
        jax.grad(lambda o: jnp.mean(head.log_prob(o, actions) * advantages))(out_old)
    )

    def evaluate(t):
        out = policy.apply(t, obs)
        gain = jnp.mean(jnp.expm1(head.log_prob(out, actions) - logp_old) * advantages)
        return gain, jnp.mean(head.kl(out_old, out))

    return Surrogate(g, out_old, evaluate)


def _natural(config, policy, theta, batch: PolicyBatch):
    """The surrogate (``surrogate``) and the natural step at theta."""
    sur = surrogate(policy, theta, batch)
    obs = batch.obs
    n_fisher = obs.shape[0] // config.fisher_subsample
    obs_f = obs if n_fisher >= obs.shape[0] else obs[batch.order[:n_fisher]]
    fvp = make_fvp(lambda t: policy.apply(t, obs_f), policy.head, theta,
                   route=config.fvp_route)
    res = natural_step(sur.g, fvp, config.delta, damping=config.damping,
                       cg_iters=config.cg_iters)
    return sur, res


def _apply(policy, theta, sur: Surrogate, res, accepted, frac, steps, improvement, kl):
    """theta + frac * step where accepted (else theta, bit for bit) and the step's info."""
    theta_new = jnp.where(accepted, theta + frac * res.step, theta)
    info = step_info(
        theta.dtype,
        kl=jnp.where(accepted, kl, 0.0),
        beta=res.beta,
        accepted=accepted,
        guard_ok=res.accepted,
        line_search_steps=steps,
        step_fraction=frac,
        cg_residual=res.cg_residual,
        expected_improvement=frac * res.expected_improvement,
        surrogate_improvement=jnp.where(accepted, improvement, 0.0),
        entropy=jnp.mean(policy.head.entropy(sur.out_old)),
    )
    return theta_new, info


def take_full_step(policy, theta, sur: Surrogate, res):
    """theta + step whenever the guard passes (npg, acktr): no line search. ``res`` is a
    ``StepResult``."""
    improvement, kl = sur.evaluate(theta + res.step)
    accepted = res.accepted
    frac = jnp.where(accepted, 1.0, 0.0).astype(theta.dtype)
    return _apply(policy, theta, sur, res, accepted, frac, jnp.asarray(0, jnp.int32),
                  improvement, kl)


def make_npg_step(config, policy) -> Callable:
    """The natural step of size delta, taken whenever the guard passes."""

    def step(theta, algo_state, batch: PolicyBatch):
        sur, res = _natural(config, policy, theta, batch)
        theta, info = take_full_step(policy, theta, sur, res)
        return theta, algo_state, info

    return step


def make_trpo_step(config, policy) -> Callable:
    """The natural step, shrunk by ``line_search_shrink`` until the surrogate improves and
    the mean KL is at most delta (``line_search_steps`` tries), else rejected."""
    shrink = config.line_search_shrink

    def step(theta, algo_state, batch: PolicyBatch):
        dtype = theta.dtype
        sur, res = _natural(config, policy, theta, batch)

        def cond(c):
            i, done = c[0], c[1]
            return jnp.logical_and(~done, i < config.line_search_steps)

        def body(c):
            i = c[0]
            frac = jnp.asarray(shrink, dtype) ** i.astype(dtype)
            imp, kl = sur.evaluate(theta + frac * res.step)
            ok = jnp.isfinite(imp) & jnp.isfinite(kl) & (imp > 0) & (kl <= config.delta)
            return i + 1, ok, frac, imp, kl

        zero = jnp.asarray(0.0, dtype)
        # a guard-rejected step skips the search (done from the start)
        i, ok, frac, improvement, kl = jax.lax.while_loop(
            cond, body, (jnp.asarray(0, jnp.int32), ~res.accepted, zero, zero, zero),
        )
        accepted = jnp.logical_and(res.accepted, ok)
        steps = jnp.where(accepted, i - 1, i)
        frac = jnp.where(accepted, frac, 0.0)
        theta, info = _apply(policy, theta, sur, res, accepted, frac, steps, improvement, kl)
        return theta, algo_state, info

    return step


def check_subsample(config) -> None:
    if config.fisher_subsample > config.batch_size:
        raise NPGInputError(f"fisher_subsample ({config.fisher_subsample}) must be <= the "
                            f"batch ({config.batch_size})")


# Tuned on the classic-control tasks (docs/training.md, "Measured results"): Acrobot,
# Pendulum and MountainCar with the Fisher on a quarter of the batch; on Gaussian policies
# (Pendulum, MountainCar) npg needs a small, well-damped step (with damping 0.01 its
# measured KL reached 3-70 x delta); trpo's line search only shrinks the step (it accepts
# KL <= delta), so it takes a larger one on CartPole and Acrobot.
NPG = Algo(
    "npg", "the natural step of size delta (FVP + CG)", make_npg_step,
    options=NATURAL_OPTIONS,
    defaults={
        "Acrobot-v1": dict(fisher_subsample=4),
        "Pendulum-v1": dict(damping=0.5, delta=0.005, fisher_subsample=4),
        "MountainCarContinuous-v0": dict(damping=0.5, delta=0.005, fisher_subsample=4),
    },
    check=check_subsample,
)
TRPO = Algo(
    "trpo", "the natural step plus a backtracking line search on the surrogate and the KL",
    make_trpo_step,
    options=NATURAL_OPTIONS + (LINE_SEARCH_STEPS, LINE_SEARCH_SHRINK),
    defaults={
        "CartPole-v1": dict(delta=0.015),
        "Acrobot-v1": dict(delta=0.015, fisher_subsample=4),
        "Pendulum-v1": dict(damping=0.1, delta=0.005, fisher_subsample=4),
        "MountainCarContinuous-v0": dict(damping=0.1, fisher_subsample=4),
    },
    check=check_subsample,
)
