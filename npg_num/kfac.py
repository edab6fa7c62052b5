"""K-FAC: a Kronecker-factored approximation of the Fisher of an MLP policy (Martens and
Grosse 2015), as ACKTR uses it (Wu et al. 2017).

Layer l maps its input x (a trailing 1 appended for the bias: x~ = [x, 1]) to the
pre-activation z = x~ W~, W~ = [w; b] of shape [d_in + 1, d_out]. With the score of the
pre-activation, d = d log pi(a|s) / d z, the exact Fisher block of W~ is E[x~ x~^T (x) d d^T]
(expectation over states and actions). K-FAC takes the product of the two expectations and
drops the blocks between layers:

    F ~= K = blockdiag_l (A_l (x) G_l),   A_l = mean_n x~_n x~_n^T,   G_l = mean_n E_a[d_n d_n^T]

which is exact when d d^T does not depend on the state (one linear layer with a Gaussian
output: G = diag(1 / sigma^2); ``proofs`` C11). G's expectation over actions is taken one
of two ways: ``actions`` given, the score at those actions (one sample per state: on-policy
actions are draws from pi, so this is the Monte-Carlo Fisher ACKTR uses, not the empirical
one); or exactly, by the head's quadrature (every action of a categorical, a 2-node
Gauss-Hermite rule per axis for a Gaussian mean: d is linear in a). A Gaussian head's
state-independent log-std has its own block, its exact Fisher 2 I (its score is
uncorrelated with the mean's).

The damped inverse uses factored Tikhonov damping (Martens and Grosse, section 6.3): with
c = sqrt(damping) and pi_l = sqrt((tr A_l / dim A_l) / (tr G_l / dim G_l)),

    U_l = (A_l + pi_l c I)^-1 dW~_l (G_l + c / pi_l I)^-1

Inverses are Gauss-Jordan in plain jnp (``spd_inverse``), not LAPACK: under ``vmap`` over
seeds a batched LAPACK call can deadlock XLA's CPU thread pool (docs/training.md).
Cost per layer: O(N (d_in^2 + d_out^2)) for the factors, O(d_in^3 + d_out^3) to invert.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .distributions import CATEGORICAL
from .errors import NPGInputError
from .natural_step import StepResult, trust_region_step

__all__ = ["KFACFactors", "kfac_factors", "kfac_solve", "kfac_matvec", "kfac_natural_step",
           "spd_inverse"]


class KFACFactors(NamedTuple):
    a: tuple  # per layer, [d_in + 1, d_in + 1]: mean x~ x~^T
    g: tuple  # per layer, [d_out, d_out]: mean E_a[d d^T]


def _forward(policy, theta, obs):
    """``offsets -> (head parameters, layer inputs)``: the MLP with an offset added to each
    layer's pre-activation (its pullback gives the per-state scores d), the inputs with a
    column of ones; and the zero offsets."""
    params = policy.unravel(theta)
    layers = params["layers"]
    ones = jnp.ones(obs.shape[:-1] + (1,), obs.dtype)

    def head_params(offsets):
        h, inputs = obs, []
        for i, (layer, e) in enumerate(zip(layers, offsets)):
            inputs.append(jnp.concatenate([h, ones], -1))
            z = h @ layer["w"] + layer["b"] + e
            h = jnp.tanh(z) if i < len(layers) - 1 else z
        if policy.head is CATEGORICAL:
            return h, inputs
        return (h, jnp.broadcast_to(params["log_std"], h.shape)), inputs

    zeros = [jnp.zeros((obs.shape[0], layer["w"].shape[1]), obs.dtype) for layer in layers]
    return head_params, zeros


def kfac_factors(policy, theta, obs, actions=None) -> KFACFactors:
    """The Kronecker factors (A_l, G_l) of every layer of an MLP ``policy`` (``networks``).

    ``actions`` [N] or [N, d]: one sampled action per state (the Monte-Carlo estimate of G);
    ``None``: G's expectation over actions exactly, by the head's quadrature.
    """
    head_params, zeros = _forward(policy, theta, obs)
    out, pullback, inputs = jax.vjp(head_params, zeros, has_aux=True)
    out = jax.lax.stop_gradient(out)
    n = obs.shape[0]

    def layer_scores(a):
        """d log pi(a_n|s_n) / d z_l for every state n and layer l: one pullback."""
        cot = jax.grad(lambda o: jnp.sum(policy.head.log_prob(o, a)))(out)
        return pullback(cot)[0]

    if actions is not None:
        scores = layer_scores(actions)
        g = tuple(d.T @ d / n for d in scores)
    else:
        nodes, weights = policy.head.quadrature(out, nodes_per_axis=2)  # [N, M(, d)], [N, M]
        node_axis = 1
        per_node = jax.vmap(layer_scores, in_axes=node_axis)(nodes)  # per layer [M, N, d_out]
        sw = jnp.sqrt(weights).T[..., None]  # [M, N, 1]
        g = tuple(jnp.einsum("mni,mnj->ij", sw * d, sw * d) / n for d in per_node)
    a = tuple(x.T @ x / n for x in inputs)
    return KFACFactors(a, g)


def spd_inverse(m):
    """The inverse of a symmetric positive-definite matrix by Gauss-Jordan elimination
    without pivoting (stable for SPD), in-place form, one ``fori_loop`` over the pivots.
    Leading batch axes are allowed."""
    n = m.shape[-1]
    idx = jnp.arange(n)

    def body(k, m):
        e_k = idx == k
        row = jnp.take(m, k, axis=-2)  # [..., n]
        col = jnp.take(m, k, axis=-1)  # [..., n]
        pivot = jnp.take(row, k, axis=-1)[..., None]
        r = jnp.where(e_k, 1.0, row) / pivot
        f = jnp.where(e_k, 0.0, col)
        m = jnp.where(e_k[None, :], 0.0, m) - f[..., :, None] * r[..., None, :]
        return jnp.where(e_k[:, None], r[..., None, :], m)

    return jax.lax.fori_loop(0, n, body, m)


def _damped_factors(factors: KFACFactors, damping):
    """Per layer (A + pi c I, G + c / pi I): factored Tikhonov damping, c = sqrt(damping)."""
    c = jnp.sqrt(jnp.asarray(damping, factors.a[0].dtype))
    out = []
    for a, g in zip(factors.a, factors.g):
        ta, tg = jnp.trace(a) / a.shape[0], jnp.trace(g) / g.shape[0]
        ok = (ta > 0) & (tg > 0)
        pi = jnp.sqrt(jnp.where(ok, ta / jnp.where(ok, tg, 1.0), 1.0))
        out.append((a + pi * c * jnp.eye(a.shape[0], dtype=a.dtype),
                    g + c / pi * jnp.eye(g.shape[0], dtype=g.dtype)))
    return out


def _damped_inverses(factors: KFACFactors, damping):
    """The inverses of ``_damped_factors``, all of them in one padded batch."""
    damped = [m for pair in _damped_factors(factors, damping) for m in pair]
    size = max(m.shape[0] for m in damped)

    def pad(m):  # identity outside the block: its inverse is the block's inverse, padded
        return jnp.eye(size, dtype=m.dtype).at[: m.shape[0], : m.shape[0]].set(m)

    inv = spd_inverse(jnp.stack([pad(m) for m in damped]))
    out = [inv[i, : m.shape[0], : m.shape[0]] for i, m in enumerate(damped)]
    return out[0::2], out[1::2]


def _layer_blocks(policy, v):
    """Flat v -> per layer [w; b] of shape [d_in + 1, d_out], and the log-std part."""
    params = policy.unravel(v)
    blocks = [jnp.concatenate([layer["w"], layer["b"][None]], 0) for layer in params["layers"]]
    return blocks, params.get("log_std")


def _flatten(policy, blocks, log_std, like):
    """Inverse of ``_layer_blocks``: the flat vector in ``policy``'s layout."""
    params = {"layers": [{"w": b[:-1], "b": b[-1]} for b in blocks]}
    if log_std is not None:
        params["log_std"] = log_std
    flat = ravel_pytree(params)[0]
    if flat.shape != like.shape:
        raise NPGInputError(f"K-FAC: layout mismatch, {flat.shape} != {like.shape}")
    return flat


def kfac_solve(policy, factors: KFACFactors, v, damping):
    """K_damped^-1 v: per layer (A + pi c I)^-1 V (G + c/pi I)^-1; log-std v / (2 + damping)."""
    a_inv, g_inv = _damped_inverses(factors, damping)
    blocks, log_std = _layer_blocks(policy, v)
    out = [ai @ b @ gi for ai, gi, b in zip(a_inv, g_inv, blocks)]
    return _flatten(policy, out, None if log_std is None else log_std / (2.0 + damping), v)


def kfac_matvec(policy, factors: KFACFactors, damping=0.0):
    """v -> K v with the same damping as ``kfac_solve`` (damping 0: the undamped K-FAC
    Fisher, per layer A V G, and 2 v for the log-std); ``densify`` gives the matrix."""
    mats = _damped_factors(factors, damping)

    def matvec(v):
        blocks, log_std = _layer_blocks(policy, v)
        out = [a @ b @ g for (a, g), b in zip(mats, blocks)]
        return _flatten(policy, out, None if log_std is None else (2.0 + damping) * log_std, v)

    return matvec


def kfac_natural_step(policy, factors: KFACFactors, g, delta, damping) -> StepResult:
    """The K-FAC natural step (ACKTR): u = K^-1 g with K the damped K-FAC Fisher
    (``kfac_solve``), then ``trust_region_step``: q = u^T K u, beta = sqrt(2 delta / q),
    step = beta u, and its guard. ``cg_residual`` is ||g - K u|| (no CG: it measures the
    inverses); ``cg_iterations`` is 0."""
    u = kfac_solve(policy, factors, g, damping)
    return trust_region_step(g, u, kfac_matvec(policy, factors, damping)(u), delta)
