"""A task's own reward, success and failure rules, applied to imagined observations.

The world model's learned heads must discover from a few thousand transitions, a handful of
them successes, that "go to the red ball" succeeds when the ball is within 2 cm of the red
ball. The task states that rule exactly. MBPO's reference code likewise hands each task's
termination rule to its imagined rollouts (its ``static_fns``), and PETS plans with known
costs; the model then has to learn only the physics. :class:`TaskOutcome` evaluates the rule
of a Groundworld goal on an imagined step: the same reward terms, success and failure as the
env's ``step`` (a test checks them against the real env on every supported task), from the
observations and the goal object's slot (``info["goal"]["object"]``, stored in replay).

Supported goal kinds: ``goto`` and ``touch`` (gap between effector and object surfaces) and
``push`` (object centre inside the named zone). Relations, sequences (goals with memory) and
knock-offs keep the learned heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import gymnasium as gym
import numpy as np
import torch

from envs import language, scene, tokenizer
from envs.base import HALF_EXTENT, GroundworldEnv, effector_xy
from envs.language import TOUCH_TOLERANCE

KINDS = ("goto", "touch", "push")
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
    """Weight of the effector-object gap in the push potential."""

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
        rows = torch.arange(len(goal_object))
        target = next_obs["objects"][rows, goal_object]
        fell = target[:, 2] < 0.0  # positions are relative to the table top: below it, fallen off
        if self.kind == "push":  # as PushInto.verify: a fallen object fails first
            if goal_zone_color is None:
                raise ValueError("push outcomes need the goal zone's colour (TaskOutcome.goal_zone_colors)")
            zone = _zone(next_obs, goal_zone_color)
            success = ((target[:, :2] - zone[:, :2]).norm(dim=-1) <= zone[:, 2]) & ~fell
            failure = fell
        else:  # as GoTo.verify: contact counts even as the object falls
            success = self._gap(next_obs, goal_object) <= TOUCH_TOLERANCE
            failure = fell & ~success
        if self.reward_mode == "sparse":
            reward = self.success_bonus * success.float()
        else:
            progress = self.progress_scale * (
                self.potential(next_obs, goal_object, goal_zone_color)
                - self.potential(obs, goal_object, goal_zone_color)
            )
            ctrl = self.ctrl_cost * action.clamp(-1.0, 1.0).square().sum(-1)
            reward = progress + self.success_bonus * success.float() - failure.float() - ctrl
        return {"reward": reward, "success": success, "failure": failure}

    def potential(
        self, obs: dict[str, torch.Tensor], goal_object: torch.Tensor, goal_zone_color: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B,) the dense-reward potential (the tasks' ``potential()``) of each observation."""
        gap = self._gap(obs, goal_object)
        if self.kind != "push":
            return -gap
        rows = torch.arange(len(goal_object))
        zone = _zone(obs, goal_zone_color)
        distance = (obs["objects"][rows, goal_object, :2] - zone[:, :2]).norm(dim=-1)
        return -distance - self.approach_weight * gap

    def _gap(self, obs: dict[str, torch.Tensor], goal_object: torch.Tensor) -> torch.Tensor:
        """(B,) table-plane distance between the effector's and the goal object's surfaces."""
        target = obs["objects"][torch.arange(len(goal_object)), goal_object]
        centre = (target[:, :2] - effector_xy(obs["proprio"])).norm(dim=-1)
        return centre - target[:, HALF_EXTENT] - self.effector_radius


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
