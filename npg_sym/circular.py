"""Expectations under laws on the circle (one full period of length 2 pi), exactly.

When x enters the log-density only through cos and sin of x plus a shift, the integral
over one period does not change when x is shifted: x = c + z, with c read off the
argument of a cosine. If then L(c + z) = K + A cos z, an integrand that is a polynomial
in cos z and sin z closes by

    int_{-pi}^{pi} cos(z)^j e^(A cos z) dz = 2 pi d^j/dA^j I_0(A),

sin(z)^(2m) = (1 - cos(z)^2)^m, and odd powers of sin z giving 0 (the law is even in z).
Bessel functions of integer order n >= 2 are written (``integrals.reduce_besseli``) in I_0 and I_1 by
I_(n+1)(A) = I_(n-1)(A) - (2 n / A) I_n(A), so that equal values meet in one form.
"""

from __future__ import annotations

import sympy as sp

from .integrals import RouteDoesNotApply, reduce_besseli

__all__ = ["circular_moments"]


def _shift(log_density: sp.Expr, x: sp.Symbol) -> sp.Expr:
    for node in sp.preorder_traversal(log_density):
        if isinstance(node, (sp.cos, sp.sin)) and node.args[0].has(x):
            arg = sp.expand(node.args[0])
            slope = sp.diff(arg, x)
            if slope in (1, -1):
                return -arg.subs(x, 0) / slope
    raise RouteDoesNotApply("no cos(x - c) or sin(x - c) in the log-density to centre on")


def _periodic(expr: sp.Expr, x: sp.Symbol) -> bool:
    """x occurs only in cos/sin arguments with an integer coefficient."""
    def bare(e):
        if isinstance(e, (sp.cos, sp.sin)):
            return not sp.diff(e.args[0], x).is_Integer
        if e == x:
            return True
        return any(bare(a) for a in e.args)

    return not bare(expr)


def _trig_polynomial(expr: sp.Expr, z: sp.Symbol, C: sp.Symbol, S: sp.Symbol) -> sp.Poly:
    expr = sp.expand(sp.expand_trig(expr)).subs({sp.cos(z): C, sp.sin(z): S})
    if expr.has(z):
        raise RouteDoesNotApply(f"{expr} is not a polynomial in cos z and sin z")
    return sp.Poly(expr, C, S)


def circular_moments(f: sp.Expr, log_density: sp.Expr, x: sp.Symbol, lo, hi) -> sp.Expr:
    """int_lo^hi f e^L dx over one period (hi - lo = 2 pi) by the moments above."""
    if sp.simplify(hi - lo - 2 * sp.pi) != 0:
        raise RouteDoesNotApply(f"({lo}, {hi}) is not one period of length 2 pi")
    if not (_periodic(log_density, x) and _periodic(f, x)):
        raise RouteDoesNotApply("x does not enter only through cos and sin with integer frequency")
    z, A, C, S = sp.Dummy("z", real=True), sp.Dummy("A"), sp.Dummy("C"), sp.Dummy("S")
    c = _shift(log_density, x)
    L = _trig_polynomial(log_density.subs(x, c + z), z, C, S)
    if L.total_degree() > 1 or L.coeff_monomial(S) != 0:
        raise RouteDoesNotApply("the log-density is not K + A cos(x - c)")
    K, kappa = L.coeff_monomial(1), L.coeff_monomial(C)
    total = sp.Integer(0)
    for (j, k), coeff in _trig_polynomial(f.subs(x, c + z), z, C, S).terms():
        if k % 2:
            continue
        for (i,), c2 in sp.Poly(sp.expand(C**j * (1 - C**2) ** (k // 2)), C).terms():
            moment = sp.diff(sp.besseli(0, A), A, i).subs(A, kappa)
            total += coeff * c2 * 2 * sp.pi * moment
    return reduce_besseli(sp.expand(sp.exp(K) * total))
