"""A one-state policy (a bandit) with symbolic rewards: eta, advantages, the surrogate (C4).

    eta(theta)            = E_{x ~ pi_theta}[r(x)]
    A_theta(x)            = r(x) - eta(theta)                        (baseline V = eta)
    L_theta(theta')       = eta(theta) + E_{x ~ pi_theta}[pi_theta'(x) / pi_theta(x) A_theta(x)]
    g                     = E_{x ~ pi_theta}[grad log pi_theta(x) A_theta(x)]   (= grad eta)

The rewards are symbols: r_k per outcome for finite families, and the polynomial
r0 + r1 x + r2 x^2 on every other support (the real line, half-lines, intervals, counts),
so every identity holds for all reward functions of that form. A vector outcome gets
r0 + sum_i (r_(2i-1) x_i + r_(2i) x_i^2); a family with states adds r_m s x_1 (a reward
that depends on the state), where x_1 is the first outcome. A family whose second
moment is infinite needs its own reward: ``Bandit(family, reward, coefficients)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Sequence

import sympy as sp

from .simplification import tidy

from .families import Family, expectation, get_family
from .fisher import score
from .kl import direction_symbols, taylor_terms

__all__ = [
    "Bandit",
    "bandit",
    "expected_reward",
    "advantage",
    "surrogate",
    "surrogate_taylor",
    "policy_gradient",
]


@dataclass(frozen=True)
class Bandit:
    """A one-state decision problem: actions x ~ pi_theta, reward r(x)."""

    family: Family
    reward: sp.Expr
    coefficients: tuple[sp.Symbol, ...]


def _vector_reward(fam: Family) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    xs = fam.outcomes
    r = sp.symbols(f"r0:{2 * len(xs) + 1}", real=True)
    reward = r[0] + sp.Add(*(r[2 * i + 1] * x + r[2 * i + 2] * x**2 for i, x in enumerate(xs)))
    return reward, tuple(r)


@cache
def _bandit(fam: Family) -> Bandit:
    x = fam.outcome
    if fam.is_vector or fam.states is not None:
        if fam.is_vector:
            reward, r = _vector_reward(fam)
        else:
            base = _bandit(dataclasses.replace(fam, states=None))
            reward, r = base.reward, base.coefficients
        if fam.states is not None:
            extra = sp.Symbol(f"r{len(r)}", real=True)
            reward, r = reward + extra * fam.states.symbol * fam.outcomes[0], (*r, extra)
        return Bandit(fam, reward, tuple(r))
    if fam.finite:
        r = sp.symbols(f"r0:{len(fam.support)}", real=True)
        pieces = [(r[i], sp.Eq(x, k)) for i, k in enumerate(fam.support[:-1])]
        reward = sp.Piecewise(*pieces, (r[-1], True))
    else:
        r = sp.symbols("r0:3", real=True)
        reward = r[0] + r[1] * x + r[2] * x**2
    return Bandit(fam, reward, tuple(r))


def bandit(family: str | Family) -> Bandit:
    """The bandit over ``family``'s outcomes with symbolic rewards."""
    return _bandit(get_family(family))


def expected_reward(b: Bandit, params: Sequence[sp.Expr] | None = None) -> sp.Expr:
    """eta(theta) = E_{x ~ pi_theta}[r(x)] (at ``params`` when given)."""
    return tidy(expectation(b.family, b.reward, params))


def advantage(b: Bandit) -> sp.Expr:
    """A_theta(x) = r(x) - eta(theta): the state value of the single state is the baseline."""
    return b.reward - expected_reward(b)


def surrogate(b: Bandit, other: Sequence[sp.Expr]) -> sp.Expr:
    """L_theta(other) = eta(theta) + E_{x ~ pi_theta}[pi_other(x) / pi_theta(x) A_theta(x)].

    The expectation is under the *current* policy with an importance ratio, as TRPO writes it.
    """
    fam = b.family
    ratio = sp.exp(fam.log_prob_at(other) - fam.log_prob)
    return tidy(expected_reward(b) + expectation(fam, ratio * advantage(b)))


@cache
def policy_gradient(b: Bandit) -> sp.Matrix:
    """g = E_{x ~ pi_theta}[s(x) A_theta(x)]: the score-function (policy gradient theorem) form."""
    s = score(b.family)
    a = advantage(b)
    return s.applyfunc(lambda si: tidy(expectation(b.family, si * a)))


def surrogate_taylor(
    b: Bandit, order: int = 1, direction: Sequence[sp.Expr] | None = None
) -> tuple[sp.Expr, ...]:
    """Taylor terms of eps -> L_theta(theta + eps d): T_0 = eta(theta), T_1 = g . d (C4)."""
    fam = b.family
    d = tuple(direction) if direction is not None else direction_symbols(fam)
    return _surrogate_taylor(b, order, tuple(sp.sympify(v) for v in d))


@cache
def _surrogate_taylor(b: Bandit, order: int, d: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    fam = b.family
    other = tuple(sp.Dummy(p.name, **p.assumptions0) for p in fam.params)
    closed = surrogate(b, other)

    def along(eps):
        return closed.xreplace({o: p + eps * di for o, p, di in zip(other, fam.params, d)})

    return taylor_terms(along, order)
