"""C5: the trust-region step in closed form, derived through the Lagrangian and KKT.

For a general symmetric positive-definite 2x2 F (written F = L L^T with L lower-triangular,
positive diagonal) and a general g: stationarity of the Lagrangian gives d = F^-1 g / lam;
the multiplier is positive so the constraint is active, which fixes lam and hence
beta = sqrt(2 delta / g^T F^-1 g). Global optimality follows from an exact identity: for
every d,

    g^T d* - g^T d = lam/2 [ (d - d*)^T F (d - d*) + (2 delta - d^T F d) ],

whose bracket is >= 0 for every feasible d. Then the same derivation runs on every
registered family's Fisher and bandit gradient, including the singular softmax Fisher,
where the step lies in range(F) (the pseudo-inverse solution).
"""

from __future__ import annotations

import sys

import sympy as sp

from npg_sym import FAMILIES, bandit, fisher, policy_gradient, solve_trust_region

from ._core import Derivation, main_for

CLAIM = "C5"
TITLE = "Closed-form trust-region step"
STATEMENT = (
    "argmax g^T d s.t. 1/2 d^T F d <= delta is d* = beta F^-1 g, beta = sqrt(2 delta / "
    "(g^T F^-1 g)), derived through the Lagrangian and KKT conditions (multiplier > 0, "
    "constraint active). For singular F (softmax), with the pseudo-inverse on range(F)."
)


def _general_case(d: Derivation) -> None:
    l1, l2, rho = sp.symbols("l_1 l_2 rho", positive=True)
    l21, phi = sp.symbols("l_21 phi", real=True)
    delta = sp.Symbol("delta", positive=True)
    L = sp.Matrix([[l1, 0], [l21, l2]])
    F = L * L.T
    # Every g != 0 is L w with w = rho (cos phi, sin phi), rho > 0: fully general, and
    # g^T F^-1 g = rho^2 is then known to be positive.
    g = L * sp.Matrix([rho * sp.cos(phi), rho * sp.sin(phi)])
    sol = solve_trust_region(F, g, delta)
    lam = sol.multiplier
    d.say(
        "**General SPD 2x2 Fisher** $F = L L^\\top$ and general $g \\ne 0$, written "
        "$g = L\\,\\rho(\\cos\\phi, \\sin\\phi)^\\top$ with $\\rho > 0$:"
    )
    d.show("F", F)
    d.show(r"\mathcal{L}(d, \lambda)", sol.lagrangian)
    d.show(r"d(\lambda)", sol.stationary_step)
    d.show(r"\lambda^*", sol.multiplier_value)
    d.show(r"\beta", sol.beta)
    finv_g = F.inv() * g
    q = (g.T * finv_g)[0]
    d.identity("stationarity: d(lam) = F^-1 g / lam", sol.stationary_step, finv_g / lam)
    d.identity("Q = g^T F^-1 g", sol.quadratic_form, q)
    whitened = L.inv() * g
    d.identity("Q = |L^-1 g|^2 = rho^2", q, (whitened.T * whitened)[0])
    d.identity("|L^-1 g|^2 = rho^2", (whitened.T * whitened)[0], rho**2)
    d.require("KKT: the multiplier lam* is positive", sol.multiplier_value.is_positive)
    d.identity("beta = sqrt(2 delta / Q)", sol.beta, sp.sqrt(2 * delta / q))
    d.identity("d* = beta F^-1 g", sol.step, sp.sqrt(2 * delta / q) * finv_g)
    d.identity("constraint active: 1/2 d*^T F d* = delta", (sol.step.T * F * sol.step)[0] / 2, delta)
    d.identity("g^T d* = sqrt(2 delta Q)", (g.T * sol.step)[0], sp.sqrt(2 * delta * q))

    dd = sp.Matrix(sp.symbols("e_1 e_2", real=True))  # any direction
    diff = dd - sol.step
    gap = (g.T * sol.step)[0] - (g.T * dd)[0]
    certificate = sol.multiplier_value / 2 * (
        (diff.T * F * diff)[0] + (2 * delta - (dd.T * F * dd)[0])
    )
    d.identity(
        "optimality: g^T d* - g^T e = lam*/2 [(e - d*)^T F (e - d*) + 2 delta - e^T F e]",
        gap, certificate,
        label=r"g^\top d^* - g^\top e = \tfrac{\lambda^*}{2}\left[(e-d^*)^\top F (e-d^*) + "
        r"(2\delta - e^\top F e)\right]",
    )
    d.identity(
        "(e - d*)^T F (e - d*) = |L^T (e - d*)|^2 >= 0",
        (diff.T * F * diff)[0], ((L.T * diff).T * (L.T * diff))[0],
    )
    d.say(
        r"Both bracket terms are $\ge 0$ for every feasible $e$ ($\tfrac12 e^\top F e \le "
        r"\delta$), and $\lambda^* > 0$: no feasible $e$ beats $d^*$."
    )


def _families(d: Derivation) -> None:
    delta = sp.Symbol("delta", positive=True)
    for key, fam in FAMILIES.items():
        F = fisher(fam)
        g = policy_gradient(bandit(fam))
        sol = solve_trust_region(F, g, delta)
        d.say(f"**`{key}`** with its bandit gradient:")
        d.show(r"\beta", sol.beta)
        d.identity(
            f"{key}: constraint active", (sol.step.T * F * sol.step)[0] / 2, delta
        )
        d.identity(
            f"{key}: stationarity F d* = g / lam*", F * sol.step, g / sol.multiplier_value
        )
        if sol.null_basis:
            for v in sol.null_basis:
                d.show(r"\mathrm{null}(F) \ni v", v.T)
                d.identity(f"{key}: F v = 0", F * v, sp.zeros(F.rows, 1))
                d.identity(f"{key}: d* in range(F) (v^T d* = 0): the pseudo-inverse step",
                           (v.T * sol.step)[0], 0)
        # d* = F^+ g / lam*, lam*^2 = Q / (2 delta), lam* > 0: so d* = beta F^+ g with
        # beta = 1 / lam* = sqrt(2 delta / Q). (Squares avoid sqrt(1/Q) vs 1/sqrt(Q), which
        # SymPy cannot equate without knowing Q > 0, true for every reward but r = const.)
        q = sol.quadratic_form
        d.identity(f"{key}: lam*^2 = g^T F^+ g / (2 delta)", sol.multiplier_value**2, q / (2 * delta))
        d.identity(f"{key}: beta lam* = 1", sol.beta * sol.multiplier_value, 1)
        if not sol.null_basis:
            d.identity(f"{key}: Q = g^T F^-1 g", q, (g.T * F.inv() * g)[0])
            d.identity(f"{key}: lam* d* = F^-1 g", sol.multiplier_value * sol.step, F.inv() * g)


def derive(d: Derivation) -> None:
    _general_case(d)
    _families(d)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
