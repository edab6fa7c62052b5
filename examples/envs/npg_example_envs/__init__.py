"""A user's package of gymnasium environments, as npg-train sees one: importing it
registers ``npg_example_envs/GoalLine-v0`` (``npg-train --env-module npg_example_envs --env
npg_example_envs/GoalLine-v0``), and the class itself is an entry point
(``npg-train --env npg_example_envs.goal_line:GoalLine``).
"""

import gymnasium

from .goal_line import GoalLine

__all__ = ["GoalLine"]

# gymnasium.make adds a TimeLimit of 100 steps: the episodes it cuts are truncated, and
# npg-train bootstraps their value
gymnasium.register(id="npg_example_envs/GoalLine-v0",
                   entry_point="npg_example_envs.goal_line:GoalLine", max_episode_steps=100)
