"""Push: push the named object into the named coloured zone."""

from __future__ import annotations

import numpy as np

from envs import oracles, rules, scene
from envs.base import GroundworldEnv
from envs.language import PushInto, sample_description
from envs.scene import ObjectSpec


class PushEnv(GroundworldEnv):
    """
    ## Description
    The ball agent must push one object into one of one or two coloured zones ("push the
    blue cube into the green zone"). Success when the object's centre lies inside the zone
    (radius 10 cm). Balls roll, cubes slide, cylinders stand: each pushes differently.

    ## Action Space
    ``Box(-1, 1, (2,))``: forces on the ball along x and y; clipped.

    ## Observation Space
    As in ``envs.base``; ``zones`` holds each zone's (x, y, radius, colour one-hot).

    ## Rewards
    Sparse: 1 on success. Dense: ``reward_progress`` = 5 x the change of the potential
    -(object-zone distance + 0.3 ball-object gap), ``reward_success``, ``reward_failure``
    (the object falls off), ``reward_ctrl``.

    ## Starting State
    Zones and objects drawn apart; no object starts inside a zone.

    ## Episode End
    Terminated on success or when the object falls off the table; truncated at 200 steps.

    ## Arguments
    See ``envs.base.EnvConfig``.

    ## Version History
    - v0: initial release.
    """

    goal_type = PushInto
    table_symmetric = True

    def _make_goal(self, rng: np.random.Generator, described: list[ObjectSpec]) -> PushInto:
        zone = str(rng.choice(scene.COLOR_NAMES))
        return PushInto(obj=sample_description(rng, described[0].pair, described[0].size), zone=zone)

    def _sample_zones(self, rng: np.random.Generator, goal: PushInto) -> list[str]:
        colors = [goal.zone]
        if rng.random() < 0.5:
            colors.append(str(rng.choice([c for c in scene.COLOR_NAMES if c != goal.zone])))
        return [colors[i] for i in rng.permutation(len(colors))]

    def _feasible(self, positions, zones, goal: PushInto) -> bool:
        zone = zones[goal.zone_index]
        return float(np.hypot(*(positions[goal.targets[0]] - zone.xy))) > zone.radius + 0.1

    def _zone_xy(self) -> np.ndarray:
        return np.asarray(self.zones[self.goal.zone_index].xy)

    def potential(self) -> float:
        view, target, zone = self.scene_view, self.goal.targets[0], self.zones[self.goal.zone_index]
        return rules.push_potential(view.xy(target), zone.xy, view.gap(target), self.approach_weight)

    def goal_zone(self) -> int:
        return self.goal.zone_index

    def goal_target(self) -> tuple[int, np.ndarray]:
        x, y = self._zone_xy()
        return self.goal.targets[0], np.array([x, y, scene.TABLE_TOP])


def oracle(env: PushEnv) -> oracles.Policy:
    def policy(obs, info) -> np.ndarray:
        target = env.goal.targets[0]
        return oracles.ball_push(env, target, env._zone_xy(), avoid=oracles.others(env, target))

    return policy
