"""The rollout of host environments (gymnasium's, through ``host_envs``): ``num_steps`` steps of
``seeds x num_envs`` environments, one jitted policy call per step for all of them.

Per step the only Python work is the simulators' own (``HostEnvs.step``) plus one policy
call and a few whole-batch numpy operations; nothing is done per environment here. Where
the environments are MuJoCo tasks stepped with the lean step, ``GymnasiumEnvs.rollout``
runs the whole loop (the rewards and the episodes' bookkeeping after it): the same
numbers, bit for bit (tested), about 14 us less Python per environment step. The
action noise for the whole update comes from the device in one array (drawn from each
seed's key, as on the device path), so the same seed gives the same actions.

Episode bookkeeping follows ``rollout_device.track_episodes``: running and last returns
(unscaled), episodes finished, and whether each environment's episode just ended.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .devices import compiler_options
from .normalization import normalize
from .state import Episodes, Transition

__all__ = ["make_act", "NumpyPolicy", "host_rollout", "HostEpisodes"]


class HostEpisodes(NamedTuple):
    """``Episodes`` as numpy arrays [seeds, envs], updated in place on the host."""

    running_return: np.ndarray
    running_length: np.ndarray
    last_return: np.ndarray
    finished: np.ndarray
    ended: np.ndarray

    @classmethod
    def from_device(cls, ep: Episodes) -> "HostEpisodes":
        return cls(*(np.array(x) for x in ep))

    def step(self, reward, done) -> None:
        if not done.any():  # most steps: the same arithmetic, fewer operations
            np.add(self.running_return, reward, out=self.running_return)
            np.add(self.running_length, 1, out=self.running_length)
            self.ended[:] = False
            return
        ret = self.running_return + reward
        self.last_return[done] = ret[done]
        self.running_return[:] = np.where(done, 0.0, ret)
        self.running_length[:] = np.where(done, 0, self.running_length + 1)
        self.finished[:] += done
        self.ended[:] = done

    def run(self, reward, done) -> None:
        """``step`` for each of T steps: ``reward`` [S, T, E] (float64, as the
        environments gave it), ``done`` [S, T, E]; the same numbers as T calls."""
        cast = self.running_return.dtype.type  # each sum rounded to it, as ``step`` does
        for s, e in np.ndindex(*self.running_return.shape):
            # Python floats: each sum in float64, then rounded, as numpy's in ``step``
            ret, length = float(self.running_return[s, e]), int(self.running_length[s, e])
            ends = done[s, :, e].tolist()
            for t, r in enumerate(reward[s, :, e].tolist()):
                ret = float(cast(ret + r))
                length += 1
                if ends[t]:
                    self.last_return[s, e] = ret
                    self.finished[s, e] += 1
                    ret, length = 0.0, 0
            self.running_return[s, e], self.running_length[s, e] = ret, length
        self.ended[:] = done[:, -1]


def make_act(config, policy) -> Callable:
    """``act(theta, obs_norm, obs, noise, t) -> action`` for all seeds at once (vmapped):
    theta [S, P], obs [S, E, obs_dim] raw, noise [S, T, E, A]. Gaussian heads: a = mean +
    std * noise[:, t] (before clipping to the action bounds); categorical heads: a =
    argmax(logits + noise[:, t]) with Gumbel noise (int32 [S, E]), as on the device."""
    discrete = policy.head.name == "categorical"

    def one(theta, obs_norm, obs, noise_t):
        out = policy.apply(theta, normalize(obs_norm, obs, config.normalize_obs))
        if discrete:
            return jnp.argmax(out + noise_t, axis=-1).astype(jnp.int32)
        mean, log_std = out
        return mean + jnp.exp(log_std) * noise_t

    batched = jax.vmap(one)

    def act(theta, obs_norm, obs, noise, t):
        return batched(theta, obs_norm, obs.astype(theta.dtype), noise[:, t])

    # the options of every other training program (-O1 on CPU): the numbers of a run do
    # not depend on XLA_FLAGS' default optimization level
    return jax.jit(act, compiler_options=compiler_options())


_LAYOUTS: dict = {}


def _layout(policy) -> dict:
    """The positions in flat theta of each parameter array of ``policy``'s MLP (its
    ``unravel`` applied once to the positions themselves), kept per policy."""
    key = id(policy.unravel)
    if key not in _LAYOUTS:
        with jax.default_device(jax.devices("cpu")[0]):
            where = policy.unravel(jnp.arange(policy.num_params, dtype=jnp.int32))
        _LAYOUTS[key] = (policy.unravel,
                          jax.tree.map(lambda x: np.rint(np.asarray(x)).astype(np.int64), where))
    return _LAYOUTS[key][1]


class NumpyPolicy:
    """The actions of ``make_act`` computed with numpy on the host, for one update.

    ``theta`` [S, P], ``obs_norm`` (leaves [S, ...]) and ``noise`` [S, T, E, A] are host
    arrays; ``policy(obs, t)`` gives the actions [S, E, ...] for raw observations [S, E,
    obs_dim] at step ``t``: the same network (tanh hidden layers, the Gaussian mean plus
    std * noise, or the argmax of logits plus Gumbel noise), in the parameters' dtype.

    Why numpy: a call of a jitted function costs about 18 us on this CPU for a network of
    two 64-unit layers on 2 observations, this about 9 us, and inside a rollout the XLA
    call measured 55 us (its runtime's threads and code compete with the simulators for
    the caches and the cores; the simulators stepped about 10% slower beside it). The
    numbers agree with XLA's to rounding (tanh is computed by different code), which
    matters not: ``learn`` recomputes every log-probability from the stored actions.
    """

    def __init__(self, policy, normalize_obs: bool, theta, obs_norm, noise):
        theta = np.asarray(theta)
        self.dtype = theta.dtype
        index = _layout(policy)  # theta[:, index] is a parameter array, per seed
        self.layers = [(theta[:, layer["w"]], theta[:, layer["b"]][:, None])
                       for layer in index["layers"]]
        # one seed (a lane): 2-D products (``dot``: the same sums as ``matmul``, less
        # overhead per call)
        self.single = theta.shape[0] == 1
        if self.single:
            self.layers = [(w[0], b[0]) for w, b in self.layers]
        self.discrete = policy.head.name == "categorical"
        self.noise = np.asarray(noise)
        if not self.discrete:
            # std * noise for every step at once (elementwise: the same products)
            std = np.exp(theta[:, index["log_std"]])[:, None]
            self.noise = std[:, None] * self.noise
        self.normalize = normalize_obs
        self._consts = None  # ``_rows``'s
        if normalize_obs:
            self.mean = np.asarray(obs_norm.mean)[:, None]
            self.scale = np.sqrt(np.asarray(obs_norm.var)[:, None] + self.dtype.type(1e-8))
            if self.single:
                self.mean, self.scale = self.mean[0], self.scale[0]

    def _rows(self, rows: int) -> tuple:
        """One seed's constants broadcast to ``rows`` observations: the same numbers, and
        numpy's operations on arrays of one shape cost about a third of a broadcast's."""
        if self._consts is None or self._consts[0] != rows:
            def full(a):
                return np.ascontiguousarray(np.broadcast_to(a, (rows,) + a.shape[-1:]))

            norm = ()
            if self.normalize:
                bound = np.full((rows, self.mean.shape[-1]), 10.0, self.dtype)
                norm = (full(self.mean), full(self.scale), -bound, bound)
            self._consts = (rows, norm, [(w, full(b)) for w, b in self.layers])
        return self._consts[1:]

    def __call__(self, obs, t: int):
        x = np.asarray(obs).astype(self.dtype)  # a new array: overwritten in place below
        if not self.single:
            return self._seeds(x, t)
        x = x[0]
        norm, layers = self._rows(x.shape[0])
        if norm:
            mean, scale, low, high = norm
            np.subtract(x, mean, out=x)
            np.divide(x, scale, out=x)
            # np.clip(x, -10, 10), NaN included, with less overhead per call
            np.minimum(np.maximum(x, low, out=x), high, out=x)
        for w, b in layers[:-1]:
            x = x.dot(w)  # the sums of ``matmul`` (tested), less overhead per call
            x += b
            np.tanh(x, out=x)
        w, b = layers[-1]
        out = x.dot(w)
        out += b
        if self.discrete:
            return np.argmax(out + self.noise[0, t], axis=-1).astype(np.int32)[None]
        out += self.noise[0, t]
        return out[None]

    def _seeds(self, x, t: int):
        """``__call__`` for several seeds: batched products."""
        if self.normalize:
            x = np.clip((x - self.mean) / self.scale, -10.0, 10.0)
        for w, b in self.layers[:-1]:
            x = np.tanh(np.matmul(x, w) + b)
        w, b = self.layers[-1]
        out = np.matmul(x, w) + b
        if self.discrete:
            return np.argmax(out + self.noise[:, t], axis=-1).astype(np.int32)
        return out + self.noise[:, t]


def host_rollout(envs, act: Callable, obs: np.ndarray, episodes: HostEpisodes,
                 num_steps: int, dtype, timers=None) -> tuple:
    """Step ``envs`` (``seeds * envs_per_seed`` of them) ``num_steps`` times.

    ``obs`` [S, E, obs_dim] raw observations where the rollout starts; ``act(obs, t)``
    the actions [S, E, ...] at step ``t`` (a numpy array: ``NumpyPolicy``, or
    ``make_act``'s program with its arguments bound). Returns ``(traj, obs)``: ``Transition`` of
    numpy arrays [S, T, E, ...] and the observations where the next rollout starts (a
    non-finite value anywhere is for ``learn`` to find). ``episodes`` is updated in
    place. ``timers`` (a dict), if given, accumulates the seconds spent in the policy
    calls (``"policy"``) and in the simulators (``"simulator"``), and the number of policy
    calls (``"policy_calls"``).
    """
    if getattr(envs, "lean", None) is not None:
        return _lean_rollout(envs, act, obs, episodes, num_steps, dtype,
                             {} if timers is None else timers)
    clock = time.perf_counter
    t_policy = t_sim = 0.0
    s, e, d = obs.shape
    discrete = getattr(envs, "discrete", False)
    a_shape = () if discrete else (int(np.size(envs.action_low)),)
    traj = Transition(
        obs=np.empty((s, num_steps, e, d), dtype),
        action=np.empty((s, num_steps, e) + a_shape, np.int32 if discrete else dtype),
        reward=np.empty((s, num_steps, e), dtype),
        terminated=np.empty((s, num_steps, e), bool),
        done=np.empty((s, num_steps, e), bool),
        next_obs=np.empty((s, num_steps, e, d), dtype),
    )
    low, high = envs.action_low, envs.action_high
    for t in range(num_steps):
        t0 = clock()
        action = np.asarray(act(obs, t))
        t1 = clock()
        flat = action.reshape((s * e,) + a_shape)
        out = envs.step(flat if discrete else np.clip(flat, low, high))
        t_sim += clock() - t1
        t_policy += t1 - t0
        done = (out.terminated | out.truncated).reshape(s, e)
        traj.obs[:, t] = obs
        traj.action[:, t] = action
        traj.reward[:, t] = out.reward.reshape(s, e)
        traj.terminated[:, t] = out.terminated.reshape(s, e)
        traj.done[:, t] = done
        traj.next_obs[:, t] = out.next_obs.reshape(s, e, d)
        episodes.step(out.reward.reshape(s, e), done)
        obs = out.obs.reshape(s, e, d)
    if timers is not None:
        timers["policy"] = timers.get("policy", 0.0) + t_policy
        timers["simulator"] = timers.get("simulator", 0.0) + t_sim
        timers["policy_calls"] = timers.get("policy_calls", 0) + num_steps
    return traj, obs


def _lean_rollout(envs, act, obs, episodes: HostEpisodes, num_steps: int, dtype,
                  timers: dict) -> tuple:
    """``host_rollout`` through ``GymnasiumEnvs.rollout`` (MuJoCo tasks it steps with
    ``_LeanStep``): the same numbers, the episodes' bookkeeping after the loop."""
    s, e, d = obs.shape
    n = s * e

    def act_flat(o, t):
        return np.asarray(act(o.reshape(s, e, d), t)).reshape(n, -1)

    out = envs.rollout(act_flat, obs.reshape(n, d), num_steps, dtype, timers)

    def lay(x):  # [T, n, ...] -> [S, T, E, ...]
        x = x.reshape((num_steps, s, e) + x.shape[2:])
        return np.ascontiguousarray(np.moveaxis(x, 0, 1))

    done = out.terminated | out.truncated
    reward = lay(out.reward)
    traj = Transition(
        obs=lay(out.obs[:-1]).astype(dtype),
        action=lay(out.action),
        reward=reward.astype(dtype),
        terminated=lay(out.terminated),
        done=lay(done),
        next_obs=lay(out.next_obs).astype(dtype),
    )
    episodes.run(reward, traj.done)
    timers["policy_calls"] = timers.get("policy_calls", 0) + num_steps
    return traj, out.obs[-1].reshape(s, e, d)
