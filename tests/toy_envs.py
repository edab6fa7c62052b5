"""Toy gymnasium environments for tests/test_envs.py, importable by npg-train as entry
points (``toy_envs:Name``, the tests folder on the path)."""

import gymnasium
import numpy as np
from gymnasium import spaces


class Constant(gymnasium.Env):
    """Reward 1 every step, observation (0,), actions ignored: no termination, ever. Its
    true value is 1 / (1 - gamma) in every state; ``limit`` > 0 makes it say truncated
    after that many steps (its own time limit)."""

    def __init__(self, limit: int = 0, discrete: bool = True):
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2) if discrete else spaces.Box(-1, 1, (1,))
        self.limit, self.t = limit, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), 1.0, False, bool(self.limit) and self.t >= self.limit, {}


class Countdown(Constant):
    """Reward 1 every step, terminated after ``n`` steps; the observation is the steps left,
    so the true value with k steps left is (1 - gamma^k) / (1 - gamma)."""

    def __init__(self, n: int = 7):
        super().__init__()
        self.observation_space = spaces.Box(0.0, float(n), (1,), np.float32)
        self.n = n

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([self.n], np.float32), {}

    def step(self, action):
        self.t += 1
        left = self.n - self.t
        return np.array([left], np.float32), 1.0, left == 0, False, {}


class Noisy(Constant):
    """Random rewards and random episode ends (terminated or truncated by itself), for
    counting returns as RecordEpisodeStatistics does."""

    def step(self, action):
        self.t += 1
        r = float(self.np_random.normal())
        u = self.np_random.uniform()
        return np.zeros(1, np.float32), r, u < 0.05, 0.05 <= u < 0.1, {}


def _with(obs_space=None, action_space=None):
    class Env(Constant):
        def __init__(self):
            super().__init__()
            if obs_space is not None:
                self.observation_space = obs_space
            if action_space is not None:
                self.action_space = action_space
    return Env


DictObs = _with(obs_space=spaces.Dict({"x": spaces.Box(-1, 1, (2,))}))
ImageObs = _with(obs_space=spaces.Box(0, 255, (64, 64, 3), np.uint8))
TupleObs = _with(obs_space=spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))))
MultiDiscreteAction = _with(action_space=spaces.MultiDiscrete([3, 2]))
TupleAction = _with(action_space=spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))))
