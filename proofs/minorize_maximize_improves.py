"""C1: minorize-maximize improves monotonically.

M_k(pi) = L_{pi_k}(pi) - C KLmax(pi_k, pi) touches eta at pi_k (same value, same slope) and
lies below it everywhere (TRPO Theorem 1, proven lemma by lemma on the small symbolic MDP
of ``_small_mdp``), so maximizing M_k never lowers eta:

    eta(pi_{k+1}) >= M_k(pi_{k+1}) >= M_k(pi_k) = eta(pi_k).

Then the article's picture, computed from exact expressions on a two-state MDP: eta along
a line in logit space, and the successive bounds M_k touching it at pi_k.
"""

from __future__ import annotations

import sys

import mpmath
import sympy as sp

from npg_sym import mdp as M

from ._core import Derivation, main_for
from ._small_mdp import small_mdp, theorem_one, zero

CLAIM = "C1"
TITLE = "Minorize-maximize improves monotonically"
STATEMENT = (
    "With M_k(pi) = L_{pi_k}(pi) - C KLmax(pi_k, pi), M_k(pi_k) = eta(pi_k) and M_k <= eta "
    "everywhere; so pi_{k+1} = argmax M_k gives eta(pi_{k+1}) >= eta(pi_k). Exact on tabular MDPs."
)

R_ = sp.Rational
# The figure's MDP: action 0 pays in state 0, action 1 in state 1. The line moves both
# states towards action 0 (state 1 lagging by log 20), so eta has one interior maximum.
FIG_P = [[[R_(9, 10), R_(1, 10)], [R_(1, 10), R_(9, 10)]],
         [[R_(1, 2), R_(1, 2)], [R_(1, 5), R_(4, 5)]]]
FIG_R = [[1, 0], [0, 1]]
FIG_GAMMA = R_(1, 4)
FIG_MU = [R_(1, 2), R_(1, 2)]
U_START, T_MIN, T_MAX, STEPS = R_(1, 4), -4.0, 5.0, 8
PLOTTED = 4  # bounds drawn; later iterates are drawn as dots


def _touching(d: Derivation) -> None:
    sm = small_mdp()
    m, gamma, pi, pn, x, y = sm
    d.say(
        r"**The bound touches $\eta$ at $\pi_k$.** Two states, two actions, rewards $r_{sa}$ and "
        r"$\gamma$ symbolic, $\pi_k(0|s) = x_s$ and $\pi(0|s) = y_s$ general:"
    )
    eta = M.expected_return(m, pi)
    d.identity("L_{pi_k}(pi_k) = eta(pi_k)", zero(M.surrogate(m, pi, pi), eta),
               label=r"L_{\pi_k}(\pi_k) = \eta(\pi_k)")
    d.identity("KLmax(pi_k, pi_k) = 0", M.max_kl(pi, pi), 0,
               label=r"\mathrm{KL}_{\max}(\pi_k, \pi_k) = 0")
    C = sp.Symbol("C", positive=True)
    d.identity("M_k(pi_k) = eta(pi_k) for every C",
               zero(M.surrogate(m, pi, pi) - C * M.max_kl(pi, pi), eta),
               label=r"M_k(\pi_k) = \eta(\pi_k)")
    kl = M.kl_divergence(pi, pn)
    for s in range(2):
        slope = sp.diff(kl[s], y[s]).subs(y[s], x[s])
        d.identity(f"d KL_{s}/d y_{s} = 0 at pi = pi_k: the penalty is flat there", slope, 0,
                   label=rf"\left.\partial\,\mathrm{{KL}}(\pi_k(\cdot|{s}) \| \pi(\cdot|{s}))"
                         rf"/\partial y_{s}\right|_{{\pi = \pi_k}} = 0")
    d.say(r"With $\nabla L_{\pi_k} = \nabla\eta$ at $\pi_k$ (C2), $M_k$ is tangent to $\eta$ "
          r"there. **$M_k \le \eta$ everywhere**, lemma by lemma:")
    theorem_one(d, sm)
    d.say(r"Hence $\eta(\pi_{k+1}) \ge M_k(\pi_{k+1}) \ge M_k(\pi_k) = \eta(\pi_k)$ for "
          r"$\pi_{k+1} = \arg\max M_k$ (any $\pi_{k+1}$ with $M_k(\pi_{k+1}) \ge M_k(\pi_k)$).")


def _mp(r: sp.Rational) -> mpmath.mpf:
    return mpmath.mpf(int(r.p)) / int(r.q)


def _figure(d: Derivation) -> None:
    # Along theta(t) = [[t, 0], [t - log 20, 0]], pi(0|0) = u/(1+u) and pi(0|1) = u/(20+u)
    # with u = e^t > 0. Each pi_k is taken at a rational u_k, so pi_k, rho_k, A_k, eta(pi_k)
    # and C_k are exact rationals, and M_k is an exact expression in u (logs for the KL).
    u = sp.Symbol("u", positive=True)
    m = M.finite_mdp(FIG_P, FIG_R, FIG_GAMMA, FIG_MU)
    line = sp.Matrix([[sp.log(u), 0], [sp.log(u / 20), 0]])
    pi_u = M.softmax_policy(line)
    eta_u = M.expected_return(m, pi_u)
    d.say(
        r"**The picture.** A two-state MDP with $\gamma = " + sp.latex(FIG_GAMMA) + r"$, "
        r"$P(0|s,a) = " + sp.latex(sp.Matrix(2, 2, lambda s, a: m.P[s, a, 0])) + r"$, "
        r"$R = " + sp.latex(m.R) + r"$, $\mu$ uniform, and the line $\theta(t) = "
        r"\begin{bmatrix} t & 0 \\ t - \log 20 & 0 \end{bmatrix}$ in logit space, so "
        r"$\pi_t(0|0) = u/(1+u)$, $\pi_t(0|1) = u/(20+u)$ with $u = e^{t}$. Exactly:"
    )
    d.show(r"\eta(\pi_t)", eta_u)
    eta_f = sp.lambdify(u, eta_u, "mpmath")

    def at(t):  # t -> u = e^t
        return mpmath.exp(mpmath.mpf(t))

    grid_t = [mpmath.mpf(T_MIN) + (T_MAX - T_MIN) * mpmath.mpf(i) / 400 for i in range(401)]
    grid_u = [at(v) for v in grid_t]
    us = [U_START]
    bounds = []
    rows = ["| k | t_k | eta(pi_k) | C_k | t_(k+1) = argmax of M_k on the line | M_k(pi_(k+1)) | eta(pi_(k+1)) |",
            "|---|---|---|---|---|---|---|"]
    below_everywhere = True
    for k in range(STEPS):
        uk = us[-1]
        pi_k = pi_u.subs(u, uk)
        C_k = M.penalty_coefficient(m, pi_k)
        bound = M.lower_bound(m, pi_k, pi_u, C_k)
        bound_f = sp.lambdify(u, bound, "mpmath")
        values = [bound_f(v) for v in grid_u]
        below_everywhere &= all(b <= eta_f(v) for b, v in zip(values, grid_u))
        # Maximize M_k on the grid, refine between the neighbours, keep a rational u_(k+1).
        best = max(range(len(grid_u)), key=lambda i: values[i])
        lo, hi = grid_t[max(best - 1, 0)], grid_t[min(best + 1, len(grid_t) - 1)]
        fine = [lo + (hi - lo) * mpmath.mpf(i) / 100 for i in range(101)]
        t_best = max(fine, key=lambda v: bound_f(at(v)))
        u_next = sp.Rational(float(at(t_best))).limit_denominator(10_000)
        m_next, eta_next = bound_f(_mp(u_next)), eta_f(_mp(u_next))
        m_k, eta_k = bound_f(_mp(uk)), eta_f(_mp(uk))
        d.require(
            f"k={k}: eta(pi_(k+1)) >= M_k(pi_(k+1)) >= M_k(pi_k) = eta(pi_k) (30 digits)",
            bool(eta_next >= m_next >= m_k and abs(m_k - eta_k) < mpmath.mpf(10) ** -25),
            rf"{float(eta_next):.6f} \ge {float(m_next):.6f} \ge {float(eta_k):.6f}",
        )
        tk = mpmath.log(_mp(uk))
        rows.append(f"| {k} | {float(tk):.4f} | {float(eta_k):.6f} | {float(C_k):.4f} | "
                    f"{float(mpmath.log(_mp(u_next))):.4f} | {float(m_next):.6f} | "
                    f"{float(eta_next):.6f} |")
        bounds.append((tk, bound_f))
        us.append(u_next)
    d.require("M_k <= eta at all 401 grid points of the line, for every k (30 digits)",
              bool(below_everywhere), "")
    d.say(r"The iterates ($t_k = \log u_k$ with $u_k$ rational, so that every $\pi_k$ is "
          r"exactly rational):")
    d.table("\n".join(rows))
    _plot(d, grid_t, grid_u, eta_f, bounds, mpmath.log(_mp(us[-1])), at)


def _plot(d: Derivation, grid_t, grid_u, eta_f, bounds, t_last, at) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [float(v) for v in grid_t]
    eta_vals = [float(eta_f(v)) for v in grid_u]
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    ax.plot(xs, eta_vals, color="black", lw=2.2, label=r"$\eta(\pi_{\theta(t)})$")
    colors = plt.cm.viridis([0.05 + 0.85 * k / (PLOTTED - 1) for k in range(PLOTTED)])
    lo = min(eta_vals) - 0.25 * (max(eta_vals) - min(eta_vals))
    for k, (tk, bound_f) in enumerate(bounds[:PLOTTED]):
        vals = [float(bound_f(v)) for v in grid_u]
        ax.plot(xs, vals, color=colors[k], lw=1.4, label=rf"$M_{k}$, touching $\eta$ at $\pi_{k}$")
        ax.plot([float(tk)], [float(eta_f(at(tk)))], "o", color=colors[k], ms=6, zorder=3)
    later = [tk for tk, _ in bounds[PLOTTED:]] + [t_last]
    ax.plot([float(v) for v in later], [float(eta_f(at(v))) for v in later], "o", color="black",
            ms=4, zorder=3, label=rf"$\pi_{{{PLOTTED}}}, \ldots, \pi_{{{len(bounds)}}}$")
    ax.set_ylim(lo, max(eta_vals) + 0.08 * (max(eta_vals) - min(eta_vals)))
    ax.set_xlim(xs[0], xs[-1])
    ax.set_xlabel(r"$t$ along the line $\theta(t)$ in logit space")
    ax.set_ylabel("expected discounted return")
    ax.set_title("Minorize-maximize: each $M_k$ lies below $\\eta$ and touches it at $\\pi_k$")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = d.figure(
        "minorize_maximize.png",
        "eta along a line in logit space (black) and the lower bounds M_k = L_{pi_k} - C KLmax "
        "(colours), each touching eta at pi_k; maximizing M_k gives pi_{k+1}.",
    )
    fig.savefig(path)
    plt.close(fig)


def derive(d: Derivation) -> None:
    _touching(d)
    with mpmath.workdps(30):
        _figure(d)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
