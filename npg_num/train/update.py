"""Everything after the rollout, shared by the device (gymnax) and host (MuJoCo) rollouts:
one ``learn`` function, never a copy per rollout source.

Given a batch of T x E transitions (s_t, a_t, r_t, s_{t+1}, terminated_t, done_t):

1. values v(s_t), v(s_{t+1}) of the normalized observations, one forward pass;
2. advantages by GAE (``gae``) on ``reward_scale * r_t`` (with ``normalize_reward``, r_t
   divided by the running std of the discounted return first), bootstrapping time-limit
   truncations from v(s_{t+1}) but not terminations; value targets A_t + v(s_t);
   advantages standardized over the batch (``normalize_advantages``);
3. the policy step of the configured algorithm (``algos.ALGOS``); a step rejected by its
   guard or line search keeps theta and is counted in ``rejected``;
4. the value fit: ``value_epochs`` epochs of ``value_minibatches`` Adam steps (optax) on
   1/2 (V(s) - target)^2; skipped, parameters kept, when a target is not finite;
5. the observation statistics merge this batch (used from the next rollout on);
6. one row of ``Metrics``.

A non-finite observation or reward anywhere in the batch (a simulator that broke) rejects
the whole update: parameters, optimizer and statistics are kept, ``accepted`` is False and
``rejected`` counts it, ``data_ok`` says why.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from ..networks import apply_mlp, mlp_policy_spec
from .algos import PolicyBatch
from .gae import gae
from .normalization import normalize, normalize_rewards, update_obs_norm
from .sampling import epoch_orders
from .state import Metrics, TrainState, Transition

__all__ = ["ValueNet", "value_network", "make_value_fit", "make_learn"]


class ValueNet(NamedTuple):
    apply: Callable  # (flat params, obs[..., obs_dim]) -> v[...]
    layers: Callable  # flat params -> the MLP's list of {"w", "b"}


def value_network(config, obs_dim: int) -> ValueNet:
    """The value MLP over one flat parameter vector, like the policy's: Adam, the
    finite-target guard and the checkpoints then handle one array instead of one per layer
    (fewer kernels to compile, one update instead of 2 per layer)."""
    # the layout of a one-output MLP's {"layers": [...]}, which ravels like the list alone
    unravel = mlp_policy_spec(obs_dim, 1, hidden=config.value_hidden,
                              dtype=jnp.dtype(config.dtype)).unravel

    def layers(params):
        return unravel(params)["layers"]

    def apply(params, obs):
        return apply_mlp(layers(params), obs)[..., 0]

    return ValueNet(apply, layers)


def make_value_fit(config, value: ValueNet, optimizer) -> Callable:
    """``fit(params, opt_state, obs, targets, perms) -> (params, opt_state)``: Adam on
    1/2 mean (V(s) - target)^2, one step per minibatch; ``perms`` holds one permutation of
    the batch per epoch. Parameters are kept if a target is not finite."""
    n_mini = config.batch_size // config.value_minibatches

    def fit(params, opt_state, obs, targets, perms):
        def minibatch(carry, idx):
            p, s = carry
            grads = jax.grad(lambda q: 0.5 * jnp.mean((value.apply(q, obs[idx]) - targets[idx])
                                                      ** 2))(p)
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), None

        idx = perms.reshape(config.value_epochs * config.value_minibatches, n_mini)
        (new_p, new_s), _ = jax.lax.scan(minibatch, (params, opt_state), idx)
        finite = jnp.all(jnp.isfinite(targets))
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
        return keep((new_p, new_s), (params, opt_state))

    return fit


def make_learn(config, obs_dim: int, policy_step: Callable, value: ValueNet,
               value_fit: Callable, *, advantage_hook: Optional[Callable] = None) -> Callable:
    """``learn(state, traj, perm_bits, finished_before) -> (state, Metrics)``.

    ``state`` carries the rollout's results already (environments, observations, episode
    counters, the next key); ``traj`` is the rollout's ``Transition[T, E]`` with raw
    observations and unscaled rewards; ``perm_bits`` [T * E] uint32 random bits whose
    ``argsort`` orders the batch (Fisher subsample, value minibatches);
    ``finished_before`` [E] the episodes finished before the rollout.
    """
    cfg = config
    batch = cfg.batch_size
    dtype = jnp.dtype(cfg.dtype)
    n_mini = batch // cfg.value_minibatches

    def learn(state: TrainState, traj: Transition, perm_bits, finished_before):
        n_steps, n_envs = traj.reward.shape[:2]

        def norm(x):  # with the statistics the rollout used
            return normalize(state.obs_norm, x, cfg.normalize_obs)

        order = jnp.argsort(perm_bits)
        perms = epoch_orders(order, n_mini, cfg.value_epochs)
        obs_b = norm(traj.obs).reshape(batch, obs_dim)
        values = value.apply(
            state.value_params,
            jnp.concatenate([obs_b, norm(traj.next_obs).reshape(batch, obs_dim)]),
        )
        v_t = values[:batch].reshape(n_steps, n_envs)
        v_tp1 = values[batch:].reshape(n_steps, n_envs)
        reward, reward_norm = traj.reward, state.reward_norm
        if cfg.normalize_reward:
            reward, reward_norm = normalize_rewards(reward_norm, reward, traj.done, cfg.gamma,
                                                     cfg.reward_norm)
        adv = gae(reward * cfg.reward_scale, v_t, v_tp1, traj.terminated, traj.done,
                  gamma=cfg.gamma, lambda_=cfg.gae_lambda)
        targets = (adv + v_t).reshape(batch)
        adv = adv.reshape(batch)
        if cfg.normalize_advantages:
            adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + 1e-8)
        if advantage_hook is not None:
            adv = advantage_hook(adv, state.update)
        actions = traj.action.reshape((batch,) + traj.action.shape[2:])
        theta, algo_state, info = policy_step(state.theta, state.algo_state,
                                              PolicyBatch(obs_b, actions, adv, order))
        value_loss = jnp.mean((v_t.reshape(batch) - targets) ** 2)
        value_params, value_opt = value_fit(state.value_params, state.value_opt, obs_b,
                                            targets, perms)
        obs_norm = update_obs_norm(state.obs_norm, traj.obs) if cfg.normalize_obs else (
            state.obs_norm
        )
        # a non-finite observation or reward (a broken simulator) rejects the whole
        # update: the policy, the value function and the observation statistics are kept
        data_ok = (jnp.all(jnp.isfinite(traj.obs)) & jnp.all(jnp.isfinite(traj.next_obs))
                   & jnp.all(jnp.isfinite(traj.reward)))
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(data_ok, a, b), new, old)  # noqa: E731
        theta, algo_state, value_params, value_opt, obs_norm, reward_norm = keep(
            (theta, algo_state, value_params, value_opt, obs_norm, reward_norm),
            (state.theta, state.algo_state, state.value_params, state.value_opt, state.obs_norm,
             state.reward_norm),
        )
        info = info._replace(accepted=info.accepted & data_ok)
        rejected = state.rejected + (~info.accepted).astype(jnp.int32)
        n_update = state.update + 1
        metrics = _metrics(info, state.episodes, finished_before, n_update, batch, rejected,
                           value_loss.astype(dtype), dtype)._replace(data_ok=data_ok)
        new_state = state._replace(
            theta=theta, value_params=value_params, value_opt=value_opt, obs_norm=obs_norm,
            update=n_update, rejected=rejected, algo_state=algo_state, reward_norm=reward_norm,
        )
        return new_state, metrics

    return learn


def _metrics(info, episodes, finished_before, n_update, batch, rejected, value_loss,
             dtype) -> Metrics:
    """One update's row: the counters, the episodes, and the policy step's info."""
    has = episodes.finished > 0
    n_has = jnp.sum(has)
    mean_return = jnp.where(
        n_has > 0,
        jnp.sum(jnp.where(has, episodes.last_return, 0.0)) / jnp.maximum(n_has, 1),
        jnp.nan,
    ).astype(dtype)
    return Metrics(
        update=n_update,
        env_steps=(n_update * batch).astype(jnp.int32),
        mean_return=mean_return,
        **info._asdict(),
        rejected_total=rejected,
        episodes=jnp.sum(episodes.finished - finished_before).astype(jnp.int32),
        value_loss=value_loss,
        data_ok=jnp.asarray(True),
    )
