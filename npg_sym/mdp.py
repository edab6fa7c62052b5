"""Finite MDPs, exactly: values by linear solves, the TRPO surrogate and bound, tabular softmax.

Conventions (docs/claims.md): P[s, a, s'] = Pr(s' | s, a), R[s, a] the expected reward,
mu the initial distribution, 0 < gamma < 1; a policy is an S x A matrix pi[s, a] = pi(a|s).

    P_pi = sum_a pi[s, a] P[s, a, :],   r_pi = sum_a pi[s, a] R[s, a]
    V_pi = (I - gamma P_pi)^-1 r_pi,    Q_pi[s, a] = R[s, a] + gamma P[s, a, :] . V_pi
    A_pi = Q_pi - V_pi,                 eta(pi) = mu . V_pi        (E[sum_t gamma^t r_t])
    rho_pi = (I - gamma P_pi^T)^-1 mu   (sum_t gamma^t Pr(s_t = s); sums to 1 / (1 - gamma))
    d_pi = (1 - gamma) rho_pi           (normalized: the weighting of Kakade's Fisher)
    L_pi(pi~) = eta(pi) + sum_s rho_pi(s) sum_a pi~(a|s) A_pi(s, a)
    alpha = max_s TV(pi(.|s), pi~(.|s)),  KLmax = max_s KL(pi(.|s) || pi~(.|s))
    C = 4 eps gamma / (1 - gamma)^2,  eps = max_{s,a} |A_pi(s, a)|
    M_pi(pi~) = L_pi(pi~) - C KLmax(pi, pi~)        (TRPO Theorem 1: M_pi <= eta)

Tabular softmax: theta is S x A, pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b]);
parameters are flattened row-major (index s A + a). For any parameterization with score
psi(s, a) = grad log pi(a|s):

    g = sum_s rho_pi(s) sum_a pi(a|s) psi(s, a) Q_pi(s, a)     (policy gradient theorem)
      = 1 / (1 - gamma) E_{s ~ d_pi, a ~ pi}[psi Q]
    F = E_{s ~ d_pi, a ~ pi}[psi psi^T]                          (Kakade 2001)

Entries may be rational numbers or SymPy expressions; results are cancelled rational
functions (``tidy`` where exponentials occur). Every function here is exact.

References
==========
Kakade (2001), A Natural Policy Gradient. Kakade & Langford (2002), Approximately Optimal
Approximate Reinforcement Learning. Schulman et al. (2015), Trust Region Policy
Optimization, Theorem 1 and Appendix A.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import sympy as sp
from sympy.polys.matrices import DomainMatrix
from sympy.polys.polyerrors import CoercionFailed, GeneratorsError, PolificationFailed

from .errors import NPGInputError
from .simplification import exp_atoms_to_monomials, is_zero, tidy

__all__ = [
    "MDP",
    "finite_mdp",
    "cancel_exact",
    "random_rational_mdp",
    "random_rational_policy",
    "uniform_policy",
    "check_policy",
    "policy_transitions",
    "policy_rewards",
    "state_values",
    "action_values",
    "advantages",
    "expected_return",
    "visitation",
    "normalized_visitation",
    "surrogate",
    "total_variation",
    "max_tv",
    "kl_divergence",
    "max_kl",
    "max_abs_advantage",
    "penalty_coefficient",
    "lower_bound",
    "tv_lower_bound",
    "logits",
    "softmax_policy",
    "softmax_score",
    "score_by_differentiation",
    "flatten",
    "as_table",
    "policy_gradient",
    "fisher",
    "natural_gradient_softmax",
    "greedy_policy",
    "policy_iteration",
]


@dataclass(frozen=True)
class MDP:
    """A finite discounted MDP with exact entries.

    Parameters
    ==========
    P : S x A x S array, P[s, a, s'] = Pr(s' | s, a); each P[s, a, :] sums to 1.
    R : S x A matrix of expected rewards R[s, a].
    gamma : the discount, 0 < gamma < 1 (a number, or a symbol the caller vouches for).
    mu : S x 1 initial state distribution, sums to 1.
    """

    P: sp.ImmutableDenseNDimArray
    R: sp.ImmutableMatrix
    gamma: sp.Expr
    mu: sp.ImmutableMatrix

    @property
    def num_states(self) -> int:
        return self.R.rows

    @property
    def num_actions(self) -> int:
        return self.R.cols


def _canon_all(exprs) -> list:
    """Cancelled forms of rational functions, exactly, in one rational-function field.

    As in ``tidy``, every real symbol t found inside an exp becomes log(u_t) with u_t > 0,
    so exp(k t) = u_t^k; exp atoms left over (exp of a number) become unknowns of their
    own. SymPy's sparse field QQ(gamma, x, u, ...) then cancels ten to a hundred times
    faster than ``cancel`` on expression trees. An expression that cancels to 0 there is
    identically 0 (substituting the true values back preserves the identity). Anything
    outside a field (Abs, log, Max, floats, fractional powers) falls back to ``tidy`` /
    ``cancel``.
    """
    exprs = [sp.sympify(e) for e in exprs]
    if all(e.is_Rational for e in exprs):
        return exprs
    if any(e.has(sp.Abs, sp.log, sp.Max, sp.Min, sp.Piecewise, sp.Float) for e in exprs):
        return [_canon_slow(e) for e in exprs]
    exps = set().union(*(e.atoms(sp.exp) for e in exprs))
    inner = sorted({t for a in exps for t in a.args[0].free_symbols if t.is_real},
                   key=sp.default_sort_key)
    u = {t: sp.Dummy(f"u_{t.name}", positive=True) for t in inner}
    forward = {t: sp.log(u[t]) for t in inner}
    replaced = [exp_atoms_to_monomials(e, u) for e in exprs]
    replaced = [sp.powsimp(sp.expand_log(e.xreplace(forward), force=False)) if r is None else r
                for e, r in zip(exprs, replaced)]
    leftover = set().union(*(e.atoms(sp.exp) for e in replaced))
    unknowns = {a: sp.Dummy(f"v{i}", positive=True) for i, a in enumerate(sorted(
        leftover, key=sp.default_sort_key))}
    replaced = [e.xreplace(unknowns) for e in replaced]
    gens = sorted(set().union(*(e.free_symbols for e in replaced)), key=sp.default_sort_key)
    if not gens or any(e.has(sp.log) for e in replaced):
        return [_canon_slow(e) for e in exprs]
    try:
        field = sp.field(gens, sp.QQ)[0]
        elements = [field.from_expr(e) for e in replaced]
    except (CoercionFailed, GeneratorsError, PolificationFailed, ValueError):
        return [_canon_slow(e) for e in exprs]
    back = {v: a for a, v in unknowns.items()}
    back.update({u[t]: sp.exp(t) for t in inner})
    return [el.as_expr().xreplace(back) for el in elements]


def _canon_slow(e: sp.Expr) -> sp.Expr:
    if e.is_Rational or e.has(sp.Abs, sp.log, sp.Max, sp.Min, sp.Piecewise):
        return e
    if e.has(sp.exp):
        return tidy(e)
    return sp.cancel(sp.together(e))


def cancel_exact(e) -> sp.Expr:
    """The cancelled form of one expression (0 exactly when it is identically 0)."""
    return _canon_all([e])[0]


_canon = cancel_exact


def _canon_matrix(m: sp.MatrixBase) -> sp.Matrix:
    m = sp.Matrix(m)
    return sp.Matrix(m.rows, m.cols, _canon_all(list(m)))


def finite_mdp(P, R, gamma, mu=None) -> MDP:
    """Build and check an MDP; ``mu`` defaults to the uniform distribution.

    Examples
    ========
    >>> import sympy as sp
    >>> m = finite_mdp([[[1, 0], [0, 1]], [[1, 0], [0, 1]]], [[1, 0], [0, 0]], sp.Rational(1, 2))
    >>> expected_return(m, uniform_policy(m))
    1/2
    """
    P = sp.ImmutableDenseNDimArray(P)
    if P.rank() != 3 or P.shape[0] != P.shape[2] or 0 in P.shape:
        raise NPGInputError(
            f"P must have shape (S, A, S) with P[s, a, s'] = Pr(s' | s, a); got shape {P.shape}"
        )
    S, A, _ = P.shape
    R = sp.ImmutableMatrix(R)
    if R.shape != (S, A):
        raise NPGInputError(f"R must have shape (S, A) = ({S}, {A}) to match P; got {R.shape}")
    for s in range(S):
        for a in range(A):
            row = [P[s, a, t] for t in range(S)]
            if any(sp.sympify(p).is_negative for p in row):
                raise NPGInputError(f"P[{s}, {a}, :] = {row} has a negative probability")
            if not is_zero(sp.Add(*row) - 1):
                raise NPGInputError(f"P[{s}, {a}, :] = {row} must sum to 1, not {sp.Add(*row)}")
    gamma = sp.sympify(gamma)
    if gamma.is_number and not (gamma.is_real and 0 < gamma < 1):
        raise NPGInputError(f"gamma must be a discount with 0 < gamma < 1; got {gamma}")
    if mu is None:
        mu = sp.ones(S, 1) / S
    mu = sp.ImmutableMatrix(mu)
    if mu.shape == (1, S):
        mu = mu.T
    if mu.shape != (S, 1):
        raise NPGInputError(f"mu must be a distribution over the {S} states; got shape {mu.shape}")
    if any(m.is_negative for m in mu) or not is_zero(sum(mu) - 1):
        raise NPGInputError(f"mu = {list(mu)} must be non-negative and sum to 1")
    return MDP(P, R, gamma, mu)


def _random_simplex(rng: random.Random, n: int, denominator: int, floor: int = 0) -> list:
    weights = [floor + rng.randint(0, denominator) for _ in range(n)]
    if sum(weights) == 0:
        weights[rng.randrange(n)] = 1
    total = sum(weights)
    return [sp.Rational(w, total) for w in weights]


def random_rational_mdp(
    rng: random.Random,
    num_states: int,
    num_actions: int,
    gamma=sp.Rational(9, 10),
    denominator: int = 8,
) -> MDP:
    """A random MDP with small rational entries (rewards in [0, 1], multiples of 1/denominator)."""
    if not isinstance(rng, random.Random):
        raise NPGInputError(f"rng must be a random.Random (the first argument draws); got {rng!r}")
    P = [[_random_simplex(rng, num_states, denominator) for _ in range(num_actions)]
         for _ in range(num_states)]
    R = [[sp.Rational(rng.randint(0, denominator), denominator) for _ in range(num_actions)]
         for _ in range(num_states)]
    mu = _random_simplex(rng, num_states, denominator, floor=1)
    return finite_mdp(P, R, gamma, mu)


def random_rational_policy(
    rng: random.Random, num_states: int, num_actions: int, denominator: int = 8
) -> sp.Matrix:
    """A random policy with positive rational entries (so every log and KL is finite)."""
    return sp.Matrix([_random_simplex(rng, num_actions, denominator, floor=1)
                      for _ in range(num_states)])


def uniform_policy(mdp: MDP) -> sp.Matrix:
    return sp.ones(mdp.num_states, mdp.num_actions) / mdp.num_actions


def check_policy(mdp: MDP, pi) -> sp.Matrix:
    """pi as an S x A Matrix; rows must sum to 1 (exactly) and entries must not be negative."""
    pi = sp.Matrix(pi)
    if pi.shape != (mdp.num_states, mdp.num_actions):
        raise NPGInputError(
            f"a policy is an S x A = {mdp.num_states} x {mdp.num_actions} matrix; got {pi.shape}"
        )
    for s in range(pi.rows):
        row = list(pi.row(s))
        if any(p.is_negative for p in row):
            raise NPGInputError(f"policy row {s} = {row} has a negative probability")
        total = sp.Add(*row)
        if total.is_number and total.is_Rational and total != 1:
            raise NPGInputError(f"policy row {s} = {row} must sum to 1, not {total}")
    return pi


def policy_transitions(mdp: MDP, pi) -> sp.Matrix:
    """P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']."""
    pi = check_policy(mdp, pi)
    S, A = mdp.num_states, mdp.num_actions
    return sp.Matrix(S, S, lambda s, t: sp.Add(*(pi[s, a] * mdp.P[s, a, t] for a in range(A))))


def policy_rewards(mdp: MDP, pi) -> sp.Matrix:
    """r_pi[s] = sum_a pi(a|s) R[s, a]."""
    pi = check_policy(mdp, pi)
    return sp.Matrix([sp.Add(*(pi[s, a] * mdp.R[s, a] for a in range(mdp.num_actions)))
                      for s in range(mdp.num_states)])


def _solve(m: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    """m x = b exactly, by Gauss-Jordan over the field of the entries (QQ, QQ(gamma, x), ...)."""
    n = m.rows
    augmented = sp.Matrix(m).row_join(sp.Matrix(b))
    try:
        dm = DomainMatrix.from_Matrix(augmented)
    except (CoercionFailed, GeneratorsError, PolificationFailed):
        dm = None
    if dm is None or dm.domain.is_EX:
        x = sp.Matrix(m).LUsolve(sp.Matrix(b))
        return _canon_matrix(x)
    reduced, pivots = dm.to_field().rref()
    if tuple(pivots) != tuple(range(n)):
        raise NPGInputError("I - gamma P_pi is singular: gamma must satisfy 0 < gamma < 1")
    solution = reduced.to_Matrix()[:, n:]
    return _canon_matrix(solution)


def state_values(mdp: MDP, pi) -> sp.Matrix:
    """V_pi = (I - gamma P_pi)^-1 r_pi (the Bellman equation V = r_pi + gamma P_pi V)."""
    return sp.Matrix(_state_values(mdp, sp.ImmutableMatrix(check_policy(mdp, pi))))


# Symbolic solves cost seconds; proofs ask for V and rho of the same policy many times.
@lru_cache(maxsize=128)
def _state_values(mdp: MDP, pi: sp.ImmutableMatrix) -> sp.ImmutableMatrix:
    S = mdp.num_states
    return sp.ImmutableMatrix(
        _solve(sp.eye(S) - mdp.gamma * policy_transitions(mdp, pi), policy_rewards(mdp, pi)))


@lru_cache(maxsize=128)
def _visitation(mdp: MDP, pi: sp.ImmutableMatrix) -> sp.ImmutableMatrix:
    S = mdp.num_states
    return sp.ImmutableMatrix(
        _solve(sp.eye(S) - mdp.gamma * policy_transitions(mdp, pi).T, sp.Matrix(mdp.mu)))


def action_values(mdp: MDP, pi, values: sp.Matrix | None = None) -> sp.Matrix:
    """Q_pi[s, a] = R[s, a] + gamma sum_s' P[s, a, s'] V_pi[s']."""
    V = state_values(mdp, pi) if values is None else values
    S, A = mdp.num_states, mdp.num_actions
    return _canon_matrix(sp.Matrix(S, A, lambda s, a: (
        mdp.R[s, a] + mdp.gamma * sp.Add(*(mdp.P[s, a, t] * V[t] for t in range(S))))))


def advantages(mdp: MDP, pi) -> sp.Matrix:
    """A_pi[s, a] = Q_pi[s, a] - V_pi[s]; so sum_a pi(a|s) A_pi(s, a) = 0."""
    V = state_values(mdp, pi)
    Q = action_values(mdp, pi, V)
    return _canon_matrix(sp.Matrix(Q.rows, Q.cols, lambda s, a: Q[s, a] - V[s]))


def expected_return(mdp: MDP, pi) -> sp.Expr:
    """eta(pi) = mu . V_pi = E[sum_t gamma^t r_t], s_0 ~ mu."""
    return _canon((mdp.mu.T * state_values(mdp, pi))[0])


def visitation(mdp: MDP, pi) -> sp.Matrix:
    """rho_pi = (I - gamma P_pi^T)^-1 mu: rho_pi(s) = sum_t gamma^t Pr(s_t = s)."""
    return sp.Matrix(_visitation(mdp, sp.ImmutableMatrix(check_policy(mdp, pi))))


def normalized_visitation(mdp: MDP, pi) -> sp.Matrix:
    """d_pi = (1 - gamma) rho_pi, a probability distribution over states."""
    return _canon_matrix((1 - mdp.gamma) * visitation(mdp, pi))


def surrogate(mdp: MDP, pi, pi_new) -> sp.Expr:
    """L_pi(pi~) = eta(pi) + sum_s rho_pi(s) sum_a pi~(a|s) A_pi(s, a)."""
    pi_new = check_policy(mdp, pi_new)
    rho, adv = visitation(mdp, pi), advantages(mdp, pi)
    gain = sp.Add(*(rho[s] * pi_new[s, a] * adv[s, a]
                    for s in range(mdp.num_states) for a in range(mdp.num_actions)))
    return _canon(expected_return(mdp, pi) + gain)


def total_variation(pi, pi_new) -> sp.Matrix:
    """TV(pi(.|s), pi~(.|s)) = 1/2 sum_a |pi(a|s) - pi~(a|s)|, one entry per state."""
    pi, pi_new = sp.Matrix(pi), sp.Matrix(pi_new)
    _same_shape(pi, pi_new)
    return sp.Matrix([sp.Add(*(sp.Abs(pi[s, a] - pi_new[s, a]) for a in range(pi.cols))) / 2
                      for s in range(pi.rows)])


def max_tv(pi, pi_new) -> sp.Expr:
    """alpha = max_s TV(pi(.|s), pi~(.|s))."""
    return sp.Max(*total_variation(pi, pi_new))


def kl_divergence(pi, pi_new) -> sp.Matrix:
    """KL(pi(.|s) || pi~(.|s)) = sum_a pi(a|s) log(pi(a|s) / pi~(a|s)), one entry per state.

    Terms with pi(a|s) = 0 contribute 0; pi~(a|s) = 0 where pi(a|s) > 0 gives oo.
    """
    pi, pi_new = sp.Matrix(pi), sp.Matrix(pi_new)
    _same_shape(pi, pi_new)
    out = []
    for s in range(pi.rows):
        terms = []
        for a in range(pi.cols):
            p, q = pi[s, a], pi_new[s, a]
            if p == 0:
                continue
            terms.append(sp.oo if q == 0 else p * sp.log(p / q))
        out.append(sp.Add(*terms))
    return sp.Matrix(out)


def max_kl(pi, pi_new) -> sp.Expr:
    """KLmax(pi, pi~) = max_s KL(pi(.|s) || pi~(.|s))."""
    return sp.Max(*kl_divergence(pi, pi_new))


def _same_shape(pi, pi_new) -> None:
    if pi.shape != pi_new.shape:
        raise NPGInputError(f"two policies must have the same shape; got {pi.shape} and {pi_new.shape}")


def max_abs_advantage(mdp: MDP, pi) -> sp.Expr:
    """eps = max_{s,a} |A_pi(s, a)|."""
    return sp.Max(*(sp.Abs(a) for a in advantages(mdp, pi)))


def penalty_coefficient(mdp: MDP, pi) -> sp.Expr:
    """C = 4 eps gamma / (1 - gamma)^2 with eps = max |A_pi| (TRPO Theorem 1)."""
    return 4 * max_abs_advantage(mdp, pi) * mdp.gamma / (1 - mdp.gamma) ** 2


def lower_bound(mdp: MDP, pi, pi_new, C=None) -> sp.Expr:
    """M_pi(pi~) = L_pi(pi~) - C KLmax(pi, pi~); C defaults to ``penalty_coefficient``."""
    C = penalty_coefficient(mdp, pi) if C is None else sp.sympify(C)
    return surrogate(mdp, pi, pi_new) - C * max_kl(pi, pi_new)


def tv_lower_bound(mdp: MDP, pi, pi_new, C=None) -> sp.Expr:
    """L_pi(pi~) - C alpha^2, alpha = max TV: TRPO Theorem 1 in its total-variation form."""
    C = penalty_coefficient(mdp, pi) if C is None else sp.sympify(C)
    return surrogate(mdp, pi, pi_new) - C * max_tv(pi, pi_new) ** 2


def logits(num_states: int, num_actions: int, name: str = "theta") -> sp.Matrix:
    """An S x A matrix of real symbols theta_{s a} (tabular softmax parameters)."""
    return sp.Matrix(num_states, num_actions,
                     lambda s, a: sp.Symbol(f"{name}_{s}{a}", real=True))


def softmax_policy(theta) -> sp.Matrix:
    """pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])."""
    theta = sp.Matrix(theta)
    rows = []
    for s in range(theta.rows):
        w = [sp.exp(t) for t in theta.row(s)]
        z = sp.Add(*w)
        rows.append([wi / z for wi in w])
    return sp.Matrix(rows)


def flatten(table) -> sp.Matrix:
    """An S x A table as a column of length S A, row-major (index s A + a)."""
    table = sp.Matrix(table)
    return sp.Matrix(table.rows * table.cols, 1, list(table))


def as_table(vector, num_states: int, num_actions: int) -> sp.Matrix:
    """The inverse of ``flatten``: a column of length S A as an S x A table."""
    vector = sp.Matrix(vector)
    if len(vector) != num_states * num_actions:
        raise NPGInputError(
            f"a vector of length {len(vector)} is not an S x A = {num_states} x {num_actions} table"
        )
    return sp.Matrix(num_states, num_actions, list(vector))


def softmax_score(pi) -> list[list[sp.Matrix]]:
    """psi(s, a) = grad_theta log pi(a|s) for tabular softmax, in closed form.

    d log pi(a|s) / d theta[s', b] = 1[s = s'] (1[a = b] - pi(b|s)); psi[s][a] is a column of
    length S A (row-major parameters).
    """
    pi = sp.Matrix(pi)
    S, A = pi.shape
    out = []
    for s in range(S):
        row = []
        for a in range(A):
            v = sp.zeros(S * A, 1)
            for b in range(A):
                v[s * A + b] = (1 if a == b else 0) - pi[s, b]
            row.append(v)
        out.append(row)
    return out


def score_by_differentiation(pi, params: Sequence[sp.Symbol]) -> list[list[sp.Matrix]]:
    """psi(s, a) = grad log pi(a|s) for any parameterization ``pi(params)``, by SymPy diff."""
    pi = sp.Matrix(pi)
    params = list(params)
    return [[_canon_matrix(sp.Matrix([sp.diff(sp.log(pi[s, a]), p) for p in params]))
             for a in range(pi.cols)] for s in range(pi.rows)]


def _scores(pi, score):
    pi = sp.Matrix(pi)
    score = softmax_score(pi) if score is None else score
    if len(score) != pi.rows or any(len(r) != pi.cols for r in score):
        raise NPGInputError(f"score must be given per state and action ({pi.rows} x {pi.cols})")
    return pi, score


def policy_gradient(mdp: MDP, pi, score=None) -> sp.Matrix:
    """g = sum_s rho_pi(s) sum_a pi(a|s) psi(s, a) Q_pi(s, a) (the policy gradient theorem).

    ``score`` defaults to the tabular softmax score (then g[s A + a] = rho(s) pi(a|s) A(s, a)).
    """
    pi, score = _scores(check_policy(mdp, pi), score)
    rho = visitation(mdp, pi)
    Q = action_values(mdp, pi)
    n = score[0][0].rows
    g = sp.zeros(n, 1)
    for s in range(pi.rows):
        for a in range(pi.cols):
            g += rho[s] * pi[s, a] * Q[s, a] * score[s][a]
    return _canon_matrix(g)


def fisher(mdp: MDP, pi, score=None) -> sp.Matrix:
    """F = sum_s d_pi(s) sum_a pi(a|s) psi(s, a) psi(s, a)^T, d_pi = (1 - gamma) rho_pi.

    For tabular softmax F is block diagonal, block s = d_pi(s) (diag(pi_s) - pi_s pi_s^T),
    singular with null space spanned by the per-state indicators 1_s.
    """
    pi, score = _scores(check_policy(mdp, pi), score)
    d = normalized_visitation(mdp, pi)
    n = score[0][0].rows
    F = sp.zeros(n, n)
    for s in range(pi.rows):
        for a in range(pi.cols):
            F += d[s] * pi[s, a] * score[s][a] * score[s][a].T
    return _canon_matrix(F)


def natural_gradient_softmax(mdp: MDP, pi) -> sp.Matrix:
    """F^+ g for tabular softmax, as an S x A table: (A_pi(s, a) - mean_b A_pi(s, b)) / (1 - gamma).

    This is Kakade's result (K1) in closed form; ``proofs/npg_follows_the_advantage.py``
    checks it against F and g computed from their definitions.
    """
    adv = advantages(mdp, pi)
    A = mdp.num_actions
    return _canon_matrix(sp.Matrix(adv.rows, A, lambda s, a: (
        (adv[s, a] - sp.Add(*adv.row(s)) / A) / (1 - mdp.gamma))))


def greedy_policy(mdp: MDP, values: sp.Matrix) -> sp.Matrix:
    """The deterministic policy argmax_a R[s, a] + gamma P[s, a, :] . V (lowest index on ties)."""
    S, A = mdp.num_states, mdp.num_actions
    pi = sp.zeros(S, A)
    for s in range(S):
        q = [mdp.R[s, a] + mdp.gamma * sp.Add(*(mdp.P[s, a, t] * values[t] for t in range(S)))
             for a in range(A)]
        if not all(v.is_number for v in q):
            raise NPGInputError("greedy_policy needs a numeric MDP (rational entries)")
        pi[s, max(range(A), key=lambda a: (q[a], -a))] = 1
    return pi


def policy_iteration(mdp: MDP, max_iters: int = 1000) -> tuple[sp.Matrix, sp.Matrix]:
    """(pi*, V*) by exact policy iteration on a numeric MDP; eta* = mu . V*."""
    pi = greedy_policy(mdp, sp.zeros(mdp.num_states, 1))
    for _ in range(max_iters):
        V = state_values(mdp, pi)
        new = greedy_policy(mdp, V)
        if new == pi or state_values(mdp, new) == V:
            return pi, V
        pi = new
    raise NPGInputError(f"policy iteration did not stop in {max_iters} iterations")
