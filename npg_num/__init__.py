"""npg_num: the Natural Policy Gradient, numerically (JAX only; never imports sympy).

The maths core: the registry families with dense Fisher matrices (four routes),
Fisher-vector products by two routes for any policy ``theta -> distribution parameters``,
conjugate gradient, the guarded natural step, K-FAC (``npg_num.kfac``), the geometry of
reparameterizations and the finite-MDP API (``npg_num.mdp``). Importing ``npg_num`` loads
these only; the training wing, ``npg_num.train``, is imported on first use of one of its
names (``npg_num.make_train``, ``npg_num.TrainConfig``, ...).
"""

from .bandit import expected_reward, policy_gradient, reward_fn, surrogate
from .cg import CGResult, cg
from .distributions import CATEGORICAL, DIAG_GAUSSIAN, HEADS, Categorical, DiagGaussian
from .errors import NPGInputError
from .families import FAMILIES, Family, expectation, family_policy, get_family, quadrature
from .fisher import FISHER_ROUTES, fisher, policy_fisher
from .fvp import ROUTES, densify, fvp, make_fvp
from .natural_step import StepResult, natural_step, trust_region_step
from .networks import Policy, apply_mlp, init_mlp, mlp_policy, mlp_policy_spec
from .geometry import (
    REPARAMETERIZATIONS,
    STEP_RULES,
    SUFFICIENT_STATISTICS,
    CoordinateMap,
    InvarianceResult,
    Reparameterization,
    compare_steps,
    expected_return,
    get_reparameterization,
    jacobian,
    linear_map,
    mean_parameters,
    polar_to_cartesian,
    pullback,
    std_for_log_std,
    vanilla_step,
)

from . import mdp  # the finite-MDP API, as a submodule: npg_num.mdp

# training lives in its own wing (npg_num.train), imported on first use of one of its names
_TRAINING = (
    "ALGOS", "SOLVED_AT", "SUPPORTED_ENVS", "TUNED", "EnvSpec", "Metrics", "TrainConfig",
    "Trainer", "TrainState", "default_config", "gae", "lambda_returns", "make_env",
    "make_train", "make_trainer", "per_seed", "seed_keys", "seed_sharding",
)


def __getattr__(name: str):
    if name in _TRAINING:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module 'npg_num' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TRAINING))


__all__ = [
    "FAMILIES",
    "Family",
    "get_family",
    "family_policy",
    "quadrature",
    "expectation",
    "NPGInputError",
    "Categorical",
    "DiagGaussian",
    "CATEGORICAL",
    "DIAG_GAUSSIAN",
    "HEADS",
    "fisher",
    "FISHER_ROUTES",
    "policy_fisher",
    "fvp",
    "make_fvp",
    "densify",
    "ROUTES",
    "cg",
    "CGResult",
    "natural_step",
    "trust_region_step",
    "StepResult",
    "Policy",
    "mlp_policy",
    "mlp_policy_spec",
    "init_mlp",
    "apply_mlp",
    "reward_fn",
    "expected_reward",
    "surrogate",
    "policy_gradient",
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
    "mdp",
    # training (npg_num.train)
    "ALGOS",
    "make_env",
    "EnvSpec",
    "SUPPORTED_ENVS",
    "SOLVED_AT",
    "gae",
    "lambda_returns",
    "TrainConfig",
    "TUNED",
    "default_config",
    "make_train",
    "make_trainer",
    "Trainer",
    "TrainState",
    "Metrics",
    "seed_keys",
    "seed_sharding",
    "per_seed",
]
