"""Derivatives at a point where a closed form has a kink: |a| or sign(a) with a = 0 there.

A closed-form KL can hold |mu - mu'| (the Laplace law): its Hessian at theta' = theta is
then not a plain substitution (SymPy's d/da |a| = sign(a), d/da sign(a) = 2 delta(a)).
For one kink argument a, linear in a variable v, the expression is f+ on {a >= 0} and f-
on {a <= 0} (|a| -> a and -a, sign(a) -> 1 and -1), each analytic. f is C^2 near the
point when

    f+ - f- = 0  and  grad (f+ - f-) = 0  on {a = 0}      (f and grad f continuous)
    Hess f+ = Hess f-  at the point                       (grad f differentiable there)

and then Hess f = Hess f+ there (a one-sided limit that equals the other side's). Along
a line eps -> f(eps) the kink is the point eps = 0 alone: f+ and f- with equal Taylor
terms up to order k make f k times differentiable at 0, with those terms. Conditions that
do not hold (or are not shown) raise ``NotClosedError``: never a value from delta(0) * 0.
"""

from __future__ import annotations

from typing import Sequence

import sympy as sp

from .errors import NotClosedError
from .limits import value_at
from .simplification import is_zero

__all__ = ["kink_arguments", "one_sided_pieces", "hessian_at", "taylor_at_kink"]


def _key(a: sp.Expr) -> sp.Expr:
    return -a if a.could_extract_minus_sign() else a


def kink_arguments(expr: sp.Expr, point: dict) -> list[sp.Expr]:
    """The arguments a of |a| and sign(a) in ``expr`` that are 0 at ``point`` (up to sign)."""
    found = []
    for atom in sp.sympify(expr).atoms(sp.Abs, sp.sign):
        a = _key(atom.args[0])
        if a.has(*point) and sp.cancel(a.xreplace(point)) == 0 and a not in found:
            found.append(a)
    return found


def one_sided_pieces(expr: sp.Expr, a: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(f+, f-): ``expr`` with |a| -> a, sign(a) -> 1, and with |a| -> -a, sign(a) -> -1."""
    pieces = []
    for side in (1, -1):
        mapping = {}
        for atom in expr.atoms(sp.Abs, sp.sign):
            if _key(atom.args[0]) != a:
                continue
            sign = side if atom.args[0] == a else -side
            mapping[atom] = side * a if isinstance(atom, sp.Abs) else sp.Integer(sign)
        pieces.append(expr.xreplace(mapping))
    return pieces[0], pieces[1]


def _one_kink(expr: sp.Expr, point: dict, quantity: str) -> sp.Expr | None:
    kinks = kink_arguments(expr, point)
    if len(kinks) > 1:
        raise NotClosedError(quantity, (("one-sided pieces", f"{len(kinks)} kinks {kinks} meet at the point; "
                                         "one is split, not more"),))
    return kinks[0] if kinks else None


def _fails(quantity: str, why: str) -> NotClosedError:
    return NotClosedError(quantity, (("one-sided pieces", why),))


def hessian_at(expr: sp.Expr, variables: Sequence[sp.Symbol], point: dict, quantity: str) -> sp.Matrix:
    """Hess_variables expr at ``point``; across one kink |a| by the conditions of the module
    docstring (checked exactly), else ``NotClosedError``."""
    variables = list(variables)
    a = _one_kink(expr, point, quantity)
    if a is None:
        return sp.hessian(expr, variables).applyfunc(lambda h: value_at(h, point, quantity))
    plus, minus = one_sided_pieces(expr, a)
    linear = [v for v in variables if a.has(v) and sp.diff(a, v, 2) == 0 and not sp.diff(a, v).has(*variables)]
    if not linear:
        raise _fails(quantity, f"the kink argument {a} is not linear in one of {variables}")
    v = linear[0]
    on_kink = {v: sp.solve(a, v)[0]}
    gap = plus - minus
    for what, e in (("the two sides", gap), *((f"d/d{w} of the two sides", sp.diff(gap, w)) for w in variables)):
        if not is_zero(sp.expand(e.subs(on_kink))):
            raise _fails(quantity, f"{what} differ on the kink {a} = 0: not twice differentiable there")
    H = [sp.hessian(piece, variables).applyfunc(lambda h: value_at(h, point, quantity)) for piece in (plus, minus)]
    if not all(is_zero(e) for e in H[0] - H[1]):
        raise _fails(quantity, f"the one-sided Hessians across {a} = 0 differ")
    return H[0]


def taylor_at_kink(expr: sp.Expr, eps: sp.Symbol, order: int, quantity: str) -> tuple[sp.Expr, ...] | None:
    """(T_0, ..., T_order) of eps -> expr at eps = 0 across one kink |a| with a = 0 at
    eps = 0 (the two sides' terms must agree), or None where there is no such kink."""
    point = {eps: sp.Integer(0)}
    a = _one_kink(expr, point, quantity)
    if a is None:
        return None
    sides = []
    for piece in one_sided_pieces(expr, a):
        terms = []
        for k in range(order + 1):
            terms.append(value_at(piece, point, f"{quantity}, term {k}") / sp.factorial(k))
            piece = sp.diff(piece, eps)
        sides.append(terms)
    for k, (p, m) in enumerate(zip(*sides)):
        if not is_zero(p - m):
            raise _fails(quantity, f"Taylor term {k} differs on the two sides of {a} = 0")
    return tuple(sides[0])
