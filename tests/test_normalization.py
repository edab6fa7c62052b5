"""Reward normalization (``npg_num.train.normalization``) against a plain numpy model of
stable-baselines3's VecNormalize (``RunningMeanStd`` and the reward path of
``VecNormalize.step_wait``), written here from its documented rule: the ``step`` rule must
be VecNormalize's, step for step; the ``batch`` rule merges the batch once and uses one
scale. Batches follow each other with the statistics carried, as in training.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npg_num.train.normalization import (
    REWARD_CLIP, init_reward_norm, normalize_rewards,
)


class _RunningMeanStd:
    """sb3's RunningMeanStd for a scalar: mean 0, var 1, count 1e-4 at first."""

    def __init__(self):
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, x):
        batch_mean, batch_var, n = x.mean(), x.var(), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total


def _model(batches, gamma, rule):
    """Each step: returns = returns * gamma + r; returns[dones] = 0 after it. ``step``
    (VecNormalize): ret_rms.update(returns) at once, then the reward is
    clip(r / sqrt(ret_rms.var + 1e-8), -10, 10). ``batch``: the batch's returns merged
    once at its end, every reward of the batch divided by that one scale."""
    rms, out = _RunningMeanStd(), []
    returns = np.zeros(batches[0][0].shape[1])
    for rewards, dones in batches:
        scaled, seen = [], []
        for r, d in zip(rewards, dones):
            returns = returns * gamma + r
            seen.append(returns)
            if rule == "step":
                rms.update(returns)
                scaled.append(np.clip(r / np.sqrt(rms.var + 1e-8), -10.0, 10.0))
            returns = np.where(d, 0.0, returns)
        if rule == "batch":
            rms.update(np.concatenate(seen))
            scaled = rewards / np.sqrt(rms.var + 1e-8)
        out.append(np.array(scaled))
    return out, rms


def _ours(batches, gamma, rule):
    norm = init_reward_norm(batches[0][0].shape[1], jnp.float64)
    out = []
    for rewards, dones in batches:
        scaled, norm = normalize_rewards(norm, jnp.asarray(rewards), jnp.asarray(dones),
                                         gamma, rule)
        out.append(np.asarray(scaled))
    return out, norm


@st.composite
def _batches(draw):
    steps, envs, n = draw(st.integers(1, 12)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    scale = draw(st.sampled_from([1e-3, 1.0, 50.0]))  # 50: the first steps clip
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    return [(scale * rng.normal(size=(steps, envs)) + scale,
             rng.random((steps, envs)) < 0.2) for _ in range(n)]


@given(_batches(), st.sampled_from([0.0, 0.9, 0.99, 1.0]))
@pytest.mark.parametrize("rule", ["step", "batch"])
def test_each_rule_equals_its_numpy_model(rule, batches, gamma):
    want, rms = _model(batches, gamma, rule)
    got, norm = _ours(batches, gamma, rule)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(norm.stats.var[0]), rms.var, rtol=1e-10)
    np.testing.assert_allclose(float(norm.stats.count), rms.count, rtol=1e-12)


def test_the_step_rule_clips_and_the_batch_rule_does_not():
    rewards = 100.0 + 1e-3 * np.arange(6.0).reshape(3, 2)  # gamma 0: returns barely vary
    dones = np.zeros((3, 2), bool)
    step, _ = _ours([(rewards, dones)], 0.0, "step")
    batch, _ = _ours([(rewards, dones)], 0.0, "batch")
    assert step[0][0, 0] == REWARD_CLIP and np.all(np.abs(step[0]) <= REWARD_CLIP)
    assert np.all(batch[0] > REWARD_CLIP)


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="batch"):
        normalize_rewards(init_reward_norm(1, jnp.float64), jnp.zeros((2, 1)),
                          jnp.zeros((2, 1), bool), 0.99, "running")


def test_the_trainer_scales_rewards_by_the_rule_it_is_given():
    """Pendulum (rewards to -16 a step), same seed, the two rules: the first update's
    value targets differ, so its value loss does; the step rule keeps VecNormalize's
    statistics in the state (one count per step and environment) as the batch rule does."""
    from npg_num.train import default_config, make_trainer

    losses, counts = {}, {}
    for rule in ("batch", "step"):
        cfg = default_config("Pendulum-v1", "trpo", total_steps=2 * 64, num_envs=4,
                             num_steps=16, normalize_reward=True, reward_norm=rule)
        trainer = make_trainer(cfg)
        state, m = jax.jit(trainer.chunk(2))(trainer.init(jax.random.PRNGKey(0)), 2)
        assert np.all(np.isfinite(np.asarray(m.value_loss)))
        losses[rule] = np.asarray(m.value_loss)
        counts[rule] = float(state.reward_norm.stats.count)
    assert not np.allclose(losses["batch"], losses["step"])
    assert counts["batch"] == pytest.approx(1e-4 + 2 * 64) == counts["step"]
