"""Every entry of the numeric twin's SymPy-to-JAX function table against an independent
evaluation (mpmath), at a few points: a wrong entry fails here, not only in a family that
happens to use it."""

import mpmath
import numpy as np
import pytest

from proofs.derive import twin

TABLE = twin._JAX_FUNCTIONS
POINTS = {
    "lgamma": ([(0.3,), (2.5,), (40.0,)], lambda z: mpmath.loggamma(z)),
    "loggamma": ([(0.3,), (2.5,), (40.0,)], lambda z: mpmath.loggamma(z)),
    "gammaln_npg": ([(0.3,), (2.5,), (180.0,)], lambda z: mpmath.loggamma(z)),
    "gamma": ([(0.3,), (2.5,), (7.0,)], mpmath.gamma),
    "digamma": ([(0.3,), (2.5,), (40.0,)], mpmath.digamma),
    "polygamma": ([(0, 0.7), (1, 0.7), (2, 3.5), (3, 1.5)], lambda n, z: mpmath.polygamma(int(n), z)),
    "erf": ([(-1.3,), (0.2,), (2.5,)], mpmath.erf),
    "erfc": ([(-1.3,), (0.2,), (4.5,)], mpmath.erfc),
    "besseli": ([(0, 0.4), (0, 12.0), (1, 0.4), (1, 12.0)], lambda n, z: mpmath.besseli(int(n), z)),
    "factorial": ([(0.0,), (5.0,), (20.0,)], mpmath.factorial),
    "binomial": ([(10.0, 3.0), (7.5, 2.0), (30.0, 15.0)], mpmath.binomial),
    "beta": ([(0.5, 0.5), (2.5, 3.0), (10.0, 0.3)], mpmath.beta),
}


def test_every_table_entry_has_points():
    assert set(TABLE) == set(POINTS)


@pytest.mark.parametrize("name", sorted(POINTS))
def test_table_entry_matches_mpmath(name):
    points, reference = POINTS[name]
    for args in points:
        got = float(TABLE[name](*args))
        with mpmath.workdps(30):
            want = float(reference(*args))
        assert np.isclose(got, want, rtol=1e-12, atol=0), (name, args, got, want)


def test_besseli_of_another_order_is_refused_not_guessed():
    with pytest.raises(NotImplementedError):
        TABLE["besseli"](2, 1.0)
