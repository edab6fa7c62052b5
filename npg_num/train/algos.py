"""Policy steps by name: one registry entry per algorithm (``ALGOS``).

An entry is an ``Algo``: ``make_step(config, policy) -> step`` and ``init(config, theta)
-> algo_state`` (the step's own state carried in ``TrainState.algo_state``, checkpointed
with it: PPO's Adam state; npg, trpo and acktr have none). A step is a pure function,
called inside jit:

    step(theta, algo_state, batch: PolicyBatch) -> (theta', algo_state', PolicyStepInfo)

With the surrogate L(theta') = mean_n exp(log pi_theta'(a_n|s_n) - log pi_theta(a_n|s_n)) A_n,
its gradient g at theta, and F the Fisher of the mean KL (``make_fvp``, on the first
``batch / fisher_subsample`` states of a random order of the batch):

    npg:   theta <- theta + beta x,  x = (F + damping I)^-1 g  (CG),
           beta = sqrt(2 delta / x^T (F + damping I) x)        (``natural_step``)
    trpo:  theta <- theta + s^i beta x for the first i = 0, 1, ... with
           L(theta') > L(theta) and mean KL(pi_theta || pi_theta') <= delta;
           none: theta is kept (the step is rejected)
    acktr: theta <- theta + beta u,  u = K^-1 g with K the K-FAC Fisher (``npg_num.kfac``,
           damped), beta = sqrt(2 delta / u^T K u)            (``kfac_natural_step``)
    ppo:   ``ppo_epochs`` epochs of ``ppo_minibatches`` Adam steps on PPO's clipped
           surrogate (``ppo.make_ppo_step``)

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
from ..kfac import kfac_factors, kfac_matvec, kfac_solve
from ..natural_step import StepResult, natural_step
from .ppo import init_ppo, make_ppo_step
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


class _Surrogate(NamedTuple):
    """The surrogate at theta: its gradient, the old outputs, and how to score a step."""

    g: jax.Array  # grad L at theta
    out_old: Any  # the policy's outputs at theta (stop-gradient)
    evaluate: Callable  # theta' -> (L(theta') - L(theta), mean KL(pi_theta || pi_theta'))


def _surrogate(policy, theta, batch) -> _Surrogate:
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

    return _Surrogate(g, out_old, evaluate)


def _natural(config, policy, theta, batch: PolicyBatch) -> _Natural:
    """The surrogate's gradient g (``_surrogate``), then the natural step."""
    sur = _surrogate(policy, theta, batch)
    obs = batch.obs
    n_fisher = obs.shape[0] // config.fisher_subsample
    obs_f = obs if n_fisher >= obs.shape[0] else obs[batch.order[:n_fisher]]
    fvp = make_fvp(lambda t: policy.apply(t, obs_f), policy.head, theta,
                   route=config.fvp_route)
    res = natural_step(sur.g, fvp, config.delta, damping=config.damping,
                       cg_iters=config.cg_iters)
    return _Natural(res, sur.out_old, sur.evaluate)


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


def _full_step(policy, theta, nat: _Natural):
    """theta + step whenever the guard passes (npg, acktr): no line search."""
    improvement, kl = nat.evaluate(theta + nat.result.step)
    accepted = nat.result.accepted
    frac = jnp.where(accepted, 1.0, 0.0).astype(theta.dtype)
    return _apply(policy, theta, nat, accepted, frac, jnp.asarray(0, jnp.int32),
                  improvement, kl)


def make_npg_step(config, policy) -> Callable:
    """The natural step of size delta, taken whenever the guard passes."""

    def step(theta, algo_state, batch: PolicyBatch):
        theta, info = _full_step(policy, theta, _natural(config, policy, theta, batch))
        return theta, algo_state, info

    return step


def kfac_natural_step(policy, factors, g, delta, damping) -> StepResult:
    """The K-FAC natural step: u = K^-1 g (damped, ``npg_num.kfac``), q = u^T K u,
    beta = sqrt(2 delta / q), step = beta u; the guard of ``natural_step`` (a non-finite
    or non-positive q, or a non-finite g or u: zero step, beta 0, ``accepted=False``).
    ``cg_residual`` is the solve's residual ||g - K u|| (no CG: it measures the inverses)."""
    u = kfac_solve(policy, factors, g, damping)
    ku = kfac_matvec(policy, factors, damping)(u)
    q = jnp.vdot(u, ku)
    accepted = jnp.isfinite(q) & (q > 0) & jnp.all(jnp.isfinite(u)) & jnp.all(jnp.isfinite(g))
    beta = jnp.where(accepted, jnp.sqrt(2.0 * delta / jnp.where(accepted, q, 1.0)), 0.0)
    step = jnp.where(accepted, beta * u, 0.0)
    return StepResult(step=step, beta=beta, direction=u, q=q,
                      cg_residual=jnp.linalg.norm(g - ku),
                      cg_iterations=jnp.asarray(0, jnp.int32),
                      expected_improvement=jnp.where(accepted, jnp.vdot(g, step), 0.0),
                      accepted=accepted)


def make_acktr_step(config, policy) -> Callable:
    """ACKTR's policy step: the K-FAC natural direction, from this batch's factors (on the
    batch's own actions when ``kfac_fisher`` is "sampled"), scaled to the trust region
    delta and taken whenever the guard passes."""

    def step(theta, algo_state, batch: PolicyBatch):
        sur = _surrogate(policy, theta, batch)
        actions = batch.actions if config.kfac_fisher == "sampled" else None
        factors = kfac_factors(policy, theta, batch.obs, actions)
        res = kfac_natural_step(policy, factors, sur.g, config.delta, config.damping)
        theta, info = _full_step(policy, theta, _Natural(res, sur.out_old, sur.evaluate))
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
    "acktr": Algo("acktr", "the K-FAC natural step (Kronecker-factored Fisher) of size "
                  "delta", make_acktr_step),
    "ppo": Algo("ppo", "PPO's clipped surrogate, epochs of minibatch Adam", make_ppo_step,
                init_ppo),
})


def get_algo(name: str) -> Algo:
    from ..errors import NPGInputError

    try:
        return ALGOS[name]
    except KeyError:
        raise NPGInputError(f"unknown algo {name!r}; allowed: {', '.join(ALGOS)}") from None
