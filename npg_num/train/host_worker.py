"""A worker process of ``host_envs.SubprocEnvs``: ``python -m npg_num.train.host_worker
SOCKET_FD ENV_ID SEEDS SHM_FD ACTION_DIM [ENV_MODULE]`` steps one block of gymnasium environments for
its parent, talking over the socket ``SOCKET_FD`` and the shared mapping ``SHM_FD``.

Run as a program, it ignores SIGINT, SIGTERM and SIGHUP from its first line (its parent
also starts it with them ignored; importing the module changes nothing): the parent handles them, saves its run and closes its workers; a worker
whose parent is gone ends when its socket closes.
"""

import signal

if __name__ == "__main__":
    for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, signal.SIG_IGN)

import sys  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402


def main(argv) -> None:
    from npg_num.train.host_envs import serve_block

    fd, env_id, seeds, shm_fd, action_dim = argv[:5]
    env_module = argv[5] if len(argv) > 5 else ""
    seeds = [int(s) for s in seeds.split(",")]
    serve_block(Connection(int(fd)), env_id, seeds, int(shm_fd), int(action_dim), env_module)


if __name__ == "__main__":
    main(sys.argv[1:])
