"""GoTo: drive the ball to the object the instruction names."""

from __future__ import annotations

import numpy as np

from envs import oracles, rules
from envs.base import GroundworldEnv
from envs.language import GoTo, sample_description
from envs.scene import ObjectSpec


class GoToEnv(GroundworldEnv):
    """
    ## Description
    A force-actuated ball moves on a table among 2-5 objects (cubes, balls, cylinders in
    six colours and two sizes). The instruction names one of them ("go to the red ball");
    the agent must bring its ball within 2 cm of that object's surface.

    ## Action Space
    ``Box(-1, 1, (2,))``: forces along x and y (8 N at 1); out-of-range values are clipped,
    NaN/inf or a wrong shape raise ``envs.errors.UsageError`` (a ``ValueError``) and leave the
    state unchanged.

    ## Observation Space
    A ``Dict`` (see ``envs.base``): ``proprio`` (ball x, y, vx, vy), ``objects`` (5 x 16:
    position relative to the table centre and top, velocity, colour one-hot, shape one-hot,
    half-extent; zero rows past ``object_mask``), ``zones``/``zone_mask`` (unused here),
    ``instruction`` (16 int64 token ids, text in ``info["instruction"]``).

    ## Rewards
    ``reward_mode="sparse"``: ``reward_success`` = 1 on the success step.
    ``reward_mode="dense"``: ``reward_progress`` = 5 x the decrease of the ball-object gap
    (potential-based), ``reward_success`` = 1, ``reward_failure`` = -1 if the target falls
    off the table, ``reward_ctrl`` = -0.01 |a|^2. The reward is the sum of the terms in ``info``.

    ## Starting State
    Objects, sizes and positions, and the ball's position are drawn from the seed; the
    target's (colour, shape) is drawn from the split's pairs. Slots are shuffled.

    ## Episode End
    Terminated on success or when the target falls off the table; truncated at 100 steps
    (4 s) or on a physics error (``info["physics_error"]``: MuJoCo found the state unstable,
    or it left the observation space; the last observation inside it is returned).

    ## Arguments
    See ``envs.base.EnvConfig`` (``split``, ``reward_mode``, ``obs_mode``, ``render_mode``,
    ``width``, ``height``, ``camera``, ``pixel_size``, ``pixel_camera``, ``min_objects``,
    ``max_objects``).

    ## Version History
    - v0: initial release.
    """

    goal_type = GoTo
    table_symmetric = True

    def _make_goal(self, rng: np.random.Generator, described: list[ObjectSpec]) -> GoTo:
        return self.goal_type(obj=sample_description(rng, described[0].pair, described[0].size))

    def potential(self) -> float:
        return rules.goto_potential(self.scene_view.gap(self.goal.targets[0]))

    def goal_target(self) -> tuple[int, np.ndarray]:
        target = self.goal.targets[0]
        return target, self.scene_view.object_pos[target].copy()


def oracle(env: GoToEnv) -> oracles.Policy:
    """Drive the effector (ball or fingertip) straight to the target, around the other objects."""

    def policy(obs, info) -> np.ndarray:
        target = env.goal.targets[0]
        return oracles.towards(env, env.scene_view.object_pos[target, :2], avoid=oracles.others(env, target))

    return policy
