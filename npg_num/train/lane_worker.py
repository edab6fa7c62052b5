"""A worker process of ``lanes.LaneRunner``: ``python -m npg_num.train.lane_worker FD``
trains a group of seeds of a host run for its parent, each seed a one-seed ``HostRunner``
(its environments in this process), their updates taken in turn, talking over the socket
``FD`` in pickled ``(command, argument)`` pairs:

- ``("init", dict(configs=[...], jax=...))``: build a runner per seed (the parent's JAX
  settings);
- ``("fresh", None)`` / ``("load", [tree, ...])``: start from fresh states / a
  checkpoint's parts; the answer is each seed's state and simulators' snapshot (None
  where they cannot be saved);
- ``("run", n)``: ``n`` updates of each seed, each answered with a ``("row", (i,
  metrics))`` as it ends, then ``("done", [(state, snapshot, timers, per_update), ...])``;
  a ``("target", k)`` that arrives meanwhile lowers ``n`` to ``k`` (a stop: every seed
  ends at the same update), a ``("close", None)`` ends the worker at once;
- ``("close", None)``: end.

An error is answered with ``("error", (type name, message))``. Run as a program it ignores
SIGINT, SIGTERM and SIGHUP from its first line: the parent handles them, saves its run and
closes its workers; a worker whose parent is gone ends when its socket closes.
"""

import signal

if __name__ == "__main__":
    for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, signal.SIG_IGN)

import pickle  # noqa: E402
import sys  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402


def _host(tree):
    import jax
    import numpy as np

    return jax.tree.map(np.asarray, tree)


class _Closed(Exception):
    """The parent asked this worker to end in the middle of a run."""


def serve(conn) -> None:
    runners, states = [], []

    def answer(kind, value=None):
        conn.send_bytes(pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL))

    def held():
        return [(_host(state), r.envs.snapshot() if r.resumes_exactly else None)
                for r, state in zip(runners, states)]

    def run(n: int) -> None:
        target, done = n, [0] * len(runners)
        for r in runners:
            r.timers.clear()
            r.per_update.clear()
        while min(done) < target:
            for i, r in enumerate(runners):
                while conn.poll():
                    kind, k = pickle.loads(conn.recv_bytes())
                    if kind == "target":
                        target = min(target, int(k))
                    elif kind == "close":
                        raise _Closed
                if done[i] >= target:
                    continue
                states[i], metrics = r._update(states[i])
                done[i] += 1
                answer("row", (i, _host(metrics)))
        answer("done", [(s, snap, dict(r.timers), dict(r.per_update))
                        for (s, snap), r in zip(held(), runners)])

    while True:
        try:
            command, arg = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the parent is gone
            break
        if command == "close":
            break
        if command == "target":  # a stop that came after this lane's run had ended
            continue
        try:
            if command == "init":
                from npg_num.xla_cpu import configure

                configure()  # as the parent: XLA_FLAGS came with the environment
                import jax

                for name, value in arg["jax"].items():
                    jax.config.update(name, value)
                from npg_num.train.config import TrainConfig
                from npg_num.train.runner import HostRunner

                configs = [TrainConfig.from_dict(c) for c in arg["configs"]]
                runners.append(HostRunner(configs[0], numpy_policy=True))
                runners.extend(HostRunner(c, numpy_policy=True, programs=runners[0])
                               for c in configs[1:])
                answer("ok")
            elif command == "fresh":
                states[:] = [r.fresh_state() for r in runners]
                answer("ok", held())
            elif command == "load":
                states[:] = [r.from_checkpoint(t) for r, t in zip(runners, arg)]
                answer("ok", held())
            elif command == "run":
                run(int(arg))
            else:
                answer("error", ("ValueError", f"unknown command {command!r}"))
        except _Closed:
            break
        except Exception as err:  # noqa: BLE001 - the parent reports it
            answer("error", (type(err).__name__, str(err)))
    for r in runners:
        r.close()


def main(argv) -> None:
    serve(Connection(int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
