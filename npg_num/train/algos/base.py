"""What an algorithm is to the trainer: an ``Algo`` (its policy step, the step's state, its
own options with their defaults and checks, its defaults per environment), the
``PolicyBatch`` a step sees and the ``PolicyStepInfo`` it reports.

A step is a pure function, called inside jit:

    step(theta, algo_state, batch: PolicyBatch) -> (theta', algo_state', PolicyStepInfo)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp

from ..options import Setting
from ..state import PolicyStepInfo

__all__ = ["Algo", "PolicyBatch", "step_info", "no_state"]


class PolicyBatch(NamedTuple):
    """What a policy step sees: one update's batch, flattened over time and environments."""

    obs: jax.Array  # [N, obs_dim], normalized
    actions: jax.Array  # [N] (discrete) or [N, action_dim]
    advantages: jax.Array  # [N]
    order: jax.Array  # a random permutation of range(N): subsamples and minibatches


def no_state(config, theta):
    """The state of a step that carries none between updates."""
    return ()


@dataclass(frozen=True)
class Algo:
    """A policy-update rule, everything about it in one place.

    - ``name``, ``description`` (one line: the CLI's ``--algo`` help);
    - ``make_step(config, policy) -> step`` and ``init(config, theta) -> algo_state``
      (the step's own state, carried in ``TrainState.algo_state`` and checkpointed);
    - ``options``: its own settings (``options.Setting``: name, kind, default, help, check),
      which become ``TrainConfig`` values (``config.delta``) and CLI flags (``--delta``);
      algorithms may share a ``Setting`` (npg, trpo and acktr all take ``delta``);
    - ``defaults``: changes to those defaults (and to common fields) by environment kind
      (``"gymnax"``, ``"mujoco"``) or by environment ID, the ID winning;
    - ``check(config)``: checks across fields (e.g. a minibatch count dividing the batch),
      raising ``NPGInputError``; or None.
    """

    name: str
    description: str
    make_step: Callable
    init: Callable = no_state
    options: tuple = ()
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    check: Optional[Callable] = None

    def option(self, name: str) -> Optional[Setting]:
        for s in self.options:
            if s.name == name:
                return s
        return None


def step_info(dtype, *, kl, beta, accepted, guard_ok, line_search_steps, step_fraction,
              cg_residual, expected_improvement, surrogate_improvement,
              entropy) -> PolicyStepInfo:
    """A ``PolicyStepInfo`` with every float in the run's ``dtype`` and the counter int32."""
    cast = lambda x: jnp.asarray(x).astype(dtype)  # noqa: E731
    return PolicyStepInfo(
        kl=cast(kl), beta=cast(beta), accepted=jnp.asarray(accepted),
        guard_ok=jnp.asarray(guard_ok),
        line_search_steps=jnp.asarray(line_search_steps, jnp.int32),
        step_fraction=cast(step_fraction), cg_residual=cast(cg_residual),
        expected_improvement=cast(expected_improvement),
        surrogate_improvement=cast(surrogate_improvement), entropy=cast(entropy),
    )
