"""Random numbers from raw uint32 bits: the trainer draws all of an update's randomness with
one threefry call (each call site costs compile time) and shapes it here.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["unit_interval", "gumbel", "normal"]


def unit_interval(bits, dtype):
    """uint32 bits -> floats in the open interval (0, 1): (top 23 bits + 1/2) / 2^23."""
    u = ((bits >> 9).astype(jnp.float32) + 0.5) * (2.0**-23)
    return u.astype(dtype)


def gumbel(bits, dtype):
    return -jnp.log(-jnp.log(unit_interval(bits, dtype)))


def normal(bits, dtype):
    return math.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * unit_interval(bits, dtype) - 1.0)
