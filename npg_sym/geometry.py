"""Coordinate maps, metric tensors and their pullback, exactly (C7-C10).

A coordinate map w = f(v) carries its Jacobian A = dw/dv. Everything that is a tensor
transforms through A:

    displacement (vector)      dw  = A dv
    gradient (covector)        g_v = A^T g_w
    metric (2-tensor)          G_v = A^T G_w A          (the pullback; the Fisher is one)

so the natural step d* = beta G^-1 g is the same displacement in both coordinates,
A d_v* = d_w*, while the vanilla step is not: A g_v = A A^T g_w != g_w unless A A^T = I.

The registry ``REPARAMETERIZATIONS`` holds the maps between the registered Gaussian
families, keyed by (source key, target key), both directions of each pair:

    gaussian_mean_std (mu, sigma) <-> gaussian_mean_logstd (mu, s = log sigma)
    gaussian_mean_std (mu, sigma) <-> gaussian_natural (eta1, eta2)
    gaussian_mean_logstd (mu, s)  <-> gaussian_natural (eta1, eta2)

with eta1 = mu / sigma^2, eta2 = -1 / (2 sigma^2). ``npg_num.geometry`` has the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import sympy as sp

from .errors import NPGInputError
from .families import FAMILIES, Family, expectation, get_family

__all__ = [
    "CoordinateMap",
    "Reparameterization",
    "REPARAMETERIZATIONS",
    "get_reparameterization",
    "polar_to_cartesian",
    "euclidean_metric",
    "pullback",
    "pushforward",
    "pullback_covector",
    "metric_from_squared_distance",
    "SUFFICIENT_STATISTICS",
    "sufficient_statistics",
    "mean_parameters",
]


@dataclass(frozen=True)
class CoordinateMap:
    """A change of coordinates w = f(v) with its inverse, exactly.

    Parameters
    ==========
    name : one line, for reports.
    source : the symbols v (with their assumptions: ``positive=True`` for a radius).
    target : the symbols w.
    forward : f(v), one expression in ``source`` per target symbol.
    inverse : f^-1(w), one expression in ``target`` per source symbol.

    Examples
    ========
    >>> polar = polar_to_cartesian()
    >>> polar.jacobian()
    Matrix([
    [cos(phi), -r*sin(phi)],
    [sin(phi),  r*cos(phi)]])
    """

    name: str
    source: tuple[sp.Symbol, ...]
    target: tuple[sp.Symbol, ...]
    forward: tuple[sp.Expr, ...]
    inverse: tuple[sp.Expr, ...]

    def __post_init__(self):
        n = len(self.source)
        if not (len(self.target) == len(self.forward) == len(self.inverse) == n):
            raise NPGInputError(
                f"coordinate map {self.name!r} must have as many source symbols {self.source} "
                f"as target symbols {self.target}, forward and inverse expressions"
            )

    @property
    def dim(self) -> int:
        return len(self.source)

    def jacobian(self) -> sp.Matrix:
        """A = dw/dv, as a function of v: A[i, j] = d f_i / d v_j."""
        return sp.Matrix(self.forward).jacobian(self.source)

    def inverse_jacobian(self) -> sp.Matrix:
        """dv/dw, as a function of w (equal to A^-1 at w = f(v))."""
        return sp.Matrix(self.inverse).jacobian(self.target)

    def in_source(self, expr):
        """An expression in the target symbols w, rewritten at w = f(v)."""
        subs = dict(zip(self.target, self.forward))
        if isinstance(expr, sp.MatrixBase):
            return expr.applyfunc(lambda e: sp.sympify(e).xreplace(subs))
        return sp.sympify(expr).xreplace(subs)

    def at(self, values: Sequence) -> sp.Matrix:
        """f(values): the target coordinates of the point with source coordinates ``values``."""
        values = tuple(sp.sympify(v) for v in values)
        if len(values) != self.dim:
            raise NPGInputError(
                f"coordinate map {self.name!r} takes {self.dim} source values {self.source}; "
                f"got {len(values)}: {values}"
            )
        subs = dict(zip(self.source, values))
        return sp.Matrix([e.xreplace(subs) for e in self.forward])


def polar_to_cartesian() -> CoordinateMap:
    """(r, phi) -> (x, y) = (r cos phi, r sin phi), r > 0; inverse (sqrt(x^2 + y^2), atan2(y, x)).

    The metric tensors are G_cart = I and G_polar = A^T A = diag(1, r^2).
    """
    r = sp.Symbol("r", positive=True)
    phi = sp.Symbol("phi", real=True)
    x, y = sp.symbols("x y", real=True)
    return CoordinateMap(
        "polar (r, phi) -> Cartesian (x, y)",
        (r, phi), (x, y),
        (r * sp.cos(phi), r * sp.sin(phi)),
        (sp.sqrt(x**2 + y**2), sp.atan2(y, x)),
    )


def euclidean_metric(n: int) -> sp.Matrix:
    """G = I_n: the metric of flat space in Cartesian coordinates."""
    if not isinstance(n, int) or n < 1:
        raise NPGInputError(f"a metric needs a positive integer dimension, got {n!r}")
    return sp.eye(n)


def _check_square(name: str, m: sp.Matrix, n: int) -> sp.Matrix:
    m = sp.Matrix(m)
    if m.shape != (n, n):
        raise NPGInputError(f"{name} must be a {n}x{n} matrix for this map; got shape {m.shape}")
    return m


def pullback(metric_w, cmap: CoordinateMap) -> sp.Matrix:
    """G_v = A^T G_w(f(v)) A: the metric in the source coordinates.

    ``metric_w`` is a matrix in the target symbols (or constant). The squared length of a
    displacement is the same in both systems: dv^T G_v dv = (A dv)^T G_w (A dv).

    Examples
    ========
    >>> pullback(euclidean_metric(2), polar_to_cartesian())
    Matrix([
    [1,    0],
    [0, r**2]])
    """
    G = _check_square("the metric", metric_w, cmap.dim)
    A = cmap.jacobian()
    return (A.T * cmap.in_source(G) * A).applyfunc(sp.simplify)


def pushforward(vector_v, cmap: CoordinateMap) -> sp.Matrix:
    """dw = A dv: a displacement (tangent vector) carried to the target coordinates."""
    v = sp.Matrix(vector_v)
    if v.shape != (cmap.dim, 1):
        raise NPGInputError(f"a displacement must have length {cmap.dim}; got shape {v.shape}")
    return cmap.jacobian() * v


def pullback_covector(covector_w, cmap: CoordinateMap) -> sp.Matrix:
    """g_v = A^T g_w(f(v)): a gradient (covector) carried to the source coordinates (chain rule)."""
    g = sp.Matrix(covector_w)
    if g.shape != (cmap.dim, 1):
        raise NPGInputError(f"a gradient must have length {cmap.dim}; got shape {g.shape}")
    return cmap.jacobian().T * cmap.in_source(g)


def metric_from_squared_distance(cmap: CoordinateMap, metric_w=None) -> sp.Matrix:
    """G_v = 1/2 Hess_{v'} |f(v') - f(v)|^2_{G_w} at v' = v: the metric from how distance grows.

    The twin of ``fisher_from_kl``: a squared distance (as the KL) vanishes to first order
    at v' = v, so its Hessian there is the metric. ``metric_w`` is G_w, held at the base point
    f(v) (default: the identity, flat target space).
    """
    G = euclidean_metric(cmap.dim) if metric_w is None else _check_square("the metric", metric_w, cmap.dim)
    primed = tuple(sp.Dummy(s.name, **s.assumptions0) for s in cmap.source)
    moved = sp.Matrix(cmap.forward).xreplace(dict(zip(cmap.source, primed)))
    diff = moved - sp.Matrix(cmap.forward)
    sq = (diff.T * cmap.in_source(G) * diff)[0]
    hess = sp.hessian(sq, primed) / 2
    return hess.xreplace(dict(zip(primed, cmap.source))).applyfunc(sp.simplify)


@dataclass(frozen=True)
class Reparameterization:
    """A map between two registered families' parameters: w = f(v), same distributions.

    ``source`` and ``target`` are family keys; ``map.source`` are the source family's
    parameter symbols and ``map.target`` the target family's, so pi^source_v = pi^target_f(v).
    """

    source: str
    target: str
    map: CoordinateMap

    def jacobian(self) -> sp.Matrix:
        """A = dw/dv, in the source parameters."""
        return self.map.jacobian()


def _build() -> dict[tuple[str, str], Reparameterization]:
    std, logstd, nat = (FAMILIES[k] for k in ("gaussian_mean_std", "gaussian_mean_logstd", "gaussian_natural"))
    mu, sigma = std.params
    mu_l, s = logstd.params
    eta1, eta2 = nat.params
    pairs = [
        # (mu, sigma) <-> (mu, log sigma)
        (std, logstd, (mu, sp.log(sigma)), (mu_l, sp.exp(s))),
        # (mu, sigma) <-> (mu / sigma^2, -1 / (2 sigma^2))
        (std, nat, (mu / sigma**2, -1 / (2 * sigma**2)),
         (-eta1 / (2 * eta2), sp.sqrt(-1 / (2 * eta2)))),
        # (mu, s) <-> (mu exp(-2 s), -exp(-2 s) / 2)
        (logstd, nat, (mu_l * sp.exp(-2 * s), -sp.exp(-2 * s) / 2),
         (-eta1 / (2 * eta2), -sp.log(-2 * eta2) / 2)),
    ]
    registry = {}
    for a, b, a_to_b, b_to_a in pairs:
        registry[a.name, b.name] = Reparameterization(
            a.name, b.name, CoordinateMap(f"{a.name} -> {b.name}", a.params, b.params, a_to_b, b_to_a)
        )
        registry[b.name, a.name] = Reparameterization(
            b.name, a.name, CoordinateMap(f"{b.name} -> {a.name}", b.params, a.params, b_to_a, a_to_b)
        )
    return registry


REPARAMETERIZATIONS: Mapping[tuple[str, str], Reparameterization] = MappingProxyType(_build())


def get_reparameterization(source: str, target: str) -> Reparameterization:
    """The registered map from family ``source`` to family ``target`` (clear error otherwise)."""
    try:
        return REPARAMETERIZATIONS[source, target]
    except (KeyError, TypeError):
        allowed = ", ".join(f"{a} -> {b}" for a, b in REPARAMETERIZATIONS)
        raise NPGInputError(
            f"no registered reparameterization {source!r} -> {target!r}; allowed: {allowed}"
        ) from None


def _indicator(x: sp.Symbol, k: int) -> sp.Expr:
    return sp.Piecewise((1, sp.Eq(x, k)), (0, True))


def _statistics() -> dict[str, tuple[sp.Expr, ...]]:
    x = FAMILIES["gaussian_natural"].outcome
    return {
        # log pi = t T(x) - A(t) (+ log h(x)) with theta the natural parameters.
        "bernoulli_logit": (x,),
        "categorical_softmax3": tuple(_indicator(x, k) for k in range(3)),
        "gaussian_unit_mean": (x,),
        "gaussian_natural": (x, x**2),
    }


SUFFICIENT_STATISTICS: Mapping[str, tuple[sp.Expr, ...]] = MappingProxyType(_statistics())


def sufficient_statistics(family: str | Family) -> tuple[sp.Expr, ...]:
    """T(x) of a registered family that is an exponential family in its own parameters."""
    fam = get_family(family)
    try:
        return SUFFICIENT_STATISTICS[fam.name]
    except KeyError:
        allowed = ", ".join(SUFFICIENT_STATISTICS)
        raise NPGInputError(
            f"family {fam.name!r} is not registered as an exponential family in its natural "
            f"parameters; allowed: {allowed}"
        ) from None


def mean_parameters(family: str | Family) -> sp.Matrix:
    """m(theta) = E_{x ~ pi_theta}[T(x)], exactly; for the Gaussian m = (E[x], E[x^2]).

    In natural parameters, dm/dtheta = F(theta) (C10).

    Examples
    ========
    >>> mean_parameters("gaussian_natural").T
    Matrix([[-eta1/(2*eta2), (eta1**2 - 2*eta2)/(4*eta2**2)]])
    """
    fam = get_family(family)
    return sp.Matrix([sp.factor(sp.simplify(expectation(fam, t))) for t in sufficient_statistics(fam)])
