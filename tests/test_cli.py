"""npg-train end to end: a short run, kill -9 and --resume, bad input, several devices.

The runs here are a few small updates (learning is shown by the benchmark). Each CLI run
is a subprocess, as a person would start it; the XLA hang flag comes from the CLI itself.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npg_num.train.cli import main
from npg_num.train.metrics_file import COLUMNS as METRICS_COLUMNS, read_metrics

from clirun import kill_9_after_rows, run_module, train_in_process, without_clock

ROOT = Path(__file__).resolve().parents[1]
PINNED = ("seed", "update", "env_steps", "mean_return", "kl", "beta")
# 100 small updates (batch 4 x 16), a checkpoint after every one: a wide window for kill -9
RESUME_ARGS = [
    "--env", "CartPole-v1", "--algo", "trpo", "--seeds", "2", "--num-envs", "4",
    "--num-steps", "16", "--total-steps", "6400", "--checkpoint-every", "1", "--quiet",
]


def _cli(args, env_extra=None, **kw):
    return run_module("npg_num.train.cli", args, env_extra=env_extra, **kw)


def test_short_run_on_four_devices_writes_everything(tmp_path):
    """A few updates of 4 seeds sharded over 4 (host) devices, through the real CLI."""
    out = tmp_path / "run"
    proc = _cli(
        ["--env", "CartPole-v1", "--seeds", "4", "--num-envs", "4", "--num-steps", "32",
         "--total-steps", "640", "--checkpoint-every", "2", "--out", str(out)],
        env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "on 4 device(s)" in proc.stderr
    assert "return=" in proc.stderr and "kl=" in proc.stderr  # the progress bar
    assert "compiling the training program" in proc.stderr and "compiled in" in proc.stderr
    assert "final mean return" in proc.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["env"] == "CartPole-v1" and config["seeds"] == 4
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == list(METRICS_COLUMNS) and set(PINNED) <= set(header)
    data = read_metrics(out / "metrics.csv")
    assert len(data["seed"]) == 5 * 4  # 5 updates x 4 seeds
    assert sorted(set(data["seed"].astype(int))) == [0, 1, 2, 3]
    assert data["env_steps"].max() == 640
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoint.npz").is_file() and (out / "checkpoint.prev.npz").is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    proc = train_in_process([*RESUME_ARGS, "--out", str(whole)], capsys)
    assert proc.returncode == 0, proc.stderr

    rows_at_kill = kill_9_after_rows(RESUME_ARGS, cut, 2 * 20)  # 20 updates of 2 seeds
    metrics = cut / "metrics.csv"
    assert 2 * 20 <= rows_at_kill < 2 * 100
    assert not (cut / "learning_curve.png").exists()
    # as a kill in the middle of a write would leave it: a torn last row
    with open(metrics, "a") as f:
        f.write("0,99,6336,12.5")

    proc = train_in_process(["--resume", str(cut), "--quiet"], capsys)
    assert proc.returncode == 0, proc.stderr
    a, b = without_clock(whole / "metrics.csv"), without_clock(metrics)
    assert set(a) == set(b)
    assert len(a["update"]) == 2 * 100
    for name in a:  # same rows, same order, same values: nothing lost or repeated
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_sharded_run_equals_one_device(tmp_path):
    """The same program on 1 device and with the seeds sharded over 4 devices.

    Not bit for bit: XLA picks kernels by the per-device batch (4 seeds vs 1), so float64
    rounding differs in the last bits; CG iterated past convergence amplifies such
    noise (measured: 1e-10 relative after one update with 10 iterations, 1e-14 with 3),
    so this uses 3 CG iterations and a tolerance far below any real sharding error.

    The sharded runs go through ``per_seed``, as in the CLI: its program has no
    cross-device collective, and on the same 4 devices it gives bit for bit what
    ``jit(vmap(...))`` gives (whose vmapped CG and line-search loops all-reduce their
    condition over the devices).
    """
    script = r"""
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from npg_num.train import default_config, make_trainer, per_seed, seed_keys, seed_sharding
assert len(jax.devices()) == 4, jax.devices()
cfg = default_config("CartPole-v1", "trpo", seeds=4, num_envs=4, num_steps=16,
                     total_steps=256, dtype="float64", cg_iters=3)
trainer = make_trainer(cfg)
out = {}
for n in (1, 4):
    sharding = seed_sharding(cfg.seeds, jax.devices()[:n])
    init = jax.jit(per_seed(trainer.init, sharding))
    chunk = jax.jit(per_seed(trainer.chunk(4), sharding, in_axes=(0, None)))
    state = init(jax.device_put(seed_keys(cfg), sharding))
    assert "all-reduce" not in chunk.lower(state, 4).compile().as_text()
    state, m = chunk(state, 4)
    assert len(state.theta.sharding.device_set) == n
    assert all(s.data.shape[0] == cfg.seeds // n for s in state.theta.addressable_shards)
    out[n] = {k: np.asarray(v).tolist() for k, v in m._asdict().items()}
    out[n]["theta"] = np.asarray(state.theta).tolist()
# plain jit(vmap) on the same 4 devices: a collective in its program, the same numbers
keys = jax.device_put(seed_keys(cfg), sharding)
state = jax.jit(jax.vmap(trainer.init))(keys)
chunk = jax.jit(jax.vmap(trainer.chunk(4), in_axes=(0, None)))
assert "all-reduce" in chunk.lower(state, 4).compile().as_text()
state, m = chunk(state, 4)
out["jit4"] = {k: np.asarray(v).tolist() for k, v in m._asdict().items()}
out["jit4"]["theta"] = np.asarray(state.theta).tolist()
print(json.dumps(out))
"""
    env = dict(os.environ)
    env["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=4 "
                        "--xla_cpu_enable_concurrency_optimized_scheduler=false")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    one, four = res["1"], res["4"]
    for name in ("update", "env_steps", "episodes", "accepted", "line_search_steps",
                 "rejected_total"):
        assert one[name] == four[name], name
    for name in ("mean_return", "kl", "beta", "value_loss", "entropy", "theta"):
        np.testing.assert_allclose(one[name], four[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    assert set(res["jit4"]) == set(four)
    for name in four:  # per_seed and jit(vmap) on the same 4 devices: bit for bit
        np.testing.assert_array_equal(res["jit4"][name], four[name], err_msg=name)


def test_cli_compiles_its_chunk_program_once_on_several_devices(tmp_path):
    """The initial state comes out sharded like the seeds, leaf by leaf, so the chunk
    program compiled for it serves every later chunk. (With replicated leaves from init,
    jit compiled the chunk program a second time for the sharded state the first chunk
    returned: 2 s more on 8 CartPole seeds.) Counted by jit's own cache."""
    script = r"""
import sys
from pathlib import Path
import jax
from npg_num.train import default_config
from npg_num.train.rundir import create_run
from npg_num.train.session import Session, StopSignals
assert len(jax.devices()) == 4, jax.devices()
cfg = default_config("CartPole-v1", "npg", seeds=4, num_envs=4, num_steps=16,
                     total_steps=64 * 12, checkpoint_every=4)
rundir = create_run(Path(sys.argv[1]) / "run", cfg)
with StopSignals() as stop:
    run = Session(cfg, rundir, quiet=True, stop=stop)
    state = run.runner.fresh_state()
    assert all(leaf.sharding == run.runner.sharding for leaf in jax.tree.leaves(state))
    run.train(state, 0, 0.0)
print("chunks compiled:", run.runner.chunk_fn._cache_size())
"""
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "chunks compiled: 1" in proc.stdout, proc.stdout
    data = read_metrics(tmp_path / "run" / "metrics.csv")
    assert len(data["seed"]) == 12 * 4  # 12 updates x 4 seeds, over several chunks


# -- bad input: one line on stderr, exit code 2, no traceback ------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--delta", "0"], "delta"),
        (["--delta", "-0.1"], "delta"),
        (["--damping", "-1"], "damping"),
        (["--env", "Pong-v9"], "--list-envs"),
        (["--algo", "sac"], "npg, trpo, acktr, ppo"),
        (["--algo", "ppo", "--ppo-clip", "1.5"], "ppo_clip"),
        (["--algo", "ppo", "--ppo-minibatches", "3"], "ppo_minibatches"),
        (["--algo", "acktr", "--kfac-fisher", "empirical"], "kfac_fisher"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--total-steps", "lots"], "lots"),
        (["--seeds", "0"], "seeds"),
        (["--hidden", "64,abc"], "64,abc"),
        (["--resume", "/nonexistent/run"], "no run to resume"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("npg-train: error:"), err
    assert words in err
    assert "Traceback" not in err


def test_unwritable_out_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert main(["--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write to --out" in err


def test_out_holding_a_run_needs_resume_or_force(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["--out", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_with_config_flags_is_refused(tmp_path, capsys):
    from npg_num.train import default_config

    (tmp_path / "config.json").write_text(json.dumps(default_config().to_dict()))
    assert main(["--resume", str(tmp_path), "--delta", "0.02"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--delta 0.02 (saved: 0.01)" in err


def test_bad_input_in_a_real_process():
    proc = _cli(["--delta", "0", "--out", "/tmp/unused-npg-run"])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "delta must be" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_help_documents_every_setting(capsys):
    from npg_num.train import ALGOS
    from npg_num.train.config import COMMON_SETTINGS

    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for s in list(COMMON_SETTINGS) + [s for a in ALGOS.values() for s in a.options]:
        assert "--" + s.name.replace("_", "-") in text
        assert " ".join(s.help.split())[:30] in text
    squeezed = "".join(text.split())  # argparse also wraps lines after a hyphen
    for algo in ALGOS.values():
        assert "".join(f"{algo.name} ({algo.description})".split()) in squeezed


# -- an algorithm is one module plus one registry line ---------------------------------------------


def test_a_users_algorithm_trains_through_the_cli(tmp_path, capsys):
    """examples/algorithms/vpg.py, registered with one line, trains through npg-train with
    its own flag; nothing else in the trainer knows it."""
    import importlib.util

    import npg_num.train as train
    from npg_num.train import algos

    spec = importlib.util.spec_from_file_location("vpg", ROOT / "examples" / "algorithms" /
                                                  "vpg.py")
    vpg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vpg)
    train.register_algo(vpg.VPG)  # the registry line
    try:
        _train_vpg(tmp_path, capsys, train)
    finally:
        algos._REGISTRY.pop("vpg")  # the other tests see the built-in registry


def _train_vpg(tmp_path, capsys, train):
    import jax

    assert main(["--help"]) == 0
    assert "--vpg-lr" in capsys.readouterr().out
    assert train.default_config("CartPole-v1", "vpg").vpg_lr == 0.1  # its own default
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)  # as a float32 run in a fresh process
    try:
        out = tmp_path / "vpg"
        assert main(["--env", "CartPole-v1", "--algo", "vpg", "--vpg-lr", "0.2", "--seeds",
                     "2", "--total-steps", "20480", "--quiet", "--out", str(out)]) == 0
    finally:
        jax.config.update("jax_enable_x64", x64)
    assert json.loads((out / "config.json").read_text())["vpg_lr"] == 0.2
    data = read_metrics(out / "metrics.csv")
    assert len(data["update"]) == 2 * 20 and np.all(data["accepted"] == 1)
    assert np.all(np.isnan(data["beta"])) and np.all(data["kl"] > 0)
    first, last = data["mean_return"][:4], data["mean_return"][-2:]
    assert np.nanmean(last) > 2 * np.nanmean(first)  # it learns
    assert main(["--algo", "npg", "--vpg-lr", "0.1"]) == 2
    assert "vpg_lr is an option of vpg, not of npg" in capsys.readouterr().err
