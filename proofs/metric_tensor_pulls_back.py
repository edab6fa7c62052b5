"""C8: the metric tensor of a coordinate system, and how it pulls back.

Polar to Cartesian, w = f(v) = (r cos phi, r sin phi): the point (sqrt 2, 45 deg) maps to
(1, 1); the Jacobian A = dw/dv is the article's matrix A (and, because f is homogeneous of
degree 1 in r, the point itself is A (r, 0)^T); the metric of the polar system is the
pullback G_polar = A^T G_cart A = diag(1, r^2), equal to half the Hessian of the squared
Cartesian distance (as F is the Hessian of the KL); a small displacement has the same
length in both systems. The Fisher matrix is a metric of the same kind: for every
registered reparameterization of the Gaussian, F_v = A^T F_w A, and pullbacks compose.
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp

from npg_sym import (
    REPARAMETERIZATIONS,
    euclidean_metric,
    fisher,
    get_reparameterization,
    metric_from_squared_distance,
    polar_to_cartesian,
    pullback,
    taylor_terms,
)

from ._core import Derivation, main_for
from ._plotting import ellipse_points, plt, save

CLAIM = "C8"
TITLE = "The metric tensor of a coordinate system"
STATEMENT = (
    "Polar to Cartesian: (r, phi) = (sqrt 2, 45 deg) maps to (1, 1); the Jacobian J is the "
    "seed's matrix A; G_polar = J^T G_cart J = diag(1, r^2); a small displacement has the "
    "same length in both."
)


def _polar(d: Derivation):
    polar = polar_to_cartesian()
    r, phi = polar.source
    A = polar.jacobian()
    d.say(r"**Polar to Cartesian**, $w = f(v)$ with $v = (r, \phi)$, $w = (x, y)$:")
    d.show(r"f(r, \phi)", sp.Matrix(polar.forward).T)
    d.show(r"A = \partial w / \partial v", A)
    d.identity("f(sqrt 2, pi/4) = (1, 1)", polar.at((sp.sqrt(2), sp.pi / 4)), sp.Matrix([1, 1]),
               label=r"f(\sqrt{2}, 45^\circ) = (1, 1)")
    d.identity("the point is A (r, 0)^T (f is homogeneous of degree 1 in r)",
               A * sp.Matrix([r, 0]), sp.Matrix(polar.forward),
               label=r"A(r,\phi)\,(r, 0)^\top = (x, y)^\top")
    d.identity("A at (sqrt 2, 45 deg) maps (sqrt 2, 0) to (1, 1)",
               A.subs({r: sp.sqrt(2), phi: sp.pi / 4}) * sp.Matrix([sp.sqrt(2), 0]), sp.Matrix([1, 1]))
    inverse_at_f = polar.in_source(polar.inverse_jacobian())
    d.identity("(dv/dw at w = f(v)) A = I", inverse_at_f * A, sp.eye(2),
               label=r"\frac{\partial v}{\partial w}\Big|_{w = f(v)} A = I")
    d.identity("f^-1(f(v)) = v for r > 0, -pi < phi <= pi",
               polar.in_source(sp.Matrix(polar.inverse)).subs(phi, sp.pi / 3),
               sp.Matrix([r, sp.pi / 3]),
               label=r"f^{-1}(f(r, \pi/3)) = (r, \pi/3)")

    G_polar = pullback(euclidean_metric(2), polar)
    d.show(r"G_\mathrm{cart}", euclidean_metric(2))
    d.show(r"G_\mathrm{polar} = A^\top G_\mathrm{cart} A", G_polar)
    d.identity("G_polar = A^T A = diag(1, r^2)", G_polar, sp.diag(1, r**2))
    d.identity(
        "G_polar = 1/2 Hess_v' |f(v') - f(v)|^2 at v' = v (the metric from how distance grows)",
        metric_from_squared_distance(polar), sp.diag(1, r**2),
        label=r"\tfrac12 \nabla^2_{v'} \lVert f(v') - f(v) \rVert^2 \big|_{v'=v} = "
        r"\mathrm{diag}(1, r^2)",
    )

    dr, dphi = sp.symbols(r"\Delta{r} \Delta\phi", real=True)
    dv = sp.Matrix([dr, dphi])
    dw = A * dv
    length_polar = (dv.T * G_polar * dv)[0]
    d.identity("same length: |A dv|^2_cart = dv^T G_polar dv", (dw.T * dw)[0], length_polar,
               label=r"\lVert A\,\Delta v \rVert^2 = \Delta v^\top G_\mathrm{polar} \Delta v = "
               r"\Delta r^2 + r^2 \Delta\phi^2")

    def chord(eps):
        moved = polar.at((r + eps * dr, phi + eps * dphi)) - sp.Matrix(polar.forward)
        return (moved.T * moved)[0]

    t0, t1, t2 = taylor_terms(chord, 2)
    d.say(
        r"The true Cartesian distance between $f(v)$ and $f(v + \epsilon \Delta v)$, "
        r"expanded in $\epsilon$:"
    )
    d.identity("|f(v + eps dv) - f(v)|^2: T_0 = 0", t0, 0)
    d.identity("|f(v + eps dv) - f(v)|^2: T_1 = 0", t1, 0)
    d.identity("|f(v + eps dv) - f(v)|^2: T_2 = dv^T G_polar dv", t2, length_polar)

    # The article's point with displacements shrinking tenfold: the exact chord against the
    # metric length; their ratio tends to 1 with error O(eps).
    rows = ["| displacement (dr, dphi) | chord length in (x, y) | sqrt(dv^T G_polar dv) | relative gap |",
            "|---|---|---|---|"]
    gaps = []
    base = {r: sp.sqrt(2), phi: sp.pi / 4}
    for k in (1, 2, 3, 4):
        eps = sp.Rational(1, 10**k)
        moved = polar.at((sp.sqrt(2) + eps, sp.pi / 4 + eps)) - sp.Matrix([1, 1])
        chord_len = sp.sqrt((moved.T * moved)[0]).evalf(30)
        metric_len = sp.sqrt(length_polar.subs(base).subs({dr: eps, dphi: eps})).evalf(30)
        gap = abs(chord_len / metric_len - 1)
        gaps.append(gap)
        rows.append(f"| ({eps}, {eps}) | {float(chord_len):.10g} | {float(metric_len):.10g} | {float(gap):.3e} |")
    d.table("\n".join(rows))
    d.require(
        "the relative gap shrinks tenfold per tenfold smaller displacement (first order)",
        all(0.05 < gaps[i + 1] / gaps[i] < 0.2 for i in range(3)),
        "ratios " + ", ".join(f"{float(gaps[i + 1] / gaps[i]):.4f}" for i in range(3)),
    )
    return polar, G_polar


def _families(d: Derivation) -> None:
    d.say(
        r"**The Fisher matrix is a metric tensor of the same kind.** For each registered "
        r"reparameterization $w = f(v)$ of the Gaussian, with $A = \partial w/\partial v$:"
    )
    for (src, dst), rp in REPARAMETERIZATIONS.items():
        A = rp.jacobian()
        pulled = A.T * rp.map.in_source(fisher(dst)) * A
        d.identity(f"{src} -> {dst}: F_v = A^T F_w(f(v)) A", pulled, fisher(src),
                   label=rf"A^\top F_w A = {sp.latex(fisher(src))}")
        d.identity(f"{src} -> {dst}: f^-1(f(v)) = v",
                   rp.map.in_source(sp.Matrix(rp.map.inverse)), sp.Matrix(rp.map.source))
    first = get_reparameterization("gaussian_mean_std", "gaussian_mean_logstd")
    second = get_reparameterization("gaussian_mean_logstd", "gaussian_natural")
    direct = get_reparameterization("gaussian_mean_std", "gaussian_natural")
    composite = first.map.in_source(sp.Matrix(second.map.forward))
    d.identity("composition: (logstd -> natural) o (std -> logstd) = std -> natural",
               composite, sp.Matrix(direct.map.forward), label=r"f_2 \circ f_1 = f_{\mathrm{std \to nat}}")
    chain = first.map.in_source(second.jacobian()) * first.jacobian()
    d.identity("chain rule: A_(std->nat) = A_(logstd->nat)(f(v)) A_(std->logstd)", chain, direct.jacobian(),
               label=r"A_2(f_1(v))\, A_1 = " + sp.latex(direct.jacobian()))
    twice = first.jacobian().T * first.map.in_source(
        second.jacobian().T * second.map.in_source(fisher("gaussian_natural")) * second.jacobian()
    ) * first.jacobian()
    d.identity("pulling back twice = pulling back once through the composite", twice,
               direct.jacobian().T * direct.map.in_source(fisher("gaussian_natural")) * direct.jacobian(),
               label=r"A_1^\top (A_2^\top F A_2) A_1 = (A_2 A_1)^\top F (A_2 A_1)")


def _figure(d: Derivation, polar, G_polar) -> None:
    r, phi = polar.source
    metric = sp.lambdify((r, phi), G_polar, "numpy")
    inverse = sp.lambdify(polar.target, sp.Matrix(polar.inverse), "numpy")
    eps = 0.09
    radii = np.array([0.5, 1.0, np.sqrt(2.0), 2.0])
    angles = np.deg2rad([0.0, 22.5, 45.0, 67.5, 90.0])
    fig, (ax_c, ax_p) = plt.subplots(1, 2, figsize=(11, 6))
    t = np.linspace(0, np.pi / 2, 200)
    for rr in radii:
        ax_c.plot(rr * np.cos(t), rr * np.sin(t), color="0.8", lw=0.8)
        ax_p.axvline(rr, color="0.8", lw=0.8)
    for aa in angles:
        ax_c.plot([0, 2.2 * np.cos(aa)], [0, 2.2 * np.sin(aa)], color="0.8", lw=0.8)
        ax_p.axhline(aa, color="0.8", lw=0.8)
    circle = ellipse_points(np.eye(2), eps**2)
    for rr in radii:
        for aa in angles:
            x0, y0 = rr * np.cos(aa), rr * np.sin(aa)
            ax_c.plot(x0 + circle[:, 0], y0 + circle[:, 1], color="tab:blue", lw=1)
            ell = ellipse_points(metric(rr, aa), eps**2)
            ax_p.plot(rr + ell[:, 0], aa + ell[:, 1], color="tab:red", lw=1.4)
            # The exact preimage of the Cartesian circle: it matches the metric ellipse.
            pre = np.array([np.ravel(inverse(x0 + cx, y0 + cy)) for cx, cy in circle[::20]])
            ax_p.plot(pre[:, 0], pre[:, 1], "k.", ms=2.5)
    ax_c.plot([1.0], [1.0], "o", color="tab:orange", ms=6, label="(x, y) = (1, 1)")
    ax_p.plot([np.sqrt(2)], [np.pi / 4], "o", color="tab:orange", ms=6,
              label=r"$(r, \phi) = (\sqrt{2}, 45^\circ)$")
    ax_c.plot([], [], color="tab:blue", label=rf"$|\Delta w| = {eps}$ (unit ball of $G_{{cart}} = I$)")
    ax_p.plot([], [], color="tab:red", label=r"$\Delta v^T G_{polar} \Delta v = $" + f"{eps}$^2$, "
              r"$G_{polar} = \mathrm{diag}(1, r^2)$")
    ax_p.plot([], [], "k.", label="exact preimage of the blue circle")
    ax_c.set(xlabel="x", ylabel="y", title="Cartesian plane with the polar grid", aspect="equal",
             xlim=(-0.15, 2.3), ylim=(-0.15, 2.3))
    ax_p.set(xlabel="r", ylabel=r"$\phi$ (rad)", title="polar coordinates: the same discs are ellipses",
             aspect="equal", xlim=(0.3, 2.2), ylim=(-0.3, 1.9))
    for ax in (ax_c, ax_p):
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    save(fig, d.figure(
        "c8_polar_metric.png",
        "Equal Cartesian discs (left) are ellipses dv^T G_polar dv = eps^2 in (r, phi) (right), "
        "semi-axes eps and eps/r; black dots: the exact preimages of the discs.",
    ))


def derive(d: Derivation) -> None:
    polar, G_polar = _polar(d)
    _families(d)
    _figure(d, polar, G_polar)


def main() -> int:
    return main_for(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
