"""A worker process of ``lanes.LaneRunner``: ``python -m npg_num.train.lane_worker FD``
trains one seed of a host run (a one-seed ``HostRunner``, its environments in this
process) for its parent, talking over the socket ``FD`` in pickled ``(command, argument)``
pairs:

- ``("init", dict(config=..., jax=...))``: build the runner (the parent's JAX settings);
- ``("fresh", None)`` / ``("load", tree)``: start from a fresh state / a checkpoint's part;
  the answer is the state and the simulators' snapshot (None where they cannot be saved);
- ``("run", n)``: ``n`` updates, each answered with a ``("row", metrics)`` as it ends,
  then ``("done", (state, snapshot, timers, per_update))``; a ``("target", k)`` that
  arrives meanwhile lowers ``n`` to ``k`` (a stop: every lane ends at the same update);
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


def serve(conn) -> None:
    runner = state = None

    def answer(kind, value=None):
        conn.send_bytes(pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL))

    def snapshot():
        return runner.envs.snapshot() if runner.resumes_exactly else None

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

                runner = HostRunner(TrainConfig.from_dict(arg["config"]), numpy_policy=True)
                answer("ok")
            elif command == "fresh":
                state = runner.fresh_state()
                answer("ok", (_host(state), snapshot()))
            elif command == "load":
                state = runner.from_checkpoint(arg)
                answer("ok", (_host(state), snapshot()))
            elif command == "run":
                target, done = int(arg), 0
                runner.timers.clear()
                runner.per_update.clear()
                while done < target:
                    while conn.poll():
                        kind, k = pickle.loads(conn.recv_bytes())
                        if kind == "target":
                            target = min(target, int(k))
                    if done >= target:
                        break
                    state, metrics = runner._update(state)
                    done += 1
                    answer("row", _host(metrics))
                answer("done", (_host(state), snapshot(), dict(runner.timers),
                                dict(runner.per_update)))
            else:
                answer("error", ("ValueError", f"unknown command {command!r}"))
        except Exception as err:  # noqa: BLE001 - the parent reports it
            answer("error", (type(err).__name__, str(err)))
    if runner is not None:
        runner.close()


def main(argv) -> None:
    serve(Connection(int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
