"""Distribution heads: what a policy network outputs, with closed-form KL and output Fisher.

A head is a distribution over actions given its parameters (the network's outputs), with
leading batch axes broadcast. ``fisher_vp`` is the exact Fisher of the head in its own
parameters times a tangent, the F_out of the Gauss-Newton product J^T F_out J (kfac-jax's
"exact" output Fisher for these two families):

    Categorical(logits z):          F_out u = p * u - p (p . u),    p = softmax(z)
    DiagGaussian(mean m, log_std s): F_out (u_m, u_s) = (u_m / sigma^2, 2 u_s)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Categorical", "DiagGaussian", "CATEGORICAL", "DIAG_GAUSSIAN", "HEADS"]



class Categorical:
    """pi(a) = softmax(logits)[a]; parameters: logits of shape [..., K]."""

    name = "categorical"

    def log_prob(self, logits, action):
        logp = jax.nn.log_softmax(logits, axis=-1)
        action = jnp.asarray(action).astype(jnp.int32)
        return jnp.take_along_axis(logp, action[..., None], axis=-1)[..., 0]

    def kl(self, p_logits, q_logits):
        """KL(p || q) = sum_a p(a) (log p(a) - log q(a))."""
        lp = jax.nn.log_softmax(p_logits, axis=-1)
        lq = jax.nn.log_softmax(q_logits, axis=-1)
        return jnp.sum(jnp.exp(lp) * (lp - lq), axis=-1)

    def fisher_vp(self, logits, u):
        p = jax.nn.softmax(logits, axis=-1)
        pu = p * u
        return pu - p * jnp.sum(pu, axis=-1, keepdims=True)

    def sample(self, key, logits):
        return jax.random.categorical(key, logits, axis=-1)

    def entropy(self, logits):
        lp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.sum(jnp.exp(lp) * lp, axis=-1)

    def mode(self, logits):
        return jnp.argmax(logits, axis=-1)

    def quadrature(self, logits, nodes_per_axis: int | None = None):
        """Every action with its probability: (actions [..., K], weights [..., K]).

        ``nodes_per_axis`` is ignored (the sum over actions is exact).
        """
        k = logits.shape[-1]
        return jnp.broadcast_to(jnp.arange(k), logits.shape), jax.nn.softmax(logits, axis=-1)

    def __repr__(self):
        return "Categorical()"


class DiagGaussian:
    """pi(a) = prod_i N(a_i; mean_i, exp(log_std_i)^2); parameters: (mean, log_std), [..., d]."""

    name = "diag_gaussian"

    def log_prob(self, params, action):
        mean, log_std = params
        z = (action - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def kl(self, p, q):
        """KL(p || q) = sum_i log(s_q/s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2."""
        (mp, sp), (mq, sq) = p, q
        var_ratio = jnp.exp(2 * (sp - sq))
        return jnp.sum(
            sq - sp + 0.5 * var_ratio + 0.5 * (mp - mq) ** 2 * jnp.exp(-2 * sq) - 0.5, axis=-1
        )

    def fisher_vp(self, params, u):
        _, log_std = params
        u_mean, u_log_std = u
        return (u_mean * jnp.exp(-2 * log_std), 2.0 * u_log_std)

    def sample(self, key, params):
        mean, log_std = params
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    def entropy(self, params):
        _, log_std = params
        return jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e), axis=-1)

    def mode(self, params):
        return params[0]

    def quadrature(self, params, nodes_per_axis: int = 16):
        """Tensor-product Gauss-Hermite rule, exact for polynomials of degree
        <= 2 n - 1 per axis (n = ``nodes_per_axis``).

        Returns (actions [..., M, d], weights [..., M]) with M = n^d; meant for small d.
        """
        mean, log_std = params
        d = mean.shape[-1]
        base_nodes, base_weights = np.polynomial.hermite.hermgauss(nodes_per_axis)
        grids = np.meshgrid(*([base_nodes] * d), indexing="ij")
        nodes = np.stack([g.ravel() for g in grids], axis=-1)  # [M, d]
        wgrid = np.meshgrid(*([base_weights] * d), indexing="ij")
        weights = np.prod(np.stack([w.ravel() for w in wgrid], -1), -1) / np.pi ** (d / 2)
        nodes = jnp.asarray(nodes, mean.dtype)
        actions = mean[..., None, :] + math.sqrt(2) * jnp.exp(log_std)[..., None, :] * nodes
        weights = jnp.broadcast_to(jnp.asarray(weights, mean.dtype), actions.shape[:-1])
        return actions, weights

    def __repr__(self):
        return "DiagGaussian()"


CATEGORICAL = Categorical()
DIAG_GAUSSIAN = DiagGaussian()
HEADS = {h.name: h for h in (CATEGORICAL, DIAG_GAUSSIAN)}
