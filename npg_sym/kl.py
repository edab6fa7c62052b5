"""KL divergence between members of a family, and its Taylor expansion (C3).

    KL(pi_theta || pi_theta') = E_{x ~ pi_theta}[log pi_theta(x) - log pi_theta'(x)]

    KL(theta || theta + eps d) = sum_k T_k eps^k,   T_0 = T_1 = 0,   T_2 = 1/2 d^T F d.
"""

from __future__ import annotations

from functools import cache
from typing import Sequence

import sympy as sp

from .simplification import tidy

from .errors import NPGInputError
from .families import Family, expectation, get_family
from .limits import value_at
from .one_sided import taylor_at_kink

__all__ = ["kl", "kl_taylor", "kl_taylor_under_integral", "direction_symbols", "taylor_terms"]


@cache
def _kl(fam: Family, other: tuple[sp.Expr, ...]) -> sp.Expr:
    log_ratio = fam.log_prob - fam.log_prob_at(other)
    return tidy(expectation(fam, log_ratio))


def kl(family: str | Family, other: Sequence[sp.Expr]) -> sp.Expr:
    """KL(pi_theta || pi_other): ``other`` is a tuple of symbols or values, one per parameter.

    Examples
    ========
    >>> import sympy as sp
    >>> kl("gaussian_unit_mean", (sp.Symbol("m", real=True),))
    m**2/2 - m*mu + mu**2/2
    """
    fam = get_family(family)
    values = tuple(sp.sympify(v) for v in other)
    if len(values) != fam.dim:
        raise NPGInputError(
            f"family {fam.name!r} has {fam.dim} parameters {fam.params}; "
            f"got {len(values)} values for the other distribution: {values}"
        )
    return _kl(fam, values)


def direction_symbols(family: str | Family, name: str = "d") -> tuple[sp.Symbol, ...]:
    """Real symbols d_1..d_n for a direction in parameter space."""
    fam = get_family(family)
    return sp.symbols(f"{name}1:{fam.dim + 1}", real=True)


def taylor_terms(f, order: int) -> tuple[sp.Expr, ...]:
    """T_0..T_order with f(eps) = sum_k T_k eps^k + O(eps^(order+1)).

    ``f`` maps a symbol eps to an expression; T_k = (1/k!) d^k f / d eps^k at eps = 0.
    """
    if not isinstance(order, int) or order < 0:
        raise NPGInputError(f"Taylor order must be a non-negative integer, got {order!r}")
    eps = sp.Dummy("eps", real=True)
    expr = f(eps)
    across = taylor_at_kink(expr, eps, order, "Taylor terms at eps = 0")  # |eps| in f: one-sided
    if across is not None:
        return tuple(tidy(t) for t in across)
    terms = []
    for k in range(order + 1):
        terms.append(tidy(value_at(expr, {eps: 0}, f"Taylor term {k}") / sp.factorial(k)))
        expr = sp.diff(expr, eps)
    return tuple(terms)


def kl_taylor(
    family: str | Family, order: int = 2, direction: Sequence[sp.Expr] | None = None
) -> tuple[sp.Expr, ...]:
    """Taylor terms of eps -> KL(pi_theta || pi_{theta + eps d}) up to ``order``.

    Returns (T_0, ..., T_order); T_k is homogeneous of degree k in ``direction`` (default
    ``direction_symbols(family)``). C3 is T_0 = T_1 = 0 and T_2 = 1/2 d^T F d.
    """
    fam = get_family(family)
    d = tuple(sp.sympify(v) for v in direction) if direction is not None else direction_symbols(fam)
    return _kl_taylor(fam, order, d)


@cache
def _kl_taylor(fam: Family, order: int, d: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    if len(d) != fam.dim:
        raise NPGInputError(
            f"family {fam.name!r} needs a direction of length {fam.dim}, got {len(d)}: {d}"
        )
    # KL as a closed form in generic theta', then theta' = theta + eps d.
    other = tuple(sp.Dummy(p.name, **p.assumptions0) for p in fam.params)
    divergence = kl(fam, other)

    def along(eps):
        return divergence.xreplace({o: p + eps * di for o, p, di in zip(other, fam.params, d)})

    return taylor_terms(along, order)


def kl_taylor_under_integral(
    family: str | Family, order: int = 2, direction: Sequence[sp.Expr] | None = None
) -> tuple[sp.Expr, ...]:
    """The Taylor terms of ``kl_taylor`` without a closed-form KL: differentiated under the
    integral, T_0 = E[0] = 0 and for k >= 1

        T_k = -(1/k!) E_theta[ d^k/d eps^k log pi_{theta + eps d}(x) at eps = 0 ],

    each an expectation under pi_theta (for families whose KL has no closed form).

    Examples
    ========
    >>> kl_taylor_under_integral("gaussian_mean_std", 2)[2]
    (d1**2/2 + d2**2)/sigma**2
    """
    fam = get_family(family)
    d = tuple(sp.sympify(v) for v in direction) if direction is not None else direction_symbols(fam)
    if not isinstance(order, int) or order < 0:
        raise NPGInputError(f"Taylor order must be a non-negative integer, got {order!r}")
    if len(d) != fam.dim:
        raise NPGInputError(f"family {fam.name!r} needs a direction of length {fam.dim}, got {len(d)}: {d}")
    eps = sp.Dummy("eps", real=True)
    moved = fam.log_prob.xreplace({p: p + eps * di for p, di in zip(fam.params, d)})
    terms = [sp.Integer(0)]
    for k in range(1, order + 1):
        moved = sp.diff(moved, eps)
        derivative = moved.xreplace({eps: 0})
        terms.append(tidy(-expectation(fam, derivative) / sp.factorial(k)))
    return tuple(terms)
