"""Plant known faults one at a time in a scratch copy and show which tests catch each.

Each fault is a one-line mutation of the library (the classic ones: 2 delta -> delta in
beta, the 1/2 of the quadratic term dropped, a transposed Jacobian in the Gauss-Newton
FVP, a flipped sign). For each, the repository is copied to a temporary directory, the
mutation applied (it must match exactly once), and the test suite run there; a fault
that no test catches is reported as SURVIVED and the script exits 1.

Usage: python tools/plant_faults.py [--tests tests/test_twins.py ...] [--only NAME]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAULTS = [
    ("beta uses delta, not 2 delta (numeric)", "npg_num/natural_step.py",
     "jnp.sqrt(2.0 * delta / safe_q)", "jnp.sqrt(delta / safe_q)"),
    ("beta uses delta, not 2 delta (symbolic)", "npg_sym/trust_region.py",
     "beta = simplify(1 / multiplier)", "beta = simplify(1 / (sp.sqrt(2) * multiplier))"),
    ("1/2 of the quadratic constraint dropped (symbolic Lagrangian)", "npg_sym/trust_region.py",
     "constraint = (d.T * F * d)[0] / 2 - delta", "constraint = (d.T * F * d)[0] - delta"),
    ("1/k! of the Taylor terms dropped (quadratic term doubled)", "npg_sym/kl.py",
     'terms.append(tidy(value_at(expr, {eps: 0}, f"Taylor term {k}") / sp.factorial(k)))',
     'terms.append(tidy(value_at(expr, {eps: 0}, f"Taylor term {k}")))'),
    ("transposed Jacobian in the GN route (J F_out J, not J^T F_out J)", "npg_num/fvp.py",
     "(back,) = vjp_fn(jax.tree.map(lambda a: a * inv_n, w))",
     "back = jax.flatten_util.ravel_pytree(jvp_fn(jax.flatten_util.ravel_pytree("
     "jax.tree.map(lambda a: a * inv_n, w))[0]))[0]"),
    ("sign of -E[Hess log pi] flipped", "npg_sym/fisher.py",
     "lambda h: tidy(-expectation(fam, h))", "lambda h: tidy(expectation(fam, h))"),
    ("sign of the natural step flipped", "npg_num/natural_step.py",
     "step = jnp.where(accepted, beta * x, 0.0)", "step = jnp.where(accepted, -beta * x, 0.0)"),
    ("sign in the categorical output Fisher", "npg_num/distributions.py",
     "return pu - p * jnp.sum(pu, axis=-1, keepdims=True)",
     "return pu + p * jnp.sum(pu, axis=-1, keepdims=True)"),
    ("sign in the Gaussian KL (log-std term)", "npg_num/distributions.py",
     "sq - sp + 0.5 * var_ratio", "sp - sq + 0.5 * var_ratio"),
    ("Gamma route without its 1/|q| (npg-derive)", "npg_sym/integrals.py",
     "closed = sp.gamma(S / q) / (abs(q) * b ** (S / q))", "closed = sp.gamma(S / q) / b ** (S / q)"),
    ("a term dropped from the half-integer Bessel K (npg-derive)", "npg_sym/integrals.py",
     "for j in range(n + 1)", "for j in range(n)"),
    ("z d/dz taken as d/dz in the power series (npg-derive)", "npg_sym/series.py",
     "G = Z * sp.diff(G, Z)", "G = sp.diff(G, Z)"),
    # the user's data (issue 19): each fix reverted; the fifth item is the test that guards it
    ("--out writes into a folder that is not a run (user data)", "npg_num/train/rundir.py",
     ('    if kind == "foreign":\n        raise NPGInputError(f"--out {final} is not empty',
      "os.rename(staged, final)  # onto"),
     ('    if False:\n        raise NPGInputError(f"--out {final} is not empty',
      "shutil.copytree(staged, final, dirs_exist_ok=True)  # onto"),
     "tests/test_user_data.py::test_a_folder_that_is_not_a_run_is_refused_untouched"),
    ("--force replaces the old run before the new one has a checkpoint (user data)",
     "npg_num/train/rundir.py", "    return RunDir(staged, final, stack, staged_over=True)",
     "    run = RunDir(staged, final, stack, staged_over=True)\n    run.commit()\n    return run",
     "tests/test_user_data.py::test_force_interrupted_while_compiling_leaves_the_old_run"),
    ("a damaged latest checkpoint is rotated into the backup (user data)",
     "npg_num/train/session.py",
     "elif points[0].source != CHECKPOINT_FILE and (out / CHECKPOINT_FILE).exists():",
     "elif False:",
     "tests/test_user_data.py::test_damaged_latest_then_kill_during_the_next_save"),
    ("SIGTERM, SIGHUP and SIGINT not handled (user data)", "npg_num/train/session.py",
     "self._saved[sig] = signal.signal(sig, self._handle)", "pass",
     "tests/test_user_data.py::test_a_signal_saves_the_last_chunk_and_resume_equals_the_whole_run"),
    ("a full disk raises the system's error (user data)", "npg_num/train/session.py",
     "raise RunWriteError(self.out / name, err, self._hint()) from None", "raise",
     "tests/test_user_data.py::test_a_full_disk_is_one_line_and_the_run_resumes"),
    ("damaged metrics rows are not computed again (user data)", "npg_num/train/session.py",
     "            if older:\n", "            if False:\n",
     "tests/test_user_data.py::test_damaged_rows_after_the_previous_checkpoint_are_computed_again"),
    ("integers without an upper bound (user data)", "npg_num/train/options.py",
     "if not _is_int(v) or not low <= v <= high:", "if not _is_int(v) or not low <= v:",
     "tests/test_user_data.py::test_out_of_range_numbers_are_one_line"),
    ("workers started without ignoring Ctrl-C (user data)", "npg_num/train/host_envs.py",
     "saved[sig] = signal.signal(sig, signal.SIG_IGN)", "saved[sig] = signal.getsignal(sig)",
     "tests/test_user_data.py::test_workers_end_quietly_with_their_parent"),
    ("a worker's first message outside its error handling (user data)",
     "npg_num/train/host_envs.py", "    try:\n        conn.send(envs.obs_dim)\n",
     "    conn.send(envs.obs_dim)\n    try:\n",
     "tests/test_user_data.py::test_workers_end_quietly_with_their_parent"),
    ("the locomotion benchmark moves a run without its lock (user data)",
     "benchmarks/locomotion.py", "refuse_if_in_use(run)  # RunDirInUse", "pass  # ",
     "tests/test_user_data.py::test_locomotion_benchmark_checks_the_lock_and_uses_unique_names"),
]


def run_fault(name: str, rel: str, old: str, new: str, tests: list[str], first: bool) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="npg-fault-") as tmp:
        dst = Path(tmp) / "repo"
        shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
            ".venv", ".git", "report", "runs", ".hypothesis", ".pytest_cache", "__pycache__"))
        path = dst / rel
        text = path.read_text()
        pairs = zip(old, new) if isinstance(old, tuple) else [(old, new)]  # one or several edits
        for before, after in pairs:
            if text.count(before) != 1:
                raise SystemExit(f"fault '{name}': pattern found {text.count(before)} times in "
                                 f"{rel}")
            text = text.replace(before, after)
        path.write_text(text)
        proc = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-o", "addopts=", "--timeout=600", *(["-x"] if first else []), *tests],
            cwd=dst, capture_output=True, text=True,
        )
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
        if proc.returncode != 0 and not failed:
            failed = [f"(pytest exit {proc.returncode}) " + proc.stdout.strip()[-300:]]
        return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="*", default=["tests"])
    parser.add_argument("--only", help="run only faults whose name contains this")
    parser.add_argument("--first", action="store_true", help="stop each run at the first failing test")
    args = parser.parse_args()
    survived = 0
    for name, rel, old, new, *guard in FAULTS:
        if args.only and args.only not in name:
            continue
        tests = guard if guard and args.tests == ["tests"] else args.tests
        failed = run_fault(name, rel, old, new, tests, args.first)
        status = f"CAUGHT by {len(failed)} test(s)" if failed else "SURVIVED"
        survived += not failed
        print(f"- {name} [{rel}]: {status}", flush=True)
        for test in failed[:8]:
            print(f"    {test}", flush=True)
        if len(failed) > 8:
            print(f"    ... and {len(failed) - 8} more", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
