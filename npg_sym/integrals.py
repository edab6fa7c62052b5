"""Closed-form integrals over a half-line or an interval: the exact routes, cheapest first.

An integrand is f(v) exp(L(v)), with L the log-density and f a score product, a Hessian
entry, a log-ratio or a reward. Each additive term of f, times exp(L), is parsed into

    c * v^(s-1) * (1-v)^(r-1) * log(v)^m * log(1-v)^n * exp(sum_q b_q v^q) * rest(v)

and integrated by the first route whose form it has (``rest`` must be 1):

    gamma     int_0^oo v^(s-1) log(v)^m e^(-b v^q) dv = d^m/ds^m  Gamma(s/q) / (|q| b^(s/q)),
              b > 0 and s/q > 0 (exponential, Weibull, gamma, Rayleigh, inverse gamma);
    bessel-k  int_0^oo v^(s-1) e^(-a v - b/v) dv = 2 (b/a)^(s/2) K_s(2 sqrt(a b)), a, b > 0;
              elementary when 2 s is odd (inverse Gaussian);
    beta      int_0^1 v^(s-1) (1-v)^(r-1) log(v)^m log(1-v)^n dv
                  = d^m/ds^m d^n/dr^n  Gamma(s) Gamma(r) / Gamma(s + r),   s, r > 0;
    power     int_a^b x^(s-1) log(x)^m dx = d^m/ds^m (b^s - a^s) / s  (b = oo needs s < 0,
              a = 0 needs s > 0: Pareto, power laws).

A side condition (b > 0, s > 0, ...) must follow from the symbols' assumptions; when it
does not, the route does not apply (the integral may diverge) and says why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sympy as sp

__all__ = [
    "TermForm",
    "RouteDoesNotApply",
    "parse_term",
    "split_log_density",
    "provably_positive",
    "expand_special",
    "reduce_besseli",
    "exp_of_sum",
    "gamma_integral",
    "bessel_k_integral",
    "besselk_half_integer",
    "beta_integral",
    "power_integral",
]


class RouteDoesNotApply(Exception):
    """The integrand does not have this route's form (the message says what is wrong)."""


def provably_positive(expr) -> bool:
    """True only when SymPy shows ``expr > 0`` from the assumptions (after cancelling), or
    expr is positive factors times erf(p) - erf(q) with p - q > 0 (erf is increasing: the
    mass of a truncated Gaussian)."""
    expr = sp.sympify(expr)
    if expr.is_positive:
        return True
    for form in (sp.cancel, sp.factor, sp.together):
        if form(expr).is_positive:
            return True
    return _increasing_difference(expr)


def _signed_erf(term: sp.Expr):
    """(sign, argument) when term is +-erf(argument); else None."""
    for sign in (1, -1):
        if isinstance(sign * term, sp.erf):
            return sign, (sign * term).args[0]
    return None


def _increasing_difference(expr: sp.Expr) -> bool:
    differences, rest = [], []
    for factor in sp.Mul.make_args(sp.factor_terms(expr)):
        (differences if factor.is_Add else rest).append(factor)
    if len(differences) != 1 or not all(provably_positive(f) for f in rest):
        return False
    parts = [_signed_erf(t) for t in sp.Add.make_args(differences[0])]
    if len(parts) != 2 or None in parts:
        return False
    (s1, a1), (s2, a2) = sorted(parts, key=lambda part: -part[0])
    if s1 < 0:
        return False
    lower = -a2 if s2 > 0 else a2  # erf(a1) + erf(a2) = erf(a1) - erf(-a2)
    return provably_positive(a1 - lower)


@dataclass
class TermForm:
    """c v^(power) (1-v)^(complement) log(v)^m log(1-v)^n exp(sum_q b_q v^q) rest."""

    coefficient: sp.Expr = sp.Integer(1)
    power: sp.Expr = sp.Integer(0)
    complement: sp.Expr = sp.Integer(0)
    log_powers: dict = field(default_factory=lambda: defaultdict(int))
    exponent: dict = field(default_factory=lambda: defaultdict(lambda: sp.Integer(0)))
    rest: sp.Expr = sp.Integer(1)

    def times(self, other: "TermForm") -> "TermForm":
        out = TermForm(
            self.coefficient * other.coefficient, self.power + other.power,
            self.complement + other.complement, rest=self.rest * other.rest,
        )
        for src in (self, other):
            for base, m in src.log_powers.items():
                out.log_powers[base] += m
            for q, b in src.exponent.items():
                out.exponent[q] += b
        return out

    def expr(self, v: sp.Symbol) -> sp.Expr:
        """The term as an expression again (for messages and the fallback)."""
        logs = sp.Mul(*(sp.log(base) ** m for base, m in self.log_powers.items()))
        exps = sp.exp(sp.Add(*(b * v**q for q, b in self.exponent.items())))
        return (self.coefficient * v**self.power * (1 - v) ** self.complement * logs * exps
                * self.rest)


def _power_of(base: sp.Expr, v: sp.Symbol) -> tuple[str, sp.Expr] | None:
    """('v', p) for v^p, ('1-v', p) for (1-v)^p, else None."""
    exponent = sp.Integer(1)
    if base.is_Pow and not base.exp.has(v):
        base, exponent = base.base, base.exp
    if base == v:
        return "v", exponent
    if base == 1 - v:
        return "1-v", exponent
    return None


def _exp_of(t: sp.Expr) -> sp.Expr:
    """exp(t), with exp(c log g) written g^c (b^k, not exp(k log b), so that it cancels)."""
    c, dep = t.as_independent(sp.log, as_Add=False)
    if isinstance(dep, sp.log):
        return dep.args[0] ** c
    return sp.exp(t)


def exp_of_sum(expr: sp.Expr) -> sp.Expr:
    """exp(expr) as a product, each c log(g) term as g^c: exp(r log(1 - e^-s)) becomes
    (1 - e^-s)^r, which cancels against a (1 - e^-s)^(-r) from elsewhere."""
    expr = sp.expand(sp.expand_log(expr, force=False))
    return sp.Mul(*(_exp_of(t) for t in sp.Add.make_args(expr)))


def split_log_density(log_density: sp.Expr, v: sp.Symbol) -> TermForm:
    """exp(L(v)) as a ``TermForm``: log terms become powers, monomials the exponent."""
    L = sp.expand(sp.expand_power_base(sp.expand_log(log_density, force=False), force=False))
    form = TermForm()
    other = sp.Integer(0)
    for t in sp.Add.make_args(L):
        if not t.has(v):
            form.coefficient *= _exp_of(t)
            continue
        c, dep = t.as_independent(v, as_Add=False)
        if isinstance(dep, sp.log):
            which = _power_of(dep.args[0], v)
            if which is not None:
                kind, p = which
                if kind == "v":
                    form.power += c * p
                else:
                    form.complement += c * p
                continue
            form.rest *= dep.args[0] ** c
            continue
        if dep == v or (dep.is_Pow and dep.base == v and not dep.exp.has(v)):
            q = sp.Integer(1) if dep == v else dep.exp
            form.exponent[q] += c
            continue
        other += t
    if other != 0:
        form.rest *= sp.exp(other)
    return form


def parse_term(term: sp.Expr, v: sp.Symbol) -> TermForm:
    """One additive term of f (a product) as a ``TermForm``."""
    form = TermForm()
    for factor in sp.Mul.make_args(term):
        if not factor.has(v):
            form.coefficient *= factor
            continue
        which = _power_of(factor, v)
        if which is not None:
            kind, p = which
            if kind == "v":
                form.power += p
            else:
                form.complement += p
            continue
        base, m = (factor.base, factor.exp) if factor.is_Pow else (factor, sp.Integer(1))
        if isinstance(base, sp.log) and m.is_Integer and m > 0:
            inner = _power_of(base.args[0], v)
            if inner is not None and inner[1] == 1:
                form.log_powers[base.args[0]] += int(m)
                continue
        if isinstance(factor, sp.exp) or (factor.is_Pow and factor.base == sp.E):
            exponent = factor.exp if factor.is_Pow else factor.args[0]
            form = form.times(split_log_density(exponent, v))
            continue
        form.rest *= factor
    return form


def _require_positive(expr, what: str) -> None:
    if not provably_positive(expr):
        raise RouteDoesNotApply(f"cannot show {what} = {expr} > 0 from the assumptions")


def _require_plain(form: TermForm, v: sp.Symbol, allow_complement: bool = False) -> None:
    if form.rest != 1:
        raise RouteDoesNotApply(f"factor {form.rest} is not a power, log power or exp(b v^q)")
    if not allow_complement and (form.complement != 0 or form.log_powers.get(1 - v)):
        raise RouteDoesNotApply("a factor in (1 - v) has no place on this support")


def _shift(argument: sp.Expr) -> tuple[int, sp.Expr]:
    """(n, a) with argument = a + n, n an integer (0 when there is none to take out)."""
    n, rest = sp.expand(argument).as_coeff_Add()
    if n.is_Integer and rest != 0 and abs(n) <= 20:
        return int(n), rest
    return 0, argument


def _gamma_shifted(e: sp.gamma) -> sp.Expr:
    n, a = _shift(e.args[0])
    if n >= 0:
        return sp.gamma(a) * sp.Mul(*(a + j for j in range(n)))
    return sp.gamma(a) / sp.Mul(*(a + j for j in range(n, 0)))


def _polygamma_shifted(e: sp.polygamma) -> sp.Expr:
    m, (n, a) = e.args[0], _shift(e.args[1])
    if not (m.is_Integer and m >= 0):
        return e
    c = (-1) ** m * sp.factorial(m)
    if n >= 0:
        return sp.polygamma(m, a) + c * sp.Add(*(1 / (a + j) ** (m + 1) for j in range(n)))
    return sp.polygamma(m, a) - c * sp.Add(*(1 / (a + j) ** (m + 1) for j in range(n, 0)))


def expand_special(expr: sp.Expr) -> sp.Expr:
    """Integer shifts out of gamma and polygamma, so that equal values meet in one form:
    polygamma(0, 2 (k+1)/k) = polygamma(0, 2/k) + k/2 + k/(k+2), gamma(1 + 1/k) = gamma(1/k)/k.
    Only additive integer shifts: no multiplication theorems, so the form is stable.
    Bessel I of integer order goes to orders 0 and 1 (``reduce_besseli``).

    Examples
    ========
    >>> import sympy as sp
    >>> k = sp.Symbol("k", positive=True)
    >>> expand_special(sp.polygamma(0, k + 1) - sp.polygamma(0, k))
    1/k
    >>> expand_special(sp.gamma(1 + 2 / k))
    2*gamma(2/k)/k
    """
    expr = expr.replace(lambda e: isinstance(e, sp.gamma), _gamma_shifted)
    expr = expr.replace(lambda e: isinstance(e, sp.polygamma), _polygamma_shifted)
    return reduce_besseli(expr)


def reduce_besseli(expr: sp.Expr) -> sp.Expr:
    """besseli(n, A) for integer n >= 2 (or n <= -1) in terms of besseli(0, A), besseli(1, A).

    Examples
    ========
    >>> import sympy as sp
    >>> k = sp.Symbol("k", positive=True)
    >>> reduce_besseli(sp.besseli(2, k))
    besseli(0, k) - 2*besseli(1, k)/k
    """
    def lower(e):
        n, a = e.args
        if not n.is_Integer or n in (0, 1):
            return e
        if n < 0:
            return lower(sp.besseli(-n, a))
        previous, current = sp.besseli(0, a), sp.besseli(1, a)
        for k in range(1, int(n)):
            previous, current = current, previous - 2 * k / a * current
        return current

    return expr.replace(lambda e: isinstance(e, sp.besseli), lower)


def _derivatives(value: sp.Expr, pairs) -> sp.Expr:
    """d^m/dS^m ... of ``value`` at S = s, for (S, s, m) in ``pairs``."""
    for S, _, m in pairs:
        if m:
            value = sp.diff(value, S, m)
    # gamma(k + 1) -> k gamma(k), polygamma(0, k + 1) -> polygamma(0, k) + 1/k: results
    # from different routes meet in one form.
    return expand_special(value.xreplace({S: s for S, s, _ in pairs}))


def gamma_integral(form: TermForm, v: sp.Symbol) -> sp.Expr:
    """int_0^oo of the term: one monomial in the exponent, d^m/ds^m Gamma(s/q)/(|q| b^(s/q))."""
    _require_plain(form, v)
    groups = {q: b for q, b in form.exponent.items() if b != 0}
    if len(groups) != 1:
        raise RouteDoesNotApply(
            f"needs exp(-b v^q) with one power q; the exponent has powers {sorted(groups, key=str)}"
        )
    ((q, coeff),) = groups.items()
    b = -coeff
    s = form.power + 1
    _require_positive(b, "the rate b")
    _require_positive(s / q, "s/q")
    extra = set(form.log_powers) - {v}
    if extra:
        raise RouteDoesNotApply(f"log factors {extra} are not log(v)")
    S = sp.Dummy("s", positive=True)
    closed = sp.gamma(S / q) / (abs(q) * b ** (S / q))
    return form.coefficient * _derivatives(closed, [(S, s, form.log_powers.get(v, 0))])


def besselk_half_integer(order: sp.Expr, z: sp.Expr) -> sp.Expr:
    """K_(n+1/2)(z) = sqrt(pi/(2z)) e^(-z) sum_{j<=n} (n+j)! / (j! (n-j)! (2z)^j); K_(-nu) = K_nu.

    Examples
    ========
    >>> import sympy as sp
    >>> z = sp.Symbol("z", positive=True)
    >>> besselk_half_integer(sp.Rational(1, 2), z)
    sqrt(2)*sqrt(pi)*exp(-z)/(2*sqrt(z))
    """
    n = abs(sp.Rational(order)) - sp.Rational(1, 2)
    if not (n.is_Integer and n >= 0):
        raise ValueError(f"order {order} is not half an odd integer")
    n = int(n)
    total = sum(
        sp.factorial(n + j) / (sp.factorial(j) * sp.factorial(n - j) * (2 * z) ** j)
        for j in range(n + 1)
    )
    return sp.sqrt(sp.pi / (2 * z)) * sp.exp(-z) * total


def bessel_k_integral(form: TermForm, v: sp.Symbol) -> sp.Expr:
    """int_0^oo v^(s-1) e^(-a v - b/v) dv = 2 (b/a)^(s/2) K_s(2 sqrt(a b)), a, b > 0."""
    _require_plain(form, v)
    groups = {q: c for q, c in form.exponent.items() if c != 0}
    if set(groups) != {sp.Integer(1), sp.Integer(-1)}:
        raise RouteDoesNotApply(f"needs exp(-a v - b/v); the exponent has powers {sorted(groups, key=str)}")
    if form.log_powers:
        raise RouteDoesNotApply("log(v) factors with exp(-a v - b/v) have no closed form here")
    a, b = -groups[sp.Integer(1)], -groups[sp.Integer(-1)]
    _require_positive(a, "a")
    _require_positive(b, "b")
    s = form.power + 1
    z = 2 * sp.sqrt(a * b)
    if s.is_Rational and (2 * s).is_Integer and not s.is_Integer:
        k = besselk_half_integer(s, z)
    else:
        k = sp.besselk(s, z)
    return form.coefficient * 2 * (b / a) ** (s / 2) * k


def beta_integral(form: TermForm, v: sp.Symbol) -> sp.Expr:
    """int_0^1 v^(s-1) (1-v)^(r-1) log(v)^m log(1-v)^n dv: derivatives of B(s, r)."""
    _require_plain(form, v, allow_complement=True)
    if any(b != 0 for b in form.exponent.values()):
        raise RouteDoesNotApply("an exp(b v^q) factor has no Beta-integral form")
    s, r = form.power + 1, form.complement + 1
    _require_positive(s, "the exponent s of v^(s-1)")
    _require_positive(r, "the exponent r of (1-v)^(r-1)")
    S, R = sp.Dummy("s", positive=True), sp.Dummy("r", positive=True)
    closed = sp.gamma(S) * sp.gamma(R) / sp.gamma(S + R)
    pairs = [(S, s, form.log_powers.get(v, 0)), (R, r, form.log_powers.get(1 - v, 0))]
    return form.coefficient * _derivatives(closed, pairs)


def power_integral(form: TermForm, v: sp.Symbol, lower: sp.Expr, upper: sp.Expr) -> sp.Expr:
    """int_lower^upper x^(s-1) log(x)^m dx (here v is x itself), 0 <= lower < upper <= oo."""
    _require_plain(form, v)
    if any(b != 0 for b in form.exponent.values()):
        raise RouteDoesNotApply("an exp(b x^q) factor has no power-law form")
    s = form.power + 1
    S = sp.Dummy("s", real=True)
    if upper is sp.oo:
        _require_positive(lower, "the lower end")
        _require_positive(-s, "-s (the tail x^(s-1) must be integrable)")
        closed = -(lower**S) / S
    elif lower == 0:
        _require_positive(s, "s (x^(s-1) must be integrable at 0)")
        closed = upper**S / S
    else:
        _require_positive(lower, "the lower end")
        if s == 0:  # int log(x)^m / x dx = log(x)^(m+1) / (m+1)
            m = form.log_powers.get(v, 0) + 1
            return form.coefficient * (sp.log(upper) ** m - sp.log(lower) ** m) / m
        if s.is_zero is not False:
            raise RouteDoesNotApply(f"cannot tell whether s = {s} is 0")
        closed = (upper**S - lower**S) / S
    return form.coefficient * _derivatives(closed, [(S, s, form.log_powers.get(v, 0))])
