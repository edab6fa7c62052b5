"""The registry of small analytic policy families, exactly in SymPy.

Each family is a distribution pi_theta(x) over one outcome ``x`` (an action of a one-state
policy), given by its log-probability; a ``Family`` may also take a vector outcome and a
state distribution (``npg_sym.vector``). The keys are shared with ``npg_num.FAMILIES``: a
test asserts the two key sets are equal and checks every family twin against twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import sympy as sp

from .declared import normalize_declared_ranges
from .errors import NPGInputError
from .routes import exact_expectation

__all__ = [
    "Family",
    "FAMILIES",
    "SUPPORT_KINDS",
    "classify_support",
    "get_family",
    "expectation",
    "primed",
    "categorical_softmax",
]

SUPPORT_KINDS = ("finite", "real_line", "half_line", "interval", "counts")
"""What ``Family.support`` may be: a tuple of outcomes, None or sympy.Reals, a half-line or a
bounded ``sympy.Interval`` with numeric ends, or ``sympy.Naturals0`` (counts)."""

_ALLOWED_SUPPORTS = (
    "a tuple of outcomes, None or sympy.Reals (the real line), a sympy.Interval with "
    "numeric ends (e.g. sympy.Interval(0, sympy.oo) or sympy.Interval(0, 1)), or "
    "sympy.Naturals0 (counts)"
)


def classify_support(support) -> str:
    """The kind of a support (one of ``SUPPORT_KINDS``), or ``NPGInputError`` for others."""
    if support is None or support == sp.Reals:
        return "real_line"
    if isinstance(support, tuple):
        if not support or not all(sp.sympify(k).is_number for k in support):
            raise NPGInputError(f"a finite support must be a non-empty tuple of numbers, got {support!r}")
        return "finite"
    if support == sp.Naturals0:
        return "counts"
    if isinstance(support, sp.Interval):
        ends = (support.inf, support.sup)
        if not all(e.is_number for e in ends):
            raise NPGInputError(
                f"the support {support} has symbolic ends; the support must not depend on the "
                "parameters (the score would not have mean 0), so its ends must be numbers"
            )
        return "half_line" if sp.oo in (abs(ends[0]), abs(ends[1])) else "interval"
    raise NPGInputError(f"unsupported support {support!r}; allowed: {_ALLOWED_SUPPORTS}")


@dataclass(frozen=True)
class Family:
    """A parametric family pi_theta(x).

    Parameters
    ==========
    name : the registry key.
    params : theta, SymPy symbols carrying their assumptions (``positive=True`` for a
        standard deviation, ``negative=True`` for eta2), so that simplification is sound.
    outcome : the outcome symbol ``x``, or a tuple of symbols (x_1, ..., x_d) for a vector
        outcome (``npg_sym.vector``).
    log_prob : log pi_theta(x), an expression in ``params`` and ``outcome``.
    support : a tuple of outcomes (finite); ``None`` or ``sympy.Reals`` (the real line); a
        ``sympy.Interval`` with numeric ends (a half-line such as ``Interval(0, oo)``, or
        bounded such as ``Interval(0, 1)``); ``sympy.Naturals0`` (counts 0, 1, 2, ...). For a
        vector outcome: a tuple of one such support per coordinate, ``None`` (R^d), or
        ``npg_sym.SIMPLEX``.
    description : one line for reports.
    base, outcome_map : for a transformed outcome (``Family.transformed``), the base family
        and the map y = T(u); expectations are then taken on the base.
    declared_ranges : ``{param: (lo, hi)}``, ranges narrower than the assumptions can say
        (nu > 2): used as convergence conditions where the assumptions do not suffice
        (``npg_sym.declared``); stored as ((param, lo, hi), ...).
    states : ``npg_sym.States`` or None: the distribution of a state symbol that
        ``log_prob`` may use, for a policy pi(a | s); expectations are then over s and a.
    """

    name: str
    params: tuple[sp.Symbol, ...]
    outcome: sp.Symbol | tuple[sp.Symbol, ...]
    log_prob: sp.Expr
    support: tuple[int, ...] | sp.Set | None
    description: str
    base: "Family | None" = None
    outcome_map: object = None  # npg_sym.outcome_map.OutcomeMap
    declared_ranges: tuple = ()
    states: object = None  # npg_sym.vector.States

    @classmethod
    def transformed(cls, base: "Family", outcome: sp.Symbol, forward, inverse, name: str | None = None,
                    description: str | None = None) -> "Family":
        """The family of y = forward(u), u ~ base, with inverse(y) = u: log pi_y(y) =
        log pi_u(inverse(y)) + log |inverse'(y)| (``npg_sym.outcome_map``)."""
        from .outcome_map import transformed

        return transformed(base, outcome, forward, inverse, name, description)

    def __post_init__(self):
        if self.is_vector:
            from .vector import check_vector_support

            check_vector_support(self)
        else:
            classify_support(self.support)  # unsupported supports fail here, with the allowed ones
        object.__setattr__(self, "declared_ranges", normalize_declared_ranges(self.params, self.declared_ranges))
        if self.states is not None:
            from .vector import States

            if not isinstance(self.states, States):
                raise NPGInputError(f"states must be npg_sym.States.finite(...) or "
                                    f"npg_sym.States.gaussian(...), got {self.states!r}")

    @property
    def is_vector(self) -> bool:
        """True for a tuple of outcome symbols."""
        return isinstance(self.outcome, tuple)

    @property
    def outcomes(self) -> tuple[sp.Symbol, ...]:
        """The outcome symbols, a tuple for a scalar outcome too."""
        return self.outcome if self.is_vector else (self.outcome,)

    @property
    def dim(self) -> int:
        return len(self.params)

    @property
    def support_kind(self) -> str:
        """One of ``SUPPORT_KINDS``: finite, real_line, half_line, interval, counts; for a
        vector outcome "product" or "simplex"."""
        if self.is_vector:
            from .vector import Simplex

            return "simplex" if isinstance(self.support, Simplex) else "product"
        return classify_support(self.support)

    @property
    def support_set(self) -> sp.Set:
        """The support as a SymPy set (``FiniteSet``, ``Reals``, ``Interval``, ``Naturals0``;
        a ``ProductSet`` for a vector outcome, a ``ConditionSet`` for the simplex)."""
        kind = self.support_kind
        if self.is_vector:
            from .vector import support_set

            return support_set(self)
        if kind == "finite":
            return sp.FiniteSet(*self.support)
        return sp.Reals if kind == "real_line" else self.support

    @property
    def finite(self) -> bool:
        """True for a finite tuple of outcomes."""
        return self.support_kind == "finite"

    @property
    def discrete(self) -> bool:
        """True for finite outcomes and for counts (sums, not integrals)."""
        return self.support_kind in ("finite", "counts")

    def log_prob_at(self, values: Sequence[sp.Expr]) -> sp.Expr:
        """log pi_values(x): the log-probability with theta replaced by ``values``."""
        values = tuple(sp.sympify(v) for v in values)
        if len(values) != self.dim:
            raise NPGInputError(
                f"family {self.name!r} has {self.dim} parameters {self.params}; "
                f"got {len(values)} values {values}"
            )
        return self.log_prob.xreplace(dict(zip(self.params, values)))

    def density(self) -> sp.Expr:
        return sp.exp(self.log_prob)


def primed(family: Family, suffix: str = "_") -> tuple[sp.Symbol, ...]:
    """Symbols theta' (named NAME_: mu_ for mu) with the assumptions of theta, for KL(theta || theta')."""
    return tuple(sp.Symbol(p.name + suffix, **p.assumptions0) for p in family.params)


def expectation(family: Family, f: sp.Expr, params: Sequence[sp.Expr] | None = None) -> sp.Expr:
    """E_{x ~ pi_theta}[f(x)], exactly, by the cheapest route that closes (``npg_sym.routes``).

    A finite sum, a Gaussian integral over R, Gamma/Bessel/Beta/power integrals on a
    half-line or an interval, power series over counts; SymPy's general integrate and
    summation last, under a time budget. ``params`` evaluates the expectation under pi at
    other parameter values (default theta). Raises ``NotClosedError`` when no route
    closes (never returns an unevaluated integral).
    """
    return exact_expectation(family, f, params).value


def categorical_softmax(k: int, name: str | None = None, outcome: sp.Symbol | None = None) -> Family:
    """Categorical over {0, ..., k-1} with softmax logits (t1, ..., tk): a singular Fisher."""
    if not isinstance(k, int) or k < 2:
        raise NPGInputError(f"a categorical family needs an integer k >= 2 outcomes, got {k!r}")
    x = outcome if outcome is not None else sp.Symbol("x", real=True)
    logits = sp.symbols(f"t1:{k + 1}", real=True)
    log_z = sp.log(sum(sp.exp(ti) for ti in logits))
    pieces = [(logits[i], sp.Eq(x, i)) for i in range(k - 1)]
    picked = sp.Piecewise(*pieces, (logits[-1], True))
    return Family(
        name or f"categorical_softmax{k}", logits, x, picked - log_z, tuple(range(k)),
        f"categorical over {{0, ..., {k - 1}}} with softmax logits; singular Fisher",
    )


def _build() -> dict[str, Family]:
    x = sp.Symbol("x", real=True)
    families = []

    t = sp.Symbol("t", real=True)
    # p = sigmoid(t): log p = t - log(1 + e^t), log(1 - p) = -log(1 + e^t).
    families.append(Family(
        "bernoulli_logit", (t,), x, x * t - sp.log(1 + sp.exp(t)), (0, 1),
        "Bernoulli over {0, 1} with p = sigmoid(t)",
    ))

    families.append(categorical_softmax(3, name="categorical_softmax3", outcome=x))

    def normal_log_prob(mean: sp.Expr, std: sp.Expr) -> sp.Expr:
        return -((x - mean) ** 2) / (2 * std**2) - sp.log(std) - sp.log(2 * sp.pi) / 2

    mu = sp.Symbol("mu", real=True)
    families.append(Family(
        "gaussian_unit_mean", (mu,), x, normal_log_prob(mu, sp.Integer(1)), None,
        "normal N(mu, 1): F = 1, the flat case",
    ))

    sigma = sp.Symbol("sigma", positive=True)
    families.append(Family(
        "gaussian_mean_std", (mu, sigma), x, normal_log_prob(mu, sigma), None,
        "normal N(mu, sigma^2), sigma > 0",
    ))

    s = sp.Symbol("s", real=True)
    families.append(Family(
        "gaussian_mean_logstd", (mu, s), x, normal_log_prob(mu, sp.exp(s)), None,
        "normal N(mu, exp(2 s))",
    ))

    eta1 = sp.Symbol("eta1", real=True)
    eta2 = sp.Symbol("eta2", negative=True)
    # Exponential-family form: log p = eta . T(x) - A(eta) with T(x) = (x, x^2),
    # A(eta) = -eta1^2 / (4 eta2) - log(-2 eta2) / 2 + log(2 pi) / 2.
    log_partition = -(eta1**2) / (4 * eta2) - sp.log(-2 * eta2) / 2 + sp.log(2 * sp.pi) / 2
    families.append(Family(
        "gaussian_natural", (eta1, eta2), x, eta1 * x + eta2 * x**2 - log_partition, None,
        "normal in natural parameters: eta1 = mu / sigma^2, eta2 = -1 / (2 sigma^2) < 0",
    ))
    return {f.name: f for f in families}


FAMILIES: Mapping[str, Family] = MappingProxyType(_build())


def get_family(family: str | Family) -> Family:
    """The family itself, or the registered one with this key (clear error otherwise)."""
    if isinstance(family, Family):
        return family
    try:
        return FAMILIES[family]
    except (KeyError, TypeError):
        allowed = ", ".join(sorted(FAMILIES))
        raise NPGInputError(f"unknown family key {family!r}; allowed keys: {allowed}") from None
