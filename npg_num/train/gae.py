"""Generalized advantage estimation (Schulman et al. 2016), with time-limit truncation.

For one stream of T transitions (s_t, a_t, r_t, s_{t+1}):

    delta_t = r_t + gamma (1 - terminated_t) v(s_{t+1}) - v(s_t)
    A_t     = delta_t + gamma lambda (1 - done_t) A_{t+1},      A_T = 0

``done_t = terminated_t or truncated_t`` ends the lambda-trace at every episode boundary;
only a true termination zeroes the bootstrap, so a time-limit truncation still bootstraps
from v(s_{t+1}), the value of the observation *before* the automatic reset (gymnax's
``info["final_observation"]``). The value targets are A_t + v(s_t) (the lambda-returns).

Written for a single stream (rlax habit); the arithmetic is elementwise, so arrays with
trailing batch axes ([T, envs]) work as they are, or batch with ``jax.vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["gae", "lambda_returns"]


def gae(r_t, v_t, v_tp1, terminated_t, done_t, *, gamma: float, lambda_: float):
    """Advantages A_t (the recursion in the module docstring), time on axis 0.

    Parameters
    ----------
    r_t: rewards, [T, ...].
    v_t: v(s_t), [T, ...].
    v_tp1: v(s_{t+1}) of the observation before any reset, [T, ...].
    terminated_t: the episode ended in a terminal state (no bootstrap), [T, ...] bool.
    done_t: terminated or truncated (the trace stops), [T, ...] bool.
    gamma, lambda_: discount and GAE parameter in [0, 1].

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> z = jnp.zeros(3, bool)
    >>> gae(jnp.ones(3), jnp.zeros(3), jnp.zeros(3), z, z, gamma=0.5, lambda_=1.0).tolist()
    [1.75, 1.5, 1.0]
    """
    dtype = jnp.result_type(r_t, v_t)
    not_terminated = 1.0 - jnp.asarray(terminated_t, dtype)
    not_done = 1.0 - jnp.asarray(done_t, dtype)
    delta_t = r_t + gamma * not_terminated * v_tp1 - v_t
    trace_t = gamma * lambda_ * not_done

    def backward(a_tp1, xs):
        d, c = xs
        a = d + c * a_tp1
        return a, a

    _, adv = jax.lax.scan(backward, jnp.zeros_like(delta_t[0]), (delta_t, trace_t), reverse=True)
    return adv


def lambda_returns(r_t, v_t, v_tp1, terminated_t, done_t, *, gamma: float, lambda_: float):
    """The value targets G_t^lambda = A_t + v(s_t)."""
    return gae(r_t, v_t, v_tp1, terminated_t, done_t, gamma=gamma, lambda_=lambda_) + v_t
