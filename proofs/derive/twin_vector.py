"""The numeric twin of a family with a vector outcome or states: JAX autodiff and
quadrature, block by block, independent of the symbolic expectations.

The state, if any, is a node of its own: each finite state with its weight (an exact
sum), or the nodes of an n-point Gauss-Hermite rule for a Gaussian state (n = 40, then 60:
the difference is the reported error estimate). Given the state, the log-density is split
into blocks that share no coordinate, log pi = C + sum_b L_b(x_b) (the same algebra as
``npg_sym.vector.split_by_coordinate``; the simplex is first taken onto (0, 1)^(d-1) by the
same stick-breaking map), and each block is integrated alone:

    Z_b = int e^(L_b),  m_b = int s_b e^(L_b) / Z_b,  S_b = int s_b s_b^T e^(L_b) / Z_b,
    k_b = int (L_b - L_b') e^(L_b) / Z_b,                 s_b = grad_theta L_b (jax.grad)

    Z = prod_b Z_b,  F = Z [ (sum_b m_b)(sum_b m_b)^T + sum_b (S_b - m_b m_b^T) ],
    KL = Z sum_b k_b.

A one-coordinate block uses the 1-D twin's rules (``twin._regions``: exact sums,
sums over counts, double-exponential quadrature placed by a coarse pass); a block whose
coordinates do not separate (a full-covariance Gaussian) uses the tensor product of the
coordinates' rules, real-line coordinates cut at |x| <= TENSOR_CUT, up to MAX_TENSOR_NODES
nodes (beyond that the twin fails and says so: there is no sampling fallback). The tolerance is the 1-D twin's, ``twin.TOLERANCE``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

import npg_sym
from npg_sym.routes import prepare_log_density
from npg_sym.vector import coordinate_supports, onto_unit_cube, split_by_coordinate

from . import quadrature
from .twin import _JAX_FUNCTIONS, STEPS, _placement, _regions, jax_log_density, region_nodes

__all__ = ["vector_moments_fn", "vector_moments", "MAX_TENSOR_NODES", "HERMITE_NODES",
           "TENSOR_CUT"]

MAX_TENSOR_NODES = 2_000_000
"""The largest tensor-product rule a non-separating block may use."""

HERMITE_NODES = (40, 60)
"""Gauss-Hermite rules for a Gaussian state: the result of the first, checked by the second."""


@dataclass(frozen=True)
class _Block:
    """Coordinates that share terms of log pi, and their rules (1-D regions or a tensor)."""

    regions: tuple  # one-coordinate blocks: twin._Region; tensor blocks: _TensorRegion
    tensor: bool


@dataclass(frozen=True)
class _TensorRegion:
    log_density: object  # (theta_ext, V[k]) -> log pi
    rules: tuple  # per coordinate: ("nodes", values) or ("rule", h -> (u, w))


def _with_state(family):
    """(parameters extended by the state symbol, or the parameters alone)."""
    state = () if family.states is None else (family.states.symbol,)
    return (*family.params, *state)


def _coordinates(family, log_prob):
    """[(symbol, support)], log pi in those coordinates (the simplex onto the unit cube)."""
    if not family.is_vector:
        return [(family.outcome, family.support)], log_prob
    if family.support_kind == "simplex":
        vs, _, moved = onto_unit_cube(family, sp.Integer(0), log_prob)
        return [(v, sp.Interval(0, 1)) for v in vs], moved
    return list(zip(family.outcome, coordinate_supports(family))), log_prob


def _coordinate_rules(x: sp.Symbol, support, u: sp.Symbol):
    """Per-coordinate options for a tensor rule: [(x as an expression of u, rule)]."""
    one = npg_sym.Family("coordinate", (), x, sp.Integer(0), support, "")
    kind = one.support_kind
    if kind == "finite":
        return [(u, ("nodes", tuple(float(k) for k in one.support)))]
    if kind == "real_line":
        return [(u, ("rule", _real_line_cut))]
    if kind == "counts":
        raise NotImplementedError("counts inside a block of coordinates that do not separate")
    lo, hi = one.support_set.inf, one.support_set.sup
    if kind == "half_line":
        return [(lo + u if hi is sp.oo else hi - u, ("rule", quadrature.half_line_nodes))]
    rule = ("rule", partial(quadrature.from_end_nodes, float((hi - lo) / 2)))
    return [(lo + u, rule), (hi - u, rule)]


TENSOR_CUT = 1e8
"""A tensor rule's real-line coordinates keep the nodes with |x| <= TENSOR_CUT (half of the
sinh-sinh nodes lie beyond it, where a Gaussian-like density is 0): mass beyond the cut is
not seen, and the step-halving error estimate does not see it either."""


def _real_line_cut(h):
    x, w = quadrature.real_line_nodes(h)
    keep = np.abs(x) <= TENSOR_CUT
    return x[keep], w[keep]


def _tensor_block(coords, log_density, params_ext) -> _Block:
    us = sp.symbols(f"u_npg1:{len(coords) + 1}", real=True)
    options = [_coordinate_rules(x, s, u) for (x, s), u in zip(coords, us)]
    regions = []
    for combo in itertools.product(*options):
        moved = log_density.xreplace({x: at for (x, _), (at, _) in zip(coords, combo)})
        fn = sp.lambdify((*params_ext, us), _gammaln_ready(moved), modules=[_JAX_FUNCTIONS, "jax"])
        regions.append(_TensorRegion(
            lambda theta, v, fn=fn: fn(*[theta[i] for i in range(len(params_ext))], v),
            tuple(rule for _, rule in combo)))
    return _Block(tuple(regions), True)


def _gammaln_ready(expr):
    from .twin import _log_gamma_functions

    return _log_gamma_functions(expr)


def _blocks(family, log_prob) -> tuple[sp.Expr, list[_Block]]:
    """(C, blocks): log pi = C + sum_b L_b, each block's rules."""
    params_ext = _with_state(family)
    coords, log_density = _coordinates(family, log_prob)
    log_density = prepare_log_density(log_density)
    xs = [x for x, _ in coords]
    split = split_by_coordinate(log_density, xs) if len(coords) > 1 else None
    if split is None:
        if len(coords) == 1:
            const, parts = split_by_coordinate(log_density, xs)
        else:
            return sp.Integer(0), [_tensor_block(coords, log_density, params_ext)]
    else:
        const, parts = split
    blocks = []
    for x, support in coords:
        one = npg_sym.Family(f"block {x}", params_ext, x, parts[x], support, "")
        blocks.append(_Block(tuple(_regions(one)), False))
    return const, blocks


def _moments_fn(log_density, n: int, tensor: bool):
    """jit((theta_ext, other_ext, v, w) -> (Z, M1, M2, K, dropped)) for one region; the
    score is grad over the extended theta, sliced to the n parameters."""
    value_and_score = jax.vmap(jax.value_and_grad(log_density), in_axes=(None, 0))
    values = jax.vmap(log_density, in_axes=(None, 0))

    @jax.jit
    def moments(theta, other, v, w):
        lp, s = value_and_score(theta, v)
        s = s[:, :n]
        lq = values(other, v)
        live = lp > -700.0
        finite = jnp.isfinite(lp) & jnp.all(jnp.isfinite(s), axis=-1) & jnp.isfinite(lq)
        ok = live & finite
        p = jnp.where(ok, jnp.exp(jnp.where(live, lp, 0.0)), 0.0) * w
        s = jnp.where(ok[:, None], s, 0.0)
        return (jnp.sum(p), jnp.einsum("n,ni->i", p, s), jnp.einsum("n,ni,nj->ij", p, s, s),
                jnp.sum(p * jnp.where(ok, lp - lq, 0.0)), jnp.sum(~ok & ~(lp <= -700.0)))

    return moments


def _tensor_nodes(region: _TensorRegion, h):
    axes = [(np.asarray(r[1]), np.ones(len(r[1]))) if r[0] == "nodes" else r[1](h) for r in region.rules]
    count = math.prod(len(a[0]) for a in axes)
    if count > MAX_TENSOR_NODES:
        raise ArithmeticError(f"a tensor rule of {count} nodes (> {MAX_TENSOR_NODES}) for a block of "
                              f"{len(axes)} coordinates that do not separate; no sampling fallback here")
    grids = np.meshgrid(*(a[0] for a in axes), indexing="ij")
    with np.errstate(divide="ignore"):
        log_w = sum(g.ravel() for g in np.meshgrid(*(np.log(a[1]) for a in axes), indexing="ij"))
    # a product of far-out weights overflows; the density there underflows long before
    keep = log_w < 700.0
    return np.stack([g.ravel()[keep] for g in grids], axis=-1), np.exp(log_w[keep])


def _padded(v, w):
    """v, w padded to the next power of 2 (>= 64) by copies of the last node with weight 0:
    few distinct shapes, so each region's jitted moments compile a few times, not per draw."""
    v, w = np.asarray(v, dtype=np.float64), np.asarray(w, dtype=np.float64)
    size = max(64, 1 << (len(w) - 1).bit_length())
    extra = size - len(w)
    if extra:
        v = np.concatenate([v, np.repeat(v[-1:], extra, axis=0)])
        w = np.concatenate([w, np.zeros(extra)])
    return jnp.asarray(v), jnp.asarray(w)


class _Conditional:
    """The twin's moments of pi(. | s) for one family, its blocks built once."""

    def __init__(self, family):
        self.family, self.n = family, len(family.params)
        self.const, self.blocks = _blocks(family, family.log_prob)
        params_ext = _with_state(family)
        const_fn = jax_log_density(params_ext, sp.Symbol("unused_npg"), self.const)
        # + 0 theta[0]: a constant C (a Python number) must still be a traced value
        constant = lambda t: const_fn(t, 0.0) + 0.0 * t[0]  # noqa: E731
        self.const_value_and_grad = jax.jit(jax.value_and_grad(constant))
        self.const_value = jax.jit(constant)
        self.fns = [[_moments_fn(r.log_density, self.n, b.tensor) for r in b.regions] for b in self.blocks]
        self.exact_rule = all(not b.tensor and all(r.nodes or r.rule is None for r in b.regions)
                              for b in self.blocks)

    def _block_sums(self, block, fns, theta, other, h, placements):
        z, m1, m2, k, dropped = 0.0, 0.0, 0.0, 0.0, 0
        for region, fn, placed in zip(block.regions, fns, placements):
            v, w = _tensor_nodes(region, h) if block.tensor else region_nodes(region, theta, h, placed)
            zi, m1i, m2i, ki, di = fn(theta, other, *_padded(v, w))
            z, m1, m2, k, dropped = z + zi, m1 + m1i, m2 + m2i, k + ki, dropped + int(di)
        return float(z), np.asarray(m1), np.asarray(m2), float(k), dropped

    def moments(self, theta, other, h):
        """(Z, F, KL, dropped) of pi(. | s) at step h (theta, other extended by s)."""
        theta, other = jnp.asarray(theta), jnp.asarray(other)
        c, grad_c = self.const_value_and_grad(theta)
        c_other = float(self.const_value(other))
        grad_c = np.asarray(grad_c)[:self.n]
        z_total, mean, spread, kl_sum, dropped = math.exp(float(c)), grad_c.copy(), 0.0, float(c) - c_other, 0
        for block, fns in zip(self.blocks, self.fns):
            placements = [{} if block.tensor else _placement(r, theta, other) for r in block.regions]
            z, m1, m2, k, d = self._block_sums(block, fns, theta, other, h, placements)
            m, S = m1 / z, m2 / z
            z_total, mean, spread, kl_sum = z_total * z, mean + m, spread + S - np.outer(m, m), kl_sum + k / z
            dropped += d
        F = z_total * (np.outer(mean, mean) + spread)
        return z_total, F, z_total * kl_sum, dropped


def _state_nodes(family, n_hermite: int):
    states = family.states
    if states is None:
        return [((), 1.0)]
    if states.kind == "finite":
        return [((float(v),), float(w)) for v, w in zip(states.values, states.weights)]
    z, w = np.polynomial.hermite_e.hermegauss(n_hermite)
    w = w / math.sqrt(2 * math.pi)
    mean, std = float(states.mean), math.sqrt(float(states.variance))
    return [((mean + std * zi,), wi) for zi, wi in zip(z, w)]


def _over_states(conditional, theta, other, h, n_hermite):
    z, F, kl, dropped = 0.0, 0.0, 0.0, 0
    for state, weight in _state_nodes(conditional.family, n_hermite):
        t = np.concatenate([theta, state])
        o = np.concatenate([other, state])
        zi, Fi, kli, di = conditional.moments(t, o, h)
        z, F, kl, dropped = z + weight * zi, F + weight * Fi, kl + weight * kli, dropped + di
    return z, F, kl, dropped


def _relative_change(a, b) -> float:
    scale = max(np.max(np.abs(b[1])), 1e-300)
    return max(np.max(np.abs(b[1] - a[1])) / scale, abs(b[0] - a[0]))


def vector_moments(conditional: _Conditional, theta, other):
    """(Z, F, KL(theta || other), estimated relative error, dropped nodes), over states."""
    gaussian_states = conditional.family.states is not None and conditional.family.states.kind == "gaussian"
    hermite = HERMITE_NODES[0]
    h = None
    if conditional.exact_rule:
        current = _over_states(conditional, theta, other, None, hermite)
        error = 0.0
    else:
        previous = _over_states(conditional, theta, other, STEPS[0], hermite)
        for h in STEPS[1:]:
            current = _over_states(conditional, theta, other, h, hermite)
            error = _relative_change(previous, current)
            if error <= 1e-12:
                break
            previous = current
    if gaussian_states:
        finer = _over_states(conditional, theta, other, h, HERMITE_NODES[1])
        error = max(error, _relative_change(current, finer))
    return current[0], current[1], current[2], float(error), current[3]


def vector_moments_fn(family):
    """(theta, other) -> (Z, F, KL, error estimate, dropped nodes): ``twin._moments_for``
    for a vector outcome or states (the blocks built once)."""
    conditional = _Conditional(family)
    return lambda theta, other: vector_moments(conditional, theta, other)
