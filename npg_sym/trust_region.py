"""The trust-region step in closed form, derived through the Lagrangian and KKT (C5).

    maximize g^T d   subject to   1/2 d^T F d <= delta

    Lagrangian  L(d, lam) = g^T d - lam (1/2 d^T F d - delta),   lam > 0
    stationary  g = lam F d          =>  d = F^-1 g / lam      (F^+ g / lam on range(F))
    active      1/2 d^T F d = delta  =>  lam = sqrt(g^T F^-1 g / (2 delta))
    step        d* = beta F^-1 g,    beta = 1/lam = sqrt(2 delta / (g^T F^-1 g))

For singular F (the softmax Fisher), the step is restricted to range(F) (orthogonal to the
null space): that is the pseudo-inverse solution. It exists only when g lies in range(F);
otherwise g^T d grows without bound along the null space and ``NPGInputError`` is raised.
"""

from __future__ import annotations

from typing import NamedTuple

import sympy as sp

from .simplification import adjugate, det, is_zero, tidy

from .errors import NPGInputError

__all__ = ["TrustRegionSolution", "solve_trust_region", "natural_step", "null_space"]


class TrustRegionSolution(NamedTuple):
    """Every stage of the derivation, for proofs and reports."""

    lagrangian: sp.Expr
    multiplier: sp.Symbol  # lam, declared positive (KKT: the constraint is active)
    stationary_step: sp.Matrix  # d(lam) solving stationarity (on range(F) if F is singular)
    quadratic_form: sp.Expr  # Q = g^T F^+ g = lam g^T d(lam)
    multiplier_value: sp.Expr  # lam* = sqrt(Q / (2 delta))
    step: sp.Matrix  # d* = d(lam*)
    beta: sp.Expr  # 1 / lam*
    null_basis: tuple[sp.Matrix, ...]  # empty when F is invertible


def _check_inputs(F, g, delta) -> tuple[sp.Matrix, sp.Matrix, sp.Expr]:
    F = sp.Matrix(F)
    if F.rows != F.cols:
        raise NPGInputError(f"F must be square; got a {F.rows}x{F.cols} matrix")
    asym = F - F.T
    if not all(is_zero(e) for e in asym):
        raise NPGInputError(
            f"F must be symmetric (a Fisher matrix is); F - F^T = {asym.applyfunc(tidy).tolist()} is not 0"
        )
    g = sp.Matrix(g)
    if g.cols != 1 and g.rows == 1:
        g = g.T
    if g.shape != (F.rows, 1):
        raise NPGInputError(f"g must be a vector of length {F.rows}; got shape {g.shape}")
    delta = sp.sympify(delta)
    if delta.is_positive is not True:
        raise NPGInputError(
            f"delta must be positive (a trust-region radius); got {delta}"
            + ("" if delta.is_number else " (declare the symbol with positive=True)")
        )
    return F, g, delta


def null_space(F: sp.Matrix) -> tuple[sp.Matrix, ...]:
    """A basis of null(F) for a symmetric F, exactly.

    Rank n-1 (the softmax case) uses the adjugate: F adj(F) = det(F) I = 0, so any non-zero
    column of adj(F) spans the null space. Lower ranks fall back to SymPy's ``nullspace``.
    """
    if not is_zero(det(F)):
        return ()
    adj = adjugate(F)
    for j in range(adj.cols):
        col = adj[:, j]
        if not all(c == 0 for c in col):
            pivot = next(c for c in col if c != 0)
            return ((col / pivot).applyfunc(tidy),)
    return tuple(v.applyfunc(tidy) for v in F.nullspace(simplify=True))


def solve_trust_region(F, g, delta, *, simplify=tidy) -> TrustRegionSolution:
    """Derive argmax g^T d s.t. 1/2 d^T F d <= delta with SymPy; every stage is returned.

    ``simplify`` puts each stage in its final form (default ``tidy``); a caller whose F and
    g are rational functions of plain symbols may pass a cheaper exact one, such as
    ``lambda e: sympy.cancel(sympy.together(e))`` (npg-derive does, for polygamma Fishers).
    """
    F, g, delta = _check_inputs(F, g, delta)
    n = F.rows
    d = sp.Matrix(sp.symbols(f"d1:{n + 1}", real=True))
    lam = sp.Symbol("lambda", positive=True)
    constraint = (d.T * F * d)[0] / 2 - delta
    lagrangian = (g.T * d)[0] - lam * constraint
    stationarity = [sp.diff(lagrangian, di) for di in d]

    nulls = null_space(F)
    # Restricting d to range(F) = null(F)^perp picks the pseudo-inverse solution.
    equations = stationarity + [(v.T * d)[0] for v in nulls]
    solutions = sp.linsolve(equations, list(d))
    if solutions == sp.EmptySet:
        raise NPGInputError(
            "g has a component in the null space of F, so g^T d is unbounded on the trust "
            f"region; null(F) is spanned by {[list(v) for v in nulls]}"
        )
    (solution,) = solutions
    stationary_step = sp.Matrix(solution).applyfunc(simplify)
    if stationary_step.free_symbols & set(d):
        raise NPGInputError("stationarity does not determine the step uniquely on range(F)")

    # d(lam) = u / lam with u = F^+ g free of lam.
    direction = (lam * stationary_step).applyfunc(simplify)
    quad = simplify((g.T * direction)[0])
    if quad.is_nonpositive:
        raise NPGInputError(f"g^T F^+ g = {quad} is not positive: there is no ascent direction")
    curvature = (direction.T * F * direction)[0] - quad
    if simplify(curvature) != 0 and not is_zero(curvature):
        raise NPGInputError(f"u^T F u - g^T u = {curvature} is not 0 for u = F^+ g")
    # Complementary slackness with lam > 0: the constraint is active. At d = u / lam it
    # reads c Q / lam^2 - delta = 0 with c = u^T F u / (2 Q) = 1/2. Q = g^T F^+ g stands
    # as a positive symbol while solving, so that the positive root is the only one.
    active = constraint.xreplace(dict(zip(d, direction / lam)))
    c = simplify((active + delta) * lam**2 / quad)
    if c.free_symbols:
        raise NPGInputError(f"the active constraint is not of the form c Q / lam^2: c = {c}")
    q = sp.Symbol("Q", positive=True)
    roots = sp.solve(c * q / lam**2 - delta, lam)
    if len(roots) != 1:
        raise NPGInputError(f"expected one positive multiplier, found {roots}")
    multiplier = simplify(roots[0].subs(q, quad))
    step = stationary_step.subs(lam, multiplier).applyfunc(simplify)
    beta = simplify(1 / multiplier)
    return TrustRegionSolution(
        lagrangian, lam, stationary_step, quad, multiplier, step, beta, nulls
    )


def natural_step(F, g, delta) -> tuple[sp.Matrix, sp.Expr]:
    """The trust-region step d* = beta F^-1 g and beta = sqrt(2 delta / (g^T F^-1 g)).

    Parameters
    ==========
    F : a symmetric n x n matrix (the Fisher); singular F uses the pseudo-inverse on range(F).
    g : the gradient, length n.
    delta : the trust-region radius, provably positive.

    Examples
    ========
    >>> import sympy as sp
    >>> step, beta = natural_step(sp.eye(2), [3, 4], sp.Rational(1, 2))
    >>> step.T, beta
    (Matrix([[3/5, 4/5]]), 1/5)

    References
    ==========
    Schulman et al. (2015), Trust Region Policy Optimization, Appendix C.
    """
    solution = solve_trust_region(F, g, delta)
    return solution.step, solution.beta
