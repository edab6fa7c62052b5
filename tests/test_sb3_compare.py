"""benchmarks/sb3_compare.py's statistics: the bootstrap intervals and the verdicts its
table prints (the runs themselves need sb3-contrib and an hour: a benchmark, not a test)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sb3_compare", ROOT / "benchmarks" /
                                               "sb3_compare.py")
sb3_compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sb3_compare)

returns = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=8)


@given(returns, st.floats(-1e3, 1e3))
def test_the_mean_interval_lies_in_the_data_and_moves_with_it(x, shift):
    lo, hi = sb3_compare.bootstrap_mean(x, np.random.default_rng(0))
    assert min(x) - 1e-9 <= lo <= hi <= max(x) + 1e-9
    lo2, hi2 = sb3_compare.bootstrap_mean(np.add(x, shift), np.random.default_rng(0))
    np.testing.assert_allclose([lo2, hi2], [lo + shift, hi + shift], atol=1e-6)


@given(returns)
def test_a_side_against_itself_differs_by_an_interval_around_zero(x):
    lo, hi = sb3_compare.bootstrap_difference(x, x, np.random.default_rng(0))
    assert lo <= 0 <= hi


def _table(a, b):
    class Args:
        seeds, steps, episodes, jobs = len(a), 1000, 10, 2

    ours = {"per_seed": dict(enumerate(a)), "args": ["--delta", "0.03"], "process_wall_s": 1.0}
    sb3 = [{"seed": s, "eval_mean": v, "seconds": 1.0, "torch_threads": 1}
           for s, v in enumerate(b)]
    return sb3_compare.table("Hopper-v5", ours, sb3, Args)


def test_the_table_says_whether_the_two_sides_overlap():
    apart = _table([3000, 3100, 2900, 3050, 2950], [1000, 1100, 900, 1050, 950])
    assert apart.count("| no |") == 2 and "excludes 0" in apart
    assert "| 3,000 | 2,9" in apart and "| 1,000 | 9" in apart  # the means, their intervals
    alike = _table([3000, 3400, 2600, 3200, 2800], [3100, 3300, 2700, 2900, 3000])
    assert alike.count("| yes |") == 2 and "contains 0" in alike


def test_ours_is_given_sb3_contribs_step_in_our_units():
    """target KL 0.01 and damping 0.1 per action dimension: x 3 on Hopper, x 8 on Ant."""
    pytest.importorskip("mujoco", reason="needs gymnasium's MuJoCo tasks (the mujoco extra)")
    assert sb3_compare.matched_args("Hopper-v5") == ["--delta", "0.03", "--damping", "0.3"]
    assert sb3_compare.matched_args("Ant-v5") == ["--delta", "0.08", "--damping", "0.8"]
