"""ACKTR's policy step (``acktr``, Wu et al. 2017): the K-FAC natural step.

    theta <- theta + beta u,  u = K^-1 g with K the damped K-FAC Fisher (``npg_num.kfac``),
    beta = sqrt(2 delta / u^T K u)                              (``npg_num.kfac_natural_step``)

taken whenever the guard passes, K's factors from this batch (its output factor on the
batch's own sampled actions, or its exact expectation over actions: ``kfac_fisher``).
"""

from __future__ import annotations

from typing import Callable

from ...kfac import kfac_factors, kfac_natural_step
from ..options import Setting, choice
from .base import Algo, PolicyBatch
from .natural import DAMPING, DELTA, surrogate, take_full_step

__all__ = ["ACKTR", "KFAC_FISHER"]

KFAC_FISHER = ("sampled", "exact")

KFAC_FISHER_OPTION = Setting(
    "kfac_fisher", "str", "sampled", "acktr: the K-FAC output factor from the batch's own "
    f"(sampled) actions, or its exact expectation over actions: {' or '.join(KFAC_FISHER)}",
    choice(*KFAC_FISHER))


def make_acktr_step(config, policy) -> Callable:
    """ACKTR's policy step: the K-FAC natural direction, from this batch's factors (on the
    batch's own actions when ``kfac_fisher`` is "sampled"), scaled to the trust region
    delta and taken whenever the guard passes."""

    def step(theta, algo_state, batch: PolicyBatch):
        sur = surrogate(policy, theta, batch)
        actions = batch.actions if config.kfac_fisher == "sampled" else None
        factors = kfac_factors(policy, theta, batch.obs, actions)
        res = kfac_natural_step(policy, factors, sur.g, config.delta, config.damping)
        theta, info = take_full_step(policy, theta, sur, res)
        return theta, algo_state, info

    return step


# The K-FAC step overshoots its KL on Gaussian policies (measured about 10 x delta on
# Pendulum at delta 0.01), so those take baselines' kl_clip of 0.001
# (docs/approximations.md).
ACKTR = Algo(
    "acktr", "the K-FAC natural step (Kronecker-factored Fisher) of size delta",
    make_acktr_step,
    options=(DELTA, DAMPING, KFAC_FISHER_OPTION),
    defaults={"Pendulum-v1": dict(delta=0.001), "mujoco": dict(delta=0.001)},
)
