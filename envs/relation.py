"""Relation: place an object on a given side of another one."""

from __future__ import annotations

import numpy as np

from envs import oracles, rules
from envs.base import GroundworldEnv
from envs.language import RELATION_AXES, Relate, sample_description
from envs.scene import ObjectSpec


class RelationEnv(GroundworldEnv):
    """
    ## Description
    The ball agent must move one object to a side of a reference object ("put the red cube
    left of the blue ball"). Sides are seen from the default camera: left = -x, right = +x,
    in front of = -y, behind = +y. Success when the object's centre is 10-30 cm from the
    reference's along that side's axis and at most 10 cm off it sideways.

    ## Action Space
    ``Box(-1, 1, (2,))``: forces on the ball along x and y; clipped.

    ## Observation Space
    As in ``envs.base``.

    ## Rewards
    Sparse: 1 on success. Dense: ``reward_progress`` = 5 x the change of -(distance from the
    object to the point 20 cm from the reference on that side + 0.3 ball-object gap),
    ``reward_success``, ``reward_failure`` (a named object falls off), ``reward_ctrl``.

    ## Starting State
    At least two objects; the relation does not hold at the start and its target region
    lies on the table.

    ## Episode End
    Terminated on success or when a named object falls off; truncated at 200 steps.

    ## Arguments
    See ``envs.base.EnvConfig``.

    ## Version History
    - v0: initial release.
    """

    goal_type = Relate
    min_described = 2
    names_direction = True

    def _make_goal(self, rng: np.random.Generator, described: list[ObjectSpec]) -> Relate:
        relation = str(rng.choice(list(RELATION_AXES)))
        obj, ref = (sample_description(rng, o.pair, o.size) for o in described)
        return Relate(obj=obj, relation=relation, ref=ref)

    def _feasible(self, positions, zones, goal: Relate) -> bool:
        aim = rules.relation_aim(positions[goal.targets[1]], goal.axis)
        return bool(np.all(np.abs(aim) <= 0.33))

    def _aim(self) -> np.ndarray:
        """The point the potential pulls the object towards (and the oracle pushes it to)."""
        return np.array(rules.relation_aim(self.scene_view.xy(self.goal.targets[1]), self.goal.axis))

    def potential(self) -> float:
        view, (target, ref) = self.scene_view, self.goal.targets
        gap = view.gap(target)
        return rules.relation_potential(view.xy(target), view.xy(ref), self.goal.axis, gap, self.approach_weight)

    def goal_reference(self) -> int:
        return self.goal.targets[1]

    def goal_target(self) -> tuple[int, np.ndarray]:
        target = self.goal.targets[0]
        x, y = self._aim()
        return target, np.array([x, y, self.scene_view.object_pos[target, 2]])


def oracle(env: RelationEnv) -> oracles.Policy:
    def policy(obs, info) -> np.ndarray:
        target = env.goal.targets[0]
        return oracles.ball_push(env, target, env._aim(), avoid=oracles.others(env, target))

    return policy
