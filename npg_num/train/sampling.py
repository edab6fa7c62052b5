"""Random numbers from raw uint32 bits: the trainer draws all of an update's randomness with
one threefry call (each call site costs compile time) and shapes it here.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["unit_interval", "gumbel", "normal", "epoch_orders"]


def unit_interval(bits, dtype):
    """uint32 bits -> floats in the open interval (0, 1): (top 23 bits + 1/2) / 2^23."""
    u = ((bits >> 9).astype(jnp.float32) + 0.5) * (2.0**-23)
    return u.astype(dtype)


def gumbel(bits, dtype):
    return -jnp.log(-jnp.log(unit_interval(bits, dtype)))


def normal(bits, dtype):
    return math.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * unit_interval(bits, dtype) - 1.0)


def epoch_orders(order, n_mini: int, epochs: int):
    """Row e is ``order`` rolled by e * max(n_mini // epochs, 1), taken by one gather: a
    fresh minibatch split per epoch from one random order (sorting is slow on CPU). Used
    by the value fit and by PPO's policy epochs."""
    batch = order.shape[0]
    shift = max(n_mini // epochs, 1)
    return order[(np.arange(batch)[None, :] - shift * np.arange(epochs)[:, None]) % batch]
