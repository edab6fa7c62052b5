"""Lanes: each seed of a host run is its own training loop, in a process of its own.

``HostRunner`` steps every seed's environments together and runs one ``learn`` for all of
them, so its phases come one after another: while the simulators step, the learner
waits; while ``learn`` runs, every simulator waits. ``LaneRunner`` gives each seed its own
one-seed ``HostRunner`` (its environments with it) in a worker process
(``lane_worker``; beyond one more worker than cores, a worker takes a few seeds' updates
in turn), so that one seed learns while the others collect and every core is
busy. Threads were measured first: with gymnasium's Python around each ``mj_step``, three
lanes on threads ran 1.15x one thread (Python's lock), processes about 2x. The policy is
computed with numpy (``rollout_host.NumpyPolicy``): less than a jitted call for a few
observations, and XLA's threads stay idle during the rollout.

A seed's numbers depend only on that seed: lane ``s`` of a run with ``seed=b, seeds=S``
computes exactly what a one-seed run with ``seed=b+s`` computes (tested), whatever the
number of seeds beside it and however the processes interleave, because every lane runs
the same programs on its own inputs. (``HostRunner`` vmaps the seeds through one program,
and there a seed's last digits can change with the number of seeds beside it.)

The chunk is the unit of synchronization: ``run(state, n)`` returns when every lane has
done the same number of updates, so ``metrics.csv`` rows, checkpoints, ``--resume`` and
the progress bar work as for ``HostRunner``, and the checkpoint has its layout (the
seeds' states stacked, seed 0's simulators first).
"""

from __future__ import annotations

import os
import pickle
import time
from typing import Callable, Optional

import jax
import numpy as np

from ..errors import NPGInputError
from .config import TrainConfig
from .host_envs import HostEnvError, close_worker
from .runner import HostRunner, _never

__all__ = ["LaneRunner"]

# a worker's resident memory, measured on Hopper-v5: about 520 MB (JAX's runtime, MuJoCo,
# gymnasium, numpy); the workers take at most half of the memory available
WORKER_BYTES = 600 << 20

# JAX settings a worker takes from its parent (the rest comes with XLA_FLAGS)
_JAX_SETTINGS = ("jax_enable_x64", "jax_cpu_enable_async_dispatch",
                 "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")


def _stack(trees):
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *trees)


def _rows(rows: list):
    return jax.tree.map(lambda *xs: np.stack(xs, axis=1), *rows)


class LaneRunner:
    """The runner of ``config`` with one lane (a one-seed ``HostRunner``) per seed.

    ``workers``: how many worker processes (default: one more than this process's cores,
    at most one per seed, and at most as many as half the available memory holds at
    ``WORKER_BYTES`` each); a worker with several seeds takes their updates in turn, each
    still a one-seed loop. ``processes=False`` runs the lanes one after another in this
    process: the same numbers, for tests and for comparison (and the mode with an
    ``advantage_hook``, which cannot travel to a worker). A ``gymnasium-subproc`` backend
    becomes ``gymnasium`` in each lane (the same numbers, bit for bit; the lanes are the
    processes now).

    ``timers`` sums the lanes' seconds (each lane's simulator, policy, learn...) and adds
    ``chunk_wall`` (the chunks' own wall time) and ``barrier`` (the lanes' seconds spent
    waiting, at a chunk's end, for the slowest lane); ``per_update`` has each update's
    seconds per phase, averaged over the lanes.
    """

    critical_path = ("lanes: each seed's simulator + policy + learn in series in its own "
                     "process, the seeds overlapping; a chunk ends with its slowest seed")

    def __init__(self, config: TrainConfig, chunk_len: int = 1, *, processes: bool = True,
                 workers: Optional[int] = None, advantage_hook: Optional[Callable] = None):
        from .devices import available_cores

        self.config = config
        backend = ("gymnasium" if config.host_backend == "gymnasium-subproc"
                   else config.host_backend)
        self._configs = [config.replace(seeds=1, seed=config.seed + s, host_backend=backend)
                         for s in range(config.seeds)]
        self.local = HostRunner(self._configs[0], chunk_len, advantage_hook=advantage_hook,
                                numpy_policy=True)
        self.processes = processes and advantage_hook is None
        self.lanes = [self.local] + [
            HostRunner(c, chunk_len, numpy_policy=True, programs=self.local)
            for c in self._configs[1:]] if not self.processes else []
        self.sharding = self.local.sharding
        self.resumes_exactly = self.local.resumes_exactly
        # the seeds' lanes in worker processes: one seed each up to one more worker than
        # cores (one can learn while the others step), else contiguous groups of seeds
        # whose updates a worker takes in turn
        if workers is None:
            from .memory import available_host_memory

            room = available_host_memory()
            workers = min(available_cores() + 1,
                          room // (2 * WORKER_BYTES) if room is not None else config.seeds)
        n = max(1, min(config.seeds, workers))
        self._groups = [g.tolist() for g in np.array_split(np.arange(config.seeds), n)]
        self._workers: list = []  # (connection, process) per group
        self._held = None  # (the stacked state the lanes hold, their stacked snapshots)
        self.clear_timers()

    # -- worker processes -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._workers or not self.processes:
            return
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        from .host_envs import _signals_ignored

        settings = {name: jax.config.values[name] for name in _JAX_SETTINGS
                    if name in jax.config.values}
        # the workers import this npg_num, wherever it came from
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        try:
            for group in self._groups:
                here, there = socket.socketpair()
                try:
                    with _signals_ignored():  # the parent saves the run; then closes them
                        proc = subprocess.Popen(
                            [sys.executable, "-m", "npg_num.train.lane_worker",
                             str(there.fileno())],
                            pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL, env=env)
                finally:
                    there.close()
                self._workers.append((Connection(here.detach()), proc))
                self._send(len(self._workers) - 1, "init", {
                    "configs": [self._configs[s].to_dict() for s in group], "jax": settings})
            for i in range(len(self._workers)):
                self._expect(i, "ok")
        except BaseException:
            self.close()
            raise

    def _send(self, i: int, command: str, arg=None) -> None:
        conn, _ = self._workers[i]
        try:
            conn.send_bytes(pickle.dumps((command, arg), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            self._receive(i)  # raises HostEnvError with the worker's exit code
            raise

    def _receive(self, i: int):
        conn, proc = self._workers[i]
        try:
            kind, value = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            raise HostEnvError(f"the worker process of {self._label(i)} (pid {proc.pid}) "
                               f"stopped, exit code {proc.poll()}") from None
        if kind == "error":
            name, message = value
            if name == "NPGInputError":
                raise NPGInputError(message)
            raise HostEnvError(f"{self._label(i)}: {name}: {message}")
        return kind, value

    def _label(self, i: int) -> str:
        seeds = [self._configs[s].seed for s in self._groups[i]]
        return f"seed {seeds[0]}" if len(seeds) == 1 else \
            f"seeds {', '.join(map(str, seeds))}"

    def _expect(self, i: int, kind: str):
        got, value = self._receive(i)
        if got != kind:
            raise HostEnvError(f"{self._label(i)}: expected {kind!r} from its worker, "
                               f"got {got!r}")
        return value

    def _ask_all(self, command: str, args=None) -> list:
        """Each worker's answer (a list, one entry per seed of its group), in seed order."""
        for i in range(len(self._workers)):
            self._send(i, command, None if args is None else args[i])
        return [x for i in range(len(self._workers)) for x in self._expect(i, "ok")]

    def _hold(self, answers) -> object:
        states, snaps = zip(*answers)
        state = _stack(states)
        self._held = (state, _stack(snaps) if self.resumes_exactly else None)
        return state

    # -- the seeds' states ------------------------------------------------------------------------

    def _split(self, tree, rows_per_seed: int = 1) -> list:
        r = rows_per_seed
        return [jax.tree.map(lambda x, s=s: np.asarray(x)[s * r:(s + 1) * r], tree)
                for s in range(self.config.seeds)]

    def fresh_state(self):
        if not self.processes:
            state = _stack([lane.fresh_state() for lane in self.lanes])
            self._held = (state, None)
            return state
        self._start()
        return self._hold(self._ask_all("fresh"))

    def from_checkpoint(self, tree):
        if self.resumes_exactly:
            state, snap = tree
            parts = list(zip(self._split(state), self._split(snap, self.config.num_envs)))
        else:
            parts = self._split(tree)
        if not self.processes:
            state = _stack([lane.from_checkpoint(p) for lane, p in zip(self.lanes, parts)])
            self._held = (state, None)
            return state
        self._start()
        return self._hold(self._ask_all("load", [[parts[s] for s in g] for g in self._groups]))

    # -- training ---------------------------------------------------------------------------------

    def run(self, state, n: int, should_stop: Callable = _never):
        """Up to ``n`` updates of every lane from ``state`` (the state this runner last
        gave; fewer once ``should_stop()``: then every lane stops after the same number
        of updates); returns the state and ``Metrics`` [seeds, k]."""
        t0 = time.perf_counter()
        if not self.processes:
            state, metrics = self._run_here(state, n, should_stop)
        else:
            if self._held is None or self._held[0] is not state:
                raise ValueError("LaneRunner.run continues from the state its lanes hold: "
                                 "the one fresh_state, from_checkpoint or run returned last")
            state, metrics = self._run_workers(n, should_stop)
        self._timers["chunk_wall"] = self._timers.get("chunk_wall", 0.0) + (
            time.perf_counter() - t0)
        return state, metrics

    def _run_here(self, state, n, should_stop):
        states, rows, done = self._split(state), [[] for _ in self.lanes], n
        for i, lane in enumerate(self.lanes):
            lane.timers.clear()
            lane.per_update.clear()
            while len(rows[i]) < done:
                states[i], m = lane._update(states[i])
                rows[i].append(m)
                if i == 0 and should_stop():
                    done = len(rows[0])
        self._add_times([(lane.timers, lane.per_update) for lane in self.lanes])
        out = _stack(states)
        self._held = (out, None)
        return out, _stack([_rows(r) for r in rows])

    def _run_workers(self, n, should_stop):
        from multiprocessing.connection import wait

        k = len(self._workers)
        for i in range(k):
            self._send(i, "run", n)
        rows = [[] for _ in range(self.config.seeds)]
        finals, ended = [None] * self.config.seeds, [0.0] * k
        conns = {self._workers[i][0]: i for i in range(k)}
        pending, stopping, error = set(range(k)), False, None
        while pending:
            for conn in wait([self._workers[i][0] for i in pending], timeout=0.05):
                i = conns[conn]
                try:
                    kind, value = self._receive(i)
                except (HostEnvError, NPGInputError) as err:
                    error = error or err
                    pending.discard(i)
                    for j in pending:  # the others stop after their current update
                        self._send(j, "target", 0)
                    continue
                if kind == "row":
                    j, metrics = value
                    rows[self._groups[i][j]].append(metrics)
                else:  # "done"
                    for s, final in zip(self._groups[i], value):
                        finals[s] = final
                    ended[i] = time.perf_counter()
                    pending.discard(i)
            if not stopping and pending and should_stop():
                stopping = True
                target = min(n, max(len(r) for r in rows) + 1)
                for j in pending:  # every seed ends with as many updates as the furthest
                    self._send(j, "target", target)
        if error is not None:
            raise error
        t_end = time.perf_counter()
        self._timers["barrier"] = self._timers.get("barrier", 0.0) + sum(
            t_end - e for e in ended)
        self._add_times([(f[2], f[3]) for f in finals])
        return self._hold([(f[0], f[1]) for f in finals]), _stack([_rows(r) for r in rows])

    def _add_times(self, lanes: list) -> None:
        for timers, _ in lanes:
            for name, secs in timers.items():
                self._timers[name] = self._timers.get(name, 0) + secs
        n = min(len(per.get("wall", [])) for _, per in lanes)
        for name in lanes[0][1]:
            self._per_update.setdefault(name, []).extend(
                float(np.mean([per[name][u] for _, per in lanes])) for u in range(n))

    @property
    def timers(self) -> dict:
        return self._timers

    @property
    def per_update(self) -> dict:
        return self._per_update

    def clear_timers(self) -> None:
        self._timers, self._per_update = {}, {}

    @property
    def worker_pids(self) -> list:
        """The process ids of the lanes' worker processes (empty before the first chunk
        starts them, and with ``processes=False``)."""
        return [proc.pid for _, proc in self._workers]

    def compile(self, state):
        """Compile one lane's ``learn`` here (every lane runs the same program; the
        workers compile their own, from the compilation cache when it is on); returns it,
        for the memory check."""
        return self.local.compile(self._split(state)[0])

    # -- checkpoints ------------------------------------------------------------------------------

    def checkpoint_tree(self, state):
        """As ``HostRunner``'s: the stacked state, with every lane's simulators (seed-major)
        where the backend can save them."""
        if not self.resumes_exactly:
            return state
        if not self.processes:
            return state, _stack([lane.envs.snapshot() for lane in self.lanes])
        if self._held is None or self._held[0] is not state:
            raise ValueError("LaneRunner.checkpoint_tree: the simulators are those of the "
                             "state its lanes hold")
        return state, self._held[1]

    def template(self):
        s = self.config.seeds

        def widen(x):
            return jax.ShapeDtypeStruct((x.shape[0] * s,) + x.shape[1:], x.dtype)

        return jax.tree.map(widen, self.local.template())

    def close(self) -> None:
        for conn, proc in self._workers:
            close_worker(conn, proc, timeout=10)
        self._workers = []
        for lane in self.lanes or [self.local]:
            lane.close()
