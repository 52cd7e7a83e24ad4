"""Sequence: touch one object, then another; the order matters and is not observed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from envs import oracles, rules
from envs.base import EnvConfig, GroundworldEnv
from envs.language import Sequence, sample_description
from envs.scene import ObjectSpec


@dataclass
class SequenceConfig(EnvConfig):
    expose_progress: bool = False
    """Add ``progress`` (1 once the first object was touched) to the observation, for
    agents without memory. Off by default: the task then needs memory."""


class SequenceEnv(GroundworldEnv):
    """
    ## Description
    The ball agent must touch two named objects in order ("touch the green ball, then the
    red cube"). Touching the second before the first does not count. By default nothing in
    the observation says whether the first was touched, so a memoryless policy cannot know
    which phase it is in: the task needs memory (or ``expose_progress=True``).

    ## Action Space
    ``Box(-1, 1, (2,))``: forces on the ball along x and y; clipped.

    ## Observation Space
    As in ``envs.base``; with ``expose_progress=True`` also ``progress`` (shape (1,)).

    ## Rewards
    Sparse: 1 only when the second object is touched after the first (delayed reward).
    Dense: ``reward_progress`` = 5 x the change of -(gap to the current object + the
    surface distance between the two objects while the first is pending), which is
    continuous when the first touch happens; ``reward_success``, ``reward_failure``, ``reward_ctrl``.

    ## Starting State
    At least two objects; the ball starts clear of both.

    ## Episode End
    Terminated on success or when a named object falls off; truncated at 150 steps.

    ## Arguments
    See ``envs.base.EnvConfig`` and ``expose_progress``.

    ## Version History
    - v0: initial release.
    """

    config_class = SequenceConfig
    goal_type = Sequence
    table_symmetric = True
    min_described = 2

    def _extra_observation_space(self) -> dict[str, spaces.Space]:
        if not self.config.expose_progress:
            return {}
        return {"progress": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)}

    def _extra_obs(self) -> dict[str, np.ndarray]:
        if not self.config.expose_progress:
            return {}
        return {"progress": np.array([min(self.goal.progress, 1)], dtype=np.float32)}

    def _make_goal(self, rng: np.random.Generator, described: list[ObjectSpec]) -> Sequence:
        first, second = (sample_description(rng, o.pair, o.size) for o in described)
        return Sequence(first=first, second=second)

    def current_target(self) -> int:
        return self.goal.targets[min(self.goal.progress, 1)]

    def potential(self) -> float:
        view, (first, second) = self.scene_view, self.goal.targets
        objects = view.objects
        between = rules.surface_distance(view.xy(first), objects[first].half, view.xy(second), objects[second].half)
        return rules.sequence_potential(self.goal.progress, view.gap(first), view.gap(second), between)

    def goal_target(self) -> tuple[int, np.ndarray]:
        target = self.current_target()
        return target, self.scene_view.object_pos[target].copy()


def oracle(env: SequenceEnv) -> oracles.Policy:
    def policy(obs, info) -> np.ndarray:
        target = env.current_target()
        return oracles.towards(env, env.scene_view.object_pos[target, :2], avoid=oracles.others(env, target))

    return policy
