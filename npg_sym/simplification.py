"""Exact simplification, and the zero test that every proof relies on.

``tidy`` turns expressions in exponentials of parameters into rational functions: each
real symbol t that appears inside ``exp`` is replaced by log(u) with u > 0, so that
exp(k t) becomes u^k; the result is cancelled and factored as a rational function and
mapped back (u -> exp(t)). SymPy's ``simplify`` alone leaves identities such as
e^t / (1 + e^t)^2 = 1 / (4 cosh(t/2)^2) undecided; as rational functions they are exact.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["tidy", "is_zero", "tidy_matrix", "exp_to_rational", "det", "adjugate"]


def exp_to_rational(obj):
    """(obj with exp(t) -> u_t, the map back): rational functions in u_t > 0 where possible.

    Every real symbol t found inside an ``exp`` is replaced by log(u_t) with a positive
    dummy u_t, so exp(k t) becomes u_t^k. ``back(result)`` substitutes u_t -> exp(t).
    """
    obj = sp.sympify(obj)
    obj = obj.rewrite(sp.exp) if obj.has(sp.cosh, sp.sinh, sp.tanh) else obj
    exps = obj.atoms(sp.exp)
    inner = set().union(*(e.args[0].free_symbols for e in exps)) if exps else set()
    inner = sorted((s for s in inner if s.is_real), key=lambda s: s.name)
    u = {s: sp.Dummy(f"u_{s.name}", positive=True) for s in inner}
    forward = {s: sp.log(u[s]) for s in inner}
    backward = {u[s]: sp.exp(s) for s in inner}

    def convert(e):
        return sp.powsimp(sp.expand_log(e.xreplace(forward), force=False))

    converted = obj.applyfunc(convert) if isinstance(obj, sp.MatrixBase) else convert(obj)

    def back(result):
        return result.xreplace(backward)

    return converted, back, bool(inner)


def _factor_roots(e):
    """Factor the bases of fractional powers: sqrt(u^2 + 2u + 1) -> u + 1 for u > 0."""
    return e.replace(
        lambda a: a.is_Pow and a.exp.is_Rational and not a.exp.is_Integer,
        lambda a: sp.Pow(sp.factor(a.base), a.exp),
    )


def _cancel(e):
    return sp.factor(sp.cancel(_factor_roots(sp.together(e))))


def det(m: sp.Matrix) -> sp.Expr:
    """The determinant, exactly: Berkowitz on the rational form (fast for softmax Fishers)."""
    r, back, rational = exp_to_rational(sp.Matrix(m))
    if rational:
        r = r.applyfunc(_cancel)
    value = r.det(method="berkowitz")
    return back(_cancel(value)) if rational else sp.simplify(value)


def adjugate(m: sp.Matrix) -> sp.Matrix:
    """The adjugate, exactly, through the rational form (F adj(F) = det(F) I)."""
    r, back, rational = exp_to_rational(sp.Matrix(m))
    if rational:
        r = r.applyfunc(_cancel)
    adj = r.adjugate(method="berkowitz")
    return adj.applyfunc(lambda e: back(_cancel(e)) if rational else sp.simplify(e))


def tidy(expr) -> sp.Expr:
    """An exact canonical-ish form: rational in exp(t) where exponentials occur, else simplify."""
    expr = sp.sympify(expr)
    if expr.is_number:
        return sp.nsimplify(expr) if expr.is_Float else sp.simplify(expr)
    converted, back, rational = exp_to_rational(expr)
    if not rational:
        return sp.simplify(converted)
    return back(_cancel(converted))


def is_zero(expr) -> bool:
    """True only when ``expr`` is shown to be identically 0 by exact rewriting."""
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if tidy(expr) == 0:
        return True
    return sp.simplify(expr) == 0


def tidy_matrix(m: sp.Matrix) -> sp.Matrix:
    return sp.Matrix(m).applyfunc(tidy)
