"""Runners: the training loop in chunks of updates, for the CLI and the benchmarks, one
interface for both rollout sources.

- ``DeviceRunner``: gymnax environments; a chunk of updates is one jitted program
  (``Trainer.chunk``) run ``per_seed`` over the devices.
- ``HostRunner``: MuJoCo environments (``loop.HostTrainer``); a chunk is a Python loop of
  updates, each a host rollout and the same jitted ``learn``.

Both offer ``fresh_state()``, ``run(state, n) -> (state, Metrics [seeds, n] as numpy)``,
and the checkpoint round trip ``checkpoint_tree(state)`` / ``template()`` /
``from_checkpoint(tree)``; a host runner's checkpoint also holds its simulators
(``host_envs.HostSnapshot``) where the backend can save them.
"""

from __future__ import annotations

import jax

from .config import TrainConfig
from .devices import compiler_options, per_seed, seed_keys, seed_sharding
from .envs import is_host_env
from .host_envs import can_snapshot

__all__ = ["DeviceRunner", "HostRunner", "make_runner"]


class DeviceRunner:
    """gymnax environments: the whole chunk of updates in one compiled program."""

    resumes_exactly = True

    def __init__(self, config: TrainConfig, chunk_len: int):
        from .loop import make_trainer

        self.config = config
        self.trainer = make_trainer(config)
        self.sharding = seed_sharding(config.seeds)
        self.keys = jax.device_put(seed_keys(config), self.sharding)
        opts = compiler_options()
        # each device trains its own seeds (per_seed: no cross-device barrier in the CG and
        # line-search loops). Every leaf of the initial state comes out sharded like the
        # seeds, so the chunk program compiled for it serves every chunk (under plain
        # jit(vmap(init)) the leaves that do not depend on the key came out replicated,
        # and the chunk program compiled again for the state it returned: about 2 s)
        self.init_fn = jax.jit(per_seed(self.trainer.init, self.sharding),
                               compiler_options=opts)
        self.chunk_len = chunk_len
        self.chunk_fn = jax.jit(
            per_seed(self.trainer.chunk(chunk_len), self.sharding, in_axes=(0, None)),
            compiler_options=opts,
        )

    @property
    def devices(self) -> int:
        return len(self.sharding.mesh.devices.flat)

    def fresh_state(self):
        return self.init_fn(self.keys)

    def run(self, state, n_active: int):
        state, metrics = self.chunk_fn(state, n_active)
        return state, jax.device_get(metrics)

    def compile(self, state):
        """The chunk program compiled for ``state`` (jit reuses it); for its memory."""
        return self.chunk_fn.lower(state, self.chunk_len).compile()

    def checkpoint_tree(self, state):
        return state

    @property
    def timers(self) -> dict:
        return {}

    def template(self):
        return jax.eval_shape(self.init_fn, self.keys)

    def from_checkpoint(self, tree):
        return jax.device_put(tree, self.sharding)

    def close(self) -> None:
        pass


class HostRunner:
    """MuJoCo environments on the host: ``loop.HostTrainer`` in chunks."""

    def __init__(self, config: TrainConfig, chunk_len: int, *, envs=None):
        from .loop import HostTrainer

        self.config = config
        self.sharding = seed_sharding(config.seeds)
        self.trainer = HostTrainer(config, self.sharding, envs=envs)
        self.resumes_exactly = (envs.can_snapshot if envs is not None
                                else can_snapshot(config.host_backend))

    @property
    def devices(self) -> int:
        return len(self.sharding.mesh.devices.flat)

    def fresh_state(self):
        return self.trainer.init()

    def run(self, state, n_active: int):
        return self.trainer.run(state, n_active)

    def compile(self, state):
        return self.trainer.compile(state)

    @property
    def timers(self) -> dict:
        return self.trainer.timers

    def checkpoint_tree(self, state):
        """(state, simulators) where the backend can save them, else the state alone."""
        snap = self.trainer.snapshot()
        return state if snap is None else (state, snap)

    def template(self):
        state = self.trainer.template()
        if not self.resumes_exactly:
            return state
        snap = self.trainer.snapshot_template()
        return state, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), snap)

    def from_checkpoint(self, tree):
        """The state to continue from; the simulators are put back as they were saved, or
        (a backend that cannot save them) restarted, with the episodes in flight."""
        if self.resumes_exactly:
            state, snap = tree
            self.trainer.restore(snap)
            return state
        from .state import new_episodes

        state = tree
        obs = self.trainer._shape(self.trainer.envs.reset_all()).astype(state.obs.dtype)
        fresh = jax.device_get(new_episodes(self.config.num_envs, state.obs.dtype))
        # finished counts and last returns carry on; the interrupted episodes start over
        episodes = state.episodes._replace(
            running_return=0 * state.episodes.running_return,
            running_length=0 * state.episodes.running_length,
            ended=state.episodes.ended | fresh.ended,
        )
        return state._replace(obs=obs, episodes=episodes)

    def close(self) -> None:
        self.trainer.close()


def make_runner(config: TrainConfig, chunk_len: int):
    """The runner for ``config.env``: host (MuJoCo) or device (gymnax)."""
    if is_host_env(config.env):
        return HostRunner(config, chunk_len)
    return DeviceRunner(config, chunk_len)
