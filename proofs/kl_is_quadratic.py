"""C3: the KL divergence is quadratic to second order, with the Fisher as its Hessian.

For every registered family, expand eps -> KL(pi_theta || pi_{theta + eps d}) exactly:
the 0th and 1st Taylor terms are identically 0, and the 2nd is 1/2 d^T F d with F the
Fisher by its definition E[s s^T]. A mean KL over states is a weighted sum of per-state
KLs, so its terms are the weighted sums (shown on a two-state policy).
"""

from __future__ import annotations

import sys

import sympy as sp

from npg_sym import FAMILIES, direction_symbols, fisher, kl, kl_taylor, primed

from ._core import Derivation, main_for

CLAIM = "C3"
TITLE = "KL is quadratic to second order"
STATEMENT = (
    "KLbar(theta, theta + d) = 1/2 d^T F d + O(|d|^3): the 0th- and 1st-order Taylor "
    "terms are identically 0."
)


def derive(d: Derivation) -> None:
    d.say(
        r"Write $\mathrm{KL}(\theta, \theta + \epsilon d) = \sum_k T_k \epsilon^k$ with "
        r"$T_k = \frac{1}{k!} \partial_\epsilon^k \mathrm{KL}|_{\epsilon=0}$."
    )
    for key, fam in FAMILIES.items():
        F = fisher(fam)
        dv = sp.Matrix(direction_symbols(fam))
        t0, t1, t2 = kl_taylor(fam, 2)
        d.say(f"**`{key}`**: {fam.description}.")
        d.show(r"\mathrm{KL}(\pi_\theta \,\|\, \pi_{\theta'})", kl(fam, primed(fam)))
        d.show("F", F)
        d.identity(f"{key}: T_0 = 0", t0, 0)
        d.identity(f"{key}: T_1 = 0", t1, 0)
        d.identity(f"{key}: T_2 = 1/2 d^T F d", t2, (dv.T * F * dv)[0] / 2)

    # Mean KL over two states, each with its own Bernoulli policy, weights w and 1 - w.
    fam = FAMILIES["bernoulli_logit"]
    ta, tb = sp.symbols("t_a t_b", real=True)
    da, db = sp.symbols("d_a d_b", real=True)
    w = sp.Symbol("w", positive=True)
    eps, u = sp.symbols("epsilon u", real=True)
    (t,) = fam.params
    kl_state = kl(fam, (t + eps * u,))  # KL of one state along direction u
    mean_kl = w * kl_state.subs({t: ta, u: da}) + (1 - w) * kl_state.subs({t: tb, u: db})
    t2 = sp.diff(mean_kl, eps, 2).subs(eps, 0) / 2
    f = fisher(fam)[0]
    fbar = sp.diag(w * f.subs(t, ta), (1 - w) * f.subs(t, tb))
    dv = sp.Matrix([da, db])
    d.say(
        "**Mean KL over two states** with weights $w, 1 - w$ and independent Bernoulli "
        r"policies: $\bar F$ is block-diagonal with the weighted per-state Fisher blocks."
    )
    d.identity("mean KL: T_0 = 0", mean_kl.subs(eps, 0), 0)
    d.identity("mean KL: T_1 = 0", sp.diff(mean_kl, eps).subs(eps, 0), 0)
    d.identity("mean KL: T_2 = 1/2 d^T Fbar d", t2, (dv.T * fbar * dv)[0] / 2)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
