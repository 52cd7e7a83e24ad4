"""KnockOff: push the named object off the table edge, and nothing else."""

from __future__ import annotations

import numpy as np

from envs import oracles, rules, scene
from envs.base import GroundworldEnv
from envs.language import KnockOff, sample_description
from envs.scene import ObjectSpec

_DIRECTIONS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


class KnockOffEnv(GroundworldEnv):
    """
    ## Description
    The ball agent must knock one object off the table ("knock the purple cylinder off the
    table"): gravity does the rest. The ball cannot leave the table, so the object must be
    driven to the edge and over it. Any other object falling is an irrecoverable failure.

    ## Action Space
    ``Box(-1, 1, (2,))``: forces on the ball along x and y; clipped.

    ## Observation Space
    As in ``envs.base``; an object's z (relative to the table top) goes negative as it falls.

    ## Rewards
    Sparse: 1 on success. Dense: ``reward_progress`` = 5 x the change of -(distance from the
    object to the nearest edge + 0.3 ball-object gap), ``reward_success``, ``reward_failure``
    = -1 when another object falls, ``reward_ctrl``.

    ## Starting State
    Objects start at least 13 cm from every edge.

    ## Episode End
    Terminated when the target's centre drops below the table top (success) or any other
    object's does (failure); truncated at 200 steps.

    ## Arguments
    See ``envs.base.EnvConfig``.

    ## Version History
    - v0: initial release.
    """

    goal_type = KnockOff
    table_symmetric = True
    object_margin = 0.3

    def _make_goal(self, rng: np.random.Generator, described: list[ObjectSpec]) -> KnockOff:
        return KnockOff(obj=sample_description(rng, described[0].pair, described[0].size))

    def exit_point(self, target: int | None = None) -> np.ndarray:
        """Point just past the table edge nearest to the target object."""
        target = self.goal.targets[0] if target is None else target
        xy = self.scene_view.object_pos[target, :2]
        edge = int(np.argmax(np.abs(xy)))
        out = xy.copy()
        out[edge] = np.sign(xy[edge] or 1.0) * (scene.TABLE_HALF + 0.25)
        return out

    def potential(self) -> float:
        view, target = self.scene_view, self.goal.targets[0]
        return rules.knockoff_potential(view.xy(target), view.gap(target), self.approach_weight)

    def goal_target(self) -> tuple[int, np.ndarray]:
        x, y = self.exit_point()
        return self.goal.targets[0], np.array([x, y, 0.0])


def oracle(env: KnockOffEnv) -> oracles.Policy:
    """Push the target straight over the nearest edge whose corridor is clear of other objects."""

    def exit_for(target: int) -> np.ndarray:
        view = env.scene_view
        xy = view.object_pos[target, :2]
        half = view.objects[target].half
        best, best_cost = None, np.inf
        for direction in _DIRECTIONS:
            travel = scene.TABLE_HALF + 0.25 - float(xy @ direction)
            goal = xy + direction * travel
            behind = xy - direction * (half + scene.BALL_RADIUS + 0.02)
            cost = travel
            if np.max(np.abs(behind)) > scene.BALL_RANGE:
                cost += 10.0
            for i in oracles.others(env, target):
                rel = view.object_pos[i, :2] - xy
                along = float(rel @ direction)
                if (
                    along > -0.05
                    and abs(float(rel[0] * direction[1] - rel[1] * direction[0])) < half + view.objects[i].half + 0.1
                ):
                    cost += 5.0
            if cost < best_cost:
                best, best_cost = goal, cost
        return best

    def policy(obs, info) -> np.ndarray:
        # the edge is chosen afresh from the current state, so the oracle is reactive like the others and can
        # label any state (DAgger) or take over mid-episode; pushing towards an edge only makes it cheaper
        target = env.goal.targets[0]
        return oracles.ball_push(env, target, exit_for(target), avoid=oracles.others(env, target))

    return policy
