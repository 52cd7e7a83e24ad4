"""Hindsight instruction relabelling: a failed attempt at one instruction is a success at another.

HER (Andrychowicz et al., 2017) stores an episode again with the goal it did reach. For language
goals the grammar can name that goal: after an episode of "push the red cube into the green zone"
that instead left the blue ball in the green zone, "push the blue ball into the green zone" holds,
and its sentence, tokens and reward can be written down. :class:`Relabeller` finds, for a finished
episode, the goals of the task's own kind that its states satisfy (scene read from the
observations; training-split goals only, so held-out instructions stay unseen; a goal that holds
at the start, or fails first, does not count) and rewrites the episode up to the first success of
each chosen goal: the new instruction's tokens in every observation, the new goal's object as
``goal_object``, and the reward recomputed by the env's own code (its goal's ``verify`` and its
task's potential and reward terms, on a scene view built from the observations), ending in a
terminal success step.

    python -m agents.train --env Groundworld/Push-v0 --relabel 2 --run-dir runs/push-her
"""

from __future__ import annotations

import itertools
from typing import Any

import gymnasium as gym
import numpy as np

from envs import language, scene, tokenizer
from envs.base import HALF_EXTENT, effector_xy
from envs.language import Goal, ObjDesc, SceneView, Status
from envs.scene import ObjectSpec, ZoneSpec

ZONE_COLOR = slice(3, 9)
OBJECT_COLOR, OBJECT_SHAPE = slice(6, 12), slice(12, 15)


def scene_of(obs: dict[str, np.ndarray]) -> tuple[list[ObjectSpec], list[ZoneSpec]]:
    """The episode's objects and zones as the env describes them, read from one observation."""
    objects = []
    sizes = np.array([scene.SIZES[name] for name in scene.SIZE_NAMES])
    for row in obs["objects"][obs["object_mask"] > 0.5]:
        color = scene.COLOR_NAMES[int(np.argmax(row[OBJECT_COLOR]))]
        shape = scene.SHAPES[int(np.argmax(row[OBJECT_SHAPE]))]
        size = scene.SIZE_NAMES[int(np.argmin(np.abs(sizes - row[HALF_EXTENT])))]
        objects.append(ObjectSpec(color, shape, size))
    zones = [
        ZoneSpec(scene.COLOR_NAMES[int(np.argmax(z[ZONE_COLOR]))], (float(z[0]), float(z[1])), float(z[2]))
        for z in obs["zones"][obs["zone_mask"] > 0.5]
    ]
    return objects, zones


def candidate_goals(kind: str, objects: list[ObjectSpec], zones: list[ZoneSpec]) -> list[Goal]:
    """Every goal of ``kind`` the scene can hold, naming objects by colour and shape (pairs are unique)."""
    descs = [ObjDesc(o.color, o.shape) for o in objects]
    goal_type = language.GOALS_BY_KIND[kind]
    if kind in ("goto", "touch", "knockoff"):
        goals = [goal_type(obj=d) for d in descs]
    elif kind == "push":
        goals = [language.PushInto(obj=d, zone=z.color) for d in descs for z in zones]
    elif kind == "relate":
        goals = [
            language.Relate(obj=a, relation=rel, ref=b)
            for a, b in itertools.permutations(descs, 2)
            for rel in language.RELATION_AXES
        ]
    elif kind == "sequence":
        goals = [language.Sequence(first=a, second=b) for a, b in itertools.permutations(descs, 2)]
    else:
        raise ValueError(f"no relabelling for goal kind {kind!r}")
    for goal in goals:
        goal.bind(objects, zones)
    return goals


class Relabeller:
    """Rewrites finished episodes of ``env_id`` under the instructions they satisfied (see the module docstring).

    ``relabel(episode, rng, k)`` takes one episode's transitions in the replay layout (``obs/<key>``,
    ``next_obs/<key>``, ``action``; in step order) and returns up to ``k`` rewritten episodes in the
    same layout, with ``reward``, ``is_terminal``, ``is_last``, ``is_success``, ``goal_object`` and
    ``instruction`` (the new sentence)."""

    def __init__(self, env_id: str, reward_mode: str):
        self.env = gym.make(env_id, reward_mode=reward_mode).unwrapped  # its rules and reward terms, not its physics
        self.kind = self.env.goal_type.kind
        self.keys: tuple[str, ...] = ()

    def view(self, obs: dict[str, np.ndarray], t: int, objects, zones) -> SceneView:
        n = len(objects)
        position = obs["objects"][t, :n, :3].astype(np.float64) + np.array([0.0, 0.0, scene.TABLE_TOP])
        effector = np.zeros(3)
        effector[:2] = effector_xy(obs["proprio"][t].astype(np.float64))
        return SceneView(objects, zones, position, effector, self.env._effector_radius())

    def satisfied(self, goal: Goal, states: dict[str, np.ndarray], objects, zones) -> int | None:
        """The first step at whose end ``goal`` succeeds (None if it holds at the start, fails, or never holds)."""
        goal.reset()
        if goal.verify(self.view(states, 0, objects, zones)) is not Status.CONTINUE:
            return None
        for t in range(1, len(states["proprio"])):
            status = goal.verify(self.view(states, t, objects, zones))
            if status is Status.SUCCESS:
                return t - 1
            if status is Status.FAILURE:
                return None
        return None

    def relabel(self, episode: dict[str, np.ndarray], rng: np.random.Generator, k: int = 1) -> list[dict]:
        keys = [key[4:] for key in episode if key.startswith("obs/")]
        states = {key: np.concatenate([episode["obs/" + key], episode["next_obs/" + key][-1:]]) for key in keys}
        first = {key: states[key][0] for key in keys}
        objects, zones = scene_of(first)
        original = _identity(tokenizer.decode(first["instruction"]), self.kind, objects, zones)
        found = []
        for goal in candidate_goals(self.kind, objects, zones):
            if goal.heldout or _key(goal) == original:
                continue
            end = self.satisfied(goal, states, objects, zones)
            if end is not None:
                found.append((goal, end))
        out = []
        for i in rng.permutation(len(found))[:k]:
            goal, end = found[i]
            out.append(self._rewrite(episode, states, goal, end, objects, zones, rng))
        return out

    def _rewrite(self, episode, states, goal: Goal, end: int, objects, zones, rng) -> dict[str, np.ndarray]:
        env = self.env
        text = goal.render(rng, "train")
        tokens = tokenizer.encode(text)
        env._objects, env._zones, env.goal = objects, zones, goal
        goal.reset()
        env._view = self.view(states, 0, objects, zones)
        env._potential = env.potential()
        rewards, targets = np.zeros(end + 1, np.float32), np.zeros(end + 1, np.int64)
        for t in range(end + 1):
            targets[t] = env.goal_target()[0]  # the goal object that came with obs t
            env._view = self.view(states, t + 1, objects, zones)
            status = goal.verify(env._view)
            rewards[t] = sum(env._reward_terms(status, np.clip(episode["action"][t], -1.0, 1.0)).values())
        out = {key: value[: end + 1].copy() for key, value in episode.items()}
        out["obs/instruction"][:] = tokens
        out["next_obs/instruction"][:] = tokens
        out["reward"] = rewards
        out["goal_object"] = targets
        done = np.arange(end + 1) == end
        out.update(is_terminal=done, is_last=done, is_success=done, instruction=np.array(text))
        return out


def _key(goal: Goal) -> tuple:
    """What makes two bound goals the same: their objects, zone and relation."""
    return (tuple(goal.targets), getattr(goal, "zone", None), getattr(goal, "relation", None))


def _identity(text: str, kind: str, objects, zones) -> tuple | None:
    """:func:`_key` of the episode's own instruction in its scene (None if it cannot be read)."""
    try:
        goal = language.parse(text, kinds=(kind,))
        goal.bind(objects, zones)
    except ValueError:
        return None
    return _key(goal)


def episode_rows(rows: dict[str, np.ndarray], index: np.ndarray) -> dict[str, Any]:
    """The transitions ``index`` (in step order) of replay ``rows``."""
    return {key: value[index] for key, value in rows.items()}
