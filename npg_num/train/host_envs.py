"""Batches of gymnasium environments stepped on the host, behind one small interface.

``HostEnvs`` steps ``n`` environments with one call and resets the ones whose episode
ended; the rollout (``rollout_host``) makes one jitted policy call per such step. Two
backends:

- ``GymnasiumEnvs`` (the reference): gymnasium environments (any registered ID or a
  user's ``pkg.module:ClassName``, ``gym_envs.make_gym_env``) stepped in a Python loop.
  MuJoCo environments are stepped unwrapped, the time limit (``max_episode_steps``)
  counted here, and ``snapshot`` / ``restore`` save and load every simulator's integration
  state (``mujoco.mj_getState``), its random generator (reset noise) and its step count, so
  a resumed run continues exactly where the checkpoint was written. Any other environment
  is stepped with its wrappers (its own ``TimeLimit`` says ``truncated``) and cannot be
  saved: a resumed run restarts the episodes that were in flight.
- ``SubprocEnvs``: the same gymnasium environments split into blocks, one block stepped
  in this process and each other block in a worker process of its own (one per core),
  all blocks at once; actions and results pass through shared memory, so a step costs
  one pipe message each way per worker, not per environment. Same numbers as
  ``GymnasiumEnvs``, and the same snapshots.
- ``EnvpoolEnvs``: envpool's C++ implementation of the same tasks (the IDs envpool
  lists), stepped on worker threads (several times the steps/s of one gymnasium environment: docs/training.md). It
  cannot save its simulators, so a resumed run restarts the episodes that were in flight.

Observations are float64 arrays [n, obs_dim] (flattened); a step returns the observation *before* any
reset (``next_obs``, for bootstrapping truncated episodes) and the one after
(``obs``, where the next step starts).
"""

from __future__ import annotations

import contextlib
import time
from typing import NamedTuple, Optional, Sequence

import numpy as np

from ..errors import NPGInputError
from .gym_envs import EXTRAS, make_gym_env

__all__ = ["HostEnvError", "HostStep", "HostSnapshot", "GymnasiumEnvs", "SubprocEnvs",
           "EnvpoolEnvs", "make_host_envs", "can_snapshot", "snapshot_template",
           "HOST_BACKENDS", "MUJOCO_EXTRA", "ENVPOOL_EXTRA"]

HOST_BACKENDS = ("gymnasium", "gymnasium-subproc", "envpool")
# the packages themselves: right for a checkout and an installed wheel alike (the extras
# npg[mujoco] and npg[envpool] install the same)
MUJOCO_EXTRA = EXTRAS["mujoco"]
ENVPOOL_EXTRA = "pip install envpool"


class HostEnvError(RuntimeError):
    """The environments cannot go on (a worker process died): the run stops, resumable."""


class HostStep(NamedTuple):
    next_obs: np.ndarray  # [n, obs_dim] s_{t+1} before any reset
    reward: np.ndarray  # [n] float64
    terminated: np.ndarray  # [n] bool: a terminal state (no bootstrap)
    truncated: np.ndarray  # [n] bool: the time limit (bootstrap from next_obs)
    obs: np.ndarray  # [n, obs_dim] where the next step starts (reset where done)


class Rollout(NamedTuple):
    """``GymnasiumEnvs.rollout``'s steps, time first: ``obs`` [T + 1, n, d] where each step
    started (``obs[T]``: where the next rollout starts), the rest [T, n, ...] as in
    ``HostStep`` (``action`` as the policy gave it, before the bounds)."""

    obs: np.ndarray
    next_obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


class HostSnapshot(NamedTuple):
    """Everything the simulators need to continue exactly (arrays, so a checkpoint holds
    them like any other leaf): ``sim`` float64 [n, k] (MuJoCo's integration state),
    ``rng`` uint64 [n, 6] (the PCG64 generator of each environment's reset noise),
    ``steps`` int64 [n] (steps into the current episode)."""

    sim: np.ndarray
    rng: np.ndarray
    steps: np.ndarray


def _is_mujoco(env) -> bool:
    """Whether ``env`` (unwrapped) is a MuJoCo simulation whose state can be saved."""
    return hasattr(env, "model") and hasattr(env, "data") and hasattr(env, "_get_obs") and \
        type(env.model).__module__.startswith("mujoco")


def _flat(obs) -> np.ndarray:
    return np.asarray(obs, np.float64).reshape(-1)


_MASK64 = (1 << 64) - 1


def _rng_to_array(state: dict) -> np.ndarray:
    s = state["state"]
    return np.array([s["state"] >> 64, s["state"] & _MASK64, s["inc"] >> 64, s["inc"] & _MASK64,
                     state["has_uint32"], state["uinteger"]], np.uint64)


def _rng_from_array(a) -> dict:
    a = [int(x) for x in a]
    return {"bit_generator": "PCG64",
            "state": {"state": (a[0] << 64) | a[1], "inc": (a[2] << 64) | a[3]},
            "has_uint32": a[4], "uinteger": a[5]}


class _LeanStep:
    """gymnasium's ``step`` of a v5 MuJoCo locomotion task, for all of a block's
    environments at once: ``mj_step`` on each (gymnasium's ``do_simulation``, less its
    ``mj_rnePostConstraint``, whose outputs no later step and none of these tasks' terms
    read), then the observation, the reward and the termination computed in numpy over the
    block, with gymnasium's formulas and its operations in its order (so the same bits).
    Hopper, Walker2d, HalfCheetah and Swimmer; ``for_env`` gives None for anything else.

    gymnasium's own Python around ``mj_step`` is about a third of a Hopper step (36 of
    112 us measured here), and it holds Python's lock, which the lanes' processes and the
    workers' blocks do not share but which still costs every core its time.
    """

    # the class, gymnasium's module, how many leading coordinates the velocity reads
    # (x, or x and y), whether the velocities are clipped to [-10, 10], the health rule
    TASKS = {
        "HopperEnv": ("gymnasium.envs.mujoco.hopper_v5", 1, True, "hopper"),
        "Walker2dEnv": ("gymnasium.envs.mujoco.walker2d_v5", 1, True, "walker"),
        "HalfCheetahEnv": ("gymnasium.envs.mujoco.half_cheetah_v5", 1, False, None),
        "SwimmerEnv": ("gymnasium.envs.mujoco.swimmer_v5", 2, False, None),
    }

    def __init__(self, env, coords: int, clip: bool, health: Optional[str]):
        import mujoco

        self._mj_step = mujoco.mj_step
        self.coords, self.clip = coords, clip
        self.nq = env.model.nq
        self.start = coords if env._exclude_current_positions_from_observation else 0
        self.skip, self.dt = env.frame_skip, env.dt
        self.fw, self.cw = env._forward_reward_weight, env._ctrl_cost_weight
        self.health = health
        if health is not None:
            # healthy: lo < x < hi for every entry of x = state[1:] (qpos[1] the height,
            # qpos[2] the angle; Hopper also every entry of the state from qpos[2] on),
            # two ranges on one entry merged into one (the same strict comparisons)
            self.hr, self.terminate = env._healthy_reward, bool(env._terminate_when_unhealthy)
            (z_lo, z_hi), (a_lo, a_hi) = env._healthy_z_range, env._healthy_angle_range
            if health == "hopper":
                width = self.nq + env.model.nv - 1
                s_lo, s_hi = env._healthy_state_range
                self.lo = np.full(width, float(s_lo))
                self.hi = np.full(width, float(s_hi))
                self.lo[1], self.hi[1] = max(a_lo, s_lo), min(a_hi, s_hi)
            else:
                self.lo, self.hi = np.empty(2), np.empty(2)
                self.lo[1], self.hi[1] = a_lo, a_hi
            self.lo[0], self.hi[0] = z_lo, z_hi
        self._views = None  # (the environments, their arrays): the last block stepped

    @classmethod
    def for_env(cls, env) -> Optional["_LeanStep"]:
        row = cls.TASKS.get(type(env).__name__)
        if row is None or type(env).__module__ != row[0]:
            return None
        try:
            return cls(env, *row[1:])
        except AttributeError:  # another gymnasium than the one these formulas follow
            return None

    def _arrays(self, envs) -> list:
        """Each environment's model, data and the numpy views of its qpos, qvel and ctrl
        (MuJoCo's own memory: the same arrays for the life of the data, resets included)."""
        if self._views is None or self._views[0] is not envs:  # one block: its own list
            self._views = (envs, [(e.model, e.data, e.data.qpos, e.data.qvel, e.data.ctrl)
                                  for e in envs])
        return self._views[1]

    def width(self, envs) -> int:
        """The state's width: qpos then qvel."""
        return self.nq + self._arrays(envs)[0][3].size

    def advance(self, envs, ctrl, before, state) -> None:
        """One step of each environment: ``ctrl`` [n, A] (within the bounds) in, the
        leading coordinates before the step into ``before`` [n, c], qpos and qvel after it
        into ``state`` [n, width]."""
        c, nq, step, skip = self.coords, self.nq, self._mj_step, self.skip
        for i, (model, data, qpos, qvel, ctrl_i) in enumerate(self._arrays(envs)):
            before[i] = qpos[:c]
            ctrl_i[:] = ctrl[i]
            step(model, data, nstep=skip)
            state[i, :nq] = qpos
            state[i, nq:] = qvel

    def observe(self, state, out) -> None:
        """The observations [..., d] of ``state`` [..., width] into ``out``."""
        np.copyto(out, state[..., self.start:])
        if self.clip:  # np.clip(v, -10, 10), NaN included, with less overhead per call
            v = out[..., self.nq - self.start:]
            np.minimum(np.maximum(v, -10.0, out=v), 10.0, out=v)

    def healthy(self, state):
        """Whether each state [..., width] is healthy (None: the task has no such rule)."""
        if self.health is None:
            return None
        x = state[..., 1:1 + len(self.lo)]
        return np.all((self.lo < x) & (x < self.hi), axis=-1)

    def terminated(self, healthy):
        """Where an episode ends in a terminal state, from ``healthy`` (None: nowhere)."""
        return None if healthy is None or not self.terminate else ~healthy

    def reward(self, before, state, ctrl, healthy):
        """gymnasium's reward for steps from ``before`` [..., c] to ``state`` [..., width]
        under ``ctrl`` [..., A]: elementwise, so any leading shape gives the same bits."""
        forward = self.fw * ((state[..., :self.coords] - before) / self.dt)[..., 0]
        ctrl_cost = self.cw * np.sum(np.square(ctrl), axis=-1)
        if healthy is None:
            return forward - ctrl_cost
        return (forward + healthy * self.hr) - ctrl_cost

    def __call__(self, envs, actions):
        """(observations [n, d], rewards [n], terminated [n]) after one step of each."""
        actions = np.asarray(actions)
        n = len(envs)
        state = np.empty((n, self.width(envs)))
        before = np.empty((n, self.coords))
        self.advance(envs, actions, before, state)
        obs = np.empty((n, state.shape[1] - self.start))
        self.observe(state, obs)
        healthy = self.healthy(state)
        term = self.terminated(healthy)
        return (obs, self.reward(before, state, actions, healthy),
                np.zeros(n, bool) if term is None else term)


class GymnasiumEnvs:
    """``n`` gymnasium environments in one process (the reference backend).

    ``seeds[i]`` seeds environment i's first reset; later resets draw from its generator.
    ``env_module``: the packages to import first (``--env-module``). ``lean``: step
    gymnasium's v5 Hopper, Walker2d, HalfCheetah and Swimmer with ``_LeanStep`` (the same
    numbers, bit for bit: checked on a scratch environment when the block is made, and
    tested; if the check fails, gymnasium's own ``step`` is used); ``False``: always
    gymnasium's own ``step``. With the lean step, ``rollout`` runs a whole rollout
    (``rollout_host.host_rollout`` uses it): the numbers of as many ``step`` calls.
    """

    backend = "gymnasium"

    def __init__(self, env_id: str, seeds: Sequence[int], env_module: str = "",
                 lean: bool = True):
        self.env_id = env_id
        self.seeds = [int(s) for s in seeds]
        wrapped = [make_gym_env(env_id, env_module) for _ in self.seeds]
        self.can_snapshot = _is_mujoco(wrapped[0].unwrapped)
        spec = getattr(wrapped[0], "spec", None)
        if self.can_snapshot:
            import mujoco

            self._mujoco = mujoco
            # the time limit is counted here, so the bare environments are stepped
            self.max_steps = int(getattr(spec, "max_episode_steps", None) or 0)
            self.envs = [w.unwrapped for w in wrapped]
            self._spec = mujoco.mjtState.mjSTATE_INTEGRATION
            self._state_size = mujoco.mj_stateSize(self.envs[0].model, self._spec)
        else:
            self.max_steps = 0  # its own wrappers (TimeLimit) say truncated
            self.envs = wrapped
        self.n = len(self.envs)
        space = self.envs[0].action_space
        self.discrete = type(space).__name__ == "Discrete"
        self.action_start = int(getattr(space, "start", 0)) if self.discrete else 0
        self.action_low = None if self.discrete else np.asarray(space.low, np.float64)
        self.action_high = None if self.discrete else np.asarray(space.high, np.float64)
        self.action_size = 1 if self.discrete else int(np.prod(space.shape))
        self.obs_dim = int(np.prod(self.envs[0].observation_space.shape))
        self.steps = np.zeros(self.n, np.int64)
        self.lean = None
        if lean and self.can_snapshot:
            task = _LeanStep.for_env(self.envs[0])
            if task is not None and _lean_agrees(env_id, env_module, task):
                self.lean = task

    def reset_all(self) -> np.ndarray:
        self.steps[:] = 0
        return np.stack([_flat(e.reset(seed=s)[0]) for e, s in zip(self.envs, self.seeds)])

    def _action(self, a):
        if self.discrete:
            return int(np.asarray(a).reshape(-1)[0]) + self.action_start
        return a

    def step(self, actions: np.ndarray) -> HostStep:
        if self.lean is not None:
            return self._lean_step(actions)
        n, d = self.n, self.obs_dim
        next_obs = np.empty((n, d))
        obs = np.empty((n, d))
        reward = np.empty(n)
        terminated = np.zeros(n, bool)
        self.steps += 1
        truncated = (self.steps >= self.max_steps) if self.max_steps else np.zeros(n, bool)
        for i, env in enumerate(self.envs):
            o, r, term, trunc, _ = env.step(self._action(actions[i]))
            o = _flat(o)
            next_obs[i] = o
            reward[i] = r
            terminated[i] = term
            truncated[i] |= bool(trunc)
            # a non-finite observation ends the episode too (the update that holds it is
            # rejected by ``learn``): the simulator is not stepped on from a broken state
            if term or truncated[i] or not np.all(np.isfinite(o)):
                obs[i] = _flat(env.reset()[0])
                truncated[i] = not term  # the time limit or a broken state: no terminal
                self.steps[i] = 0
            else:
                obs[i] = o
        return HostStep(next_obs, reward, terminated, truncated & ~terminated, obs)

    def rollout(self, act, obs, num_steps: int, action_dtype, timers: dict) -> "Rollout":
        """``num_steps`` steps of every environment with ``_LeanStep`` (``self.lean`` must
        be set), the actions from ``act(obs [n, d], t)``: the numbers of as many ``step``
        calls, bit for bit, with less Python per step. Only what decides the next step is
        computed in the loop (the observation, the health, the episode's end); the rewards
        are computed afterwards for all steps at once (elementwise: the same bits).
        ``timers["policy"]`` and ``timers["simulator"]`` accumulate seconds."""
        clock, lean, envs = time.perf_counter, self.lean, self.envs
        n, T = self.n, num_steps
        width, d = lean.width(envs), self.obs_dim
        a_dim = self.action_size
        low, high = (np.ascontiguousarray(np.broadcast_to(b, (n, a_dim)))
                     for b in (self.action_low, self.action_high))
        observations = np.empty((T + 1, n, d))
        observations[0] = obs
        action = np.empty((T, n, a_dim), action_dtype)
        ctrl = np.empty((T, n, a_dim))
        before = np.empty((T, n, lean.coords))
        state = np.empty((T, n, width))
        terminated = np.zeros((T, n), bool)
        truncated = np.zeros((T, n), bool)
        before_reset = []  # (t, i, the observation an ended episode ended with)
        steps, limit = self.steps, self.max_steps
        # the steps into each episode are counted in Python (no array operation per step):
        # ``pending`` steps not yet added to ``steps``, ``left`` until the first time limit
        pending, left = 0, (int(limit - steps.max()) if limit else T + 1)
        t_policy = t_sim = 0.0
        for t in range(T):
            t0 = clock()
            a = act(observations[t], t)
            t1 = clock()
            action[t] = a
            # np.clip(a, low, high): the same numbers, less overhead per call (one dtype,
            # one shape)
            c = ctrl[t]
            c[:] = a
            np.minimum(np.maximum(c, low, out=c), high, out=c)
            lean.advance(envs, ctrl[t], before[t], state[t])
            ob = observations[t + 1]
            lean.observe(state[t], ob)
            pending += 1
            left -= 1
            term = lean.terminated(lean.healthy(state[t]))
            if (term is not None and term.any()) or left <= 0 or not np.isfinite(ob).all():
                steps += pending
                pending = 0
                if term is not None:
                    terminated[t] = term
                after, truncated[t], done = self._end_episodes(ob, terminated[t])
                for i in np.flatnonzero(done):
                    before_reset.append((t, i, ob[i].copy()))
                ob[done] = after[done]
                if limit:
                    left = int(limit - steps.max())
            t_sim += clock() - t1
            t_policy += t1 - t0
        steps += pending
        timers["policy"] = timers.get("policy", 0.0) + t_policy
        timers["simulator"] = timers.get("simulator", 0.0) + t_sim
        next_obs = observations[1:].copy()
        for t, i, row in before_reset:
            next_obs[t, i] = row
        reward = lean.reward(before, state, ctrl, lean.healthy(state))
        return Rollout(observations, next_obs, action, reward, terminated, truncated)

    def _lean_step(self, actions: np.ndarray) -> HostStep:
        """``step`` with ``_LeanStep``: the same results, the resets as there."""
        next_obs, reward, terminated = self.lean(self.envs, actions)
        self.steps += 1
        obs, truncated, _ = self._end_episodes(next_obs, terminated)
        return HostStep(next_obs, reward, terminated, truncated, obs)

    def _end_episodes(self, next_obs, terminated) -> tuple:
        """After a lean step (``self.steps`` counted): an episode ends where it
        ``terminated``, where its observation is not finite, or at the time limit; those
        environments are reset. Returns (the observations where the next step starts:
        ``next_obs`` itself if none ended, else a copy with the resets' rows, truncated
        [n], done [n])."""
        done = terminated | ~np.all(np.isfinite(next_obs), axis=1)
        if self.max_steps:
            done |= self.steps >= self.max_steps
        obs = next_obs
        if done.any():
            obs = next_obs.copy()
            for i in np.flatnonzero(done):
                obs[i] = _flat(self.envs[i].reset()[0])
                self.steps[i] = 0
        return obs, done & ~terminated, done

    def snapshot(self) -> Optional[HostSnapshot]:
        """The simulators' states (MuJoCo), else None (they cannot be saved)."""
        if not self.can_snapshot:
            return None
        sim = np.empty((self.n, self._state_size))
        for i, env in enumerate(self.envs):
            self._mujoco.mj_getState(env.model, env.data, sim[i], self._spec)
        rng = np.stack([_rng_to_array(e.np_random.bit_generator.state) for e in self.envs])
        return HostSnapshot(sim, rng, self.steps.copy())

    def restore(self, snap: HostSnapshot) -> np.ndarray:
        """Put every simulator back to ``snap``; returns the observations there."""
        if not self.can_snapshot:
            raise NPGInputError(f"{self.env_id}: its environments cannot restore a state")
        sim, rng, steps = (np.asarray(x) for x in snap)
        if sim.shape != (self.n, self._state_size):
            raise NPGInputError(f"saved simulator states have shape {sim.shape}; this run "
                                f"needs {(self.n, self._state_size)}")
        obs = []
        for i, env in enumerate(self.envs):
            self._mujoco.mj_setState(env.model, env.data, sim[i], self._spec)
            env.np_random.bit_generator.state = _rng_from_array(rng[i])
            obs.append(_flat(env._get_obs()))
        self.steps[:] = steps
        return np.stack(obs)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _lean_agrees(env_id: str, env_module: str, task: _LeanStep, steps: int = 300) -> bool:
    """Whether ``task`` gives gymnasium's own numbers on this machine's gymnasium: two
    scratch environments from the same reset, the same random actions, every observation,
    reward and termination compared bit for bit (an episode's end resets both)."""
    ours, theirs = (make_gym_env(env_id, env_module).unwrapped for _ in range(2))
    try:
        ours.reset(seed=12345)
        theirs.reset(seed=12345)
        space = theirs.action_space
        rng = np.random.default_rng(0)
        for _ in range(steps):
            a = rng.uniform(space.low, space.high)
            obs, reward, term = task([ours], a[None])
            o, r, t, _, _ = theirs.step(a)
            if not (np.array_equal(obs[0], _flat(o)) and reward[0] == r and term[0] == t):
                return False
            if t:
                ours.reset(seed=1)
                theirs.reset(seed=1)
        return True
    finally:
        ours.close()
        theirs.close()


class _Shared:
    """numpy arrays over one anonymous shared mapping (``memfd_create``; an unlinked
    temporary file where the system has none).

    The mapping has no name on any file system, so nothing is left behind however the
    processes end: the creator passes its file descriptor to the worker (``pass_fds``),
    which maps it; the memory goes when the last process mapping it ends."""

    def __init__(self, shapes: dict, fd: Optional[int] = None):
        import mmap
        import os

        self.layout, offset = {}, 0
        for key, (shape, dtype) in shapes.items():
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            self.layout[key] = (offset, tuple(shape), np.dtype(dtype).str)
            offset += -(-size // 8) * 8
        size = max(offset, 8)
        if fd is None:
            fd = _anonymous_file()
            os.ftruncate(fd, size)
        self.fd = fd  # kept open until the worker has it (``close_fd``)
        self._map = mmap.mmap(fd, size)
        self.arrays = {k: np.ndarray(shape, dtype, self._map, off)
                       for k, (off, shape, dtype) in self.layout.items()}

    def close_fd(self) -> None:
        import os

        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close(self) -> None:
        self.close_fd()
        self.arrays = {}
        try:
            self._map.close()
        except BufferError:  # a view still alive: the mapping goes with the process
            pass


def _anonymous_file() -> int:
    """A file descriptor of memory that no path names."""
    import os
    import tempfile

    try:
        return os.memfd_create("npg-envs")
    except (AttributeError, OSError):
        where = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix="npg-envs-", dir=where)
        os.unlink(path)
        return fd


def _block_shapes(k: int, obs_dim: int, action_dim: int) -> dict:
    return {"action": ((k, action_dim), np.float64), "next_obs": ((k, obs_dim), np.float64),
            "obs": ((k, obs_dim), np.float64), "reward": ((k,), np.float64),
            "terminated": ((k,), bool), "truncated": ((k,), bool)}


def serve_block(conn, env_id: str, seeds, shm_fd: int, action_dim: int,
                env_module: str = "") -> None:
    """A worker's loop (``python -m npg_num.train.host_worker``): step its block of
    environments when asked (``b"s"``), results into the shared mapping ``shm_fd``;
    other requests are pickled ``(command, argument)`` pairs. Ends quietly when its
    parent closes the connection or is gone."""
    import pickle

    envs = GymnasiumEnvs(env_id, seeds, env_module)
    shared = _Shared(_block_shapes(envs.n, envs.obs_dim, action_dim), shm_fd)
    shared.close_fd()  # mapped: the descriptor is no longer needed
    a = shared.arrays
    try:
        conn.send(envs.obs_dim)
        while True:
            msg = conn.recv_bytes()
            if msg == b"s":
                out = envs.step(a["action"])
                for key in ("next_obs", "obs", "reward", "terminated", "truncated"):
                    a[key][...] = getattr(out, key)
                conn.send_bytes(b"k")
                continue
            command, arg = pickle.loads(msg)
            if command == "reset":
                a["obs"][...] = envs.reset_all()
                conn.send(None)
            elif command == "snapshot":
                conn.send(envs.snapshot())
            elif command == "restore":
                a["obs"][...] = envs.restore(arg)
                conn.send(None)
            else:  # "close"
                break
    except (EOFError, OSError):  # the main process is gone
        pass
    finally:
        shared.close()
        envs.close()


def close_worker(conn, proc, timeout: float) -> None:
    """Ask a worker process (``host_worker``, ``lane_worker``) to end with a pickled
    ``("close", None)``, wait ``timeout`` seconds for it, kill it if it does not end, and
    close the connection."""
    import pickle

    try:
        conn.send_bytes(pickle.dumps(("close", None)))
    except OSError:
        pass
    try:
        proc.wait(timeout=timeout)
    except Exception:  # noqa: BLE001 - a worker that does not stop is killed
        proc.kill()
        proc.wait()
    conn.close()


@contextlib.contextmanager
def _signals_ignored():
    """SIGINT, SIGTERM and SIGHUP ignored in this process for the block (main thread only):
    a child started inside it starts with them ignored, so Ctrl-C, a scheduler's SIGTERM
    to every process of the job or a closed terminal stop only the parent, which saves
    its run and then closes its workers."""
    import signal

    saved = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                saved[sig] = signal.signal(sig, signal.SIG_IGN)
            except ValueError:  # not the main thread
                break
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


class SubprocEnvs:
    """``n`` gymnasium MuJoCo environments in ``blocks`` contiguous blocks: block 0 in this
    process, blocks 1.. each in a worker process (``python -m npg_num.train.host_worker``,
    a fresh interpreter: nothing of this process, JAX's threads included, is copied), all
    stepped at once. Environment i is seeded as in ``GymnasiumEnvs``, so the numbers are
    the same as there, and so are the snapshots."""

    backend = "gymnasium-subproc"

    def __init__(self, env_id: str, seeds: Sequence[int], blocks: Optional[int] = None,
                 env_module: str = ""):
        import pickle

        from .devices import available_cores

        self._pickle = pickle
        seeds = [int(s) for s in seeds]
        self.n = len(seeds)
        blocks = max(1, min(self.n, blocks or available_cores()))
        bounds = np.linspace(0, self.n, blocks + 1).round().astype(int)
        self._slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self._workers = []
        self.local = GymnasiumEnvs(env_id, seeds[self._slices[0]], env_module)
        self.env_id, self.max_steps = env_id, self.local.max_steps
        self.env_module = env_module
        self.obs_dim, self.can_snapshot = self.local.obs_dim, self.local.can_snapshot
        self.discrete, self.action_size = self.local.discrete, self.local.action_size
        self.action_low, self.action_high = self.local.action_low, self.local.action_high
        self._ready = False
        try:
            for sl in self._slices[1:]:
                self._workers.append(self._start(env_id, seeds[sl]))
        except BaseException:
            self.close()
            raise

    def _start(self, env_id: str, seeds) -> tuple:
        """A worker for ``seeds``; it loads while this process goes on (``_wait_ready``)."""
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        shared = _Shared(_block_shapes(len(seeds), self.obs_dim, self.action_size))
        here, there = socket.socketpair()
        try:
            with _signals_ignored():  # inherited through exec: the worker ignores them too
                proc = subprocess.Popen(
                    [sys.executable, "-m", "npg_num.train.host_worker", str(there.fileno()),
                     env_id, ",".join(str(s) for s in seeds), str(shared.fd),
                     str(self.action_size), self.env_module],
                    pass_fds=(there.fileno(), shared.fd), stdin=subprocess.DEVNULL,
                )
        finally:
            there.close()
            shared.close_fd()  # the worker has its own copy of the descriptor
        return Connection(here.detach()), proc, shared

    def _wait_ready(self) -> None:
        if self._ready:
            return
        for conn, proc, shared in self._workers:
            obs_dim = self._receive(conn, proc)
            if obs_dim != self.obs_dim:
                raise HostEnvError("an environment worker built other environments")
        self._ready = True

    def _receive(self, conn, proc, raw: bool = False):
        """The worker's answer; a worker that died is a ``HostEnvError``."""
        try:
            return conn.recv_bytes() if raw else conn.recv()
        except (EOFError, OSError):
            raise HostEnvError(f"an environment worker for {self.env_id} (process "
                               f"{proc.pid}) stopped, exit code {proc.poll()}") from None

    def _send(self, conn, proc, data: bytes) -> None:
        try:
            conn.send_bytes(data)
        except OSError:
            self._receive(conn, proc)  # raises HostEnvError with the worker's exit code
            raise

    def _ask(self, command: str, arg=None) -> list:
        self._wait_ready()
        for conn, proc, _ in self._workers:
            self._send(conn, proc, self._pickle.dumps((command, arg)))
        return [self._receive(conn, proc) for conn, proc, _ in self._workers]

    def _gather(self, first: np.ndarray, key: str) -> np.ndarray:
        return np.concatenate([first] + [sh.arrays[key] for _, _, sh in self._workers])

    def reset_all(self) -> np.ndarray:
        self._ask("reset")
        return self._gather(self.local.reset_all(), "obs")

    def step(self, actions: np.ndarray) -> HostStep:
        self._wait_ready()
        for (conn, proc, shared), sl in zip(self._workers, self._slices[1:]):
            shared.arrays["action"][...] = np.reshape(actions[sl], shared.arrays["action"].shape)
            self._send(conn, proc, b"s")
        mine = self.local.step(actions[self._slices[0]])
        for conn, proc, _ in self._workers:
            self._receive(conn, proc, raw=True)
        return HostStep(*(self._gather(x, key) for x, key in zip(mine, HostStep._fields)))

    def snapshot(self) -> Optional[HostSnapshot]:
        if not self.can_snapshot:
            return None
        parts = [self.local.snapshot()] + self._ask("snapshot")
        return HostSnapshot(*(np.concatenate(x) for x in zip(*parts)))

    def restore(self, snap: HostSnapshot) -> np.ndarray:
        if not self.can_snapshot:
            raise NPGInputError(f"{self.env_id}: its environments cannot restore a state")
        sim, rng, steps = (np.asarray(x) for x in snap)
        if len(sim) != self.n:
            raise NPGInputError(f"saved simulator states are for {len(sim)} environments; "
                                f"this run has {self.n}")
        self._wait_ready()
        for (conn, proc, _), sl in zip(self._workers, self._slices[1:]):
            self._send(conn, proc, self._pickle.dumps(
                ("restore", HostSnapshot(sim[sl], rng[sl], steps[sl]))))
        sl = self._slices[0]
        first = self.local.restore(HostSnapshot(sim[sl], rng[sl], steps[sl]))
        for conn, proc, _ in self._workers:
            self._receive(conn, proc)
        return self._gather(first, "obs")

    def close(self) -> None:
        for conn, proc, shared in self._workers:
            close_worker(conn, proc, timeout=5)
            shared.close()
        self._workers = []
        self.local.close()


class EnvpoolEnvs:
    """``n`` envpool environments of the same task on ``threads`` C++ worker threads.

    envpool resets an environment by itself on the step after its episode ended (that step
    ignores the action); here every ended environment is reset at once instead, with
    ``reset(env_id)``, so that each step of the batch is a real transition.
    """

    backend = "envpool"
    can_snapshot = False

    def __init__(self, env_id: str, seeds: Sequence[int], threads: Optional[int] = None):
        try:
            import envpool
        except ImportError:
            raise NPGInputError(
                "--host-backend envpool needs envpool, which is not installed; install it "
                f"with: {ENVPOOL_EXTRA}"
            ) from None
        from .devices import available_cores

        if env_id not in envpool.list_all_envs():
            raise NPGInputError(f"--host-backend envpool: envpool has no {env_id}; use "
                                "--host-backend gymnasium-subproc or gymnasium")
        self.env_id = env_id
        self.n = len(seeds)
        threads = min(self.n, threads or available_cores())
        self.env = envpool.make_gymnasium(env_id, num_envs=self.n, batch_size=self.n,
                                          num_threads=threads, seed=int(seeds[0]))
        self.max_steps = int(self.env.spec.config.max_episode_steps)
        space = self.env.action_space
        self.discrete = type(space).__name__ == "Discrete"
        self.action_low = None if self.discrete else np.asarray(space.low, np.float64)
        self.action_high = None if self.discrete else np.asarray(space.high, np.float64)
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        self._ids = np.arange(self.n, dtype=np.int32)

    def reset_all(self) -> np.ndarray:
        return np.asarray(self.env.reset()[0], np.float64).reshape(self.n, -1)

    def step(self, actions: np.ndarray) -> HostStep:
        actions = (np.asarray(actions).reshape(self.n).astype(np.int32) if self.discrete
                   else np.asarray(actions, np.float64))
        o, r, term, trunc, info = self.env.step(actions, self._ids)
        order = np.argsort(info["env_id"])  # rows come back in env_id order; make sure
        o, r, term, trunc = o[order], r[order], term[order], trunc[order]
        next_obs = np.asarray(o, np.float64).reshape(self.n, -1)
        term = np.asarray(term, bool)
        trunc = np.asarray(trunc, bool) & ~term
        bad = ~np.all(np.isfinite(next_obs), axis=1)
        done = term | trunc | bad
        obs = next_obs.copy()
        if done.any():
            ids = self._ids[done]
            o2, info2 = self.env.reset(ids)
            obs[np.asarray(info2["env_id"])] = np.asarray(o2).reshape(len(ids), -1)
        return HostStep(next_obs, np.asarray(r, np.float64), term, trunc | (bad & ~term), obs)

    def snapshot(self):
        return None

    def restore(self, snap):
        raise NPGInputError("envpool cannot restore simulator states")

    def close(self) -> None:
        self.env.close()


def can_snapshot(backend: str, spec=None) -> bool:
    """Whether ``backend``'s simulators of ``spec`` (an ``envs.EnvSpec``; None: MuJoCo) can
    be saved and restored (a resume is exact)."""
    return backend != "envpool" and (spec is None or spec.can_snapshot)


def snapshot_template(env_id: str, n: int, env_module: str = "") -> HostSnapshot:
    """Zero arrays shaped like the snapshot of ``n`` environments of ``env_id`` (for loading
    a checkpoint), read off one environment in this process."""
    import mujoco

    env = make_gym_env(env_id, env_module).unwrapped
    try:
        k = mujoco.mj_stateSize(env.model, mujoco.mjtState.mjSTATE_INTEGRATION)
    finally:
        env.close()
    return HostSnapshot(np.zeros((n, k)), np.zeros((n, 6), np.uint64), np.zeros(n, np.int64))


def make_host_envs(env_id: str, seeds: Sequence[int], backend: str = "gymnasium",
                   env_module: str = ""):
    """``n = len(seeds)`` environments of ``env_id`` on ``backend`` (``HOST_BACKENDS``)."""
    if backend == "gymnasium":
        return GymnasiumEnvs(env_id, seeds, env_module)
    if backend == "gymnasium-subproc":
        return SubprocEnvs(env_id, seeds, env_module=env_module)
    if backend == "envpool":
        return EnvpoolEnvs(env_id, seeds)
    raise NPGInputError(f"unknown host backend {backend!r}; allowed: {', '.join(HOST_BACKENDS)}")
