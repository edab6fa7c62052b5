"""npg_sym: the Natural Policy Gradient, exactly (SymPy only; never imports jax).

Families of policies (scalar or vector outcomes, optionally conditional on a state) with their Fisher matrices (three routes), KL divergences and Taylor
expansions, the bandit surrogate, and the closed-form trust-region step.
"""

from .bandit import (
    Bandit,
    advantage,
    bandit,
    expected_reward,
    policy_gradient,
    surrogate,
    surrogate_taylor,
)
from .errors import NotClosedError, NPGInputError
from .expectation import gaussian_integral
from .budget import OutOfTime, time_limit
from .routes import (
    integration_routes,
    ExpectationResult,
    exact_expectation,
    fallback_budget,
    normalization,
    record_expectations,
)
from .simplification import adjugate, det, exp_to_rational, is_zero, tidy, tidy_matrix
from .families import (
    FAMILIES,
    SUPPORT_KINDS,
    Family,
    categorical_softmax,
    classify_support,
    expectation,
    get_family,
    primed,
)
from .fisher import fisher, fisher_from_hessian, fisher_from_kl, score
from .outcome_map import OutcomeMap, transformed
from .vector import SIMPLEX, States
from .kl import direction_symbols, kl, kl_taylor, kl_taylor_under_integral, taylor_terms
from .trust_region import TrustRegionSolution, natural_step, null_space, solve_trust_region
from .geometry import (
    REPARAMETERIZATIONS,
    SUFFICIENT_STATISTICS,
    CoordinateMap,
    Reparameterization,
    euclidean_metric,
    get_reparameterization,
    mean_parameters,
    metric_from_squared_distance,
    polar_to_cartesian,
    pullback,
    pullback_covector,
    pushforward,
    sufficient_statistics,
)

from . import mdp  # the finite-MDP API, as a submodule: npg_sym.mdp

__all__ = [
    "SIMPLEX",
    "States",
    "OutcomeMap",
    "transformed",
    "FAMILIES",
    "Family",
    "get_family",
    "expectation",
    "exact_expectation",
    "ExpectationResult",
    "NotClosedError",
    "normalization",
    "record_expectations",
    "fallback_budget",
    "integration_routes",
    "SUPPORT_KINDS",
    "classify_support",
    "time_limit",
    "OutOfTime",
    "primed",
    "categorical_softmax",
    "gaussian_integral",
    "tidy",
    "tidy_matrix",
    "is_zero",
    "det",
    "adjugate",
    "exp_to_rational",
    "NPGInputError",
    "score",
    "fisher",
    "fisher_from_kl",
    "fisher_from_hessian",
    "kl",
    "kl_taylor",
    "kl_taylor_under_integral",
    "direction_symbols",
    "taylor_terms",
    "Bandit",
    "bandit",
    "expected_reward",
    "advantage",
    "surrogate",
    "surrogate_taylor",
    "policy_gradient",
    "natural_step",
    "solve_trust_region",
    "TrustRegionSolution",
    "null_space",
    "CoordinateMap",
    "Reparameterization",
    "REPARAMETERIZATIONS",
    "get_reparameterization",
    "polar_to_cartesian",
    "euclidean_metric",
    "pullback",
    "pushforward",
    "pullback_covector",
    "metric_from_squared_distance",
    "SUFFICIENT_STATISTICS",
    "sufficient_statistics",
    "mean_parameters",
    "mdp",
]
