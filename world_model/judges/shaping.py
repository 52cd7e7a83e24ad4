"""Judge-shaped rewards: potential-based shaping with a judge's success probability.

:class:`PotentialShaping` adds ``scale * (gamma * Phi(h') - Phi(h))`` to every reward, where
``Phi`` is a potential over the episode so far (Ng, Harada & Russell 1999: a potential-based
term leaves the optimal policy unchanged; over histories the same holds in the history MDP).
``Phi`` is 0 after termination, so the shaped discounted return of an episode is its
original return minus ``scale * Phi(h_0)``, a constant of the start: policies keep their order.

:class:`JudgePotential` makes a judge into that potential: ``Phi`` after a step is the
judge's success probability having seen the episode up to and including that step. The
wrapper reports ``info["reward_shaping"]`` and ``info["judge_success"]``, which
:class:`~world_model.judges.goodhart.GoodhartMonitor` compares with true success.

    env = PotentialShaping(gym.make("Groundworld/GoTo-v0"), JudgePotential(load_judge("blind.pt")[0]))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from groundworld.nn import obs_to_tensors
from groundworld.policy import batch1
from world_model.judges.episodes import goal_arrays
from world_model.judges.judge import Judge, freeze


class Potential(Protocol):
    """A potential over the history of one episode."""

    def reset(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> float:
        """Start an episode; return ``Phi`` of the empty history."""

    def step(self, obs: dict[str, np.ndarray], action: np.ndarray, info: dict[str, Any]) -> float:
        """Extend the history by (``obs``, ``action``) (``info`` is the one that came with
        ``obs``); return ``Phi`` of the extended history."""


class JudgePotential:
    """``Phi`` = a frozen judge's success probability for the episode so far."""

    def __init__(self, judge: Judge):
        self.judge = freeze(judge)
        self.device = next(judge.parameters()).device
        self.state = judge.initial_state(1, self.device)
        self.t = 0

    @torch.no_grad()
    def reset(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> float:
        self.state = self.judge.initial_state(1, self.device)
        self.t = 0
        return float(torch.sigmoid(self.judge.head(self.state[0])).item())  # the prior before any step

    @torch.no_grad()
    def step(self, obs: dict[str, np.ndarray], action: np.ndarray, info: dict[str, Any]) -> float:
        o = obs_to_tensors(batch1(obs), self.device)
        a = torch.as_tensor(np.asarray(action, dtype=np.float32)[None], device=self.device)
        t = torch.full((1,), self.t, device=self.device)
        goal_object = goal_position = None
        if self.judge.privileged:
            g, p = goal_arrays(info)
            goal_object = torch.tensor([g], device=self.device)
            goal_position = torch.as_tensor(p[None], device=self.device)
        logit, self.state = self.judge.step(self.state, o, a, t, goal_object, goal_position)
        self.t += 1
        return float(torch.sigmoid(logit).item())


class PotentialShaping(gym.Wrapper):
    """Adds ``scale * (gamma * Phi(h_{t+1}) - Phi(h_t))`` to the reward, with ``Phi = 0`` after termination."""

    def __init__(self, env: gym.Env, potential: Potential, gamma: float = 0.97, scale: float = 1.0):
        super().__init__(env)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.potential, self.gamma, self.scale = potential, float(gamma), float(scale)
        self._phi = 0.0
        self._obs: dict[str, np.ndarray] | None = None
        self._info: dict[str, Any] = {}

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._phi = self.potential.reset(obs, info)
        self._obs, self._info = obs, info
        return obs, {**info, "judge_success": self._phi}

    def step(self, action: Any):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)  # bad actions raise here, before Phi moves
        phi = self.potential.step(self._obs, np.asarray(action, dtype=np.float32), self._info)
        shaping = self.scale * (self.gamma * (0.0 if terminated else phi) - self._phi)
        self._phi, self._obs, self._info = phi, obs, info
        info = {**info, "reward_shaping": shaping, "judge_success": phi}
        return obs, float(reward) + shaping, terminated, truncated, info


def judge_readout(judge: Judge) -> Callable[[gym.Env], gym.Env]:
    """An env wrapper that only reports the judge's running estimate in ``info["judge_success"]``
    (shaping scale 0: the reward is unchanged), for measuring a policy against a judge."""

    def wrap(env: gym.Env) -> gym.Env:
        return PotentialShaping(env, JudgePotential(judge), scale=0.0)

    return wrap
