"""Model-based policy optimisation: the native SAC trained on real and imagined transitions.

After MBPO (Janner et al., 2019): the world model is refitted on the real replay every
``refit_every`` real steps; between refits a dream vector env of ``rollout_batch`` rows
branches short rollouts (``k`` steps, growing over ``model_horizon``) from real
states with the current policy, one imagined step per real step, into a model replay.
Each SAC update draws ``real_ratio`` of its batch from real data and the rest from imagination.
Imagined reward, success and termination come from the model's learned heads, or with
``model_outcome="task"`` from the task's own rules applied to the imagined states (MBPO's reference
code does the same with its per-task termination functions; see ``world_model.outcomes``).
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

from agents.config import MBPOConfig
from groundworld.collect import Collector
from groundworld.replay import ReplayBuffer


def merge_batches(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


class Imagination:
    """World model, dream env and imagined replay, refreshed as real data grows."""

    def __init__(
        self,
        config: MBPOConfig,
        real: ReplayBuffer,
        observation_space: gym.spaces.Dict,
        action_space: gym.spaces.Box,
        seed: int = 0,
        reward_mode: str = "dense",
        first_fit: int = 2_000,
    ):
        config.validate()
        self.config, self.real, self.seed = config, real, seed
        self.reward_mode = reward_mode
        self._task_outcome = None
        self.observation_space, self.action_space = observation_space, action_space
        self.replay = ReplayBuffer(observation_space, action_space.shape[0], config.model_buffer, real.env_id)
        self.model = None
        self.collector: Collector | None = None
        self.first_fit = first_fit
        self.next_fit = first_fit
        self.fits: list[dict[str, float]] = []

    def rollout_length(self, step: int) -> int:
        (k_start, k_end), ramp = self.config.model_horizon, self.config.model_horizon_ramp
        frac = min(1.0, max(0.0, (step - self.first_fit) / max(1, ramp - self.first_fit)))
        return int(round(k_start + frac * (k_end - k_start)))

    def refit_if_due(self, step: int) -> bool:
        """Refit the world model when ``step`` reaches the next refit point; True if it did."""
        if step < self.next_fit:
            return False
        from world_model.dream import DreamVecEnv
        from world_model.training import fit

        self.model, history = fit(
            self.real,
            dataclasses.replace(self.config.model, epochs=self.config.model_epochs, seed=self.seed + step),
            self.observation_space,
        )
        self.fits.append({"step": step, "heldout": min(h["heldout"] for h in history), "epochs": len(history)})
        dream = DreamVecEnv(
            self.model,
            self.real,
            num_envs=self.config.rollout_batch,
            horizon=self.rollout_length(step),
            max_disagreement=self.config.max_disagreement,
            sample=self.config.model_step == "sample",
            elite_mean=self.config.model_step == "mean",
            action_space=self.action_space,
            seed=self.seed + step,
            outcome_threshold=self.config.outcome_threshold,
            penalty=self.config.model_penalty,
            outcome=self.task_outcome(),
        )
        self.collector = Collector(dream, self.replay, seed=self.seed + step, first_episode=10**9 + step * 1000)
        self.next_fit = step + self.config.refit_every
        return True

    def task_outcome(self):
        """The task's rules for imagined outcomes (``outcome="task"``), built once; else None."""
        if self.config.model_outcome != "task":
            return None
        if self._task_outcome is None:
            from world_model.outcomes import TaskOutcome

            self._task_outcome = TaskOutcome.for_env(self.real.env_id, self.reward_mode)
        return self._task_outcome

    def imagine(self, act) -> int:
        """One imagined step of every dream row with policy ``act`` (batched obs -> actions)."""
        if self.collector is None:
            return 0
        stored, _ = self.collector.step(act(self.collector.obs))
        return stored

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A batch mixing real and imagined transitions (all real until imagination exists)."""
        if len(self.replay) == 0:
            return self.real.sample(batch_size, rng)
        n_real = max(1, int(round(self.config.real_ratio * batch_size)))
        return merge_batches(self.real.sample(n_real, rng), self.replay.sample(batch_size - n_real, rng))
