"""C4: the surrogate is linear to first order, with the policy gradient as its slope.

On a one-state policy (a bandit) with symbolic rewards, for every registered family:
L_theta(theta) = eta(theta); the first Taylor term of eps -> L_theta(theta + eps d) is
g . d with g = grad eta (differentiated directly); and g = E[s A], the policy gradient
theorem (score-function form with the value baseline).
"""

from __future__ import annotations

import sys

import sympy as sp

from npg_sym import (
    FAMILIES,
    advantage,
    bandit,
    direction_symbols,
    expectation,
    expected_reward,
    policy_gradient,
    primed,
    surrogate,
    surrogate_taylor,
)

from ._core import Derivation, main_for

CLAIM = "C4"
TITLE = "The surrogate is linear to first order"
STATEMENT = "L(theta + d) - L(theta) = g^T d + O(|d|^2), g = grad eta (the policy gradient theorem)."


def derive(d: Derivation) -> None:
    d.say(
        r"Bandit: $\eta(\theta) = E_{x \sim \pi_\theta}[r(x)]$, $A_\theta(x) = r(x) - "
        r"\eta(\theta)$, $L_\theta(\theta') = \eta(\theta) + E_{x\sim\pi_\theta}"
        r"[\frac{\pi_{\theta'}(x)}{\pi_\theta(x)} A_\theta(x)]$, rewards symbolic "
        r"($r_k$ per outcome; $r_0 + r_1 x + r_2 x^2$ on $\mathbb{R}$)."
    )
    for key, fam in FAMILIES.items():
        b = bandit(fam)
        eta = expected_reward(b)
        grad_eta = sp.Matrix([sp.diff(eta, p) for p in fam.params])
        g = policy_gradient(b)
        dv = sp.Matrix(direction_symbols(fam))
        t0, t1 = surrogate_taylor(b, 1)
        d.say(f"**`{key}`**")
        d.show(r"\eta(\theta)", eta)
        d.show(r"g = E[s\,A]", g)
        d.identity(f"{key}: policy gradient theorem E[s A] = grad eta", g, grad_eta)
        d.identity(f"{key}: L_theta(theta) = eta(theta)", t0, eta)
        d.identity(f"{key}: first-order term = g . d", t1, (g.T * dv)[0])
        # One state: the importance-weighted surrogate is exactly eta at the new policy.
        other = primed(fam)
        d.identity(
            f"{key}: one state, L_theta(theta') = eta(theta')",
            surrogate(b, other),
            expected_reward(b, other),
        )
        d.identity(
            f"{key}: E[A] = 0 (the baseline is the state value)", expectation(fam, advantage(b)), 0
        )


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
