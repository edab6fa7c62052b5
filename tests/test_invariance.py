"""The natural step is invariant to the parameterization of a network; the vanilla step is not.

A small tanh MLP policy (2 inputs, 4 hidden units) over 64 fixed states, in float64, with
an exact expected-return objective (quadrature, no sampling). Each Hypothesis example draws
the network, the states, the task and the reparameterization theta = f(phi):

- linear: theta = M phi, M = Q1 diag(e^u) Q2 random invertible (u in [-1, 1]), for a
  diagonal-Gaussian and a categorical head;
- std for log-std: phi holds sigma where theta holds log sigma (Gaussian head, sigma away
  from 1, where this map's Jacobian is the identity).

One step is taken in theta, one in phi (from scratch: gradient, Fisher-vector products, CG
to convergence), the second is mapped back through f, and the mean KL between the two new
policies is the gap. Both rules use the same KL size 1/2 d^T F d = delta. Expected:
natural gap = 0 up to round-off for a linear f and O(delta^2) for a non-linear f, below
C delta^1.5 and shrinking faster than delta^1.5; vanilla gap = O(delta), above it.

Draws whose Fisher is nearly singular beyond its exact null space (smallest eigenvalue
below 1e-10 of the largest; about 3% of draws) are skipped with ``assume``: there the
natural step leaves the quadratic regime by orders of magnitude and CG round-off, not
geometry, decides the gap. Stress run: 800 random draws per case passed; the closest
margins were a factor 30 (natural gap below the bound) and 3 (vanilla gap above it).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import npg_num

OBS_DIM, HIDDEN, N_STATES = 2, (4,), 64
DELTAS = (1e-2, 1e-3, 1e-4, 1e-5)
C = 0.1  # the constant of the bound gap <= C delta^1.5
SLOPE_15 = (DELTAS[-1] / DELTAS[0]) ** 1.5  # how much a delta^1.5 quantity shrinks over DELTAS
# Directions that change no policy at all: for a categorical head with 2 actions, adding the
# same vector to both columns of the output layer (weights and bias) shifts both logits.
EXACT_NULL = {"diag_gaussian": 0, "categorical": HIDDEN[-1] + 1}
MIN_RELATIVE_CURVATURE = 1e-10  # smallest non-null Fisher eigenvalue / largest
ACTIONS = {"diag_gaussian": 1, "categorical": 2}
POLICIES = {
    head: npg_num.mlp_policy(jax.random.PRNGKey(0), OBS_DIM, n, hidden=HIDDEN, head=head,
                             dtype=jnp.float64)[0]
    for head, n in ACTIONS.items()
}

seeds = st.integers(0, 2**31 - 1)
log_stds = st.floats(-1.5, -0.5)


def _problem(seed: int, head: str, log_std: float):
    """theta, states, task and a random invertible M for one drawn example."""
    k_init, k_noise, k_states, k_task, k_q1, k_q2, k_u = jax.random.split(jax.random.PRNGKey(seed), 7)
    policy, theta0 = npg_num.mlp_policy(k_init, OBS_DIM, ACTIONS[head], hidden=HIDDEN, head=head,
                                        dtype=jnp.float64)
    # Away from the initialization (output gain 0.01), where the Fisher is better conditioned.
    theta = theta0 + 0.3 * jax.random.normal(k_noise, theta0.shape)
    if head == "diag_gaussian":
        params = policy.unravel(theta)
        params["log_std"] = jnp.full_like(params["log_std"], log_std)
        theta = jax.flatten_util.ravel_pytree(params)[0]
    states = jax.random.normal(k_states, (N_STATES, OBS_DIM))
    task = jax.random.normal(k_task, (N_STATES, ACTIONS[head]))
    p = theta.shape[0]
    q1 = jax.random.orthogonal(k_q1, p)
    q2 = jax.random.orthogonal(k_q2, p)
    matrix = q1 @ jnp.diag(jnp.exp(jax.random.uniform(k_u, (p,), minval=-1.0, maxval=1.0))) @ q2
    return theta, states, task, matrix


@partial(jax.jit, static_argnames="head")
def _fisher_spectrum(theta, states, *, head: str):
    policy = POLICIES[head]
    return jnp.linalg.eigvalsh(npg_num.policy_fisher(lambda t: policy.apply(t, states), policy.head, theta))


def well_conditioned(theta, states, head: str) -> bool:
    """Whether the Fisher is invertible enough on its range for CG to converge in float64.

    A random draw can leave a hidden unit with an output weight near 0; its input weights
    then barely move the policy, F has an eigenvalue near 1e-14, the natural step is huge
    (KL far beyond delta) and CG's round-off dominates. Such draws test nothing here.
    """
    values = np.asarray(_fisher_spectrum(theta, states, head=head))
    return values[EXACT_NULL[head]] >= MIN_RELATIVE_CURVATURE * values[-1]


def _reward(head: str, task):
    if head == "categorical":
        return lambda actions: jnp.take_along_axis(task, actions, axis=1)  # r_n(a) = task[n, a]
    return lambda actions: -((actions[..., 0] - task[:, None, 0]) ** 2)  # r_n(a) = -(a - c_n)^2


@partial(jax.jit, static_argnames=("head", "kind", "rule"))
def _gaps(theta, states, task, matrix, *, head: str, kind: str, rule: str):
    policy = POLICIES[head]

    def policy_fn(t):
        return policy.apply(t, states)

    objective = npg_num.expected_return(policy_fn, policy.head, _reward(head, task))
    cmap = npg_num.linear_map(matrix) if kind == "linear" else npg_num.std_for_log_std(policy)

    def one(delta):
        return npg_num.compare_steps(policy_fn, policy.head, objective, theta, cmap, delta,
                                     rule=rule, cg_iters=150, cg_tol=1e-13)

    return jax.vmap(one)(jnp.asarray(DELTAS))


def measure(seed: int, head: str, kind: str, rule: str, log_std: float = -1.0):
    """The InvarianceResult for each delta, or None for an ill-conditioned draw."""
    theta, states, task, matrix = _problem(seed, head, log_std)
    if not well_conditioned(theta, states, head):
        return None
    return _gaps(theta, states, task, matrix, head=head, kind=kind, rule=rule)


CASES = [("diag_gaussian", "linear"), ("categorical", "linear"), ("diag_gaussian", "std")]


BOUND = C * np.asarray(DELTAS) ** 1.5


@settings(max_examples=8)
@given(seed=seeds, log_std=log_stds)
@pytest.mark.parametrize("head", ["diag_gaussian", "categorical"])
def test_natural_step_is_invariant_under_a_linear_map(head, seed, log_std):
    r = measure(seed, head, "linear", "natural", log_std)
    assume(r is not None)
    gap = np.asarray(r.kl_gap)
    assert np.all(np.asarray(r.step_theta.accepted)) and np.all(np.asarray(r.step_phi.accepted))
    # CG ran to convergence in both coordinate systems (|g| is of order 0.01 to 1 here).
    assert np.all(np.asarray(r.step_theta.cg_residual) <= 1e-10)
    assert np.all(np.asarray(r.step_phi.cg_residual) <= 1e-10)
    # Exact invariance for a linear map: the gap is round-off, far below C delta^1.5.
    assert np.all(np.abs(gap) <= 1e-9 * np.asarray(DELTAS)), f"natural KL gap {gap}"
    assert np.all(gap <= BOUND)
    np.testing.assert_allclose(r.kl_theta, r.kl_phi, rtol=1e-6)


@settings(max_examples=10)
@given(seed=seeds, log_std=log_stds)
def test_natural_step_is_invariant_to_second_order_for_std_vs_log_std(seed, log_std):
    r = measure(seed, "diag_gaussian", "std", "natural", log_std)
    assume(r is not None)
    gap = np.asarray(r.kl_gap)
    assert np.all(np.asarray(r.step_theta.accepted)) and np.all(np.asarray(r.step_phi.accepted))
    assert np.all(gap <= BOUND), f"natural KL gap {gap} above {C} delta^1.5"
    # Shrinks faster than delta^1.5 (it is O(delta^2)): over a 1000x smaller delta, by more
    # than 1000^1.5.
    assert gap[-1] <= SLOPE_15 * gap[0], f"natural KL gap {gap} does not shrink like delta^1.5"


@settings(max_examples=8)
@given(seed=seeds, log_std=log_stds)
@pytest.mark.parametrize("head,kind", CASES)
def test_vanilla_step_is_not_invariant(head, kind, seed, log_std):
    r = measure(seed, head, kind, "vanilla", log_std)
    assume(r is not None)
    gap = np.asarray(r.kl_gap)
    # The same KL size as the natural step (1/2 d^T F d = delta) in both systems.
    np.testing.assert_allclose(0.5 * np.asarray(r.step_theta.q) * np.asarray(r.step_theta.beta) ** 2,
                               DELTAS, rtol=1e-10)
    assert gap[-1] > BOUND[-1], f"vanilla KL gap {gap} is within {C} delta^1.5"
    assert gap[-1] > SLOPE_15 * gap[0], f"vanilla KL gap {gap} shrinks faster than delta^1.5"


def test_identity_map_gives_no_gap_for_either_rule():
    theta, states, task, _ = _problem(3, "diag_gaussian", -1.0)
    p = theta.shape[0]
    for rule in npg_num.STEP_RULES:
        r = _gaps(theta, states, task, jnp.eye(p), head="diag_gaussian", kind="linear", rule=rule)
        assert np.all(np.abs(np.asarray(r.kl_gap)) <= 1e-20)


def test_std_for_log_std_maps_exactly_the_log_std_entries():
    policy = POLICIES["diag_gaussian"]
    cmap = npg_num.std_for_log_std(policy)
    theta = jnp.arange(policy.num_params, dtype=jnp.float64) / 10.0 - 0.4
    phi = cmap.inverse(theta)
    changed = np.flatnonzero(np.asarray(phi != theta))
    params = policy.unravel(theta)
    np.testing.assert_allclose(policy.unravel(phi)["log_std"], np.exp(params["log_std"]))
    assert len(changed) == params["log_std"].size
    np.testing.assert_allclose(cmap.forward(phi), theta, rtol=1e-14, atol=1e-15)
    with pytest.raises(npg_num.NPGInputError, match="diagonal Gaussian head"):
        npg_num.std_for_log_std(POLICIES["categorical"])


def test_compare_steps_rejects_an_unknown_rule():
    policy = POLICIES["diag_gaussian"]
    with pytest.raises(npg_num.NPGInputError, match="unknown step rule 'adam'"):
        npg_num.compare_steps(lambda t: policy.apply(t, jnp.zeros((1, OBS_DIM))), policy.head,
                              lambda t: 0.0, jnp.zeros(policy.num_params),
                              npg_num.linear_map(jnp.eye(policy.num_params)), 0.1, rule="adam")
