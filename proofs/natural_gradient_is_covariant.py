"""C9: the natural gradient is covariant, the vanilla gradient is not.

For w = f(v) with A = dw/dv invertible, the chain rule gives s_v = A^T s_w for the score,
hence F_v = A^T F_w A and g_v = A^T g_w. Then the natural steps, each derived from the
Lagrangian in its own coordinates, satisfy A d_v* = d_w*: the same policy change. The
vanilla gradient maps to A g_v = A A^T g_w, which is not g_w unless A A^T = I.

Shown (1) for the chain rule itself with an arbitrary log-density and an arbitrary map,
(2) for a general invertible 2x2 A with symbolic entries, a general positive-definite
F_w = L L^T and a general g_w = L u, (3) for every registered reparameterization of the
Gaussian with its exact Fisher and bandit gradient, and (4) with explicit counterexamples
for the vanilla gradient.
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp

from npg_sym import (
    REPARAMETERIZATIONS,
    bandit,
    fisher,
    get_reparameterization,
    is_zero,
    policy_gradient,
    solve_trust_region,
    tidy,
)

from ._core import Derivation, main_for
from ._plotting import arrow, ellipse_points, plt, save

CLAIM = "C9"
TITLE = "The natural gradient is covariant, the vanilla one is not"
STATEMENT = (
    "For w = f(v), A = dw/dv invertible: F_v = A^T F_w A, g_v = A^T g_w, hence A d_v* = d_w* "
    "(same policy change), while A g_v != g_w in general (show a counterexample). Symbolic "
    "for a general A; numeric for non-linear reparameterizations and for network weights."
)


def _chain_rule(d: Derivation) -> None:
    v = sp.symbols("v_1 v_2", real=True)
    w = sp.symbols("w_1 w_2", real=True)
    f = [sp.Function(f"f_{i + 1}")(*v) for i in range(2)]
    ell = sp.Function(r"\ell")(*w)  # log pi as a function of w (and of the outcome x)
    s_v = sp.Matrix([sp.diff(ell.subs(dict(zip(w, f))), vi) for vi in v])
    s_w = sp.Matrix([sp.diff(ell, wi) for wi in w]).subs(dict(zip(w, f)))
    A = sp.Matrix(f).jacobian(v)
    d.say(
        r"**Chain rule, for any log-density** $\ell(w) = \log\pi_w(x)$ and any map "
        r"$w = f(v)$ ($f_1, f_2$ undefined functions):"
    )
    d.identity("score: s_v = A^T s_w", s_v.applyfunc(sp.expand), (A.T * s_w).applyfunc(sp.expand),
               label=r"s_v = \nabla_v \ell(f(v)) = A^\top s_w")
    d.identity("outer product: s_v s_v^T = A^T (s_w s_w^T) A", s_v * s_v.T, A.T * (s_w * s_w.T) * A,
               label=r"s_v s_v^\top = A^\top (s_w s_w^\top) A")
    d.say(
        r"Taking $E_{x\sim\pi}$ of both (the same distribution in both coordinates, "
        r"and $A$ does not depend on $x$): $F_v = A^\top F_w A$ and "
        r"$g_v = E[s_v A_\pi] = A^\top g_w$."
    )


def _general_matrix(d: Derivation, delta: sp.Symbol) -> None:
    a, b, c, e = sp.symbols("a b c e", real=True)
    l1, l2 = sp.symbols("l_1 l_2", positive=True)
    l21, u1, u2 = sp.symbols("l_21 u_1 u_2", real=True)
    A = sp.Matrix([[a, b], [c, e]])
    L = sp.Matrix([[l1, 0], [l21, l2]])
    F_w = L * L.T
    # Every gradient is L u for some u since L is invertible; then g^T F^-1 g = |u|^2.
    g_w = L * sp.Matrix([u1, u2])
    F_v = A.T * F_w * A
    g_v = A.T * g_w
    d.say(
        r"**General invertible** $A$ ($\det A = ae - bc \ne 0$), positive-definite "
        r"$F_w = L L^\top$, any $g_w = L u$ ($u \ne 0$):"
    )
    d.show("A", A)
    d.show("F_v = A^T F_w A", F_v)
    sol_w = solve_trust_region(F_w, g_w, delta)
    sol_v = solve_trust_region(F_v, g_v, delta)
    d.show(r"\beta_w", sol_w.beta)
    d.show(r"\beta_v", sol_v.beta)
    d.identity("g_v^T F_v^-1 g_v = g_w^T F_w^-1 g_w", sol_v.quadratic_form, sol_w.quadratic_form)
    d.identity("beta_v = beta_w", sol_v.beta, sol_w.beta)
    d.identity("A d_v* = d_w* (same displacement, so the same policy change)",
               A * sol_v.step, sol_w.step, label=r"A\, d_v^* = d_w^*")
    d.identity("both steps are on the boundary of their trust region: 1/2 d_v*^T F_v d_v* = delta",
               (sol_v.step.T * F_v * sol_v.step)[0] / 2, delta,
               label=r"\tfrac12 d_v^{*\top} F_v d_v^* = \delta")
    d.identity("vanilla: A g_v - g_w = (A A^T - I) g_w", A * g_v - g_w, (A * A.T - sp.eye(2)) * g_w,
               label=r"A g_v - g_w = (A A^\top - I) g_w")

    # The explicit counterexample: a stretch of the first coordinate.
    A0 = sp.diag(2, 1)
    g0 = sp.Matrix([1, 0])
    mapped = A0 * (A0.T * g0)
    d.say(r"**Counterexample for the vanilla gradient**: $A = \mathrm{diag}(2, 1)$, $g_w = (1, 0)$.")
    d.show(r"A g_v = A A^\top g_w", mapped.T)
    d.require("A g_v = (4, 0) is not g_w = (1, 0)", not is_zero((mapped - g0)[0]),
              f"A g_v - g_w = {list(mapped - g0)}")


def _registered(d: Derivation) -> None:
    d.say(
        "**Every registered reparameterization** with the exact Fisher and the bandit "
        r"gradient (reward $r_0 + r_1 x + r_2 x^2$, the same in both coordinates). The step "
        r"$d^* = \sqrt{2\delta/Q}\, F^{-1} g$ (C5) depends on the coordinates only through "
        r"$Q = g^\top F^{-1} g$ and $F^{-1} g$; $Q_v = Q_w$ and $A F_v^{-1} g_v = F_w^{-1} g_w$ "
        r"give $A d_v^* = d_w^*$."
    )
    rows = ["| v -> w | A | A g_v - g_w (vanilla) |", "|---|---|---|"]
    for (src, dst), rp in REPARAMETERIZATIONS.items():
        A = rp.jacobian()
        F_v, F_w = fisher(src), rp.map.in_source(fisher(dst))
        g_v = policy_gradient(bandit(src))
        g_w = rp.map.in_source(policy_gradient(bandit(dst)))
        d.identity(f"{src} -> {dst}: F_v = A^T F_w A", F_v, A.T * F_w * A, label=r"F_v = A^\top F_w A")
        d.identity(f"{src} -> {dst}: g_v = A^T g_w", g_v, A.T * g_w, label=r"g_v = A^\top g_w")
        # d* = sqrt(2 delta / Q) F^-1 g (C5): the step is fixed by Q and F^-1 g.
        x_v, x_w = F_v.inv() * g_v, F_w.inv() * g_w
        d.identity(f"{src} -> {dst}: Q_v = Q_w", (g_v.T * x_v)[0], (g_w.T * x_w)[0],
                   label=r"g_v^\top F_v^{-1} g_v = g_w^\top F_w^{-1} g_w")
        d.identity(f"{src} -> {dst}: A F_v^-1 g_v = F_w^-1 g_w", A * x_v, x_w,
                   label=r"A F_v^{-1} g_v = F_w^{-1} g_w = " + sp.latex(x_w.applyfunc(tidy).T))
        vanilla_gap = (A * g_v - g_w).applyfunc(tidy)
        rows.append(f"| `{src}` -> `{dst}` | ${sp.latex(A)}$ | ${sp.latex(vanilla_gap.T)}$ |")
    d.table("\n".join(rows))

    # An explicit registered counterexample: (mu, sigma) -> (mu, log sigma) at sigma = 2,
    # reward x^2 (r = (0, 0, 1)).
    rp = get_reparameterization("gaussian_mean_std", "gaussian_mean_logstd")
    mu, sigma = rp.map.source
    point = {mu: 0, sigma: 2}
    rewards = dict(zip(bandit("gaussian_mean_std").coefficients, (0, 0, 1)))
    A = rp.jacobian().subs(point)
    g_v = policy_gradient(bandit("gaussian_mean_std")).subs(rewards).subs(point)
    g_w = rp.map.in_source(policy_gradient(bandit("gaussian_mean_logstd"))).subs(rewards).subs(point)
    F_v = fisher("gaussian_mean_std").subs(point)
    F_w = rp.map.in_source(fisher("gaussian_mean_logstd")).subs(point)
    d.say(
        r"**Registered counterexample**: $N(\mu, \sigma^2)$ at $(\mu, \sigma) = (0, 2)$, "
        r"reward $x^2$, in $(\mu, \sigma)$ and in $(\mu, s = \log\sigma)$:"
    )
    d.show("g_v", g_v.T)
    d.show("g_w", g_w.T)
    d.show("A g_v", (A * g_v).T)
    d.require("vanilla: A g_v = (0, 2) differs from g_w = (0, 8)",
              not is_zero((A * g_v - g_w)[1]), f"A g_v - g_w = {list(A * g_v - g_w)}")
    d.identity("natural: A F_v^-1 g_v = F_w^-1 g_w = (0, 4)", A * F_v.inv() * g_v, F_w.inv() * g_w)
    d.identity("natural: F_w^-1 g_w = (0, 4)", F_w.inv() * g_w, sp.Matrix([0, 4]))


def _figure(d: Derivation, delta_value: float) -> None:
    """(mu, sigma) and (mu, s = log sigma) at sigma = 2, reward x + x^2 / 4."""
    rp = get_reparameterization("gaussian_mean_std", "gaussian_mean_logstd")
    mu, sigma = rp.map.source
    point = {mu: 0, sigma: 2}
    rewards = dict(zip(bandit("gaussian_mean_std").coefficients, (0, 1, sp.Rational(1, 4))))
    A = np.array(rp.jacobian().subs(point), dtype=float)
    g_v = np.array(policy_gradient(bandit("gaussian_mean_std")).subs(rewards).subs(point), dtype=float).ravel()
    F_v = np.array(fisher("gaussian_mean_std").subs(point), dtype=float)
    F_w = np.array(rp.map.in_source(fisher("gaussian_mean_logstd")).subs(point), dtype=float)
    g_w = np.linalg.solve(A.T, g_v)

    def natural(F, g):
        x = np.linalg.solve(F, g)
        return x * np.sqrt(2 * delta_value / (x @ F @ x))

    def vanilla(F, g):
        return g * np.sqrt(2 * delta_value / (g @ F @ g))

    nat_v, nat_w = natural(F_v, g_v), natural(F_w, g_w)
    van_v, van_w = vanilla(F_v, g_v), vanilla(F_w, g_w)
    panels = [
        (r"coordinates $v = (\mu, \sigma)$, $F_v = \mathrm{diag}(1, 2)/\sigma^2$", F_v, nat_v, van_v,
         np.linalg.solve(A, nat_w), np.linalg.solve(A, van_w), (r"$\Delta\mu$", r"$\Delta\sigma$"), "w"),
        (r"coordinates $w = (\mu, s = \log\sigma)$, $F_w = \mathrm{diag}(1/\sigma^2, 2)$", F_w, nat_w, van_w,
         A @ nat_v, A @ van_v, (r"$\Delta\mu$", r"$\Delta s$"), "v"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6))
    for ax, (title, F, nat, van, nat_o, van_o, labels, other) in zip(axes, panels):
        region = ellipse_points(F, 2 * delta_value)
        ball = ellipse_points(np.eye(2), 2 * delta_value)
        ax.fill(region[:, 0], region[:, 1], color="tab:blue", alpha=0.15,
                label=r"trust region $\frac{1}{2} d^T F d \leq \delta$")
        ax.plot(ball[:, 0], ball[:, 1], "k--", lw=1, label=r"Euclidean ball $\frac{1}{2}|d|^2 \leq \delta$")
        arrow(ax, (0, 0), nat, "salmon", "natural step, this system", lw=4.5)
        arrow(ax, (0, 0), nat_o, "darkred", f"natural step of {other}, mapped here", lw=1.5)
        arrow(ax, (0, 0), van, "tab:green", "vanilla step (same KL), this system", lw=3)
        arrow(ax, (0, 0), van_o, "tab:olive", f"vanilla step of {other}, mapped here", lw=1.5,
              linestyle="--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_aspect("equal")
        span = np.abs(np.concatenate([region, ball, [nat, nat_o, van, van_o]])).max() * 1.15
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.suptitle(
        rf"C9: $N(\mu, \sigma^2)$ at $(0, 2)$, reward $x + x^2/4$, $\delta = {delta_value}$" "\n"
        "the natural steps are the same displacement, the vanilla ones are not", fontsize=10, y=1.02)
    save(fig, d.figure(
        "c9_covariance.png",
        "One family in two parameterizations: trust region vs Euclidean ball; the natural "
        "step of the other system mapped through A (or A^-1) lands on this system's natural "
        "step, the mapped vanilla step does not.",
    ))


def derive(d: Derivation) -> None:
    delta = sp.Symbol("delta", positive=True)
    _chain_rule(d)
    _general_matrix(d, delta)
    _registered(d)
    _figure(d, 0.05)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
