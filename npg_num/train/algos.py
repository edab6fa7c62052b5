"""Policy steps by name: one registry entry per algorithm (``ALGOS``).

An entry is an ``Algo``: ``make_step(config, policy) -> step`` and ``init(config, theta)
-> algo_state`` (the step's own state carried in ``TrainState.algo_state``; npg and trpo
have none). A step is a pure function, called inside jit:

    step(theta, algo_state, batch: PolicyBatch) -> (theta', algo_state', PolicyStepInfo)

With the surrogate L(theta') = mean_n exp(log pi_theta'(a_n|s_n) - log pi_theta(a_n|s_n)) A_n,
its gradient g at theta, and F the Fisher of the mean KL (``make_fvp``, on the first
``batch / fisher_subsample`` states of a random order of the batch):

    npg:   theta <- theta + beta x,  x = (F + damping I)^-1 g  (CG),
           beta = sqrt(2 delta / x^T (F + damping I) x)        (``natural_step``)
    trpo:  theta <- theta + s^i beta x for the first i = 0, 1, ... with
           L(theta') > L(theta) and mean KL(pi_theta || pi_theta') <= delta;
           none: theta is kept (the step is rejected)

The guard: a non-finite or non-positive-curvature step (``natural_step``'s ``accepted =
False``, e.g. from a NaN in the advantages) keeps theta and is counted by the loop.
Adding an algorithm means adding an entry here (and its tuned defaults in
``config.TUNED``), not a branch in the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from ..fvp import make_fvp
from ..natural_step import natural_step
from .state import PolicyStepInfo

__all__ = ["Algo", "ALGOS", "PolicyBatch", "get_algo"]


class PolicyBatch(NamedTuple):
    """What a policy step sees: one update's batch, flattened over time and environments."""

    obs: jax.Array  # [N, obs_dim], normalized
    actions: jax.Array  # [N] (discrete) or [N, action_dim]
    advantages: jax.Array  # [N]
    order: jax.Array  # a random permutation of range(N): subsamples and minibatches


@dataclass(frozen=True)
class Algo:
    """A policy-update rule: its name, its step factory and its state's initializer."""

    name: str
    description: str
    make_step: Callable  # (config, policy) -> step(theta, algo_state, batch)
    init: Callable = lambda config, theta: ()  # noqa: E731  (config, theta) -> algo_state


class _Natural(NamedTuple):
    """The natural step at theta and what accepting it needs."""

    result: Any  # natural_step's StepResult
    out_old: Any  # the policy's outputs at theta (stop-gradient)
    evaluate: Callable  # theta' -> (L(theta') - L(theta), mean KL(pi_theta || pi_theta'))


def _natural(config, policy, theta, batch: PolicyBatch) -> _Natural:
    """g = grad_theta mean_n log pi_theta(a_n|s_n) A_n (the surrogate's gradient at theta,
    where every ratio is 1) by one forward pass and its pullback, then the natural step."""
    head = policy.head
    obs, actions, advantages = batch.obs, batch.actions, batch.advantages
    out_old, pullback = jax.vjp(lambda t: policy.apply(t, obs), theta)
    out_old = jax.lax.stop_gradient(out_old)
    logp_old = head.log_prob(out_old, actions)
    (g,) = pullback(
        jax.grad(lambda o: jnp.mean(head.log_prob(o, actions) * advantages))(out_old)
    )
    n_fisher = obs.shape[0] // config.fisher_subsample
    obs_f = obs if n_fisher >= obs.shape[0] else obs[batch.order[:n_fisher]]
    fvp = make_fvp(lambda t: policy.apply(t, obs_f), head, theta, route=config.fvp_route)
    res = natural_step(g, fvp, config.delta, damping=config.damping,
                       cg_iters=config.cg_iters)

    def evaluate(t):
        out = policy.apply(t, obs)
        gain = jnp.mean(jnp.expm1(head.log_prob(out, actions) - logp_old) * advantages)
        return gain, jnp.mean(head.kl(out_old, out))

    return _Natural(res, out_old, evaluate)


def _apply(policy, theta, nat: _Natural, accepted, frac, steps, improvement, kl):
    """theta + frac * step where accepted (else theta, bit for bit) and the step's info."""
    res = nat.result
    dtype = theta.dtype
    theta_new = jnp.where(accepted, theta + frac * res.step, theta)
    info = PolicyStepInfo(
        kl=jnp.where(accepted, kl, 0.0).astype(dtype),
        beta=res.beta.astype(dtype),
        accepted=accepted,
        guard_ok=res.accepted,
        line_search_steps=steps,
        step_fraction=frac.astype(dtype),
        cg_residual=res.cg_residual.astype(dtype),
        expected_improvement=(frac * res.expected_improvement).astype(dtype),
        surrogate_improvement=jnp.where(accepted, improvement, 0.0).astype(dtype),
        entropy=jnp.mean(policy.head.entropy(nat.out_old)).astype(dtype),
    )
    return theta_new, info


def make_npg_step(config, policy) -> Callable:
    """The natural step of size delta, taken whenever the guard passes."""

    def step(theta, algo_state, batch: PolicyBatch):
        nat = _natural(config, policy, theta, batch)
        improvement, kl = nat.evaluate(theta + nat.result.step)
        accepted = nat.result.accepted
        frac = jnp.where(accepted, 1.0, 0.0).astype(theta.dtype)
        theta, info = _apply(policy, theta, nat, accepted, frac, jnp.asarray(0, jnp.int32),
                             improvement, kl)
        return theta, algo_state, info

    return step


def make_trpo_step(config, policy) -> Callable:
    """The natural step, shrunk by ``line_search_shrink`` until the surrogate improves and
    the mean KL is at most delta (``line_search_steps`` tries), else rejected."""
    shrink = config.line_search_shrink

    def step(theta, algo_state, batch: PolicyBatch):
        dtype = theta.dtype
        nat = _natural(config, policy, theta, batch)

        def cond(c):
            i, done = c[0], c[1]
            return jnp.logical_and(~done, i < config.line_search_steps)

        def body(c):
            i = c[0]
            frac = jnp.asarray(shrink, dtype) ** i.astype(dtype)
            imp, kl = nat.evaluate(theta + frac * nat.result.step)
            ok = jnp.isfinite(imp) & jnp.isfinite(kl) & (imp > 0) & (kl <= config.delta)
            return i + 1, ok, frac, imp, kl

        zero = jnp.asarray(0.0, dtype)
        # a guard-rejected step skips the search (done from the start)
        i, ok, frac, improvement, kl = jax.lax.while_loop(
            cond, body, (jnp.asarray(0, jnp.int32), ~nat.result.accepted, zero, zero, zero),
        )
        accepted = jnp.logical_and(nat.result.accepted, ok)
        steps = jnp.where(accepted, i - 1, i)
        frac = jnp.where(accepted, frac, 0.0)
        theta, info = _apply(policy, theta, nat, accepted, frac, steps, improvement, kl)
        return theta, algo_state, info

    return step


ALGOS: Mapping[str, Algo] = MappingProxyType({
    "npg": Algo("npg", "the natural step of size delta (FVP + CG)", make_npg_step),
    "trpo": Algo("trpo", "the natural step plus a backtracking line search on the "
                 "surrogate and the KL", make_trpo_step),
})


def get_algo(name: str) -> Algo:
    from ..errors import NPGInputError

    try:
        return ALGOS[name]
    except KeyError:
        raise NPGInputError(f"unknown algo {name!r}; allowed: {', '.join(ALGOS)}") from None
