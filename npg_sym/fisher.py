"""The Fisher information of a family, three ways (C6).

    F(theta) = E[s s^T]                                  (score outer product, s = grad log pi)
             = Hess_{theta'} KL(pi_theta || pi_theta') at theta' = theta
             = -E[Hess_theta log pi_theta]

All three are exact; ``proofs/fisher_is_kl_hessian.py`` shows they agree identically.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .simplification import tidy

from .families import Family, expectation, get_family, primed
from .kl import kl
from .one_sided import hessian_at

__all__ = ["score", "fisher", "fisher_from_kl", "fisher_from_hessian"]


def score(family: str | Family) -> sp.Matrix:
    """s(theta, x) = grad_theta log pi_theta(x), a column vector."""
    fam = get_family(family)
    return sp.Matrix([sp.diff(fam.log_prob, p) for p in fam.params])


@cache
def _fisher(fam: Family) -> sp.Matrix:
    s = score(fam)
    n = fam.dim
    entries = {}
    for i in range(n):
        for j in range(i, n):
            entries[i, j] = entries[j, i] = tidy(expectation(fam, s[i] * s[j]))
    return sp.Matrix(n, n, lambda i, j: entries[i, j])


def fisher(family: str | Family) -> sp.Matrix:
    """F = E_{x ~ pi_theta}[s s^T], the Fisher information, by its definition.

    Examples
    ========
    >>> fisher("gaussian_mean_std")
    Matrix([
    [sigma**(-2),          0],
    [          0, 2/sigma**2]])
    """
    return _fisher(get_family(family))


@cache
def _fisher_from_kl(fam: Family) -> sp.Matrix:
    other = primed(fam)
    divergence = kl(fam, other)
    at_theta = dict(zip(other, fam.params))
    # value_at: the limit where a closed-form KL is 0/0 at theta' = theta (never nan);
    # hessian_at: across a kink |mu - mu'| by its one-sided pieces (npg_sym.one_sided).
    hess = hessian_at(divergence, other, at_theta, "Hess KL at theta' = theta")
    return hess.applyfunc(tidy)


def fisher_from_kl(family: str | Family) -> sp.Matrix:
    """Hess_{theta'} KL(pi_theta || pi_theta') evaluated at theta' = theta."""
    return _fisher_from_kl(get_family(family))


@cache
def _fisher_from_hessian(fam: Family) -> sp.Matrix:
    hess = sp.hessian(fam.log_prob, fam.params)
    return hess.applyfunc(lambda h: tidy(-expectation(fam, h)))


def fisher_from_hessian(family: str | Family) -> sp.Matrix:
    """-E_{x ~ pi_theta}[Hess_theta log pi_theta(x)]."""
    return _fisher_from_hessian(get_family(family))
