"""The rollout of gymnax environments on the device: ``num_steps`` steps of ``num_envs``
environments in one ``lax.scan``, inside the jitted update.

All randomness is drawn up front by the caller (one threefry call per update): the action
noise [T, E, A] (Gumbel for categorical actions, action = argmax(logits + noise); normal
for Gaussian ones, action = mean + std * noise) and the environments' step and reset keys
[T, 2, E, 2].
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .normalization import normalize
from .state import Episodes, Transition

__all__ = ["DeviceEnv", "make_device_env"]


class DeviceEnv(NamedTuple):
    """The device rollout of one seed's ``num_envs`` environments."""

    init: Callable  # key -> (env_state, obs): placeholders, every episode starts at step 1
    rollout: Callable  # (theta, obs_norm, env_state, obs, episodes, noise, env_keys)
    #                    -> (env_state, obs, episodes, Transition[T, E])


def _keep_dtypes(new, old):
    # a loop carry must keep its dtypes; some environments' resets and steps disagree
    # under x64 (Pendulum's last_u: float64 from reset, float32 from step)
    return jax.tree.map(lambda x, o: jnp.asarray(x).astype(jnp.result_type(o)), new, old)


def make_device_env(config, spec, policy) -> DeviceEnv:
    """The rollout of ``spec`` (a gymnax ``EnvSpec``) with ``policy`` under ``config``."""
    env, env_params = spec.env, spec.params
    n_envs = config.num_envs
    dtype = jnp.dtype(config.dtype)
    if not spec.discrete:
        act_low = jnp.asarray(spec.action_low, dtype)
        act_high = jnp.asarray(spec.action_high, dtype)

    def reset_if_ended(key, env_state, obs, ended):
        """One environment: a fresh episode if the last one ended, else as it is. Resetting
        before the step (gymnax's ``env.step`` resets after it) needs no reset in ``init``:
        the first step starts every episode. Observations are flattened (MinAtar's grids)."""
        obs_re, state_re = env.reset_env(key, env_params)
        obs_re = obs_re.reshape(-1)
        pick = lambda a, b: jnp.where(ended, a, b)  # noqa: E731
        return (_keep_dtypes(jax.tree.map(pick, state_re, env_state), env_state),
                jnp.where(ended, obs_re.astype(obs.dtype), obs))

    def env_step(key, env_state, action):
        """One environment's step: (state, s_{t+1}, r_t, terminated, done)."""
        obs_st, state_st, reward, terminated, _ = env.step_env(key, env_state, action,
                                                               env_params)
        done = jnp.logical_or(terminated, env.is_truncated(state_st, env_params))
        return _keep_dtypes(state_st, env_state), obs_st.reshape(-1), reward, terminated, done

    def init(key):
        # placeholders of the right shapes; every episode starts at the first step
        obs_shape, state_shape = jax.eval_shape(env.reset_env, key, env_params)
        env_state = jax.tree.map(lambda a: jnp.zeros((n_envs,) + a.shape, a.dtype),
                                 state_shape)
        obs = jnp.zeros((n_envs, spec.obs_dim), dtype)
        return env_state, obs

    def rollout(theta, obs_norm, env_state, obs, episodes, noise, env_keys):
        def step(carry, xs):
            env_state, obs, ep = carry
            noise_t, keys_t = xs
            env_state, obs = jax.vmap(reset_if_ended)(keys_t[1], env_state, obs, ep.ended)
            out = policy.apply(theta, normalize(obs_norm, obs, config.normalize_obs))
            if spec.discrete:
                action = jnp.argmax(out + noise_t, axis=-1).astype(jnp.int32)
                env_action = action
            else:
                mean, log_std = out
                action = mean + jnp.exp(log_std) * noise_t
                env_action = jnp.clip(action, act_low, act_high)
            env_state2, next_obs, reward, terminated, done = jax.vmap(env_step)(
                keys_t[0], env_state, env_action
            )
            reward = reward.astype(dtype).reshape(n_envs)
            terminated = terminated.reshape(n_envs)
            done = done.reshape(n_envs)
            ep2 = track_episodes(ep, reward, done)
            next_obs = next_obs.astype(dtype)
            tr = Transition(obs, action, reward, terminated, done, next_obs)
            return (env_state2, next_obs, ep2), tr

        (env_state, obs, episodes), traj = jax.lax.scan(
            step, (env_state, obs, episodes), (noise, env_keys)
        )
        return env_state, obs, episodes, traj

    return DeviceEnv(init, rollout)


def track_episodes(ep: Episodes, reward, done) -> Episodes:
    """The episode counters after one step of every environment (``reward`` unscaled)."""
    dtype = reward.dtype
    ret = ep.running_return + reward
    return Episodes(
        running_return=jnp.where(done, 0.0, ret).astype(dtype),
        running_length=jnp.where(done, 0, ep.running_length + 1),
        last_return=jnp.where(done, ret, ep.last_return).astype(dtype),
        finished=ep.finished + done.astype(jnp.int32),
        ended=done,
    )
