"""C7: in flat space (F = I) the natural step is the normalized vanilla gradient step.

With F = I the trust-region problem max g^T d s.t. 1/2 |d|^2 <= delta is solved by
d* = beta g, beta = sqrt(2 delta) / |g|: gradient ascent with the learning rate chosen so
that the step has length sqrt(2 delta). Shown for a general g in 2 and 3 dimensions with
the Lagrangian derivation of ``npg_sym.solve_trust_region``. The family
``gaussian_unit_mean`` has F = 1 exactly, its KL is exactly 1/2 d^2 (no higher terms, so
the trust region is exactly a ball), and two independent copies give F = I_2. By
contrast ``gaussian_mean_std`` has F = diag(1, 2) / sigma^2, not a multiple of I, and its
natural direction is not parallel to g.
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp

from npg_sym import (
    FAMILIES,
    bandit,
    expectation,
    fisher,
    fisher_from_kl,
    kl,
    natural_step,
    policy_gradient,
    score,
    solve_trust_region,
)

from ._core import Derivation, main_for
from ._plotting import arrow, ellipse_points, plt, save

CLAIM = "C7"
TITLE = "Flat space gives the vanilla gradient"
STATEMENT = (
    "F = I makes d* = beta g: natural = normalized vanilla step. Exhibit a family where F = I "
    "exactly (Gaussian mean, unit variance)."
)


def _identity_metric(d: Derivation, delta: sp.Symbol) -> None:
    for n in (2, 3):
        g = sp.Matrix(sp.symbols(f"g1:{n + 1}", real=True))
        sol = solve_trust_region(sp.eye(n), g, delta)
        norm2 = (g.T * g)[0]
        d.say(f"**F = I_{n}**, general $g$:")
        d.show(r"d(\lambda)", sol.stationary_step.T)
        d.show(r"\beta", sol.beta)
        d.identity(f"n={n}: d* = beta g (the vanilla direction)", sol.step, sol.beta * g)
        d.identity(f"n={n}: beta^2 |g|^2 = 2 delta (step length sqrt(2 delta))",
                   sol.beta**2 * norm2, 2 * delta)
        d.identity(f"n={n}: 1/2 |d*|^2 = delta", (sol.step.T * sol.step)[0] / 2, delta)
    d.say(
        r"So $d^* = \sqrt{2\delta}\, g / \lVert g\rVert$: a gradient-ascent step with learning "
        r"rate $\alpha = \beta = \sqrt{2\delta}/\lVert g\rVert$. Nothing but the length depends "
        r"on $\delta$."
    )


def _unit_mean(d: Derivation, delta: sp.Symbol) -> None:
    fam = FAMILIES["gaussian_unit_mean"]
    (mu,) = fam.params
    u = sp.Symbol("u", real=True)
    d.say(f"**`gaussian_unit_mean`**: {fam.description}.")
    d.show("F", fisher(fam))
    d.identity("gaussian_unit_mean: F = E[s s^T] = 1", fisher(fam), sp.eye(1))
    d.identity("gaussian_unit_mean: F = Hess KL = 1", fisher_from_kl(fam), sp.eye(1))
    d.identity(
        "gaussian_unit_mean: KL(mu || mu + u) = u^2 / 2 exactly (no O(u^3) term)",
        kl(fam, (mu + u,)), u**2 / 2,
        label=r"\mathrm{KL}(\pi_\mu \| \pi_{\mu+u}) = u^2/2",
    )
    b = bandit(fam)
    g = policy_gradient(b)
    step, beta = natural_step(fisher(fam), g, delta)
    d.show("g", g)
    d.show(r"d^*", step)
    d.identity("gaussian_unit_mean: d* = beta g", step, beta * g)
    d.identity("gaussian_unit_mean: beta^2 g^2 = 2 delta", beta**2 * g[0] ** 2, 2 * delta)

    # Two independent unit-variance coordinates: log pi = log pi(x1; mu1) + log pi(x2; mu2),
    # so the score is (s1, s2) and F_12 = E[s1 s2] = E[s1] E[s2].
    s = score(fam)[0]
    mean_score = expectation(fam, s)
    d.identity("E[s] = 0 for gaussian_unit_mean", mean_score, 0)
    f_diag = fisher(fam)[0]
    f_product = sp.Matrix([[f_diag, mean_score**2], [mean_score**2, f_diag]])
    d.say(
        r"**Two independent copies** $x_i \sim N(\mu_i, 1)$: the score is $(s_1, s_2)$, "
        r"$F_{12} = E[s_1 s_2] = E[s_1] E[s_2] = 0$, so $F = I_2$: a flat two-dimensional "
        "family, whose trust region is a disc."
    )
    d.identity("two unit-mean coordinates: F = I_2", f_product, sp.eye(2))


def _not_flat(d: Derivation) -> sp.Matrix:
    fam = FAMILIES["gaussian_mean_std"]
    F = fisher(fam)
    g1, g2 = sp.symbols("g_1 g_2", real=True)
    g = sp.Matrix([g1, g2])
    natural = F.inv() * g
    d.say(
        "**A curved family for contrast, `gaussian_mean_std`**: $F$ is not a multiple of "
        r"$I$, so $F^{-1} g$ turns away from $g$ (the determinant of the two directions is "
        r"non-zero whenever $g_1 g_2 \ne 0$):"
    )
    d.show("F", F)
    sigma = fam.params[1]
    turn = sp.Matrix.hstack(natural, g).det()
    d.identity("gaussian_mean_std: det[F^-1 g, g] = sigma^2 g1 g2 / 2", turn, sigma**2 * g1 * g2 / 2)
    return F


def _figure(d: Derivation, delta_value: float) -> None:
    fam = FAMILIES["gaussian_mean_std"]
    mu, sigma = fam.params
    rewards = dict(zip(bandit(fam).coefficients, (0, 1, sp.Rational(1, 4))))
    point = {mu: 0, sigma: 1}
    g_curved = np.array(policy_gradient(bandit(fam)).subs(rewards).subs(point), dtype=float).ravel()
    F_curved = np.array(fisher(fam).subs(point), dtype=float)
    cases = [
        ("flat: two N(mu_i, 1), F = I", np.eye(2), g_curved, ("d mu_1", "d mu_2")),
        ("curved: N(mu, sigma^2) at (0, 1), F = diag(1, 2)", F_curved, g_curved,
         ("d mu", "d sigma")),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, (title, F, g, labels) in zip(axes, cases):
        region = ellipse_points(F, 2 * delta_value)
        ball = ellipse_points(np.eye(2), 2 * delta_value)
        natural = np.linalg.solve(F, g)
        natural *= np.sqrt(2 * delta_value / (natural @ F @ natural))
        vanilla = g * np.sqrt(2 * delta_value / (g @ F @ g))
        ax.fill(region[:, 0], region[:, 1], color="tab:blue", alpha=0.15,
                label=r"trust region $\frac{1}{2} d^T F d \leq \delta$")
        ax.plot(ball[:, 0], ball[:, 1], "k--", lw=1, label=r"Euclidean ball $\frac{1}{2}|d|^2 \leq \delta$")
        # Level lines of the linear objective g^T d through the natural step: it touches there.
        t = np.linspace(-1, 1, 2)
        perp = np.array([-g[1], g[0]]) / np.linalg.norm(g)
        line = natural[None, :] + t[:, None] * perp[None, :]
        ax.plot(line[:, 0], line[:, 1], color="tab:gray", lw=0.8, ls=":",
                label=r"level line of $g^T d$ at $d^*$")
        arrow(ax, (0, 0), natural, "salmon", r"natural $d^* = \beta F^{-1} g$", lw=4.5)
        arrow(ax, (0, 0), vanilla, "tab:green", r"vanilla $\alpha g$, same $\frac{1}{2} d^T F d$")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_aspect("equal")
        lim = 1.5 * np.sqrt(2 * delta_value) * max(1.0, 1 / np.sqrt(np.linalg.eigvalsh(F)[0]))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"C7: g = {g_curved.round(3).tolist()}, delta = {delta_value}: "
                 "natural and vanilla steps coincide only in flat space", fontsize=10)
    save(fig, d.figure("c7_flat_vs_curved.png",
                       "Flat (F = I) vs curved (F = diag(1, 2)) trust regions with the natural and "
                       "the KL-matched vanilla step; in flat space the two arrows coincide."))


def derive(d: Derivation) -> None:
    delta = sp.Symbol("delta", positive=True)
    _identity_metric(d, delta)
    _unit_mean(d, delta)
    _not_flat(d)
    _figure(d, 0.05)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
