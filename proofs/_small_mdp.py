"""The small symbolic MDP of the MDP proofs (C1, C2), and TRPO Theorem 1's chain of lemmas.

Two states, two actions; P and mu are fixed rationals, the rewards r_sa and the discount
gamma are symbols, and both policies are general: pi(0|s) = x_s, pi~(0|s) = y_s. Every
identity below is then an identity of rational functions in (gamma, r, x, y), checked by
exact cancellation (the numerator of lhs - rhs over a common denominator expands to 0).
"""

from __future__ import annotations

import random
from typing import NamedTuple

import sympy as sp

from npg_sym import mdp as M

from ._core import Derivation

__all__ = [
    "SmallMDP", "small_mdp", "zero", "theorem_one", "rational_instances", "Witness",
    "c_over_ten_witness",
]

R_ = sp.Rational
TRANSITIONS = [[[R_(1, 3), R_(2, 3)], [R_(3, 4), R_(1, 4)]],
               [[R_(1, 2), R_(1, 2)], [R_(1, 5), R_(4, 5)]]]
INITIAL = [R_(2, 3), R_(1, 3)]


class SmallMDP(NamedTuple):
    mdp: M.MDP
    gamma: sp.Symbol
    pi: sp.Matrix  # rows (x_s, 1 - x_s)
    pi_new: sp.Matrix  # rows (y_s, 1 - y_s)
    x: tuple[sp.Symbol, ...]
    y: tuple[sp.Symbol, ...]


class Witness(NamedTuple):
    """An MDP and a policy pair with the terms of TRPO's bound, exact."""

    mdp: M.MDP
    pi: sp.Matrix
    pi_new: sp.Matrix
    eta_new: sp.Expr  # eta(pi~)
    surrogate: sp.Expr  # L_pi(pi~)
    C: sp.Expr  # 4 eps gamma / (1 - gamma)^2
    kl_max: sp.Expr
    alpha: sp.Expr  # max TV


def c_over_ten_witness() -> Witness:
    """Two states, two actions where eta(pi~) < L - (C/10) KLmax: TRPO's C cannot be cut
    tenfold. Found by Hypothesis (tests/test_mdp_bounds.py) and simplified by hand: P(.|0,.)
    and P(.|1,0) uniform, P(0|1,1) = 1, R = [[0, -1], [-1, 0]], gamma = 1/10, mu = (0, 1),
    pi uniform, pi~ = (0.49, 0.51) in both states."""
    half = [R_(1, 2), R_(1, 2)]
    m = M.finite_mdp([[half, half], [half, [1, 0]]], [[0, -1], [-1, 0]], R_(1, 10), [0, 1])
    pi = M.uniform_policy(m)
    pn = sp.Matrix([[R_(49, 100), R_(51, 100)], [R_(49, 100), R_(51, 100)]])
    return Witness(
        m, pi, pn, M.expected_return(m, pn), M.surrogate(m, pi, pn),
        M.penalty_coefficient(m, pi), M.max_kl(pi, pn), M.max_tv(pi, pn),
    )


def small_mdp() -> SmallMDP:
    gamma = sp.Symbol("gamma", positive=True)
    rewards = sp.Matrix(2, 2, sp.symbols("r_00 r_01 r_10 r_11", real=True))
    mdp = M.finite_mdp(TRANSITIONS, rewards, gamma, INITIAL)
    x = sp.symbols("x_0 x_1", positive=True)
    y = sp.symbols("y_0 y_1", positive=True)
    pi = sp.Matrix([[x[0], 1 - x[0]], [x[1], 1 - x[1]]])
    pi_new = sp.Matrix([[y[0], 1 - y[0]], [y[1], 1 - y[1]]])
    return SmallMDP(mdp, gamma, pi, pi_new, x, y)


def zero(lhs, rhs=0) -> sp.Expr:
    """lhs - rhs cancelled in a rational-function field: 0 exactly when lhs = rhs.

    Much faster than ``simplify`` on these expressions; the caller passes the result to
    ``Derivation.identity``, which tests it for 0 again (and fails on anything else).
    """
    return M.cancel_exact(sp.sympify(lhs) - sp.sympify(rhs))


def _tex(e) -> str:
    return sp.latex(e)


def theorem_one(d: Derivation, sm: SmallMDP) -> dict:
    """eta(pi~) >= L_pi(pi~) - C alpha^2 >= L_pi(pi~) - C KLmax, lemma by lemma.

    Returns the pieces (eta, L, ...) so that a caller can reuse them.
    """
    m, gamma, pi, pn, x, y = sm
    S = 2  # states (and actions) of the small MDP
    eta, eta_new = M.expected_return(m, pi), M.expected_return(m, pn)
    rho_new = M.visitation(m, pn)
    adv = M.advantages(m, pi)
    L = M.surrogate(m, pi, pn)
    abar = [pn[s, 0] * adv[s, 0] + pn[s, 1] * adv[s, 1] for s in range(S)]
    d.math(r"\bar A(s) = \sum_a \tilde\pi(a|s) A_\pi(s,a), \qquad "
           r"G = (I - \gamma P_\pi)^{-1}, \qquad \tilde\rho = (I - \gamma P_{\tilde\pi}^\top)^{-1}\mu")

    # 1. Kakade & Langford's identity (the performance difference lemma).
    d.identity("performance difference: eta(pi~) - eta(pi) = sum_s rho~(s) Abar(s)",
               zero(eta_new - eta, sum(rho_new[s] * abar[s] for s in range(S))),
               label=r"\eta(\tilde\pi) - \eta(\pi) = \sum_s \tilde\rho(s) \bar A(s)")

    # 2. The error of the surrogate, through the resolvent identity.
    rho = M.visitation(m, pi)
    P_pi, P_new = M.policy_transitions(m, pi), M.policy_transitions(m, pn)
    d.identity("surrogate error: eta(pi~) - L_pi(pi~) = sum_s (rho~(s) - rho(s)) Abar(s)",
               zero(eta_new - L, sum((rho_new[s] - rho[s]) * abar[s] for s in range(S))),
               label=r"\eta(\tilde\pi) - L_\pi(\tilde\pi) = (\tilde\rho - \rho)^\top \bar A")
    resolvent = ((rho_new - rho).T * (sp.eye(S) - gamma * P_pi)
                 - gamma * rho_new.T * (P_new - P_pi)).applyfunc(zero)
    d.identity("resolvent: (rho~ - rho)^T (I - gamma P_pi) = gamma rho~^T (P~ - P)",
               resolvent, sp.zeros(1, S),
               label=r"(\tilde\rho - \rho)^\top (I - \gamma P_\pi) = \gamma\, \tilde\rho^\top "
                     r"(P_{\tilde\pi} - P_\pi)")
    d.say(r"So $\eta(\tilde\pi) - L_\pi(\tilde\pi) = \gamma\, \tilde\rho^\top "
          r"(P_{\tilde\pi} - P_\pi)\, G\, \bar A$.")
    det = (sp.eye(S) - gamma * P_pi).det()
    G = (sp.eye(S) - gamma * P_pi).adjugate() / det

    # 3. Abar in terms of the policy change; the advantage has mean 0 under pi.
    for s in range(S):
        d.identity(f"sum_a pi(a|{s}) A(s={s}, a) = 0",
                   zero(pi[s, 0] * adv[s, 0] + pi[s, 1] * adv[s, 1]),
                   label=rf"\sum_a \pi(a|{s}) A_\pi({s}, a) = 0")
        d.identity(f"Abar({s}) = (y_{s} - x_{s}) (A({s},0) - A({s},1))",
                   zero(abar[s], (y[s] - x[s]) * (adv[s, 0] - adv[s, 1])),
                   label=rf"\bar A({s}) = (y_{s} - x_{s})\,(A_\pi({s},0) - A_\pi({s},1))")
    tv = M.total_variation(pi, pn)
    d.identity("TV(pi(.|s), pi~(.|s)) = |x_s - y_s| (two actions)",
               tv, sp.Matrix([sp.Abs(x[s] - y[s]) for s in range(S)]),
               label=r"\mathrm{TV}_s = |x_s - y_s|")

    # 4. The change of the state-transition matrix.
    for s in range(S):
        row = (P_new - P_pi).row(s)
        diff = [m.P[s, 0, t] - m.P[s, 1, t] for t in range(S)]
        d.identity(f"(P~ - P)[{s}, :] = (y_{s} - x_{s}) (P[{s},0,:] - P[{s},1,:])",
                   row, sp.Matrix([[(y[s] - x[s]) * v for v in diff]]),
                   label=rf"(P_{{\tilde\pi}} - P_\pi)_{{{s},\cdot}} = (y_{s} - x_{s})"
                         rf"(P({s},0,\cdot) - P({s},1,\cdot)) = (y_{s} - x_{s})\,{_tex(sp.Matrix([diff]))}")
        d.require(f"|P[{s},0,0] - P[{s},1,0]| <= 1 (rows of P sum to 1)",
                  bool(abs(diff[0]) <= 1), rf"|{sp.latex(diff[0])}| \le 1")

    # 5. G and rho~ are non-negative with known sums.
    one = sp.ones(S, 1)
    d.identity("G 1 = 1 / (1 - gamma)", (G * one).applyfunc(lambda e: zero(e, 1 / (1 - gamma))),
               sp.zeros(S, 1), label=r"G \mathbf 1 = \mathbf 1 / (1 - \gamma)")
    d.identity("sum_s rho~(s) = 1 / (1 - gamma)", zero(sum(rho_new), 1 / (1 - gamma)),
               label=r"\sum_s \tilde\rho(s) = 1 / (1 - \gamma)")
    factored = (1 - gamma) * (1 - gamma + gamma * (P_pi[0, 1] + P_pi[1, 0]))
    d.identity("det(I - gamma P_pi) = (1 - gamma)(1 - gamma + gamma (P_pi[0,1] + P_pi[1,0]))",
               zero(det, factored),
               label=r"\det(I - \gamma P_\pi) = (1-\gamma)(1 - \gamma + \gamma(P_\pi[0,1] + P_\pi[1,0]))")
    # Positivity for all 0 < gamma < 1, 0 < x_s < 1: write gamma = 1/(1+c), x_s = 1/(1+u_s)
    # with c, u_s > 0, which SymPy can then decide.
    c = sp.Symbol("c", positive=True)
    u = sp.symbols("u_0 u_1", positive=True)
    onto = {gamma: 1 / (1 + c), x[0]: 1 / (1 + u[0]), x[1]: 1 / (1 + u[1])}
    adj = (sp.eye(S) - gamma * P_pi).adjugate()
    d.require("det(I - gamma P_pi) > 0 for 0 < gamma < 1, 0 < x_s < 1",
              sp.factor(factored.subs(onto)).is_positive,
              r"\gamma = 1/(1+c),\ x_s = 1/(1+u_s),\ c, u_s > 0")
    d.require("adj(I - gamma P_pi) >= 0 entrywise, so G >= 0",
              all(sp.factor(e.subs(onto)).is_nonnegative for e in adj), "")
    d.say(
        r"The same argument with $y$ for $x$ gives $(I - \gamma P_{\tilde\pi})^{-1} \ge 0$, hence "
        r"$\tilde\rho = (I - \gamma P_{\tilde\pi}^\top)^{-1}\mu \ge 0$. With "
        r"$\alpha = \max_s \mathrm{TV}_s$, $\epsilon = \max_{s,a}|A_\pi(s,a)|$ and "
        r"$z = G\bar A$, the identities above give, for every $s$: "
        r"$|\bar A(s)| \le \mathrm{TV}_s \cdot 2\epsilon \le 2\alpha\epsilon$; "
        r"$\|z\|_\infty \le \|G\mathbf 1\|_\infty \|\bar A\|_\infty = \|\bar A\|_\infty/(1-\gamma)$ "
        r"(as $G \ge 0$); $|(P_{\tilde\pi} - P_\pi)_{s,\cdot}\, z| \le \mathrm{TV}_s |z_0 - z_1| "
        r"\le 2\alpha \|z\|_\infty$. So"
    )
    eps, alpha = sp.symbols("epsilon alpha", positive=True)
    chain = gamma * (1 / (1 - gamma)) * (2 * alpha) * (2 * alpha * eps / (1 - gamma))
    C = 4 * eps * gamma / (1 - gamma) ** 2
    d.math(r"|\eta(\tilde\pi) - L_\pi(\tilde\pi)| \le \gamma \sum_s \tilde\rho(s)\, "
           r"|(P_{\tilde\pi} - P_\pi)_{s,\cdot}\, z| \le \gamma \cdot \frac{1}{1-\gamma} \cdot "
           r"2\alpha \cdot \frac{2\alpha\epsilon}{1-\gamma}")
    d.identity("gamma (1/(1-gamma)) (2 alpha) (2 alpha eps / (1-gamma)) = C alpha^2",
               chain, C * alpha**2,
               label=r"\gamma \cdot \frac{1}{1-\gamma} \cdot 2\alpha \cdot "
                     r"\frac{2\alpha\epsilon}{1-\gamma} = \frac{4\epsilon\gamma}{(1-\gamma)^2}\alpha^2")
    d.say(r"Hence $\eta(\tilde\pi) \ge L_\pi(\tilde\pi) - C\alpha^2$ with "
          r"$C = 4\epsilon\gamma/(1-\gamma)^2$: TRPO Theorem 1. For more states and actions the "
          r"same three bounds hold row by row (a difference of two distributions has "
          r"$\ell_1$ norm $2\,\mathrm{TV}$), which the exact instances below exercise.")

    # 6. The KL form: Pinsker for two actions, KL >= 2 TV^2 >= TV^2.
    p, q = sp.symbols("p q", positive=True)
    kl = p * sp.log(p / q) + (1 - p) * sp.log((1 - p) / (1 - q))
    f = kl - 2 * (p - q) ** 2
    d.identity("Pinsker, f(q) = KL(p||q) - 2 (p - q)^2 vanishes at q = p", f.subs(q, p), 0,
               label=r"f(q) = \mathrm{KL}(p\|q) - 2(p-q)^2,\ f(p) = 0")
    d.identity("f'(q) = (q - p) (1 - 2q)^2 / (q (1 - q))",
               zero(sp.diff(f, q), (q - p) * (1 - 2 * q) ** 2 / (q * (1 - q))),
               label=r"f'(q) = (q - p)\,\frac{(1 - 2q)^2}{q(1-q)}")
    w = sp.Symbol("w", positive=True)
    d.require("(1 - 2q)^2 / (q (1 - q)) >= 0 for 0 < q < 1",
              sp.factor(((1 - 2 * q) ** 2 / (q * (1 - q))).subs(q, 1 / (1 + w))).is_nonnegative,
              r"q = 1/(1+w),\ w > 0")
    d.say(r"So $f$ falls until $q = p$ and rises after: $f \ge 0$, i.e. "
          r"$\mathrm{KL}(p\|q) \ge 2\,\mathrm{TV}^2 \ge \mathrm{TV}^2$ per state, so "
          r"$\mathrm{KL}_{\max} \ge \alpha^2$ and "
          r"$M_\pi(\tilde\pi) = L_\pi(\tilde\pi) - C\,\mathrm{KL}_{\max} \le L_\pi(\tilde\pi) - "
          r"C\alpha^2 \le \eta(\tilde\pi)$.")
    return dict(eta=eta, eta_new=eta_new, L=L, adv=adv)


def rational_instances(d: Derivation, count: int, num_states: int, num_actions: int,
                       seed: int = 5) -> None:
    """Theorem 1 on random rational MDPs and policy pairs, decided in exact arithmetic."""
    rng = random.Random(seed)
    worst_tv, worst_kl, failures = 0.0, 0.0, []
    for i in range(count):
        gamma = sp.Rational(rng.randint(1, 9), 10)
        m = M.random_rational_mdp(rng, num_states, num_actions, gamma)
        pi = M.random_rational_policy(rng, num_states, num_actions)
        pn = M.random_rational_policy(rng, num_states, num_actions)
        eta_new = M.expected_return(m, pn)
        loss = M.surrogate(m, pi, pn) - eta_new  # L - eta(pi~): what the penalty must cover
        C = M.penalty_coefficient(m, pi)
        tv_penalty = C * M.max_tv(pi, pn) ** 2  # a rational number: decided exactly
        kl_penalty = sp.N(C * M.max_kl(pi, pn), 30)
        if not (tv_penalty.is_Rational and loss <= tv_penalty and sp.N(loss, 30) <= kl_penalty):
            failures.append(i)
        if tv_penalty != 0:
            worst_tv = max(worst_tv, float(loss / tv_penalty))
        if kl_penalty != 0:
            worst_kl = max(worst_kl, float(sp.N(loss, 30) / kl_penalty))
    d.require(
        f"{count} random rational MDPs ({num_states} states, {num_actions} actions): "
        "eta(pi~) >= L - C alpha^2 in exact arithmetic, eta(pi~) >= M(pi~) at 30 digits",
        not failures,
        rf"\text{{violations: {len(failures)} of {count}}}",
    )
    d.say(
        f"How tight: the largest $(L - \\eta(\\tilde\\pi)) / (C\\alpha^2)$ over these "
        f"instances was {worst_tv:.3g} and the largest $(L - \\eta(\\tilde\\pi)) / "
        f"(C\\,\\mathrm{{KL}}_{{\\max}})$ was {worst_kl:.3g}; a violation would need a value above 1."
    )
