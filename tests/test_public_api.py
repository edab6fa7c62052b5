"""The public API: every name of ``npg_num.__all__`` (and the training names it exports
lazily) is used by a test that checks what it computes, and ``import npg_num`` loads the
maths core only.

The first test is the bookkeeping: a name that no test file mentions fails it, so a new
public name comes with its test (or is not public). The others check, by value, the names
that the rest of the suite reaches only through other functions.
"""

import math
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import npg_num

TESTS = Path(__file__).resolve().parent


def _mentions(name: str) -> int:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return sum(len(pattern.findall(p.read_text())) for p in TESTS.glob("*.py")
               if p.name != Path(__file__).name)


@pytest.mark.parametrize("name", sorted(set(npg_num.__all__) | set(npg_num._TRAINING)))
def test_every_public_name_of_npg_num_is_tested(name):
    assert getattr(npg_num, name) is not None
    assert _mentions(name) + len(re.findall(rf"\b{name}\b", _THIS)) >= 1, (
        f"npg_num.{name} is public but no test uses it")


_THIS = Path(__file__).read_text().split("# -- values", 1)[1]


def test_import_npg_num_loads_the_maths_core_only():
    code = ("import sys, npg_num; "
            "print(sorted(m for m in sys.modules if m.startswith('npg_num.train') "
            "or m in ('optax', 'gymnax', 'sympy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, npg_num; npg_num.TrainConfig; print('npg_num.train' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "True"  # on first use


_IMPORT_ALL = r"""
import importlib, os, pkgutil, signal, sys
import npg_num
sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
before = [signal.getsignal(s) for s in sigs], os.environ.get("XLA_FLAGS")
names = [m.name for m in pkgutil.walk_packages(npg_num.__path__, "npg_num.")]
for name in names:
    importlib.import_module(name)
after = [signal.getsignal(s) for s in sigs], os.environ.get("XLA_FLAGS")
print(len(names), before == after)
"""


def test_importing_any_module_has_no_side_effects():
    """Importing a module (the training wing's included) sets no signal handler and no XLA
    flag: that happens only when a command's main runs."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True,
                         timeout=240, check=True, env=env).stdout.split()
    assert int(out[0]) > 30 and out[1] == "True", out


# -- values: the names checked here by what they compute ---------------------------------------


def test_trust_region_step_scales_to_the_radius_and_guards():
    a = jnp.array([[2.0, 0.5], [0.5, 1.0]])
    g = jnp.array([1.0, -2.0])
    x = jnp.linalg.solve(a, g)
    r = npg_num.trust_region_step(g, x, a @ x, 0.05, iterations=7)
    assert isinstance(r, npg_num.StepResult)
    q = float(x @ a @ x)
    np.testing.assert_allclose(r.beta, math.sqrt(2 * 0.05 / q), rtol=1e-12)
    np.testing.assert_allclose(0.5 * r.step @ a @ r.step, 0.05, rtol=1e-12)  # on the boundary
    np.testing.assert_allclose(r.expected_improvement, g @ r.step, rtol=1e-12)
    assert float(r.cg_residual) < 1e-12 and int(r.cg_iterations) == 7 and bool(r.accepted)
    for bad_x, bad_ax in ((-x, a @ x), (x * jnp.nan, a @ x), (jnp.zeros(2), jnp.zeros(2))):
        r = npg_num.trust_region_step(g, bad_x, bad_ax, 0.05)  # q <= 0 or NaN: rejected
        assert not bool(r.accepted) and float(r.beta) == 0 and not np.any(np.asarray(r.step))


def test_cg_result_solves_the_system():
    a = jnp.array([[4.0, 1.0], [1.0, 3.0]])
    res = npg_num.cg(lambda v: a @ v, jnp.array([1.0, 2.0]), max_iters=2)
    assert isinstance(res, npg_num.CGResult)
    np.testing.assert_allclose(a @ res.x, [1.0, 2.0], rtol=1e-10)


def test_heads_compute_their_textbook_densities():
    assert npg_num.HEADS == {"categorical": npg_num.CATEGORICAL,
                             "diag_gaussian": npg_num.DIAG_GAUSSIAN}
    assert isinstance(npg_num.CATEGORICAL, npg_num.Categorical)
    assert isinstance(npg_num.DIAG_GAUSSIAN, npg_num.DiagGaussian)
    logits = jnp.array([0.2, -1.0, 0.5])
    p = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(npg_num.CATEGORICAL.log_prob(logits, 2), np.log(p[2]),
                               rtol=1e-12)
    mean, log_std, a = jnp.array([0.3, -1.0]), jnp.array([0.1, -0.4]), jnp.array([1.0, 0.0])
    sd = np.exp(log_std)
    expected = np.sum(-0.5 * ((a - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(npg_num.DIAG_GAUSSIAN.log_prob((mean, log_std), a), expected,
                               rtol=1e-12)


def test_init_mlp_apply_mlp_and_policy():
    layers = npg_num.init_mlp(jax.random.PRNGKey(0), [3, 5, 2], out_gain=0.5)
    x = jnp.array([[0.1, -0.2, 0.3]])
    h = np.tanh(np.asarray(x) @ layers[0]["w"] + layers[0]["b"])
    np.testing.assert_allclose(npg_num.apply_mlp(layers, x), h @ layers[1]["w"] + layers[1]["b"],
                               rtol=1e-6)
    w = np.asarray(layers[0]["w"])  # [3, 5], orthogonal init with gain sqrt(2): w w^T = 2 I
    np.testing.assert_allclose(w @ w.T, 2.0 * np.eye(3), rtol=1e-5, atol=1e-6)
    policy, theta = npg_num.mlp_policy(jax.random.PRNGKey(1), obs_dim=3, action_dim=2)
    assert isinstance(policy, npg_num.Policy) and theta.shape == (policy.num_params,)


def test_reward_fn_reads_the_rewards():
    r = npg_num.reward_fn("categorical_softmax3", [1.0, -2.0, 0.5])
    assert [float(r(k)) for k in range(3)] == [1.0, -2.0, 0.5]
    r = npg_num.reward_fn("gaussian_mean_std", [1.0, -2.0, 0.5])
    assert float(r(2.0)) == 1.0 - 4.0 + 2.0


def test_coordinate_maps_and_reparameterizations():
    polar = npg_num.polar_to_cartesian()
    assert isinstance(polar, npg_num.CoordinateMap)
    v = jnp.array([2.0, 0.3])
    np.testing.assert_allclose(npg_num.pullback(jnp.eye(2), polar, v),
                               np.diag([1.0, 4.0]), atol=1e-12)  # diag(1, r^2)
    for rep in npg_num.REPARAMETERIZATIONS.values():
        assert isinstance(rep, npg_num.Reparameterization)
    rep = npg_num.get_reparameterization("gaussian_mean_std", "gaussian_mean_logstd")
    np.testing.assert_allclose(rep.map.forward(jnp.array([0.5, 2.0])), [0.5, math.log(2.0)],
                               rtol=1e-12)


def test_training_types_and_thresholds():
    spec = npg_num.make_env("Pendulum-v1")
    assert isinstance(spec, npg_num.EnvSpec) and (spec.obs_dim, spec.action_dim) == (3, 1)
    assert spec.action_low.tolist() == [-2.0] and spec.max_episode_steps == 200
    # gymnasium's reward_threshold of CartPole-v1 and Acrobot-v1 (gymnasium/envs/__init__.py)
    assert npg_num.SOLVED_AT["CartPole-v1"] == 475.0 and npg_num.SOLVED_AT["Acrobot-v1"] == -100
    cfg = npg_num.default_config("CartPole-v1", total_steps=256, num_envs=4, num_steps=64)
    trainer = npg_num.make_trainer(cfg)
    assert isinstance(trainer, npg_num.Trainer)
    state = trainer.init(jax.random.PRNGKey(0))
    assert isinstance(state, npg_num.TrainState) and int(state.update) == 0
    state, metrics = jax.jit(trainer.update)(state)
    assert isinstance(metrics, npg_num.Metrics) and int(metrics.env_steps) == 256
