"""Policies as functions of a flat parameter vector: theta -> head parameters per state.

An MLP with tanh hidden layers (64x64 by default) and orthogonal initialization (the
cleanrl/baselines scheme: gain sqrt(2) for hidden layers, 0.01 for the policy output).
A categorical head reads the output as logits; a diagonal Gaussian head reads it as the
mean and adds a state-independent log-std vector, which is part of theta and so part of
the Fisher.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .distributions import CATEGORICAL, DIAG_GAUSSIAN, HEADS
from .errors import NPGInputError

__all__ = ["init_mlp", "apply_mlp", "Policy", "mlp_policy", "mlp_policy_spec"]


def init_mlp(key, sizes: Sequence[int], *, out_gain: float = 1.0, dtype=jnp.float32):
    """Weights of an MLP with layer sizes ``sizes`` (input first), orthogonally initialized."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        gain = out_gain if i == len(sizes) - 2 else math.sqrt(2.0)
        w = jax.nn.initializers.orthogonal(gain)(k, (n_in, n_out), dtype)
        layers.append({"w": w, "b": jnp.zeros((n_out,), dtype)})
    return layers


def apply_mlp(layers, x, activation: Callable = jnp.tanh):
    for layer in layers[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


class Policy(NamedTuple):
    """A policy over flat parameters: ``apply(theta, obs[N, obs_dim])`` -> head parameters."""

    head: object
    unravel: Callable
    num_params: int
    action_dim: int

    def apply(self, theta, obs):
        params = self.unravel(theta)
        out = apply_mlp(params["layers"], obs)
        if self.head is CATEGORICAL:
            return out
        log_std = jnp.broadcast_to(params["log_std"], out.shape)
        return (out, log_std)


def _check_sizes(head, obs_dim, action_dim, hidden):
    if head not in HEADS:
        raise NPGInputError(f"unknown head {head!r}; allowed heads: {', '.join(HEADS)}")
    for name, value in (("obs_dim", obs_dim), ("action_dim", action_dim)):
        if not isinstance(value, int) or value < 1:
            raise NPGInputError(f"{name} must be a positive integer, got {value!r}")
    if any(not isinstance(h, int) or h < 1 for h in hidden):
        raise NPGInputError(f"hidden sizes must be positive integers, got {tuple(hidden)}")


def mlp_policy(
    key,
    obs_dim: int,
    action_dim: int,
    *,
    hidden: Sequence[int] = (64, 64),
    head: str = "categorical",
    log_std_init: float = 0.0,
    dtype=jnp.float32,
) -> tuple[Policy, jax.Array]:
    """A policy and its initial flat parameters.

    ``action_dim`` is the number of actions (categorical) or the action dimension (Gaussian).
    """
    _check_sizes(head, obs_dim, action_dim, hidden)
    params = {"layers": init_mlp(key, [obs_dim, *hidden, action_dim], out_gain=0.01, dtype=dtype)}
    if head == DIAG_GAUSSIAN.name:
        params["log_std"] = jnp.full((action_dim,), log_std_init, dtype)
    theta, unravel = ravel_pytree(params)
    return Policy(HEADS[head], unravel, theta.size, action_dim), theta


def mlp_policy_spec(
    obs_dim: int,
    action_dim: int,
    *,
    hidden: Sequence[int] = (64, 64),
    head: str = "categorical",
    dtype=jnp.float32,
) -> Policy:
    """The ``Policy`` of ``mlp_policy`` (same flat layout) without initializing parameters.

    Nothing is computed: the layout comes from shapes alone (``jax.eval_shape``), so a
    trainer that draws its own initial parameters inside its compiled program pays no
    eager initialization (in a fresh process ``mlp_policy``'s orthogonal init compiles a
    few small programs).

    >>> pi = mlp_policy_spec(4, 2)
    >>> pi.num_params == mlp_policy(jax.random.PRNGKey(0), 4, 2)[0].num_params
    True
    """
    _check_sizes(head, obs_dim, action_dim, hidden)
    sizes = [obs_dim, *hidden, action_dim]
    found = {}

    def layout():
        params = {"layers": [{"w": jnp.zeros((n_in, n_out), dtype), "b": jnp.zeros((n_out,), dtype)}
                             for n_in, n_out in zip(sizes[:-1], sizes[1:])]}
        if head == DIAG_GAUSSIAN.name:
            params["log_std"] = jnp.zeros((action_dim,), dtype)
        flat, found["unravel"] = ravel_pytree(params)  # unravel holds shapes only, no tracers
        return flat

    flat = jax.eval_shape(layout)
    return Policy(HEADS[head], found["unravel"], flat.size, action_dim)
