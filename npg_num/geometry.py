"""Coordinate maps and the invariance of the natural step, numerically (C8-C10).

A coordinate map w = f(v) with Jacobian A = dw/dv carries a metric, a gradient and a
displacement between coordinate systems:

    G_v = A^T G_w A,     g_v = A^T g_w,     dw = A dv

so the natural step d* = beta F^-1 g is the same displacement in both systems
(A d_v* = d_w*: the same new policy to first order), and the vanilla step is not
(A g_v = A A^T g_w). The maps between the registered Gaussian families have the keys of
``npg_sym.REPARAMETERIZATIONS``, written here from their formulas (twins, not lambdified).

For networks, ``compare_steps`` takes one step in the network's own flat parameters
theta and one in other coordinates phi with theta = f(phi) (a random invertible linear
map of all weights, or the standard deviation in place of the log-std of a Gaussian
head), maps the second back through f and measures the mean KL between the two new
policies: O(delta^2) for the natural step (zero up to round-off for a linear f), O(delta)
for the vanilla step of the same KL size.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .errors import NPGInputError
from .families import expectation, get_family
from .fvp import ROUTES, make_fvp
from .natural_step import StepResult, _check_scalar, natural_step

__all__ = [
    "CoordinateMap",
    "Reparameterization",
    "REPARAMETERIZATIONS",
    "get_reparameterization",
    "polar_to_cartesian",
    "jacobian",
    "pullback",
    "SUFFICIENT_STATISTICS",
    "mean_parameters",
    "vanilla_step",
    "linear_map",
    "std_for_log_std",
    "expected_return",
    "InvarianceResult",
    "STEP_RULES",
    "compare_steps",
]


class CoordinateMap(NamedTuple):
    """w = forward(v), v = inverse(w), both on flat float arrays."""

    name: str
    forward: Callable
    inverse: Callable


def jacobian(cmap: CoordinateMap, v):
    """A = dw/dv at v (forward-mode, exact to round-off)."""
    return jax.jacfwd(cmap.forward)(jnp.asarray(v))


def pullback(metric_w, cmap: CoordinateMap, v):
    """G_v = A^T G_w A at v; ``metric_w`` is G_w at the point w = f(v) (a matrix)."""
    a = jacobian(cmap, v)
    metric_w = jnp.asarray(metric_w)
    if metric_w.shape != (a.shape[0], a.shape[0]):
        raise NPGInputError(
            f"the metric must be {a.shape[0]}x{a.shape[0]} for map {cmap.name!r}; "
            f"got shape {metric_w.shape}"
        )
    return a.T @ metric_w @ a


def polar_to_cartesian() -> CoordinateMap:
    """(r, phi) -> (r cos phi, r sin phi); G_polar = A^T A = diag(1, r^2)."""
    return CoordinateMap(
        "polar (r, phi) -> Cartesian (x, y)",
        lambda v: jnp.stack([v[0] * jnp.cos(v[1]), v[0] * jnp.sin(v[1])]),
        lambda w: jnp.stack([jnp.hypot(w[0], w[1]), jnp.arctan2(w[1], w[0])]),
    )


class Reparameterization(NamedTuple):
    """The map from family ``source``'s parameters to family ``target``'s (same policy)."""

    source: str
    target: str
    map: CoordinateMap


def _std_to_logstd(v):
    return jnp.stack([v[0], jnp.log(v[1])])


def _logstd_to_std(v):
    return jnp.stack([v[0], jnp.exp(v[1])])


def _std_to_natural(v):
    # eta1 = mu / sigma^2, eta2 = -1 / (2 sigma^2)
    precision = 1.0 / v[1] ** 2
    return jnp.stack([v[0] * precision, -0.5 * precision])


def _natural_to_std(w):
    return jnp.stack([-w[0] / (2 * w[1]), jnp.sqrt(-0.5 / w[1])])


def _logstd_to_natural(v):
    precision = jnp.exp(-2 * v[1])
    return jnp.stack([v[0] * precision, -0.5 * precision])


def _natural_to_logstd(w):
    return jnp.stack([-w[0] / (2 * w[1]), -0.5 * jnp.log(-2 * w[1])])


def _build() -> dict[tuple[str, str], Reparameterization]:
    std, logstd, nat = "gaussian_mean_std", "gaussian_mean_logstd", "gaussian_natural"
    pairs = [
        (std, logstd, _std_to_logstd, _logstd_to_std),
        (std, nat, _std_to_natural, _natural_to_std),
        (logstd, nat, _logstd_to_natural, _natural_to_logstd),
    ]
    registry = {}
    for a, b, a_to_b, b_to_a in pairs:
        registry[a, b] = Reparameterization(a, b, CoordinateMap(f"{a} -> {b}", a_to_b, b_to_a))
        registry[b, a] = Reparameterization(b, a, CoordinateMap(f"{b} -> {a}", b_to_a, a_to_b))
    return registry


REPARAMETERIZATIONS: Mapping[tuple[str, str], Reparameterization] = MappingProxyType(_build())


def get_reparameterization(source: str, target: str) -> Reparameterization:
    """The registered map from family ``source`` to family ``target`` (clear error otherwise)."""
    try:
        return REPARAMETERIZATIONS[source, target]
    except (KeyError, TypeError):
        allowed = ", ".join(f"{a} -> {b}" for a, b in REPARAMETERIZATIONS)
        raise NPGInputError(
            f"no registered reparameterization {source!r} -> {target!r}; allowed: {allowed}"
        ) from None


def _one_hot3(x):
    return jax.nn.one_hot(jnp.asarray(x, jnp.int32), 3, dtype=jnp.result_type(float))


SUFFICIENT_STATISTICS: Mapping[str, Callable] = MappingProxyType({
    "bernoulli_logit": lambda x: jnp.reshape(jnp.asarray(x, jnp.result_type(float)), (1,)),
    "categorical_softmax3": _one_hot3,
    "gaussian_unit_mean": lambda x: jnp.reshape(x, (1,)),
    "gaussian_natural": lambda x: jnp.stack([x, x**2]),
})


def mean_parameters(key: str, theta):
    """m(theta) = E_theta[T(x)] by the family's quadrature; dm/dtheta = F in natural parameters."""
    fam = get_family(key)
    if fam.name not in SUFFICIENT_STATISTICS:
        allowed = ", ".join(SUFFICIENT_STATISTICS)
        raise NPGInputError(
            f"family {key!r} is not registered as an exponential family in its natural "
            f"parameters; allowed: {allowed}"
        )
    return expectation(fam, jnp.asarray(theta), SUFFICIENT_STATISTICS[fam.name])


def vanilla_step(g, fvp: Callable, delta) -> StepResult:
    """The gradient step scaled to the same trust region as the natural step.

        q = g^T F g,   beta = sqrt(2 delta / q),   step = beta g   (1/2 step^T F step = delta)

    The direction is g itself (F^-1 replaced by I); only the length uses F, so the two
    steps are compared at the same KL size. Guarded like ``natural_step``.
    """
    _check_scalar("delta", delta, positive=True)
    g = jnp.asarray(g)
    q = jnp.vdot(g, fvp(g))
    accepted = jnp.isfinite(q) & (q > 0) & jnp.all(jnp.isfinite(g))
    beta = jnp.where(accepted, jnp.sqrt(2.0 * delta / jnp.where(accepted, q, 1.0)), 0.0)
    step = jnp.where(accepted, beta * g, 0.0)
    zero = jnp.zeros((), g.dtype)
    return StepResult(
        step=step, beta=beta, direction=g, q=q, cg_residual=zero,
        cg_iterations=jnp.asarray(0, jnp.int32),
        expected_improvement=jnp.where(accepted, jnp.vdot(g, step), 0.0), accepted=accepted,
    )


def linear_map(matrix) -> CoordinateMap:
    """theta = M phi for an invertible P x P matrix M (all of a network's weights at once)."""
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise NPGInputError(f"a linear reparameterization needs a square matrix; got shape {matrix.shape}")
    return CoordinateMap(
        "theta = M phi",
        lambda phi: matrix @ phi,
        lambda theta: jnp.linalg.solve(matrix, theta),
    )


def std_for_log_std(policy) -> CoordinateMap:
    """Coordinates phi equal to theta except that the Gaussian head's log-std entries are
    replaced by the standard deviations: theta = f(phi) puts log(phi_i) there.

    ``policy`` is an ``npg_num.Policy`` with a diagonal-Gaussian head (its ``log_std`` leaf).
    """
    params = policy.unravel(jnp.zeros((policy.num_params,)))
    if not isinstance(params, dict) or "log_std" not in params:
        raise NPGInputError(
            "std_for_log_std needs a policy with a diagonal Gaussian head (a 'log_std' "
            f"parameter); got head {policy.head!r}"
        )
    marks = jax.tree.map(jnp.zeros_like, params)
    marks["log_std"] = jnp.ones_like(params["log_std"])
    mask, _ = ravel_pytree(marks)
    mask = mask > 0.5

    def forward(phi):
        # where(mask, ...) on a safe argument: log of the unused entries would poison grads.
        return jnp.where(mask, jnp.log(jnp.where(mask, phi, 1.0)), phi)

    def inverse(theta):
        return jnp.where(mask, jnp.exp(jnp.where(mask, theta, 0.0)), theta)

    return CoordinateMap("log-std -> std", forward, inverse)


def expected_return(policy_fn: Callable, head, reward: Callable) -> Callable:
    """theta -> (1/N) sum_n E_{a ~ pi_theta(.|s_n)}[r_n(a)], exactly by the head's quadrature.

    ``reward`` maps the quadrature's actions ([N, K] for a categorical head, [N, M, d] for a
    diagonal Gaussian) to rewards [N, K] or [N, M]. Exact for any reward over finitely many
    actions, and for polynomial rewards of degree <= 31 per action dimension (Gaussian).
    """

    def objective(theta):
        params = policy_fn(theta)
        actions, weights = head.quadrature(params)
        return jnp.mean(jnp.sum(weights * reward(actions), axis=-1))

    return objective


class InvarianceResult(NamedTuple):
    """One step taken in theta and one in phi (theta = f(phi)), compared as policies."""

    kl_gap: jax.Array  # mean_n KL(pi_{theta + d_theta} || pi_{f(phi + d_phi)})
    kl_theta: jax.Array  # mean_n KL(pi_theta || pi_{theta + d_theta})
    kl_phi: jax.Array  # mean_n KL(pi_theta || pi_{f(phi + d_phi)})
    theta_new: jax.Array  # theta + d_theta
    theta_from_phi: jax.Array  # f(phi + d_phi)
    step_theta: StepResult
    step_phi: StepResult


STEP_RULES = ("natural", "vanilla")


def compare_steps(
    policy_fn: Callable,
    head,
    objective: Callable,
    theta,
    cmap: CoordinateMap,
    delta,
    *,
    rule: str = "natural",
    route: str = "gn",
    cg_iters: int = 100,
    cg_tol: float = 1e-12,
) -> InvarianceResult:
    """Take the same kind of step in theta and in phi = f^-1(theta); compare the policies.

        theta' = theta + d_theta,     theta'' = f(phi + d_phi)
        kl_gap = (1/N) sum_n KL(pi_theta'(.|s_n) || pi_theta''(.|s_n))

    Each step is computed from scratch in its own coordinates: the gradient of
    ``objective`` (composed with f for phi), Fisher-vector products of ``policy_fn``
    (composed with f), then ``natural_step`` (CG) or ``vanilla_step``, both scaled to
    1/2 d^T F d = delta. Parameters: ``policy_fn`` theta -> head parameters with a batch
    axis of states; ``rule`` one of ``STEP_RULES``; ``route`` an FVP route.
    """
    if rule not in STEP_RULES:
        raise NPGInputError(f"unknown step rule {rule!r}; allowed: {', '.join(STEP_RULES)}")
    if route not in ROUTES:
        raise NPGInputError(f"unknown FVP route {route!r}; allowed routes: {', '.join(ROUTES)}")
    theta = jnp.asarray(theta)

    def take(pfn, obj, x):
        g = jax.grad(obj)(x)
        fvp = make_fvp(pfn, head, x, route=route)
        if rule == "natural":
            return natural_step(g, fvp, delta, cg_iters=cg_iters, cg_tol=cg_tol)
        return vanilla_step(g, fvp, delta)

    def in_phi(fn):
        return lambda p: fn(cmap.forward(p))

    phi = cmap.inverse(theta)
    step_theta = take(policy_fn, objective, theta)
    step_phi = take(in_phi(policy_fn), in_phi(objective), phi)
    theta_new = theta + step_theta.step
    theta_from_phi = cmap.forward(phi + step_phi.step)

    reference = policy_fn(theta)
    new = policy_fn(theta_new)
    other = policy_fn(theta_from_phi)
    return InvarianceResult(
        kl_gap=jnp.mean(head.kl(new, other)),
        kl_theta=jnp.mean(head.kl(reference, new)),
        kl_phi=jnp.mean(head.kl(reference, other)),
        theta_new=theta_new,
        theta_from_phi=theta_from_phi,
        step_theta=step_theta,
        step_phi=step_phi,
    )
