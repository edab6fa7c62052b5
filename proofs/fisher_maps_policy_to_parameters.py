"""C10: F^-1 maps changes of the policy to changes of the parameters.

Exponential families log pi_theta(x) = theta . T(x) - A(theta) (+ log h(x)), in their
natural parameters theta: the mean parameters m(theta) = E[T(x)] are coordinates of the
distribution itself, and dm/dtheta = Hess A = F(theta). So a change of the policy
delta_m comes from delta_theta = F^-1 delta_m to first order. Shown for the four
registered exponential families, with the Gaussian in detail (m = (E[x], E[x^2])).

In general, the natural direction is the steepest ascent per unit of KL:
g^T d / sqrt(d^T F d) <= sqrt(g^T F^-1 g), with equality exactly on the ray d = c F^-1 g,
c > 0, by Lagrange's identity Q (d^T F d) - (g^T d)^2 = |w x u|^2 with w = L^-1 g,
u = L^T d (F = L L^T), for general positive-definite F in 2 and 3 dimensions.
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp

from npg_sym import (
    FAMILIES,
    SUFFICIENT_STATISTICS,
    bandit,
    fisher,
    mean_parameters,
    policy_gradient,
    taylor_terms,
)

from ._core import Derivation, main_for
from ._plotting import plt, save

CLAIM = "C10"
TITLE = "F^-1 maps policy-space changes to parameter changes"
STATEMENT = (
    "Exponential families: F(eta) = d mu / d eta (natural to mean parameters), so "
    "delta_eta = F^-1 delta_mu to first order. In general the natural direction is the "
    "steepest ascent per unit KL: argmax g^T d / sqrt(d^T F d) is proportional to F^-1 g."
)


def _natural_from_mean(m1, m2):
    """Gaussian: (E[x], E[x^2]) -> (eta1, eta2), with variance m2 - m1^2 > 0."""
    variance = m2 - m1**2
    return sp.Matrix([m1 / variance, -1 / (2 * variance)])


def _exponential_families(d: Derivation):
    for key in SUFFICIENT_STATISTICS:
        fam = FAMILIES[key]
        m = mean_parameters(fam)
        d.say(f"**`{key}`**: $T(x) = {sp.latex(sp.Matrix(SUFFICIENT_STATISTICS[key]).T)}$.")
        d.show(r"m(\theta) = E[T(x)]", m.T)
        d.identity(f"{key}: dm/dtheta = F", m.jacobian(fam.params), fisher(fam),
                   label=r"\partial m / \partial \theta = F(\theta)")

    fam = FAMILIES["gaussian_natural"]
    eta = sp.Matrix(fam.params)
    x = fam.outcome
    log_partition = sp.simplify(eta[0] * x + eta[1] * x**2 - fam.log_prob)
    d.require("gaussian_natural: A(eta) = eta . T(x) - log pi does not depend on x",
              x not in log_partition.free_symbols, f"A(eta) = {log_partition}")
    d.show(r"A(\eta)", log_partition)
    d.identity("gaussian_natural: F = Hess A(eta)", sp.hessian(log_partition, fam.params), fisher(fam))

    m = mean_parameters(fam)
    F = fisher(fam)
    d.identity("gaussian_natural: eta(m(eta)) = eta", _natural_from_mean(m[0], m[1]), eta)
    dm = sp.Matrix(sp.symbols(r"\delta{m}_1 \delta{m}_2", real=True))

    def eta_along(eps):
        moved = m + eps * dm
        return _natural_from_mean(moved[0], moved[1])

    d.say(
        r"Move the distribution by $\epsilon\, \delta m$ in mean parameters and read off the "
        r"natural parameters, $\eta(m(\eta) + \epsilon\, \delta m) = T_0 + T_1 \epsilon + "
        r"O(\epsilon^2)$:"
    )
    t0 = eta_along(sp.Integer(0))
    t1 = sp.Matrix([taylor_terms(lambda e, i=i: eta_along(e)[i], 1)[1] for i in range(2)])
    d.identity("T_0 = eta", t0, eta)
    d.identity("T_1 = F^-1 delta_m (first order: delta_eta = F^-1 delta_m)", t1, F.inv() * dm,
               label=r"\delta\eta = F^{-1} \delta m")

    p = sp.Symbol("p", positive=True)
    (t,) = FAMILIES["bernoulli_logit"].params
    logit = sp.log(p / (1 - p))
    f_bern = fisher("bernoulli_logit")[0]
    d.identity("bernoulli_logit: dt/dp = 1/F at p = sigmoid(t)",
               sp.diff(logit, p).subs(p, mean_parameters("bernoulli_logit")[0]), 1 / f_bern)
    return fam, m, F


def _steepest_ascent(d: Derivation) -> None:
    for n in (2, 3):
        diag = sp.symbols(f"l_1:{n + 1}", positive=True)
        L = sp.zeros(n, n)
        for i in range(n):
            L[i, i] = diag[i]
            for j in range(i):
                L[i, j] = sp.Symbol(f"l_{i + 1}{j + 1}", real=True)
        F = L * L.T
        # L is triangular with a positive diagonal: its inverse is short and exact, and
        # F^-1 = L^-T L^-1. Both sides of each identity are put in cancelled form first
        # (an exact canonical form for rational functions), which keeps n = 3 fast.
        l_inv = L.inv().applyfunc(sp.cancel)
        f_inv = (l_inv.T * l_inv).applyfunc(sp.cancel)
        w = sp.Matrix(sp.symbols(f"w_1:{n + 1}", real=True))
        dvec = sp.Matrix(sp.symbols(f"d_1:{n + 1}", real=True))
        g = L * w  # every g, since L is invertible
        u = L.T * dvec
        q = sp.cancel((g.T * f_inv * g)[0])
        quad = sp.expand((dvec.T * F * dvec)[0])
        gd = sp.expand((g.T * dvec)[0])
        cross = sum(((w[i] * u[j] - w[j] * u[i]) ** 2 for i in range(n) for j in range(i + 1, n)),
                    sp.Integer(0))
        d.say(f"**Steepest ascent per unit KL, general SPD F = L L^T, n = {n}** "
              r"($g = L w$, $u = L^\top d$):")
        d.identity(f"n={n}: F^-1 = L^-T L^-1 is the inverse of F", (F * f_inv).applyfunc(sp.cancel), sp.eye(n))
        d.identity(f"n={n}: Q = g^T F^-1 g = |w|^2", q, sp.expand((w.T * w)[0]))
        d.identity(f"n={n}: Lagrange: Q (d^T F d) - (g^T d)^2 = sum_(i<j) (w_i u_j - w_j u_i)^2",
                   sp.expand(q * quad - gd**2), sp.expand(cross),
                   label=r"Q\,(d^\top F d) - (g^\top d)^2 = \sum_{i<j} (w_i u_j - w_j u_i)^2 \ge 0")
        c = sp.Symbol("c", positive=True)
        natural = (f_inv * g).applyfunc(sp.cancel)
        best = c * natural
        d.identity(f"n={n}: on d = c F^-1 g the cross terms vanish (u = c w)",
                   (L.T * best).applyfunc(sp.cancel), c * w)
        q_best = sp.cancel((best.T * F * best)[0])
        g_best = sp.cancel((g.T * best)[0])
        d.identity(f"n={n}: (g^T d)^2 / (d^T F d) = Q at d = c F^-1 g", sp.cancel(g_best**2 / q_best), q)
        d.identity(f"n={n}: g^T d = c Q at d = c F^-1 g (positive: the maximum, not the minimum)",
                   g_best, sp.expand(c * q))
        grad_ratio = sp.Matrix([sp.diff(gd / sp.sqrt(quad), di) for di in dvec])
        at_natural = grad_ratio.subs(dict(zip(dvec, natural))).applyfunc(
            lambda e: e.replace(lambda a: a.is_Add, lambda a: sp.expand(sp.cancel(a))))
        d.identity(f"n={n}: grad_d [g^T d / sqrt(d^T F d)] = 0 at d = F^-1 g", at_natural,
                   sp.zeros(n, 1))
    d.say(
        r"So $g^\top d / \sqrt{d^\top F d} \le \sqrt{Q}$ for every $d \ne 0$, with equality "
        r"iff $u \parallel w$, i.e. $d = c F^{-1} g$; the sign of $g^\top d = cQ$ picks $c > 0$."
    )


def _figure(d: Derivation, fam, m, F) -> None:
    eta1, eta2 = fam.params
    point = {eta1: sp.Rational(1, 2), eta2: -sp.Rational(1, 2)}  # mu = 0.5, sigma = 1
    rewards = dict(zip(bandit(fam).coefficients, (0, 1, sp.Rational(1, 4))))
    g = np.array(policy_gradient(bandit(fam)).subs(rewards).subs(point), dtype=float).ravel()
    F0 = np.array(F.subs(point), dtype=float)
    m0 = np.array(m.subs(point), dtype=float).ravel()
    eta0 = np.array([0.5, -0.5])

    fig, (ax_r, ax_m) = plt.subplots(1, 2, figsize=(11, 4.8))
    angles = np.linspace(-np.pi, np.pi, 2001)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    ratio = dirs @ g / np.sqrt(np.einsum("ni,ij,nj->n", dirs, F0, dirs))
    natural = np.linalg.solve(F0, g)
    a_nat, a_van = np.arctan2(natural[1], natural[0]), np.arctan2(g[1], g[0])
    ax_r.plot(np.degrees(angles), ratio, color="tab:blue", label=r"$g^T d / \sqrt{d^T F d}$")
    ax_r.axhline(np.sqrt(g @ natural), color="0.5", ls=":", label=r"$\sqrt{g^T F^{-1} g}$")
    ax_r.axvline(np.degrees(a_nat), color="tab:red", label=r"direction of $F^{-1} g$ (natural)")
    ax_r.axvline(np.degrees(a_van), color="tab:green", ls="--", label=r"direction of $g$ (vanilla)")
    ax_r.set(xlabel="direction of d (degrees)", ylabel="ascent per unit KL",
             title=r"$N$ in natural parameters at $\eta = (0.5, -0.5)$, reward $x + x^2/4$")
    ax_r.legend(fontsize=8, loc="lower center")

    for eps, style in ((0.05, "-"), (0.15, "-")):
        t = np.linspace(0, 2 * np.pi, 300)
        dm = eps * np.stack([np.cos(t), np.sin(t)], axis=-1)
        mm = m0 + dm
        variance = mm[:, 1] - mm[:, 0] ** 2
        exact = np.stack([mm[:, 0] / variance, -0.5 / variance], axis=-1) - eta0
        linear = dm @ np.linalg.inv(F0).T
        ax_m.plot(exact[:, 0], exact[:, 1], "k" + style, lw=1.2,
                  label=rf"exact $\eta(m + \delta m) - \eta$, $|\delta m| = {eps}$")
        ax_m.plot(linear[:, 0], linear[:, 1], "--", color="tab:red", lw=1.2,
                  label=rf"$F^{{-1}} \delta m$, $|\delta m| = {eps}$")
    ax_m.set(xlabel=r"$\delta\eta_1$", ylabel=r"$\delta\eta_2$", aspect="equal",
             title=r"circles of $\delta m$ mapped to $\delta\eta$: $F^{-1}$ to first order")
    ax_m.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    save(fig, d.figure(
        "c10_fisher_maps.png",
        "Left: ascent per unit KL over all directions peaks at F^-1 g, not at g. Right: "
        "circles of mean-parameter changes and the natural-parameter changes they need, "
        "exactly and through F^-1.",
    ))


def derive(d: Derivation) -> None:
    fam, m, F = _exponential_families(d)
    _steepest_ascent(d)
    _figure(d, fam, m, F)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
