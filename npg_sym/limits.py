"""Values at a point of closed forms that are 0/0 there (a removable singularity).

A KL derived by SymPy's general ``integrate`` can hold (exp(mu) - exp(mu')) in a
denominator; its Hessian at theta' = theta is then nan by substitution although the limit
exists. ``value_at`` substitutes, and only when that gives nan or an infinity takes the
limit, one variable after another (the function is continuous there), under a time budget.
"""

from __future__ import annotations

import sympy as sp

from .budget import OutOfTime, time_limit
from .errors import NotClosedError

__all__ = ["value_at", "LIMIT_SECONDS"]

LIMIT_SECONDS = 20.0
"""Budget for the limits of one ``value_at`` call (SymPy's ``limit`` can run for minutes)."""


def _undefined(expr: sp.Expr) -> bool:
    return expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo)


def value_at(expr: sp.Expr, point: dict, quantity: str) -> sp.Expr:
    """expr at ``point`` ({symbol: value}); the limit if substitution is undefined.

    Examples
    ========
    >>> import sympy as sp
    >>> a, b = sp.symbols("a b", real=True)
    >>> value_at((sp.exp(a) - sp.exp(b)) / (a - b), {b: a}, "slope")
    exp(a)
    """
    value = expr.xreplace(point)
    if not _undefined(value):
        return value
    if not _undefined(expr):
        try:
            with time_limit(LIMIT_SECONDS, f"the limit of {quantity}"):
                for symbol, target in point.items():
                    expr = sp.limit(expr, symbol, target)
        except OutOfTime as why:
            raise NotClosedError(quantity, (("substitution", "0/0 at the point"), ("limit", str(why)))) from None
        if not _undefined(expr) and not expr.has(sp.Limit):
            return expr
    raise NotClosedError(
        quantity, (("substitution", "0/0 at the point"), ("limit", "did not give a finite value"))
    )
