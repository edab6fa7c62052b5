"""C6: the Fisher information is the Hessian of the KL, and minus the expected Hessian.

For every registered family, three exact routes give the same matrix:
E[s s^T] (definition), Hess_{theta'} KL(pi_theta || pi_theta') at theta' = theta, and
-E[Hess log pi_theta]; the matrix is symmetric.
"""

from __future__ import annotations

import sys

from npg_sym import FAMILIES, fisher, fisher_from_hessian, fisher_from_kl, score

from ._core import Derivation, main_for

CLAIM = "C6"
TITLE = "F is the Fisher information, the Hessian of KL"
STATEMENT = (
    "Hessian_{theta'} KL(pi_theta || pi_theta') at theta' = theta == E_a[score score^T] "
    "== -E_a[Hessian log pi], score = grad_theta log pi_theta(a)."
)


def derive(d: Derivation) -> None:
    for key, fam in FAMILIES.items():
        F = fisher(fam)
        d.say(f"**`{key}`**: {fam.description}.")
        d.show(r"s = \nabla_\theta \log \pi_\theta(x)", score(fam).T)
        d.show(r"F = E[s s^\top]", F)
        d.identity(f"{key}: F symmetric", F, F.T, label=r"F = F^\top")
        d.identity(
            f"{key}: Hess KL = E[s s^T]", fisher_from_kl(fam), F,
            label=r"\nabla^2_{\theta'} \mathrm{KL}(\pi_\theta\|\pi_{\theta'})|_{\theta'=\theta}"
            r" = E[s s^\top]",
        )
        d.identity(
            f"{key}: -E[Hess log pi] = E[s s^T]", fisher_from_hessian(fam), F,
            label=r"-E[\nabla^2_\theta \log \pi_\theta] = E[s s^\top]",
        )


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
