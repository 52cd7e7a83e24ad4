"""A task's own reward, success and failure rules, applied to imagined observations.

The world model's learned heads must discover from a few thousand transitions, a handful of
them successes, that "go to the red ball" succeeds when the ball is within 2 cm of the red
ball. The task states that rule exactly. MBPO's reference code likewise hands each task's
termination rule to its imagined rollouts (its ``static_fns``), and PETS plans with known
costs; the model then has to learn only the physics. :class:`TaskOutcome` evaluates the rule
of a Groundworld goal on an imagined step: the same reward terms, success and failure as the
env's ``step`` (a test checks them against the real env on every supported task), from the
observations and the goal object's slot (``info["goal"]["object"]``, stored in replay). The
rules themselves are :mod:`envs.rules`, the functions the env's own ``step`` evaluates; here
they read their inputs from batched observation tensors.

Supported goal kinds: ``goto`` and ``touch`` (gap between effector and object surfaces),
``push`` (object centre inside the named zone) and ``knockoff`` (the target off the table, no
other object). Relations (the reference object's slot is not stored) and sequences (goals with
memory) keep the learned heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import gymnasium as gym
import numpy as np
import torch

from envs import language, rules, scene, tokenizer
from envs.base import HALF_EXTENT, GroundworldEnv, effector_xy

KINDS = ("goto", "touch", "push", "knockoff")
"""Goal kinds whose rules :class:`TaskOutcome` evaluates."""

ZONE_COLOR = slice(3, 9)
"""The colour one-hot among a zone's observed features (after x, y, radius)."""


@dataclass(frozen=True)
class TaskOutcome:
    """The reward terms, success and failure of one task, as functions of observations."""

    kind: str
    """Goal kind, one of :data:`KINDS`."""
    reward_mode: str
    """"dense" or "sparse", as the training env's."""
    effector_radius: float
    """Radius of the agent ball or fingertip (metres)."""
    progress_scale: float
    success_bonus: float
    ctrl_cost: float
    approach_weight: float
    """Weight of the effector-object gap in the push and knock-off potentials."""

    @classmethod
    def for_env(cls, env_id: str, reward_mode: str = "dense") -> TaskOutcome:
        """The rules of registered task ``env_id`` with the given reward mode."""
        env = gym.make(env_id, reward_mode=reward_mode)
        try:
            return cls.from_env(env.unwrapped)
        finally:
            env.close()

    @staticmethod
    def knows(env_id: str) -> bool:
        """Whether the rules of registered task ``env_id`` are written down here."""
        env = gym.make(env_id)
        try:
            return env.unwrapped.goal_type.kind in KINDS
        finally:
            env.close()

    @classmethod
    def from_env(cls, env: GroundworldEnv) -> TaskOutcome:
        kind = env.goal_type.kind
        if kind not in KINDS:
            raise ValueError(
                f"{type(env).__name__} has {kind!r} goals; task outcomes are known for {KINDS}, "
                "use the world model's learned reward and success heads for it"
            )
        return cls(
            kind=kind,
            reward_mode=env.config.reward_mode,
            effector_radius=env._effector_radius(),
            progress_scale=env.progress_scale,
            success_bonus=env.success_bonus,
            ctrl_cost=env.ctrl_cost,
            approach_weight=env.approach_weight,
        )

    def goal_zone_colors(self, instructions: np.ndarray) -> np.ndarray:
        """(B,) the colour index of the zone each instruction (token ids) names, -1 for goals
        without one; a scene has at most one zone of each colour."""
        if self.kind != "push":
            return np.full(len(instructions), -1, dtype=np.int64)
        return np.array([_zone_color(tuple(int(t) for t in row)) for row in instructions], dtype=np.int64)

    def __call__(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        next_obs: dict[str, torch.Tensor],
        goal_object: torch.Tensor,
        goal_zone_color: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``reward``, ``success`` and ``failure`` (B,) of the steps ``obs -> next_obs`` under
        ``action``; ``goal_object`` (B,) is the goal object's slot and ``goal_zone_color`` (B,)
        the colour index of the named zone (push; see :meth:`goal_zone_colors`)."""
        target, gap, zone = self._quantities(next_obs, goal_object, goal_zone_color)
        fell = rules.fallen(target[:, 2])
        if self.kind == "push":
            success, failure = rules.push_outcome(rules.in_zone(target[:, :2], zone[:, :2], zone[:, 2]), fell)
        elif self.kind == "knockoff":
            objects = next_obs["objects"]
            objects_fell = rules.fallen(objects[..., 2]) & (next_obs["object_mask"] > 0.5)
            is_target = torch.arange(objects.shape[1], device=objects.device) == goal_object[:, None]
            success, failure = rules.knockoff_outcome(objects_fell, is_target)
        else:
            success, failure = rules.goto_outcome(gap, fell)
        if self.reward_mode == "sparse":
            reward = self.success_bonus * success.float()
        else:
            progress = self.progress_scale * (
                self._potential(target, gap, zone) - self.potential(obs, goal_object, goal_zone_color)
            )
            ctrl = self.ctrl_cost * action.clamp(-1.0, 1.0).square().sum(-1)
            reward = progress + self.success_bonus * success.float() - failure.float() - ctrl
        return {"reward": reward, "success": success, "failure": failure}

    def potential(
        self, obs: dict[str, torch.Tensor], goal_object: torch.Tensor, goal_zone_color: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B,) the dense-reward potential (the tasks' ``potential()``) of each observation."""
        return self._potential(*self._quantities(obs, goal_object, goal_zone_color))

    def _quantities(
        self, obs: dict[str, torch.Tensor], goal_object: torch.Tensor, goal_zone_color: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The goal object's features (B, F), the effector-object surface gap (B,) and, for push,
        the named zone's x, y and radius (B, 3)."""
        target = obs["objects"][torch.arange(len(goal_object), device=goal_object.device), goal_object]
        gap = rules.surface_gap(
            effector_xy(obs["proprio"]), target[:, :2], target[:, HALF_EXTENT], self.effector_radius
        )
        if self.kind != "push":
            return target, gap, None
        if goal_zone_color is None:
            raise ValueError("push outcomes need the goal zone's colour (TaskOutcome.goal_zone_colors)")
        return target, gap, _zone(obs, goal_zone_color)

    def _potential(self, target: torch.Tensor, gap: torch.Tensor, zone: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "push":
            return rules.push_potential(target[:, :2], zone[:, :2], gap, self.approach_weight)
        if self.kind == "knockoff":
            return rules.knockoff_potential(target[:, :2], gap, self.approach_weight)
        return rules.goto_potential(gap)


def _zone(obs: dict[str, torch.Tensor], color: torch.Tensor) -> torch.Tensor:
    """(B, 3) x, y and radius of the zone of colour ``color`` in each row."""
    colors = obs["zones"][..., ZONE_COLOR].argmax(-1).masked_fill(obs["zone_mask"] < 0.5, -1)  # (B, zones)
    slot = (colors == color[:, None]).float().argmax(-1)
    return obs["zones"][torch.arange(len(color)), slot, :3]


@lru_cache(maxsize=4096)
def _zone_color(tokens: tuple[int, ...]) -> int:
    """The colour index of the zone a push instruction (token ids) names."""
    goal = language.parse(tokenizer.decode(np.asarray(tokens)), kinds=("push",))
    return scene.COLOR_NAMES.index(goal.zone)
