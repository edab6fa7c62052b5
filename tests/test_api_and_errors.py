"""The pinned public API of ARCHITECTURE.md, the layering rule, and errors for people."""

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import npg_num
import npg_sym


def test_pinned_api_names():
    for name in ("FAMILIES", "fisher", "fisher_from_kl", "kl", "natural_step"):
        assert name in npg_sym.__all__
    for name in ("FAMILIES", "fisher", "fvp", "cg", "natural_step"):
        assert name in npg_num.__all__
    for name in ("fisher", "fisher_from_kl", "kl", "natural_step"):
        assert callable(getattr(npg_sym, name))
    fam = npg_sym.FAMILIES["gaussian_mean_std"]
    assert fam.name == "gaussian_mean_std"
    mu, sigma = fam.params
    assert sigma.is_positive and mu.is_real
    assert isinstance(fam.log_prob, sp.Expr)
    step, beta = npg_sym.natural_step(sp.eye(2), [3, 4], sp.Rational(1, 2))
    assert isinstance(step, sp.MatrixBase) and beta == sp.Rational(1, 5)
    assert list(step) == [sp.Rational(3, 5), sp.Rational(4, 5)]
    result = npg_num.natural_step(jnp.array([3.0, 4.0]), lambda v: v, 0.5)
    assert isinstance(result, tuple) and {"step", "beta", "q", "cg_residual", "accepted"} <= set(
        result._fields
    )
    assert npg_num.fisher("gaussian_mean_std", jnp.array([0.0, 2.0])).shape == (2, 2)


def test_sym_kl_accepts_values():
    value = npg_sym.kl("gaussian_unit_mean", (3,))
    assert sp.simplify(value - (npg_sym.FAMILIES["gaussian_unit_mean"].params[0] - 3) ** 2 / 2) == 0


@pytest.mark.parametrize(
    "package, forbidden", [("npg_num", "sympy"), ("npg_sym", "jax"), ("proofs", "jax")]
)
def test_layering(package, forbidden):
    code = f"import sys, {package}; print('{forbidden}' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{package} imports {forbidden}"


def test_maths_core_never_imports_training():
    """npg_num's maths modules (everything at its top level but ``__init__``, which
    re-exports the training names) import nothing from ``npg_num.train``."""
    import ast
    from pathlib import Path

    core = [p for p in Path(npg_num.__file__).parent.glob("*.py") if p.name != "__init__.py"]
    assert len(core) >= 10
    offenders = []
    for path in core:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names
                          if n in (".train", "npg_num.train") or n.startswith((".train.",
                                                                               "npg_num.train."))]
    assert not offenders, offenders


# ---------------------------------------------------------------- errors for people

@pytest.mark.parametrize("module", [npg_sym, npg_num])
def test_unknown_family_key(module):
    with pytest.raises(module.NPGInputError, match=r"unknown family key 'gaussian'.*allowed keys: "
                       r"bernoulli_logit"):
        module.get_family("gaussian")


def test_unknown_family_key_in_fisher():
    with pytest.raises(npg_num.NPGInputError, match="unknown family key 'nope'"):
        npg_num.fisher("nope", jnp.zeros(1))
    with pytest.raises(npg_sym.NPGInputError, match="unknown family key 'nope'"):
        npg_sym.fisher("nope")


@pytest.mark.parametrize("delta", [0, -0.1, sp.Integer(-1), sp.Symbol("delta", real=True)])
def test_sym_delta_must_be_positive(delta):
    with pytest.raises(npg_sym.NPGInputError, match="delta must be positive"):
        npg_sym.natural_step(sp.eye(2), [1, 2], delta)


@pytest.mark.parametrize("delta", [0.0, -1e-3, float("nan"), float("inf")])
def test_num_delta_must_be_positive(delta):
    with pytest.raises(npg_num.NPGInputError, match=f"delta must be a finite number > 0, got {delta}"):
        npg_num.natural_step(jnp.ones(2), lambda v: v, delta)


def test_num_damping_must_be_nonnegative():
    with pytest.raises(npg_num.NPGInputError, match="damping must be a finite number >= 0, got -0.1"):
        npg_num.natural_step(jnp.ones(2), lambda v: v, 0.01, damping=-0.1)


def test_sym_F_must_be_square():
    with pytest.raises(npg_sym.NPGInputError, match="F must be square; got a 2x3 matrix"):
        npg_sym.natural_step(sp.Matrix([[1, 0, 0], [0, 1, 0]]), [1, 2], 1)


def test_sym_F_must_be_symmetric():
    with pytest.raises(npg_sym.NPGInputError, match="F must be symmetric"):
        npg_sym.natural_step(sp.Matrix([[1, 2], [0, 1]]), [1, 2], 1)


def test_sym_g_must_match_F():
    with pytest.raises(npg_sym.NPGInputError, match="g must be a vector of length 2"):
        npg_sym.natural_step(sp.eye(2), [1, 2, 3], 1)


def test_sym_g_outside_range_of_singular_F():
    with pytest.raises(npg_sym.NPGInputError, match="null space of F"):
        npg_sym.natural_step(sp.Matrix([[1, 0], [0, 0]]), [1, 1], 1)


def test_sym_singular_F_with_g_in_range_uses_the_pseudo_inverse():
    step, beta = npg_sym.natural_step(sp.Matrix([[1, 1], [1, 1]]), [1, 1], sp.Rational(1, 2))
    # F^+ g = (1/2, 1/2); the step must lie in range(F) = span(1, 1).
    assert step[0] == step[1]
    assert sp.simplify((step.T * sp.Matrix([[1, 1], [1, 1]]) * step)[0] / 2 - sp.Rational(1, 2)) == 0


def test_num_fisher_shape_and_route_errors():
    with pytest.raises(npg_num.NPGInputError, match=r"takes a flat theta of shape \(2,\); got shape \(3,\)"):
        npg_num.fisher("gaussian_mean_std", jnp.zeros(3))
    with pytest.raises(npg_num.NPGInputError, match="unknown Fisher route 'exact'"):
        npg_num.fisher("gaussian_mean_std", jnp.ones(2), route="exact")


def test_num_fvp_route_error():
    with pytest.raises(npg_num.NPGInputError, match="unknown FVP route 'gauss'; allowed routes: gn, kl"):
        npg_num.make_fvp(lambda t: t[None], npg_num.CATEGORICAL, jnp.zeros(3), route="gauss")


def test_num_cg_argument_errors():
    with pytest.raises(npg_num.NPGInputError, match="max_iters must be a positive integer, got 0"):
        npg_num.cg(lambda v: v, jnp.ones(2), max_iters=0)


def test_sym_kl_wrong_arity():
    with pytest.raises(npg_sym.NPGInputError, match="has 2 parameters"):
        npg_sym.kl("gaussian_mean_std", (1,))


def test_mlp_policy_errors():
    import jax

    with pytest.raises(npg_num.NPGInputError, match="unknown head 'beta'"):
        npg_num.mlp_policy(jax.random.PRNGKey(0), 3, 2, head="beta")
    with pytest.raises(npg_num.NPGInputError, match="obs_dim must be a positive integer, got 0"):
        npg_num.mlp_policy(jax.random.PRNGKey(0), 0, 2)


def test_num_natural_step_rejects_nan_without_raising():
    result = npg_num.natural_step(jnp.array([np.nan, 1.0]), lambda v: v, 0.1)
    assert not bool(result.accepted)
