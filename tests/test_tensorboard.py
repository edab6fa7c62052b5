"""TensorBoard events in the run directory (issue 21): read back, they hold every metrics
column of every row of metrics.csv, once, also after kill -9 and --resume."""

import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="TensorBoard events need the tensorboard extra: "
                    "pip install tensorboardX")

from tensorboardX.proto.event_pb2 import Event  # noqa: E402

from npg_num.train.metrics_file import read_metrics  # noqa: E402
from npg_num.train.tensorboard_log import TAGGED_COLUMNS, events_files  # noqa: E402

from clirun import kill_9_after_rows, train_in_process  # noqa: E402

ARGS = ["--env", "CartPole-v1", "--algo", "trpo", "--seeds", "2", "--num-envs", "4",
        "--num-steps", "16", "--total-steps", "3200", "--checkpoint-every", "1", "--quiet"]


def read_events(path: Path) -> list:
    """The events of one file, in order, up to a record torn by a kill (TFRecord framing:
    length u64, its CRC u32, data, the data's CRC u32)."""
    data, out, i = path.read_bytes(), [], 0
    while i + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8])
        if i + 12 + n + 4 > len(data):
            break
        event = Event()
        event.ParseFromString(data[i + 12:i + 12 + n])
        out.append(event)
        i += 12 + n + 4
    return out


def scalars(out: Path) -> dict:
    """(tag, step) -> [values] over every events file of a run directory."""
    found: dict = {}
    for path in events_files(out):
        for event in read_events(path):
            for v in event.summary.value:
                found.setdefault((v.tag, event.step), []).append(v.simple_value)
    return found


def assert_events_match_metrics(out: Path) -> None:
    got = scalars(out)
    m = read_metrics(out / "metrics.csv")
    want = {}
    for i in range(len(m["seed"])):
        for col in TAGGED_COLUMNS:
            want[(f"{col}/seed-{int(m['seed'][i])}", int(m["env_steps"][i]))] = m[col][i]
    assert set(got) == set(want)
    assert all(len(v) == 1 for v in got.values()), "a step written twice"
    for key, value in want.items():
        np.testing.assert_equal(np.float32(got[key][0]), np.float32(value), err_msg=str(key))


def test_events_equal_metrics_after_kill_9_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    rows = kill_9_after_rows(ARGS, out, 2 * 10)
    assert 2 * 10 <= rows < 2 * 50
    with open(events_files(out)[-1], "ab") as f:  # a kill in the middle of a record
        f.write(struct.pack("<Q", 200) + b"\0\0\0\0partial")
    done = train_in_process(["--resume", str(out), "--quiet"], capsys)
    assert done.returncode == 0, done.stderr
    assert len(read_metrics(out / "metrics.csv")["seed"]) == 2 * 50
    assert_events_match_metrics(out)


def test_no_tensorboard_writes_no_events(tmp_path, capsys):
    out = tmp_path / "run"
    done = train_in_process(ARGS + ["--total-steps", "128", "--out", str(out),
                                    "--no-tensorboard"], capsys)
    assert done.returncode == 0, done.stderr
    assert events_files(out) == []


def test_tensorboardx_is_loaded_without_pytorch(tmp_path):
    """tensorboardX's writer imports PyTorch where it is installed (1.5-2 s of every run)
    for writers npg does not use: with a torch on the path that ends the process when
    imported, the events writer still loads, and no torch module is left behind."""
    import subprocess
    import sys

    from clirun import ROOT, cli_env

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise SystemExit('torch was imported')\n")
    code = ("import sys; from npg_num.train.tensorboard_log import _tensorboardx; "
            "_tensorboardx(); print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env=cli_env({"PYTHONPATH": f"{tmp_path}:{ROOT}"}))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
