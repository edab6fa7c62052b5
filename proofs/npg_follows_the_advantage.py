"""K1: Kakade's result: tabular softmax NPG follows the advantage.

On a two-state, three-action MDP (rational P, R, gamma, mu; logits theta symbolic): the
policy gradient theorem g = grad eta; F = sum_s d(s) (diag(pi_s) - pi_s pi_s^T) blockwise,
with null space spanned by the per-state indicators 1_s and rank S (A - 1); the table
x = (A_pi - mean_a A_pi) / (1 - gamma) solves F x = g and is orthogonal to null(F), so it
is F^+ g: the advantage over (1 - gamma), up to a per-state constant. Compatible features:
the least-squares fit of A with psi = grad log pi has normal equations F w = (1 - gamma) g,
so w* = (1 - gamma) F^+ g, for tabular softmax (a perfect fit) and for a log-linear policy
with fewer parameters than actions (a strict fit). Then F^+ g by SymPy's own exact
pseudo-inverse on random rational 3-state MDPs.
"""

from __future__ import annotations

import itertools
import random
import sys

import sympy as sp
from sympy.combinatorics import Permutation

from npg_sym import mdp as M

from ._core import Derivation, main_for

CLAIM = "K1"
TITLE = "Kakade: tabular softmax NPG follows the advantage"
STATEMENT = (
    "F^+ g, as an S x A table, equals A_pi(s,a) / (1-gamma) up to a per-state constant; with "
    "compatible features, the natural gradient is the least-squares weight w fitting A with "
    "grad log pi."
)

R_ = sp.Rational
K1_P = [[[R_(1, 2), R_(1, 2)], [R_(1, 4), R_(3, 4)], [R_(2, 3), R_(1, 3)]],
        [[R_(1, 5), R_(4, 5)], [R_(3, 5), R_(2, 5)], [1, 0]]]
K1_R = [[1, 0, R_(1, 2)], [R_(1, 4), 1, 0]]
K1_GAMMA = R_(2, 3)
K1_MU = [R_(1, 3), R_(2, 3)]


def z(e) -> sp.Expr:
    """Cancelled in a rational-function field: 0 exactly when e is identically 0."""
    return M.cancel_exact(e)


def zm(m) -> sp.Matrix:
    return sp.Matrix(m).applyfunc(z)


def _leibniz_det(m: sp.Matrix) -> sp.Expr:
    """det by the Leibniz sum, with no simplification on the way (``det`` cancels each step)."""
    n = m.rows
    return sp.Add(*(Permutation(p).signature() * sp.Mul(*(m[i, p[i]] for i in range(n)))
                    for p in itertools.permutations(range(n))))


def _tabular(d: Derivation) -> None:
    m = M.finite_mdp(K1_P, K1_R, K1_GAMMA, K1_MU)
    S, A = m.num_states, m.num_actions
    theta = M.logits(S, A)
    pi = M.softmax_policy(theta)
    d.say(
        r"**Tabular softmax**, two states and three actions, $\gamma = " + sp.latex(K1_GAMMA)
        + r"$, $R = " + sp.latex(m.R) + r"$, $\pi(a|s) = e^{\theta_{sa}} / \sum_b e^{\theta_{sb}}$ "
        r"with all six logits symbolic; parameters flattened row-major."
    )
    params = list(theta)
    score = M.softmax_score(pi)
    by_diff = M.score_by_differentiation(pi, params)
    d.identity("closed-form score = grad log pi (all s, a)",
               sp.Matrix([[z(score[s][a][i] - by_diff[s][a][i]) for i in range(S * A)]
                          for s in range(S) for a in range(A)]), sp.zeros(S * A, S * A),
               label=r"\partial \log\pi(a|s)/\partial\theta_{s'b} = 1[s=s'](1[a=b] - \pi(b|s))")

    eta = M.expected_return(m, pi)
    g = M.policy_gradient(m, pi, score)
    grad = sp.Matrix([sp.diff(eta, t) for t in params])
    d.identity("policy gradient theorem: sum_s rho(s) sum_a pi psi Q = grad eta", zm(g - grad),
               sp.zeros(S * A, 1), label=r"g = \sum_s \rho(s) \sum_a \pi(a|s)\, \psi(s,a)\, "
               r"Q_\pi(s,a) = \nabla_\theta \eta")
    rho, adv = M.visitation(m, pi), M.advantages(m, pi)
    d.identity("g[s, a] = rho(s) pi(a|s) A(s, a)",
               zm(g - M.flatten(sp.Matrix(S, A, lambda s, a: rho[s] * pi[s, a] * adv[s, a]))),
               sp.zeros(S * A, 1), label=r"g_{sa} = \rho(s)\,\pi(a|s)\,A_\pi(s,a)")

    F = M.fisher(m, pi, score)
    dist = M.normalized_visitation(m, pi)
    blocks = sp.diag(*[dist[s] * (sp.diag(*pi.row(s)) - pi.row(s).T * pi.row(s))
                       for s in range(S)])
    d.identity("F = blockdiag_s d(s) (diag(pi_s) - pi_s pi_s^T)", zm(F - blocks),
               sp.zeros(S * A, S * A),
               label=r"F = \mathrm{blockdiag}_s\ d_\pi(s)\,(\mathrm{diag}(\pi_s) - \pi_s\pi_s^\top)")
    indicators = [M.flatten(sp.Matrix(S, A, lambda s2, a: 1 if s2 == s else 0)) for s in range(S)]
    for s, one_s in enumerate(indicators):
        d.identity(f"F 1_{s} = 0 (shifting the logits of state {s} changes nothing)",
                   zm(F * one_s), sp.zeros(S * A, 1), label=rf"F\,\mathbf 1_{s} = 0")
    d.identity("rho = mu + gamma P_pi^T rho (so rho(s) >= mu(s) > 0)",
               zm(rho - sp.Matrix(m.mu) - m.gamma * M.policy_transitions(m, pi).T * rho),
               sp.zeros(S, 1), label=r"\rho = \mu + \gamma P_\pi^\top \rho")
    for s in range(S):
        block = blocks[s * A:(s + 1) * A, s * A:(s + 1) * A]
        minor = _leibniz_det(block[:A - 1, :A - 1])
        product = dist[s] ** (A - 1) * sp.Mul(*pi.row(s))
        d.identity(f"state {s}: leading (A-1) minor of the block = d(s)^(A-1) prod_a pi(a|s)",
                   z(minor - product), 0,
                   label=rf"\det(\text{{block}}_{s})_{{A-1}} = d_\pi({s})^{{A-1}} \prod_a \pi(a|{s})")
    d.say(r"With $\rho(s) \ge \mu(s) > 0$ (the identity above, all terms non-negative) and "
          r"$\pi > 0$, each minor is positive: $\mathrm{rank}\,F = S(A-1)$ and "
          r"$\mathrm{null}(F) = \mathrm{span}\{\mathbf 1_s\}$.")

    x = M.flatten(M.natural_gradient_softmax(m, pi))
    d.identity("F x = g for x = (A - mean_a A) / (1 - gamma)", zm(F * x - g), sp.zeros(S * A, 1),
               label=r"F\,x = g,\quad x_{sa} = \frac{A_\pi(s,a) - \frac1A\sum_b A_\pi(s,b)}{1-\gamma}")
    for s, one_s in enumerate(indicators):
        d.identity(f"1_{s}^T x = 0 (x is in range F)", z((one_s.T * x)[0]), 0,
                   label=rf"\mathbf 1_{s}^\top x = 0")
    d.say(r"$F$ is symmetric, so $\mathrm{range}(F) = \mathrm{null}(F)^\perp$ and the solution "
          r"of $F x = g$ in it is unique: $x = F^+ g$. As a table,")
    d.math(r"(F^+ g)_{sa} = \frac{A_\pi(s,a)}{1-\gamma} - c_s,\qquad c_s = "
           r"\frac{1}{A(1-\gamma)}\sum_b A_\pi(s,b)")
    d.identity("x - A/(1 - gamma) is constant within each state",
               zm(sp.Matrix(S, A - 1, lambda s, a: (x[s * A + a] - adv[s, a] / (1 - m.gamma))
                            - (x[s * A + a + 1] - adv[s, a + 1] / (1 - m.gamma)))),
               sp.zeros(S, A - 1), label=r"F^+ g - A_\pi/(1-\gamma) = -c_s \mathbf 1")

    # Compatible features: fit A(s, a) by w . psi(s, a) under s ~ d, a ~ pi.
    d.say(r"**Compatible features.** $w^* = \arg\min_w E_{s\sim d_\pi, a\sim\pi}"
          r"[(w^\top\psi(s,a) - A_\pi(s,a))^2]$ solves the normal equations "
          r"$E[\psi\psi^\top]\,w = E[\psi A_\pi]$, and $E[\psi\psi^\top] = F$:")
    rhs = sp.zeros(S * A, 1)
    for s in range(S):
        for a in range(A):
            rhs += dist[s] * pi[s, a] * adv[s, a] * score[s][a]
    d.identity("E_{d,pi}[psi A] = (1 - gamma) g", zm(rhs - (1 - m.gamma) * g), sp.zeros(S * A, 1),
               label=r"E_{s\sim d_\pi, a\sim\pi}[\psi\, A_\pi] = (1-\gamma)\, g")
    w = (1 - m.gamma) * x
    d.identity("w = (1 - gamma) F^+ g fits A exactly: w . psi(s, a) = A(s, a)",
               zm(sp.Matrix(S, A, lambda s, a: (w.T * score[s][a])[0] - adv[s, a])),
               sp.zeros(S, A), label=r"w^\top \psi(s,a) = A_\pi(s,a)\ \text{for } w = (1-\gamma)F^+g")
    d.say(r"So $w^* = (1-\gamma)\,F^+ g$ (the minimum-norm least-squares weight; here the "
          r"residual is 0): the natural gradient is the compatible least-squares weight, "
          r"scaled by $1/(1-\gamma)$ because $g$ weights states by $\rho_\pi$ while $F$ uses "
          r"$d_\pi = (1-\gamma)\rho_\pi$ (docs/claims.md's conventions; Kakade's paper uses one "
          r"weighting for both, and there $w^* = F^{-1}\nabla\eta$ with no factor).")


def _log_linear(d: Derivation) -> None:
    """Kakade's Theorem 1 beyond the tabular case: two parameters, three actions per state."""
    m = M.finite_mdp(K1_P, K1_R, K1_GAMMA, K1_MU)
    S, A = m.num_states, m.num_actions
    t1, t2 = sp.symbols("vartheta_1 vartheta_2", real=True)
    features = [[(1, 0), (0, 1), (1, 1)], [(0, 1), (1, 0), (0, 2)]]
    logits = sp.Matrix(S, A, lambda s, a: features[s][a][0] * t1 + features[s][a][1] * t2)
    pi = M.softmax_policy(logits)
    params = [t1, t2]
    score = M.score_by_differentiation(pi, params)
    d.say(
        r"**A log-linear policy** $\pi(a|s) \propto \exp(\phi(s,a)^\top\vartheta)$ on the same "
        r"MDP with two parameters, $\phi = " + sp.latex(sp.Matrix(S, A, lambda s, a: sp.Matrix(
            features[s][a]).T)) + r"$ (rows: states): the fit of $A$ is no longer perfect."
    )
    eta = M.expected_return(m, pi)
    g = M.policy_gradient(m, pi, score)
    d.identity("policy gradient theorem, log-linear: g = grad eta",
               zm(g - sp.Matrix([sp.diff(eta, p) for p in params])), sp.zeros(2, 1),
               label=r"g = \nabla_\vartheta\,\eta")
    F = M.fisher(m, pi, score)
    dist, adv = M.normalized_visitation(m, pi), M.advantages(m, pi)
    rhs = sp.zeros(2, 1)
    for s in range(S):
        for a in range(A):
            rhs += dist[s] * pi[s, a] * adv[s, a] * score[s][a]
    d.identity("E_{d,pi}[psi A] = (1 - gamma) g (log-linear)", zm(rhs - (1 - m.gamma) * g),
               sp.zeros(2, 1), label=r"E_{d_\pi,\pi}[\psi A_\pi] = (1-\gamma)\,g")
    d.say(r"So the normal equations $F w^* = E[\psi A_\pi]$ read $F w^* = (1-\gamma) g$: "
          r"$w^* = (1-\gamma)F^{-1}g$ wherever $F$ is invertible. At $\vartheta = 0$:")
    at0 = {t1: 0, t2: 0}
    F0, g0 = zm(F.subs(at0)), zm(g.subs(at0))
    d.require("F(0) is invertible (det != 0)", bool(F0.det() != 0), rf"\det F = {sp.latex(F0.det())}")
    w_star = zm(F0.inv() * zm(rhs.subs(at0)))
    d.show(r"w^* = F^{-1}E[\psi A]", w_star.T)
    d.identity("w* = (1 - gamma) F^-1 g at theta = 0", w_star, (1 - m.gamma) * F0.inv() * g0,
               label=r"w^* = (1-\gamma)\,F^{-1} g")
    residual = z(sum(dist[s] * pi[s, a] * ((w_star.T * score[s][a])[0] - adv[s, a]) ** 2
                     for s in range(S) for a in range(A)).subs(at0))
    d.require("the log-linear fit is strict (residual > 0), yet w* is still (1 - gamma) F^-1 g",
              bool(residual.is_Rational and residual > 0),
              rf"\text{{residual}} = {sp.latex(residual)} > 0")


def _rational_instances(d: Derivation, count: int = 3) -> None:
    rng = random.Random(11)
    for i in range(count):
        S, A = 3, 3
        m = M.random_rational_mdp(rng, S, A, sp.Rational(rng.randint(1, 9), 10), 6)
        pi = M.random_rational_policy(rng, S, A, 6)  # softmax of theta = log pi
        F, g = M.fisher(m, pi), M.policy_gradient(m, pi)
        nat = M.as_table(F.pinv() * g, S, A)
        closed = M.natural_gradient_softmax(m, pi)
        d.identity(f"instance {i}: SymPy's exact pinv(F) g = (A - mean A) / (1 - gamma)",
                   nat, closed, label=rf"\text{{instance {i}: }} F^+ g = (A_\pi - \bar A_\pi)/(1-\gamma)")
        if i == 0:
            d.say(r"For instance, with $\gamma = " + sp.latex(m.gamma) + r"$ and $\pi = "
                  + sp.latex(pi) + r"$:")
            d.show(r"A_\pi", M.advantages(m, pi))
            d.show(r"F^+ g", nat)


def derive(d: Derivation) -> None:
    _tabular(d)
    _log_linear(d)
    d.say("**Random rational MDPs** (3 states, 3 actions), $F^+$ computed by SymPy "
          "(`Matrix.pinv`) in exact arithmetic:")
    _rational_instances(d)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
