"""A worker process of ``host_envs.SubprocEnvs``: ``python -m npg_num.train.host_worker FD
ENV_ID SEEDS PATH ACTION_DIM`` steps one block of gymnasium environments for its parent,
talking over the socket ``FD`` and the shared mapping at ``PATH``."""

import signal
import sys
from multiprocessing.connection import Connection

from npg_num.train.host_envs import serve_block


def main(argv) -> None:
    fd, env_id, seeds, path, action_dim = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    seeds = [int(s) for s in seeds.split(",")]
    serve_block(Connection(int(fd)), env_id, seeds, path, int(action_dim))


if __name__ == "__main__":
    main(sys.argv[1:])
