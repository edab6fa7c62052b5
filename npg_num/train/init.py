"""The networks' initial parameters, drawn inside the compiled program: orthogonal weights
(the cleanrl/baselines scheme of ``npg_num.networks.init_mlp``) from one normal draw and
one Gram-Schmidt loop, no LAPACK.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .sampling import normal

__all__ = ["orthonormalize", "init_mlps"]


def orthonormalize(z, cols):
    """Q of the QR decomposition (positive diagonal of R) of each ``z[l][:, :cols[l]]``.

    ``z``: [L, R, C], rows of each matrix past its own row count set to zero; ``cols``:
    [L] ints. Classical Gram-Schmidt applied twice ("twice is enough", Giraud et al.
    2005), all L matrices at once in one loop over columns; columns past ``cols[l]`` stay
    zero. Pure jnp, no LAPACK: under ``vmap`` over seeds, jax's QR becomes a batched LAPACK
    call that spreads the batch over XLA's CPU thread pool and can wait forever when the
    pool is busy (seen here with several seeds per device; docs/training.md).
    """
    n_cols = z.shape[-1]
    col = jnp.arange(n_cols)
    cols = jnp.asarray(cols)

    def body(j, q):
        v = jax.lax.dynamic_index_in_dim(q, j, axis=2, keepdims=False)  # [L, R]
        earlier = (col < j).astype(q.dtype)
        for _ in range(2):
            coef = jnp.einsum("lrc,lr->lc", q, v) * earlier
            v = v - jnp.einsum("lrc,lc->lr", q, coef)
        active = (j < cols)[:, None]
        norm = jnp.linalg.norm(v, axis=1, keepdims=True)
        v = jnp.where(active, v / jnp.where(active, norm, 1.0), 0.0)
        return jax.lax.dynamic_update_index_in_dim(q, v, j, axis=2)

    return jax.lax.fori_loop(0, n_cols, body, z)


def init_mlps(key, nets, dtype=jnp.float32):
    """Orthogonally initialized MLPs, ``networks.init_mlp``'s scheme and layout.

    ``nets``: a list of ``(sizes, out_gain)``; returns one list of ``{"w", "b"}`` layers per
    net. Each weight is ``gain * Q`` as in ``jax.nn.initializers.orthogonal(gain)`` (gain
    sqrt(2) for hidden layers, ``out_gain`` for the last), biases zero. All weights come
    from one normal draw and one Gram-Schmidt loop (``orthonormalize``), which keeps the
    compiled program small.
    """
    shapes = []
    for sizes, out_gain in nets:
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            gain = out_gain if i == len(sizes) - 2 else math.sqrt(2.0)
            shapes.append((n_in, n_out, gain))
    rows = [max(n_in, n_out) for n_in, n_out, _ in shapes]
    cols = [min(n_in, n_out) for n_in, n_out, _ in shapes]
    r_max, c_max = max(rows), max(cols)
    mask = (np.arange(r_max)[None, :, None] < np.asarray(rows)[:, None, None]) & (
        np.arange(c_max)[None, None, :] < np.asarray(cols)[:, None, None]
    )
    # one flat draw: threefry on a flat shape compiles far faster than on [L, R, C]
    bits = jax.random.bits(key, (len(shapes) * r_max * c_max,), jnp.uint32)
    z = normal(bits, dtype).reshape(len(shapes), r_max, c_max) * jnp.asarray(mask, dtype)
    q = orthonormalize(z, cols)
    out, i = [], 0
    for sizes, _ in nets:
        layers = []
        for _ in range(len(sizes) - 1):
            n_in, n_out, gain = shapes[i]
            w = q[i, : rows[i], : cols[i]]
            w = w.T if n_in < n_out else w
            layers.append({"w": jnp.asarray(gain, dtype) * w, "b": jnp.zeros((n_out,), dtype)})
            i += 1
        out.append(layers)
    return out
