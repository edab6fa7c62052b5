"""Time budgets: SymPy's general algorithms may run for minutes, so none runs unbounded.

Two mechanisms, for two kinds of work:

- ``time_limit(seconds)``: a ``SIGALRM`` timer in the main thread that raises ``OutOfTime``
  inside whatever SymPy is doing (simplification, comparisons). ``OutOfTime`` derives from
  ``BaseException`` on purpose: SymPy catches ``Exception`` in places, and a timer that
  such a handler swallowed would leave the work unbounded. Outside the main thread (or
  where ``SIGALRM`` does not exist) no timer can be set, and ``time_limit`` says so by
  ``timer_available()``.
- ``sympy_in_subprocess(op, ...)``: SymPy's general ``integrate`` and ``summation`` run in
  a child process that is killed when its budget is spent, since a signal cannot always
  interrupt them (long loops inside C code, handlers that catch everything). A timed-out
  call is reported as not closed, never as a result.

Examples
========
>>> import sympy as sp
>>> x = sp.Symbol("x", positive=True)
>>> sympy_in_subprocess("integrate", sp.exp(-2 * x), x, 0, sp.oo, seconds=60)
1/2
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import sympy as sp

__all__ = ["OutOfTime", "time_limit", "timer_available", "sympy_in_subprocess", "SubprocessFailed"]


class OutOfTime(BaseException):
    """A time budget ran out (a ``BaseException`` so that ``except Exception`` cannot eat it)."""


class SubprocessFailed(Exception):
    """The child computing ``integrate``/``summation`` gave no closed form; says why."""


def timer_available() -> bool:
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise ``OutOfTime`` in the body after ``seconds`` (main thread only).

    Limits nest: a timer already running (an outer ``time_limit``, pytest-timeout's alarm)
    that is due first governs alone; one due later is suspended and re-armed, less the time
    spent here, with its own handler, when the body ends.
    """
    if seconds is None or not timer_available():
        yield
        return
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_left <= seconds:
        yield
        return

    def _expire(signum, frame):
        raise OutOfTime(f"{what} did not finish within {seconds:g} s")

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3))


# The child imports SymPy only: results and conditions cross as srepr strings.
_CHILD = r"""
import json, sys
import sympy as sp
job = json.loads(sys.stdin.read())
expr, var, lo, hi = (sp.sympify(job[k]) for k in ("expr", "var", "lo", "hi"))
if job["op"] == "integrate":
    result = sp.integrate(expr, (var, lo, hi))
else:
    result = sp.summation(expr, (var, lo, hi))
if isinstance(result, sp.Piecewise):
    # A convergence condition must be settled by the assumptions; else no closed form.
    chosen = None
    for value, cond in result.args:
        decided = sp.simplify(cond)
        if decided == True:
            chosen = value
            break
        if decided != False:
            break
    if chosen is None:
        print(json.dumps({"error": "the result holds only under a condition the assumptions "
                          "do not settle: " + str(result.args[0][1])}))
        sys.exit(0)
    result = chosen
if result.has(sp.Integral, sp.Sum, sp.Piecewise) or result.has(sp.nan, sp.zoo):
    print(json.dumps({"error": "SymPy returned an unevaluated or undefined form"}))
else:
    print(json.dumps({"result": sp.srepr(result)}))
"""


def _portable(objs):
    """Dummies become named Symbols (same assumptions) for the trip; returns the map back."""
    dummies = set().union(*(sp.sympify(o).atoms(sp.Dummy) for o in objs))
    forward = {
        d: sp.Symbol(f"_npg_dummy_{i}", **d.assumptions0) for i, d in enumerate(sorted(dummies, key=str))
    }
    return forward, {s: d for d, s in forward.items()}


def sympy_in_subprocess(op: str, expr, var, lo, hi, seconds: float) -> sp.Expr:
    """SymPy's ``integrate`` (``op="integrate"``) or ``summation`` over (lo, hi), in a child
    process killed after ``seconds``. Raises ``SubprocessFailed`` with the reason when the
    budget runs out or no closed form comes back."""
    if op not in ("integrate", "summation"):
        raise ValueError(f"op must be 'integrate' or 'summation', got {op!r}")
    forward, back = _portable([expr, var, lo, hi])
    job = {
        "op": op,
        **{k: sp.srepr(sp.sympify(v).xreplace(forward)) for k, v in
           (("expr", expr), ("var", var), ("lo", lo), ("hi", hi))},
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD], input=json.dumps(job), capture_output=True,
            text=True, timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        raise SubprocessFailed(f"timed out after {seconds:g} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SubprocessFailed(f"SymPy raised: {last}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in answer:
        raise SubprocessFailed(answer["error"])
    return sp.sympify(answer["result"]).xreplace(back)
