"""GoalLine: a point on a line steered to the origin; a small continuous-control task that a
policy learns in a few thousand steps.

Observation: (x, v), a flat ``Box`` of float32. Action: a force in [-1, 1] (``Box(1,)``).
Reward: -(x^2 + 0.1 a^2) per step. The episode terminates when |x| < 0.05 and |v| < 0.05
(the goal reached) with a reward of +10 on that step. It has no time limit of its own:
registered, ``gymnasium.make`` gives it one (``max_episode_steps=100``); as an entry point,
``GoalLine(max_steps=100)`` counts its own and says ``truncated``.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces


class GoalLine(gymnasium.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, max_steps: int = 0, render_mode=None):
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.max_steps = max_steps  # 0: none (a TimeLimit wrapper may add one)
        self.render_mode = render_mode
        self.state = np.zeros(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-1.0, 1.0, size=2)
        self.t = 0
        return self.state.astype(np.float32), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        x, v = self.state
        v = 0.9 * v + 0.1 * a
        x = x + 0.1 * v
        self.state = np.array([x, v])
        self.t += 1
        reached = abs(x) < 0.05 and abs(v) < 0.05
        reward = -(x * x + 0.1 * a * a) + (10.0 if reached else 0.0)
        truncated = bool(self.max_steps) and self.t >= self.max_steps and not reached
        return self.state.astype(np.float32), reward, reached, truncated, {}

    def render(self):
        """A 64x128 frame: the line in grey, the goal in green, the point in red."""
        frame = np.full((64, 128, 3), 255, np.uint8)
        frame[31:33, :] = 200
        frame[24:40, 63:65] = (0, 160, 0)
        col = int(np.clip(64 + 60 * self.state[0], 2, 125))
        frame[28:36, col - 2:col + 2] = (200, 0, 0)
        return frame
