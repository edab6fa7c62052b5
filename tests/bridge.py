"""The sym <-> num bridge, for tests only: lambdify npg_sym results to float64 numpy.

Also Hypothesis strategies drawing valid parameters for each registered family.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp
from hypothesis import strategies as st

import npg_sym

# Parameter boxes per family key, chosen inside each family's domain (sigma > 0, eta2 < 0)
# and away from numerically degenerate corners (probabilities below ~1e-3).
PARAM_BOXES = {
    "bernoulli_logit": [(-3.0, 3.0)],
    "categorical_softmax3": [(-2.5, 2.5)] * 3,
    "gaussian_unit_mean": [(-2.0, 2.0)],
    "gaussian_mean_std": [(-2.0, 2.0), (0.3, 3.0)],
    "gaussian_mean_logstd": [(-2.0, 2.0), (-1.0, 1.0)],
    "gaussian_natural": [(-2.0, 2.0), (-3.0, -0.2)],
}

_floats = dict(allow_nan=False, allow_infinity=False)


def params_for(key: str) -> st.SearchStrategy:
    return st.tuples(*(st.floats(lo, hi, **_floats) for lo, hi in PARAM_BOXES[key])).map(
        lambda t: np.array(t, dtype=np.float64)
    )


def rewards_for(key: str) -> st.SearchStrategy:
    fam = npg_sym.FAMILIES[key]
    n = len(fam.support) if fam.discrete else 3
    return st.lists(st.floats(-2.0, 2.0, **_floats), min_size=n, max_size=n).map(
        lambda r: np.array(r, dtype=np.float64)
    )


def direction_for(key: str) -> st.SearchStrategy:
    n = npg_sym.FAMILIES[key].dim
    return st.lists(st.floats(-1.0, 1.0, **_floats), min_size=n, max_size=n).map(
        lambda d: np.array(d, dtype=np.float64)
    ).filter(lambda d: np.linalg.norm(d) > 1e-3)


def family_and_params():
    return st.sampled_from(sorted(PARAM_BOXES)).flatmap(
        lambda k: st.tuples(st.just(k), params_for(k))
    )


def lambdify(args, expr):
    """A float64 numpy function of the flat argument list ``args``."""
    return sp.lambdify(args, expr, modules="numpy", cse=True)


@cache
def sym_fisher_fns(key: str):
    fam = npg_sym.FAMILIES[key]
    return {
        "score": lambdify(fam.params, npg_sym.fisher(fam)),
        "kl": lambdify(fam.params, npg_sym.fisher_from_kl(fam)),
        "hessian": lambdify(fam.params, npg_sym.fisher_from_hessian(fam)),
    }


@cache
def sym_kl_fn(key: str):
    fam = npg_sym.FAMILIES[key]
    other = npg_sym.primed(fam)
    return lambdify((*fam.params, *other), npg_sym.kl(fam, other))


@cache
def sym_quadratic_term_fn(key: str):
    fam = npg_sym.FAMILIES[key]
    d = npg_sym.direction_symbols(fam)
    return lambdify((*fam.params, *d), npg_sym.kl_taylor(fam, 2)[2])


@cache
def sym_log_prob_fn(key: str):
    fam = npg_sym.FAMILIES[key]
    return lambdify((*fam.params, fam.outcome), fam.log_prob)


@cache
def sym_bandit_fns(key: str):
    """(g, step, beta) as functions of (theta, rewards, delta)."""
    fam = npg_sym.FAMILIES[key]
    b = npg_sym.bandit(fam)
    delta = sp.Symbol("delta", positive=True)
    g = npg_sym.policy_gradient(b)
    step, beta = npg_sym.natural_step(npg_sym.fisher(fam), g, delta)
    args = (*fam.params, *b.coefficients, delta)
    return lambdify(args, g), lambdify(args, step), lambdify(args, beta)


@cache
def sym_surrogate_fns(key: str):
    """(eta, L) as functions of (theta, rewards) and (theta, other, rewards)."""
    fam = npg_sym.FAMILIES[key]
    b = npg_sym.bandit(fam)
    other = tuple(sp.Symbol(f"{p.name}_other", **p.assumptions0) for p in fam.params)
    eta = lambdify((*fam.params, *b.coefficients), npg_sym.expected_reward(b))
    surrogate = lambdify((*fam.params, *other, *b.coefficients), npg_sym.surrogate(b, other))
    return eta, surrogate


def as_vector(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(-1)


@cache
def num_bandit_step_fn(key: str, route: str):
    """jit((theta, rewards, delta) -> (g, StepResult)) through FVP + CG, to convergence."""
    import jax

    import npg_num

    fam = npg_num.FAMILIES[key]

    @jax.jit
    def run(theta, rewards, delta):
        g = npg_num.policy_gradient(key, theta, rewards)
        matvec = npg_num.make_fvp(npg_num.family_policy(fam), fam.head, theta, route=route)
        # dim iterations solve a dim x dim system; the tolerance stops CG once converged,
        # before rounding noise along a singular Fisher's null space is amplified.
        return g, npg_num.natural_step(g, matvec, delta, cg_iters=fam.dim, cg_tol=1e-13)

    return run


@cache
def num_policy_gradient_fn(key: str):
    import jax

    import npg_num

    return jax.jit(lambda theta, rewards: npg_num.policy_gradient(key, theta, rewards))
