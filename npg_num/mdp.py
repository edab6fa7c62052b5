"""Finite MDPs in JAX: the float twin of ``npg_sym.mdp``, and exact NPG / vanilla PG iterations.

Same conventions as ``npg_sym.mdp`` (docs/claims.md): P[s, a, s'], R[s, a], mu[s], 0 < gamma < 1,
pi[s, a] = pi(a|s), tabular softmax theta[s, a] flattened row-major (index s A + a).

    V_pi = (I - gamma P_pi)^-1 r_pi,   Q = R + gamma P V,   A = Q - V,   eta = mu . V
    rho_pi = (I - gamma P_pi^T)^-1 mu  (sums to 1 / (1 - gamma)),   d_pi = (1 - gamma) rho_pi
    L_pi(pi~) = eta(pi) + sum_s rho_pi(s) sum_a pi~(a|s) A_pi(s, a)
    M_pi(pi~) = L_pi(pi~) - C KLmax(pi, pi~),   C = 4 max|A_pi| gamma / (1 - gamma)^2
    g = sum_s rho(s) sum_a pi(a|s) psi(s, a) Q(s, a),   F = E_{s ~ d, a ~ pi}[psi psi^T]
    NPG:  theta <- theta + lr F^+ g          vanilla PG:  theta <- theta + lr g

Every function takes one MDP (rlax style); batch with ``jax.vmap`` (``MDP`` is a pytree).
"Exact" NPG means the exact F^+ g (a dense pseudo-inverse), not sampled or CG-approximated.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import NPGInputError

__all__ = [
    "MDP",
    "finite_mdp",
    "random_mdp",
    "policy_transitions",
    "policy_rewards",
    "state_values",
    "action_values",
    "advantages",
    "expected_return",
    "visitation",
    "normalized_visitation",
    "surrogate",
    "total_variation",
    "max_tv",
    "kl_divergence",
    "max_kl",
    "max_abs_advantage",
    "penalty_coefficient",
    "lower_bound",
    "tv_lower_bound",
    "softmax_policy",
    "softmax_score",
    "policy_gradient",
    "fisher",
    "natural_gradient",
    "softmax_natural_gradient",
    "OptimalSolution",
    "value_iteration",
    "Trace",
    "npg_iterate",
    "pg_iterate",
    "iterations_to_reach",
    "IterationComparison",
    "compare_npg_pg",
]


class MDP(NamedTuple):
    P: jax.Array  # [S, A, S], P[s, a, s'] = Pr(s' | s, a)
    R: jax.Array  # [S, A] expected rewards
    gamma: jax.Array  # scalar, 0 < gamma < 1
    mu: jax.Array  # [S] initial distribution


def finite_mdp(P, R, gamma, mu=None, *, dtype=None) -> MDP:
    """Build and check an MDP (outside jit): shapes, stochastic rows, 0 < gamma < 1."""
    P_np, R_np = np.asarray(P, dtype=float), np.asarray(R, dtype=float)
    if P_np.ndim != 3 or P_np.shape[0] != P_np.shape[2] or 0 in P_np.shape:
        raise NPGInputError(
            f"P must have shape (S, A, S) with P[s, a, s'] = Pr(s' | s, a); got shape {P_np.shape}"
        )
    S, A, _ = P_np.shape
    if R_np.shape != (S, A):
        raise NPGInputError(f"R must have shape (S, A) = ({S}, {A}) to match P; got {R_np.shape}")
    if not np.all(np.isfinite(P_np)) or not np.all(np.isfinite(R_np)):
        raise NPGInputError("P and R must be finite (a NaN or inf was found)")
    if np.any(P_np < 0) or not np.allclose(P_np.sum(-1), 1.0, atol=1e-9):
        raise NPGInputError("each P[s, a, :] must be a probability distribution (>= 0, sums to 1)")
    g = float(gamma)
    if not 0.0 < g < 1.0:
        raise NPGInputError(f"gamma must be a discount with 0 < gamma < 1; got {gamma}")
    mu_np = np.full(S, 1.0 / S) if mu is None else np.asarray(mu, dtype=float)
    if mu_np.shape != (S,) or np.any(mu_np < 0) or not np.isclose(mu_np.sum(), 1.0, atol=1e-9):
        raise NPGInputError(f"mu must be a distribution over the {S} states; got {mu_np.tolist()}")
    dt = dtype or jnp.asarray(0.0).dtype
    return MDP(jnp.asarray(P_np, dt), jnp.asarray(R_np, dt), jnp.asarray(g, dt), jnp.asarray(mu_np, dt))


def random_mdp(key, num_states: int, num_actions: int, gamma: float = 0.9, *, dtype=None) -> MDP:
    """P[s, a, :] ~ Dirichlet(1), R ~ U[0, 1], mu ~ Dirichlet(1)."""
    if not (isinstance(num_states, int) and isinstance(num_actions, int)) or min(
        num_states, num_actions
    ) < 1:
        raise NPGInputError(
            f"num_states and num_actions must be positive integers; got {num_states!r}, {num_actions!r}"
        )
    if not 0.0 < float(gamma) < 1.0:
        raise NPGInputError(f"gamma must be a discount with 0 < gamma < 1; got {gamma}")
    dt = dtype or jnp.asarray(0.0).dtype
    kp, kr, km = jax.random.split(key, 3)
    S, A = num_states, num_actions
    P = _flat_dirichlet(kp, (S, A, S), dt)
    R = jax.random.uniform(kr, (S, A), dt)
    mu = _flat_dirichlet(km, (S,), dt)
    return MDP(P, R, jnp.asarray(gamma, dt), mu)


def _flat_dirichlet(key, shape, dtype):
    """Dirichlet(1, ..., 1) over the last axis: normalized i.i.d. Exp(1) draws.

    The same law as ``jax.random.dirichlet`` with unit concentrations, without its gamma
    sampler, which is slow to compile (docs/mdp.md has the figure).
    """
    e = jax.random.exponential(key, shape, dtype)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def policy_transitions(mdp: MDP, pi):
    """P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']."""
    return jnp.einsum("sa,sat->st", pi, mdp.P)


def policy_rewards(mdp: MDP, pi):
    """r_pi[s] = sum_a pi(a|s) R[s, a]."""
    return jnp.sum(pi * mdp.R, axis=-1)


def state_values(mdp: MDP, pi):
    """V_pi = (I - gamma P_pi)^-1 r_pi."""
    S = mdp.R.shape[0]
    return jnp.linalg.solve(
        jnp.eye(S, dtype=mdp.R.dtype) - mdp.gamma * policy_transitions(mdp, pi),
        policy_rewards(mdp, pi),
    )


def action_values(mdp: MDP, pi, values=None):
    """Q_pi[s, a] = R[s, a] + gamma sum_s' P[s, a, s'] V_pi[s']."""
    V = state_values(mdp, pi) if values is None else values
    return mdp.R + mdp.gamma * jnp.einsum("sat,t->sa", mdp.P, V)


def advantages(mdp: MDP, pi):
    """A_pi = Q_pi - V_pi."""
    V = state_values(mdp, pi)
    return action_values(mdp, pi, V) - V[:, None]


def expected_return(mdp: MDP, pi):
    """eta(pi) = mu . V_pi."""
    return jnp.dot(mdp.mu, state_values(mdp, pi))


def visitation(mdp: MDP, pi):
    """rho_pi = (I - gamma P_pi^T)^-1 mu: sum_t gamma^t Pr(s_t = s)."""
    S = mdp.R.shape[0]
    return jnp.linalg.solve(
        jnp.eye(S, dtype=mdp.R.dtype) - mdp.gamma * policy_transitions(mdp, pi).T, mdp.mu
    )


def normalized_visitation(mdp: MDP, pi):
    """d_pi = (1 - gamma) rho_pi."""
    return (1.0 - mdp.gamma) * visitation(mdp, pi)


def surrogate(mdp: MDP, pi, pi_new):
    """L_pi(pi~) = eta(pi) + sum_s rho_pi(s) sum_a pi~(a|s) A_pi(s, a)."""
    return expected_return(mdp, pi) + jnp.sum(visitation(mdp, pi)[:, None] * pi_new * advantages(mdp, pi))


def total_variation(pi, pi_new):
    """TV(pi(.|s), pi~(.|s)) = 1/2 sum_a |pi - pi~|, per state."""
    return 0.5 * jnp.sum(jnp.abs(pi - pi_new), axis=-1)


def max_tv(pi, pi_new):
    return jnp.max(total_variation(pi, pi_new))


def kl_divergence(pi, pi_new):
    """KL(pi(.|s) || pi~(.|s)) per state; 0 log 0 = 0, and +inf where pi~ = 0 < pi."""
    safe_new = jnp.where(pi > 0, pi_new, 1.0)
    terms = jnp.where(pi > 0, jax.scipy.special.xlogy(pi, pi) - pi * jnp.log(safe_new), 0.0)
    return jnp.sum(terms, axis=-1)


def max_kl(pi, pi_new):
    return jnp.max(kl_divergence(pi, pi_new))


def max_abs_advantage(mdp: MDP, pi):
    """eps = max_{s,a} |A_pi(s, a)|."""
    return jnp.max(jnp.abs(advantages(mdp, pi)))


def penalty_coefficient(mdp: MDP, pi):
    """C = 4 eps gamma / (1 - gamma)^2 (TRPO Theorem 1); gamma < 1 is checked by ``finite_mdp``."""
    return 4.0 * max_abs_advantage(mdp, pi) * mdp.gamma / (1.0 - mdp.gamma) ** 2


def lower_bound(mdp: MDP, pi, pi_new, C=None):
    """M_pi(pi~) = L_pi(pi~) - C KLmax(pi, pi~)."""
    C = penalty_coefficient(mdp, pi) if C is None else C
    return surrogate(mdp, pi, pi_new) - C * max_kl(pi, pi_new)


def tv_lower_bound(mdp: MDP, pi, pi_new, C=None):
    """L_pi(pi~) - C alpha^2, alpha = max_s TV (TRPO Theorem 1 as stated)."""
    C = penalty_coefficient(mdp, pi) if C is None else C
    return surrogate(mdp, pi, pi_new) - C * max_tv(pi, pi_new) ** 2


def softmax_policy(theta):
    """pi(a|s) = softmax(theta[s, :])[a]."""
    return jax.nn.softmax(theta, axis=-1)


def softmax_score(pi):
    """psi[s, a, s' A + b] = d log pi(a|s) / d theta[s', b] = 1[s = s'] (1[a = b] - pi(b|s))."""
    S, A = pi.shape
    eye_a = jnp.eye(A, dtype=pi.dtype)
    within = eye_a[None, :, :] - pi[:, None, :]  # [S, A, A]: (1[a = b] - pi(b|s))
    eye_s = jnp.eye(S, dtype=pi.dtype)
    return jnp.einsum("su,sab->saub", eye_s, within).reshape(S, A, S * A)


def policy_gradient(mdp: MDP, theta):
    """g = sum_s rho(s) sum_a pi(a|s) psi(s, a) Q(s, a), flat (S A,): the policy gradient theorem."""
    pi = softmax_policy(theta)
    rho = visitation(mdp, pi)
    Q = action_values(mdp, pi)
    return jnp.einsum("s,sa,sap,sa->p", rho, pi, softmax_score(pi), Q)


def fisher(mdp: MDP, theta):
    """F = sum_s d(s) sum_a pi(a|s) psi psi^T, d = (1 - gamma) rho: (S A, S A), singular."""
    pi = softmax_policy(theta)
    d = normalized_visitation(mdp, pi)
    psi = softmax_score(pi)
    return jnp.einsum("s,sa,sap,saq->pq", d, pi, psi, psi)


def natural_gradient(mdp: MDP, theta):
    """F^+ g as an S x A table, from the dense F and g (no closed form used).

        D = diag(F)^(1/2),  y = (D^-1 F D^-1)^+ D^-1 g,  x = D^-1 y,  F^+ g = x - P_null x

    F x = g holds exactly because g lies in range(F); null(F) = span{1_s} (the per-state
    constant shifts, K1), so removing each state's mean of x leaves the minimum-norm
    solution F^+ g. Why the scaling: F's eigenvalues shrink with pi(a|s), so a plain
    ``pinv(F)`` loses its digits on a nearly deterministic policy, whereas D^-1 F D^-1
    keeps O(1) non-zero eigenvalues (docs/mdp.md has the errors measured along an NPG
    run). Closer still to determinism F and g themselves lose their digits: use
    ``softmax_natural_gradient``.
    """
    S, A = theta.shape
    F = fisher(mdp, theta)
    g = policy_gradient(mdp, theta)
    diag = jnp.diagonal(F)
    # An action with pi(a|s) underflowed to 0 has a zero row and column: leave it unscaled.
    scale = jnp.where(diag > 0, jnp.sqrt(jnp.where(diag > 0, diag, 1.0)), 1.0)
    scaled = F / scale[:, None] / scale[None, :]
    x = (jnp.linalg.pinv(scaled, hermitian=True) @ (g / scale) / scale).reshape(S, A)
    return x - jnp.mean(x, axis=-1, keepdims=True)


def softmax_natural_gradient(mdp: MDP, theta):
    """F^+ g for tabular softmax in closed form: (A_pi(s, a) - mean_b A_pi(s, b)) / (1 - gamma).

    Kakade's result (K1, proven exactly in ``proofs/npg_follows_the_advantage.py``). Unlike
    the dense route it divides by nothing small, so it stays accurate as pi becomes
    deterministic: the dense F and g lose their digits there (1 - pi(a|s) and A(s, a) are
    computed with cancellation), and F^+ g divides by the small eigenvalues.
    """
    adv = advantages(mdp, softmax_policy(theta))
    return (adv - jnp.mean(adv, axis=-1, keepdims=True)) / (1.0 - mdp.gamma)


class OptimalSolution(NamedTuple):
    values: jax.Array  # V* of the greedy policy, evaluated exactly by a linear solve
    policy: jax.Array  # a greedy deterministic policy [S, A]
    optimal_return: jax.Array  # eta* = mu . V*
    iterations: jax.Array  # value-iteration sweeps performed
    residual: jax.Array  # max |T V - V| of the last sweep


def value_iteration(mdp: MDP, tol: float = 1e-12, max_iters: int = 100_000) -> OptimalSolution:
    """V <- max_a (R + gamma P V) until max|change| <= tol; then the greedy policy, evaluated.

    The greedy policy of a V with ||V - V*|| small is optimal once the gap between the best
    and second action exceeds 2 gamma ||V - V*|| / (1 - gamma); evaluating it by a linear
    solve then gives eta* to float precision.
    """

    def sweep(V):
        return jnp.max(mdp.R + mdp.gamma * jnp.einsum("sat,t->sa", mdp.P, V), axis=-1)

    def cond(state):
        _, change, k = state
        return (change > tol) & (k < max_iters)

    def body(state):
        V, _, k = state
        V_new = sweep(V)
        return V_new, jnp.max(jnp.abs(V_new - V)), k + 1

    V0 = jnp.zeros(mdp.R.shape[0], mdp.R.dtype)
    V, change, k = jax.lax.while_loop(cond, body, (V0, jnp.asarray(jnp.inf, mdp.R.dtype), 0))
    Q = mdp.R + mdp.gamma * jnp.einsum("sat,t->sa", mdp.P, V)
    policy = jax.nn.one_hot(jnp.argmax(Q, axis=-1), mdp.R.shape[1], dtype=mdp.R.dtype)
    values = state_values(mdp, policy)
    return OptimalSolution(values, policy, jnp.dot(mdp.mu, values), k, change)


class Trace(NamedTuple):
    theta: jax.Array  # the final parameters [S, A]
    returns: jax.Array  # eta(pi_k) for k = 0 .. num_steps


def _iterate(natural: bool, mdp: MDP, theta0, lr, num_steps: int) -> Trace:
    gamma = mdp.gamma

    def step(theta, _):
        pi = softmax_policy(theta)
        V = state_values(mdp, pi)
        adv = action_values(mdp, pi, V) - V[:, None]
        if natural:  # F^+ g (K1's closed form; see ``softmax_natural_gradient``)
            direction = (adv - jnp.mean(adv, axis=-1, keepdims=True)) / (1.0 - gamma)
        else:  # g[s, a] = rho(s) pi(a|s) A(s, a), the policy gradient theorem for softmax
            direction = visitation(mdp, pi)[:, None] * pi * adv
        return theta + lr * direction, jnp.dot(mdp.mu, V)

    theta, etas = jax.lax.scan(step, theta0, None, length=num_steps)
    final = expected_return(mdp, softmax_policy(theta))
    return Trace(theta, jnp.concatenate([etas, final[None]]))


def npg_iterate(mdp: MDP, theta0, lr, num_steps: int) -> Trace:
    """theta_{k+1} = theta_k + lr F^+ g, the exact natural gradient; jittable, vmappable.

    F^+ g is taken in its closed form (``softmax_natural_gradient``, equal to the dense
    ``natural_gradient`` by K1; the tests check both) because the dense route loses its
    accuracy once pi(a|s) falls below about 1e-10, which NPG reaches within a few steps.
    """
    return _iterate(True, mdp, theta0, lr, num_steps)


def pg_iterate(mdp: MDP, theta0, lr, num_steps: int) -> Trace:
    """theta_{k+1} = theta_k + lr g (vanilla policy gradient, g as in ``policy_gradient``)."""
    return _iterate(False, mdp, theta0, lr, num_steps)


def iterations_to_reach(returns, target, tol: float = 1e-6):
    """The first k with eta(pi_k) >= target - tol, or -1 when never reached."""
    hit = returns >= target - tol
    return jnp.where(jnp.any(hit), jnp.argmax(hit), -1)


class IterationComparison(NamedTuple):
    learning_rates: jax.Array  # [L], the fixed step sizes tried
    optimal_return: jax.Array  # [M] eta* by value iteration
    initial_return: jax.Array  # [M] eta(pi_0), pi_0 uniform (theta_0 = 0)
    npg_iterations: jax.Array  # [M, L] first k with eta(pi_k) >= eta* - tol, -1 if never
    pg_iterations: jax.Array  # [M, L] the same for vanilla PG
    npg_min_change: jax.Array  # [M, L] min_k eta(pi_{k+1}) - eta(pi_k)
    pg_min_change: jax.Array  # [M, L]
    npg_final_gap: jax.Array  # [M, L] eta* - eta(pi_K)
    pg_final_gap: jax.Array  # [M, L]


def compare_npg_pg(
    key,
    num_mdps: int,
    num_states: int,
    num_actions: int,
    gamma: float,
    learning_rates,
    num_steps: int,
    tol: float = 1e-6,
) -> IterationComparison:
    """Exact NPG and vanilla PG from the uniform policy on ``num_mdps`` random MDPs.

    Every (MDP, step size) pair runs ``num_steps`` iterations, all in one vmapped program.
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise NPGInputError(f"num_steps must be a positive integer, got {num_steps!r}")
    lrs = jnp.asarray(learning_rates, jnp.asarray(0.0).dtype)
    if lrs.ndim != 1 or lrs.size == 0 or not bool(jnp.all(lrs > 0)):
        raise NPGInputError(f"learning_rates must be a non-empty list of positive numbers; got {learning_rates}")
    if not 0.0 < float(gamma) < 1.0:
        raise NPGInputError(f"gamma must be a discount with 0 < gamma < 1; got {gamma}")
    keys = jax.random.split(key, num_mdps)
    return _compare(keys, lrs, num_states, num_actions, float(gamma), num_steps, tol)


@partial(jax.jit, static_argnames=("num_states", "num_actions", "gamma", "num_steps"))
def _compare(keys, lrs, num_states: int, num_actions: int, gamma: float, num_steps: int, tol):
    S, A = num_states, num_actions
    mdps = jax.vmap(lambda k: random_mdp(k, S, A, gamma))(keys)
    theta0 = jnp.zeros((S, A), mdps.R.dtype)
    optimal = jax.vmap(value_iteration)(mdps).optimal_return

    def runs(iterate):
        per_lr = jax.vmap(lambda m, lr: iterate(m, theta0, lr, num_steps).returns, (None, 0))
        return jax.vmap(per_lr, (0, None))(mdps, lrs)  # [M, L, K + 1]

    def summarize(returns):
        reach = jax.vmap(jax.vmap(iterations_to_reach, (0, None, None)), (0, 0, None))(
            returns, optimal, tol
        )
        return reach, jnp.min(jnp.diff(returns, axis=-1), axis=-1), optimal[:, None] - returns[..., -1]

    npg, pg = runs(npg_iterate), runs(pg_iterate)
    n_reach, n_min, n_gap = summarize(npg)
    p_reach, p_min, p_gap = summarize(pg)
    return IterationComparison(lrs, optimal, npg[:, 0, 0], n_reach, p_reach, n_min, p_min, n_gap, p_gap)

