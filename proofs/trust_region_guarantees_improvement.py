"""C2: the trust region guarantees improvement (TRPO Theorem 1), exactly.

On a two-state, two-action MDP with symbolic rewards and discount and general policies
pi, pi~: L_pi(pi) = eta(pi); the gradient of L_pi(pi~) in pi~ at pi equals the gradient of
eta; and eta(pi~) >= L_pi(pi~) - C alpha^2 >= L_pi(pi~) - C KLmax(pi, pi~) with
C = 4 eps gamma / (1 - gamma)^2, proven lemma by lemma (performance difference, the
resolvent identity, the sign and sums of (I - gamma P)^-1, Pinsker). Then the bound is
decided in exact rational arithmetic on random 3-state, 3-action MDPs.
"""

from __future__ import annotations

import sys

import sympy as sp

from npg_sym import mdp as M

from ._core import Derivation, main_for
from ._small_mdp import c_over_ten_witness, rational_instances, small_mdp, theorem_one, zero

CLAIM = "C2"
TITLE = "The trust region guarantees improvement"
STATEMENT = (
    "TRPO Theorem 1: eta(pi~) >= L_pi(pi~) - (4 eps gamma / (1-gamma)^2) alpha^2, "
    "alpha = max_s TV(pi(.|s), pi~(.|s)), eps = max_{s,a} |A_pi(s,a)|; and the KL form with "
    "KLmax (TV^2 <= KL). Also L_pi(pi) = eta(pi) and grad L = grad eta at pi."
)


def derive(d: Derivation) -> None:
    sm = small_mdp()
    m, gamma, pi, pn, x, y = sm
    d.say(
        r"Two states, two actions, $P(s'|s,a)$ and $\mu$ rational, rewards $r_{sa}$ and "
        r"$\gamma$ symbolic; $\pi(0|s) = x_s$, $\tilde\pi(0|s) = y_s$ general."
    )
    d.show("P(0|s,a)", sp.Matrix(2, 2, lambda s, a: m.P[s, a, 0]))
    d.show(r"\mu", m.mu.T)
    eta = M.expected_return(m, pi)
    d.show(r"\eta(\pi)", sp.factor(eta))

    d.identity("L_pi(pi) = eta(pi)", zero(M.surrogate(m, pi, pi), eta),
               label=r"L_\pi(\pi) = \eta(\pi)")
    L = M.surrogate(m, pi, pn)
    for s in range(2):
        # pi~ is parameterized by y; any other parameterization follows by the chain rule.
        slope = sp.diff(L, y[s]).subs({y[0]: x[0], y[1]: x[1]})
        d.identity(f"d L_pi(pi~)/d y_{s} at pi~ = pi equals d eta(pi)/d x_{s}",
                   zero(slope, sp.diff(eta, x[s])),
                   label=rf"\left.\partial L_\pi(\tilde\pi)/\partial y_{s}\right|_{{\tilde\pi=\pi}} "
                         rf"= \partial\eta(\pi)/\partial x_{s}")
    theorem_one(d, sm)
    rational_instances(d, count=30, num_states=3, num_actions=3)
    _not_loose_by_ten(d)


def _not_loose_by_ten(d: Derivation) -> None:
    """A witness that C cannot be divided by 10 (found by Hypothesis, tests/test_mdp_bounds.py)."""
    m, _, pn, eta_new, L, C, kl_max, alpha = c_over_ten_witness()
    d.say(
        r"**How tight.** The constant cannot be cut tenfold: on the MDP with "
        r"$P(\cdot|0,\cdot)$ uniform, $P(\cdot|1,0)$ uniform, $P(0|1,1) = 1$, "
        r"$R = " + sp.latex(m.R) + r"$, $\gamma = 1/10$, $\mu = (0, 1)$, $\pi$ uniform and "
        r"$\tilde\pi = " + sp.latex(pn) + r"$:"
    )
    d.show(r"\eta(\tilde\pi)", eta_new)
    d.show(r"L_\pi(\tilde\pi) - C\alpha^2", L - C * alpha**2)
    gap_full = sp.N(eta_new - (L - C * kl_max), 50)
    gap_tenth = sp.N(eta_new - (L - C / 10 * kl_max), 50)
    d.require("Theorem 1 holds there (exact rationals; KL form at 50 digits)",
              bool(eta_new >= L - C * alpha**2 and gap_full >= 0),
              rf"\eta(\tilde\pi) - M(\tilde\pi) = {float(gap_full):.3e}")
    d.require("with C/10 it fails there: eta(pi~) < L - (C/10) KLmax (50 digits)",
              bool(gap_tenth < 0),
              rf"\eta(\tilde\pi) - (L - \tfrac{{C}}{{10}}\mathrm{{KL}}_{{\max}}) = {float(gap_tenth):.3e}")
    tv_ratio = float((L - eta_new) / (C * alpha**2))
    kl_ratio = float(sp.N((L - eta_new) / (C * kl_max), 30))
    d.say(
        f"Here $(L - \\eta(\\tilde\\pi))/(C\\alpha^2) = {tv_ratio:.3f}$ and "
        f"$(L - \\eta(\\tilde\\pi))/(C\\,\\mathrm{{KL}}_{{\\max}}) = {kl_ratio:.3f}$: the "
        f"total-variation form is within a factor {1 / tv_ratio:.1f} of tight on this MDP, the "
        f"KL form (which adds Pinsker's slack) within {1 / kl_ratio:.1f}."
    )


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
