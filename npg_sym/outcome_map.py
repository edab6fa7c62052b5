"""Families of a transformed outcome: y = T(u), u drawn from a base family, T invertible.

    log pi_y(y) = log pi_u(T^-1(y)) + log |d T^-1(y) / dy|,        E_y[f(y)] = E_u[f(T(u))].

T must be free of the parameters and strictly monotone on the base's support, which it
maps onto the new support (read off as the limits of T at the base's ends). Then the score
of y is the score of u at T^-1(y) and the two Fisher matrices are equal; npg-derive checks
that identity in its report rather than assuming it. Expectations under a transformed
family are taken on the base (``npg_sym.routes`` pulls f back through ``OutcomeMap``), so
that a tanh-squashed Gaussian closes by the Gaussian integral.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .errors import NPGInputError

__all__ = ["OutcomeMap", "transformed"]


@dataclass(frozen=True)
class OutcomeMap:
    """y = forward(u) with u = inverse(y): the outcome map of a transformed family."""

    base_outcome: sp.Symbol
    outcome: sp.Symbol
    forward: sp.Expr
    inverse: sp.Expr

    def pull_back(self, f: sp.Expr) -> sp.Expr:
        """f(y) as a function of u: T^-1(y) -> u first (atanh(tanh(u)) never forms), then
        every other y -> T(u)."""
        f = sp.sympify(f).xreplace({self.inverse: self.base_outcome})
        return f.xreplace({self.outcome: self.forward})

    def __str__(self) -> str:
        return f"{self.outcome} = {self.forward}"


def _slope_sign(forward: sp.Expr, u: sp.Symbol) -> int:
    slope = sp.simplify(sp.diff(forward, u))
    if slope.is_positive:
        return 1
    if slope.is_negative:
        return -1
    raise NPGInputError(
        f"cannot show that {forward} is strictly monotone in {u} (its derivative {slope} has "
        f"no sign under the assumptions of {u}); the map must be invertible on the support")


def _image(forward: sp.Expr, u: sp.Symbol, support: sp.Set, sign: int):
    lo, hi = support.inf, support.sup
    ends = [sp.limit(forward, u, lo, "+"), sp.limit(forward, u, hi, "-")][::sign]
    if not all(e.is_number and e.is_extended_real for e in ends):
        raise NPGInputError(f"the image of {support} under {forward} has ends {ends}, not numbers")
    return None if ends == [-sp.oo, sp.oo] else sp.Interval(*ends)


def _check_map(base, outcome: sp.Symbol, forward: sp.Expr, inverse: sp.Expr) -> None:
    if base.is_vector or base.states is not None:
        raise NPGInputError(f"family {base.name!r} has a vector outcome or states: only a scalar "
                            "outcome of a one-state family can be transformed")
    u = base.outcome
    if base.support_kind in ("finite", "counts"):
        raise NPGInputError(f"family {base.name!r} is discrete: a map of its outcome needs no "
                            "Jacobian; write the mapped family directly")
    if not isinstance(outcome, sp.Symbol) or outcome == u or outcome in base.params:
        raise NPGInputError(f"the new outcome must be a symbol other than {u} and the parameters, got {outcome!r}")
    if not forward.free_symbols <= {u}:
        raise NPGInputError(f"the map {outcome} = {forward} may depend only on {u} (not on the "
                            "parameters: its Jacobian would change the Fisher)")
    if not inverse.free_symbols <= {outcome}:
        raise NPGInputError(f"the inverse {inverse} may depend only on {outcome}")
    if sp.simplify(forward.xreplace({u: inverse}) - outcome) != 0:
        raise NPGInputError(f"{forward} at {u} = {inverse} is not {outcome}: not its inverse")


def transformed(base, outcome: sp.Symbol, forward, inverse, name: str | None = None,
                description: str | None = None):
    """The family of y = forward(u), u ~ base, given inverse(y) = u (module docstring).

    Examples
    ========
    >>> import sympy as sp
    >>> from npg_sym import FAMILIES
    >>> base = FAMILIES["gaussian_mean_std"]
    >>> y = sp.Symbol("y", real=True)
    >>> squashed = transformed(base, y, sp.tanh(base.outcome), sp.atanh(y))
    >>> squashed.support
    Interval(-1, 1)
    >>> squashed.log_prob - base.log_prob.subs(base.outcome, sp.atanh(y))  # the Jacobian term
    log(1/(1 - y**2))
    """
    from .families import Family

    forward, inverse = sp.sympify(forward), sp.sympify(inverse)
    _check_map(base, outcome, forward, inverse)
    sign = _slope_sign(forward, base.outcome)
    support = _image(forward, base.outcome, base.support_set, sign)
    jacobian = sp.log(sign * sp.diff(inverse, outcome))
    log_prob = base.log_prob.xreplace({base.outcome: inverse}) + jacobian
    mapping = OutcomeMap(base.outcome, outcome, forward, inverse)
    return Family(name or f"{base.name}_transformed", base.params, outcome, log_prob, support,
                  description or f"{base.description}, mapped by {mapping}", base, mapping)
