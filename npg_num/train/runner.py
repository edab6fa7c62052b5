"""Runners: the training loop in chunks of updates, one interface for both rollout sources
(the layer between the pure training functions of ``loop`` and a run on disk, ``session``).

- ``DeviceRunner``: gymnax environments; a chunk of updates is one jitted program
  (``Trainer.chunk``) run ``per_seed`` over the devices.
- ``HostRunner``: environments stepped on the host (gymnasium's, ``host_envs``); a chunk is a
  Python loop of updates, each a host rollout (one jitted policy call per step for every
  seed's environments at once) and the same jitted ``learn`` as the device loop.

Both offer ``fresh_state()``; ``run(state, n, should_stop) -> (state, Metrics)`` with
arrays [seeds, k], k <= n updates (a host runner stops early between updates once
``should_stop()`` is true; a device chunk is one program and always runs whole);
``compile(state)``; the checkpoint round trip ``checkpoint_tree(state)`` / ``template()``
/ ``from_checkpoint(tree)`` (a host runner's checkpoint also holds its simulators,
``host_envs.HostSnapshot``, where the backend can save them); ``timers``; ``close()``.
Which one a config gets is its environment's row of ``envs.ENV_BACKENDS``
(``make_runner``).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .config import TrainConfig
from .devices import compiler_options, per_seed, seed_keys, seed_sharding
from .envs import make_env
from .host_envs import can_snapshot
from .state import TrainState, new_episodes

__all__ = ["DeviceRunner", "HostRunner", "make_runner"]


def _never() -> bool:
    return False


class DeviceRunner:
    """gymnax environments: the whole chunk of updates in one compiled program."""

    resumes_exactly = True

    def __init__(self, config: TrainConfig, chunk_len: int = 1, *, sharding=None):
        from .loop import make_trainer

        self.config = config
        self.trainer = make_trainer(config)
        self.sharding = sharding if sharding is not None else seed_sharding(config.seeds)
        self.keys = jax.device_put(seed_keys(config), self.sharding)
        opts = compiler_options()
        # each device trains its own seeds (per_seed: no cross-device barrier in the CG and
        # line-search loops). Every leaf of the initial state comes out sharded like the
        # seeds, so the chunk program compiled for it serves every chunk (under plain
        # jit(vmap(init)) the leaves that do not depend on the key came out replicated,
        # and the chunk program compiled again for the state it returned)
        self.init_fn = jax.jit(per_seed(self.trainer.init, self.sharding),
                               compiler_options=opts)
        self.chunk_len = chunk_len
        self.chunk_fn = jax.jit(
            per_seed(self.trainer.chunk(chunk_len), self.sharding, in_axes=(0, None)),
            compiler_options=opts,
        )
        self.timers: dict = {}
        self.per_update: dict = {}  # one jitted chunk: no phases of its own to time

    def fresh_state(self):
        return self.init_fn(self.keys)

    def run(self, state, n_active: int, should_stop: Callable = _never):
        state, metrics = self.chunk_fn(state, n_active)
        metrics = jax.device_get(metrics)
        return state, jax.tree.map(lambda x: x[:, :n_active], metrics)

    def compile(self, state):
        """The chunk program compiled for ``state`` (jit reuses it); for its memory."""
        return self.chunk_fn.lower(state, self.chunk_len).compile()

    def checkpoint_tree(self, state):
        return state

    def template(self):
        return jax.eval_shape(self.init_fn, self.keys)

    def from_checkpoint(self, tree):
        return jax.device_put(tree, self.sharding)

    def close(self) -> None:
        pass


class HostRunner:
    """Environments on the host (gymnasium's, ``host_envs``).

    One update: ``begin`` (jitted: the next key, the action noise, the batch order bits,
    from each seed's key), the rollout (``rollout_host``), then ``learn``, the jitted
    function the device loop runs after its rollout (``update.make_learn``). ``learn``
    and ``begin`` run ``per_seed`` (each device its own seeds); the policy calls run on
    one device. ``timers`` accumulates seconds: ``simulator`` and ``policy`` (the
    rollout), ``begin`` (the next key and the noise, to the policy's device),
    ``transfer`` (the batch to the learners' devices), ``learn_first`` (the first
    update's learn, compile included) and ``learn`` (the others). ``per_update`` keeps
    each update's own seconds: ``simulator``, ``policy``, ``learn``, ``waiting`` (the rest
    of the update: the next key and noise, the hand-offs to the workers, the transfers,
    the loop's Python, where none of the three works) and ``wall``. The phases run one
    after the other, so the critical path of an update is all of them: ``wall``.

    ``envs``: the simulators to use (default: started on first use from the config,
    environment i of seed s from the reset seed 10_000 * s + i); ``sharding``: the seeds'
    placement (default ``seed_sharding(config.seeds)``); ``numpy_policy``: the rollout's
    actions from ``rollout_host.NumpyPolicy`` rather than the jitted ``make_act`` (the
    lanes' way); ``programs``: another runner of the same configuration but its seed,
    whose compiled programs this one shares (``lanes.LaneRunner``'s seeds).
    """

    def __init__(self, config: TrainConfig, chunk_len: int = 1, *, envs=None, sharding=None,
                 advantage_hook: Optional[Callable] = None, numpy_policy: bool = False,
                 programs: Optional["HostRunner"] = None):
        cfg = self.config = config
        self.dtype = jnp.dtype(cfg.dtype)
        self.numpy_policy = numpy_policy
        if programs is not None:  # another seed of the same run (``LaneRunner``)
            for name in ("spec", "policy", "value", "sharding", "_init", "_begin", "_learn",
                         "_act", "_device"):
                setattr(self, name, getattr(programs, name))
            self.keys = jax.device_put(seed_keys(cfg), self.sharding)
        else:
            self._build(advantage_hook, sharding)
        self._envs = envs
        self.resumes_exactly = (envs.can_snapshot if envs is not None
                                else can_snapshot(cfg.host_backend, self.spec))
        self.timers: dict = {}
        self.per_update: dict = {}  # phase -> [seconds of each update this process ran]

    def _build(self, advantage_hook, sharding) -> None:
        """The compiled programs of this configuration (shared by ``programs=``)."""
        from .loop import init_learner, learner_parts
        from .rollout_host import make_act
        from .sampling import gumbel, normal

        cfg, dtype = self.config, self.dtype
        parts = learner_parts(cfg, advantage_hook)
        self.spec, self.policy, self.value = parts.spec, parts.policy, parts.value
        n_envs, n_steps, a_dim = cfg.num_envs, cfg.num_steps, self.spec.action_dim
        splits = np.cumsum([2, n_steps * n_envs * a_dim])
        draw = gumbel if self.spec.discrete else normal  # as on the device

        def begin(key):
            bits = jax.random.bits(key, (int(splits[-1]) + cfg.batch_size,), jnp.uint32)
            key, noise_bits, perm_bits = jnp.split(bits, splits.tolist())
            return key, draw(noise_bits, dtype).reshape(n_steps, n_envs, a_dim), perm_bits

        def init_one(key):
            return init_learner(key, cfg, self.spec, parts.algo, parts.optimizer)

        opts = compiler_options()
        self.sharding = sharding if sharding is not None else seed_sharding(cfg.seeds)
        self.keys = jax.device_put(seed_keys(cfg), self.sharding)
        self._init = jax.jit(per_seed(init_one, self.sharding), compiler_options=opts)
        self._begin = jax.jit(per_seed(begin, self.sharding), compiler_options=opts)
        self._learn = jax.jit(per_seed(parts.learn, self.sharding), compiler_options=opts)
        self._act = make_act(cfg, self.policy)
        self._device = self.sharding.mesh.devices.flat[0]

    @property
    def envs(self):
        """The simulators, started on first use (a template or a compile needs none)."""
        if self._envs is None:
            from .host_envs import make_host_envs

            cfg = self.config
            seeds = [10_000 * (cfg.seed + s) + i for s in range(cfg.seeds)
                     for i in range(cfg.num_envs)]
            self._envs = make_host_envs(cfg.env, seeds, cfg.host_backend, cfg.env_module)
        return self._envs

    def _shape(self, flat):
        return flat.reshape((self.config.seeds, self.config.num_envs) + flat.shape[1:])

    def fresh_state(self) -> TrainState:
        learner = self._init(self.keys)
        obs = self._shape(self.envs.reset_all()).astype(self.dtype)
        s, e = self.config.seeds, self.config.num_envs
        episodes = jax.tree.map(lambda x: np.broadcast_to(x, (s,) + x.shape).copy(),
                                jax.device_get(new_episodes(e, self.dtype)))
        return TrainState(env_state=(), obs=obs, episodes=episodes, **learner)

    def _state_template(self) -> TrainState:
        learner = jax.eval_shape(self._init, self.keys)
        s, e = self.config.seeds, self.config.num_envs
        obs = jax.ShapeDtypeStruct((s, e, self.spec.obs_dim), self.dtype)
        episodes = jax.tree.map(lambda x: jax.ShapeDtypeStruct((s,) + x.shape, x.dtype),
                                jax.eval_shape(lambda: new_episodes(e, self.dtype)))
        return TrainState(env_state=(), obs=obs, episodes=episodes, **learner)

    def _update(self, state: TrainState):
        """One update: rollout on the host, then ``learn``; returns (state, Metrics)."""
        from .rollout_host import HostEpisodes, NumpyPolicy, host_rollout
        from .state import Episodes

        timers, clock = self.timers, time.perf_counter
        sim0, pol0 = timers.get("simulator", 0.0), timers.get("policy", 0.0)
        t0 = clock()
        key, noise, perm_bits = self._begin(state.key)
        if self.numpy_policy:
            act = NumpyPolicy(self.policy, self.config.normalize_obs,
                              *jax.device_get((state.theta, state.obs_norm, noise)))
        else:
            put = lambda x: jax.device_put(x, self._device)  # noqa: E731
            theta, obs_norm, noise = jax.block_until_ready(
                (put(state.theta), put(state.obs_norm), put(noise)))

            def act(obs, t, _act=self._act):
                return _act(theta, obs_norm, obs, noise, t)
        t1 = clock()
        episodes = HostEpisodes.from_device(state.episodes)
        finished_before = episodes.finished.copy()
        traj, obs = host_rollout(self.envs, act, np.asarray(state.obs), episodes,
                                 self.config.num_steps, self.dtype, timers)
        t2 = clock()
        rolled = state._replace(obs=obs.astype(self.dtype), episodes=Episodes(*episodes),
                                key=key)
        rolled, traj = jax.block_until_ready(jax.device_put((rolled, traj), self.sharding))
        t3 = clock()
        state, metrics = self._learn(rolled, traj, perm_bits, finished_before)
        metrics = jax.device_get(metrics)
        t4 = clock()
        # the first learn compiles its program (or loads it from the cache)
        learn = "learn" if "learn_first" in timers else "learn_first"
        for name, secs in (("begin", t1 - t0), ("transfer", t3 - t2), (learn, t4 - t3)):
            timers[name] = timers.get(name, 0.0) + secs
        sim, pol = timers["simulator"] - sim0, timers["policy"] - pol0
        row = {"simulator": sim, "policy": pol, "learn": t4 - t3,
               "waiting": (t4 - t0) - sim - pol - (t4 - t3), "wall": t4 - t0}
        for name, secs in row.items():
            self.per_update.setdefault(name, []).append(secs)
        return state, metrics

    def run(self, state: TrainState, n: int, should_stop: Callable = _never):
        """Up to ``n`` updates from ``state`` (fewer once ``should_stop()``, checked between
        updates); returns the state and ``Metrics`` [seeds, k]."""
        rows = []
        for _ in range(n):
            state, metrics = self._update(state)
            rows.append(metrics)
            if should_stop():
                break
        return state, jax.tree.map(lambda *xs: np.stack(xs, axis=1), *rows)

    def compile(self, state: TrainState):
        """Compile ``learn`` (and the policy call) for this run's shapes and placement (its
        first update then finds them compiled); returns ``learn``'s compiled program."""
        from .state import Transition

        cfg, s = self.config, self.config.seeds
        lead = (s, cfg.num_steps, cfg.num_envs)
        zeros = lambda *shape, dtype=self.dtype: np.zeros(lead + shape, dtype)  # noqa: E731
        action = (zeros(dtype=np.int32) if self.spec.discrete
                  else zeros(self.spec.action_dim))
        traj = Transition(obs=zeros(self.spec.obs_dim), action=action,
                          reward=zeros(), terminated=zeros(dtype=bool), done=zeros(dtype=bool),
                          next_obs=zeros(self.spec.obs_dim))
        _, noise, perm_bits = self._begin(state.key)  # placed as the loop's own will be
        if not self.numpy_policy:
            put = lambda x: jax.device_put(x, self._device)  # noqa: E731
            self._act.lower(put(state.theta), put(state.obs_norm), np.asarray(state.obs),
                            put(noise), 0).compile()
        rolled, traj = jax.device_put((state._replace(obs=np.asarray(state.obs)), traj),
                                      self.sharding)
        finished = np.zeros((s, cfg.num_envs), np.asarray(state.episodes.finished).dtype)
        return self._learn.lower(rolled, traj, perm_bits, finished).compile()

    def checkpoint_tree(self, state):
        """(state, simulators) where the backend can save them, else the state alone."""
        snap = self.envs.snapshot() if self.resumes_exactly else None
        return state if snap is None else (state, snap)

    def template(self):
        """The checkpoint's structure, shapes and dtypes, without starting the simulators."""
        from .host_envs import snapshot_template

        state = self._state_template()
        if not self.resumes_exactly:
            return state
        cfg = self.config
        snap = snapshot_template(cfg.env, cfg.seeds * cfg.num_envs, cfg.env_module)
        return state, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), snap)

    def from_checkpoint(self, tree):
        """The state to continue from; the simulators are put back as they were saved, or
        (a backend that cannot save them) restarted, with the episodes in flight."""
        if self.resumes_exactly:
            state, snap = tree
            self.envs.restore(snap)
            return state
        state = tree
        obs = self._shape(self.envs.reset_all()).astype(state.obs.dtype)
        fresh = jax.device_get(new_episodes(self.config.num_envs, state.obs.dtype))
        # finished counts and last returns carry on; the interrupted episodes start over
        episodes = state.episodes._replace(
            running_return=0 * state.episodes.running_return,
            running_length=0 * state.episodes.running_length,
            ended=state.episodes.ended | fresh.ended,
        )
        return state._replace(obs=obs, episodes=episodes)

    def close(self) -> None:
        if self._envs is not None:
            self._envs.close()


def make_runner(config: TrainConfig, chunk_len: int = 1):
    """The runner for ``config.env``: host or device, by its row of ``ENV_BACKENDS``; on
    the host, ``HostRunner`` or (``host_schedule="lanes"``) ``lanes.LaneRunner``."""
    if make_env(config.env, config.env_module).on_host:
        if config.host_schedule == "lanes":
            from .lanes import LaneRunner

            return LaneRunner(config, chunk_len)
        return HostRunner(config, chunk_len)
    return DeviceRunner(config, chunk_len)
