"""K3: the softmax Fisher is singular: rank K-1, null space the constant shift of logits.

For K = 3 (the registry family) and K = 4: F 1 = 0 and det F = 0; the leading
(K-1)x(K-1) minor equals p_1 ... p_K > 0, so rank F = K - 1 exactly. Logits t and
t + c 1 give the same policy, the same F, the same gradient, and the same pseudo-inverse
step, which is orthogonal to 1.
"""

from __future__ import annotations

import sys

import sympy as sp

from npg_sym import (
    FAMILIES,
    bandit,
    categorical_softmax,
    det,
    fisher,
    natural_step,
    null_space,
    policy_gradient,
)

from ._core import Derivation, main_for

CLAIM = "K3"
TITLE = "The softmax Fisher is singular"
STATEMENT = (
    "rank K-1, null space = constant shift of logits; the pseudo-inverse step is unchanged "
    "by that shift."
)


def derive(d: Derivation) -> None:
    delta = sp.Symbol("delta", positive=True)
    c = sp.Symbol("c", real=True)
    for fam in (FAMILIES["categorical_softmax3"], categorical_softmax(4)):
        k = fam.dim
        F = fisher(fam)
        ones = sp.ones(k, 1)
        z = sum(sp.exp(t) for t in fam.params)
        probs = [sp.exp(t) / z for t in fam.params]
        d.say(f"**K = {k}** (`{fam.name}`):")
        d.identity(f"K={k}: F = diag(p) - p p^T", F,
                   sp.diag(*probs) - sp.Matrix(probs) * sp.Matrix(probs).T)
        d.identity(f"K={k}: F 1 = 0", F * ones, sp.zeros(k, 1))
        d.identity(f"K={k}: det F = 0", det(F), 0)
        minor = det(F[: k - 1, : k - 1])
        d.identity(f"K={k}: leading minor = p_1 ... p_K", minor, sp.Mul(*probs))
        d.require(f"K={k}: p_1 ... p_K > 0, so rank F = K - 1 = {k - 1}",
                  sp.Mul(*probs).is_positive)
        (v,) = null_space(F)
        d.identity(f"K={k}: null(F) = span(1)", v, ones)

        shift = {t: t + c for t in fam.params}
        d.identity(f"K={k}: F(t + c 1) = F(t)", F.xreplace(shift), F)
        g = policy_gradient(bandit(fam))
        d.identity(f"K={k}: g(t + c 1) = g(t)", g.xreplace(shift), g)
        d.identity(f"K={k}: g is orthogonal to 1 (so g in range F)", (ones.T * g)[0], 0)
        if k == 3:
            step, beta = natural_step(F, g, delta)
            d.show(r"d^*", step)
            d.identity("K=3: pseudo-inverse step unchanged by the shift", step.xreplace(shift), step)
            d.identity("K=3: 1^T d* = 0 (the step does not move along the null space)",
                       (ones.T * step)[0], 0)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
