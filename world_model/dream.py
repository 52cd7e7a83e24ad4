"""A batched Gymnasium vector env that steps the learned world model instead of MuJoCo.

Imagined episodes start from real observations drawn from replay, step a random elite per
row and step (drawing from its Gaussian with ``sample``; ``elite_mean`` steps the elites' average
prediction instead), and end when the model predicts termination, at ``horizon``, or when the
elites disagree more than ``max_disagreement`` (the model no longer knows: stop before it
hallucinates). ``info["disagreement"]`` carries the disagreement of every step and
``info["goal"]["object"]`` the goal object of each row's start (for the agents' grounding loss); with
``penalty > 0`` the reward is lowered by ``penalty x disagreement`` (MOPO). With ``outcome`` (a
:class:`world_model.outcomes.TaskOutcome`) reward, success and termination follow the task's own
rules on the imagined states instead of the learned heads (as MBPO's termination functions). Any agent that
trains on a Gymnasium vector env can train in it, and :func:`sb3_vec_env` adapts it to
Stable-Baselines3. With ``precision="auto"`` the model's hidden layers multiply in bfloat16 on
CPUs that do so natively (about 1.4x the imagined steps per second here); its outputs, the
state and the rewards stay fp32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from groundworld.nn import obs_to_tensors, uses_bf16
from groundworld.replay import ReplayBuffer
from world_model.ensemble import EnsembleModel
from world_model.outcomes import TaskOutcome


class DreamVecEnv(VectorEnv):
    """``num_envs`` imagined episodes of the task the model was trained on."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        model: EnsembleModel,
        starts: ReplayBuffer,
        num_envs: int = 64,
        horizon: int = 15,
        max_disagreement: float = 1.0,
        penalty: float = 0.0,
        sample: bool = True,
        elite_mean: bool = False,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        precision: str = "auto",
        outcome_threshold: float | None = None,
        outcome: TaskOutcome | None = None,
    ):
        if len(starts) == 0:
            raise ValueError("DreamVecEnv needs a non-empty buffer of start observations")
        if outcome is not None and (starts.data["goal_object"][: len(starts)] < 0).any():
            raise ValueError(
                "task outcomes need each start row's goal object; this replay has rows without one "
                "(goal_object = -1: recorded before replay format 2, or by an env without info['goal'])"
            )
        self.model = model.eval()
        device = next(model.parameters()).device
        self.bf16 = uses_bf16(precision, device)  # "auto": bf16 hidden layers on CPUs that multiply it natively
        self.num_envs, self.horizon = num_envs, horizon
        self.max_disagreement, self.penalty, self.sample = max_disagreement, penalty, sample
        self.elite_mean = elite_mean
        self.outcome_threshold, self.outcome = outcome_threshold, outcome
        self.starts = starts
        obs_space = spaces.Dict({k: starts.observation_space[k] for k in starts.keys})  # the real env's, exactly
        self.single_observation_space = obs_space
        self.single_action_space = action_space or spaces.Box(-1.0, 1.0, (model.action_dim,), np.float32)
        self.observation_space = batch_space(obs_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rng = np.random.default_rng(seed)
        self._torch_rng = torch.Generator().manual_seed(0 if seed is None else seed)
        self._obs: dict[str, torch.Tensor] = {}
        self._t = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._goal = np.full(num_envs, -1, dtype=np.int64)  # the start row's goal object, -1 if unknown
        self._zone_color = np.full(num_envs, -1, dtype=np.int64)  # the goal zone's colour (task outcomes)

    def _draw_starts(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Start observations for the env ``rows`` (a boolean mask), drawn from the replay; each
        row's imagined episode keeps its start's goal object (``info["goal"]["object"]``)."""
        idx = self._rng.integers(0, len(self.starts), size=int(rows.sum()))
        self._goal[rows] = self.starts.data["goal_object"][idx]
        if self.outcome is not None:
            self._zone_color[rows] = self.outcome.goal_zone_colors(self.starts.data["obs/instruction"][idx])
        return obs_to_tensors({k: self.starts.data["obs/" + k][idx] for k in self.starts.keys})

    def _info(self) -> dict[str, Any]:
        return {"goal": {"object": self._goal.copy(), "_object": self._goal >= 0}}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._torch_rng.manual_seed(seed)
        self._obs = self._draw_starts(np.ones(self.num_envs, dtype=bool))
        self._t[:] = 0
        self._needs_reset[:] = False
        return self._numpy(self._obs), self._info()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, -1)
        if not np.isfinite(actions).all():
            raise ValueError("DreamVecEnv.step got NaN or inf actions")
        actions = np.clip(actions, self.single_action_space.low, self.single_action_space.high)
        out = self.model.step(
            self._obs, torch.as_tensor(actions), self._torch_rng, self.sample, self.elite_mean, bf16=self.bf16
        )
        disagreement = out["disagreement"].numpy()
        if self.outcome is not None:
            success, terminated, reward = self._task_outcome(actions, out["next_obs"])
        else:
            success, terminated, reward = self._learned_outcome(out)
        reward = reward - self.penalty * disagreement
        self._t += 1
        truncated = ((self._t >= self.horizon) | (disagreement > self.max_disagreement)) & ~terminated
        next_obs = out["next_obs"]
        # rows that finished last step start a new imagined episode now (NEXT_STEP autoreset)
        resets = self._needs_reset
        if resets.any():
            fresh = self._draw_starts(resets)
            mask = torch.as_tensor(resets)
            for key in next_obs:
                next_obs[key] = next_obs[key].clone()
                next_obs[key][mask] = fresh[key]
            self._t[resets] = 0
            reward[resets], terminated[resets], truncated[resets], success[resets] = 0.0, False, False, False
            disagreement[resets] = 0.0
        self._obs = next_obs
        self._needs_reset = terminated | truncated
        info = {
            "disagreement": disagreement,
            "is_success": success,
            "model_stopped": truncated & (disagreement > self.max_disagreement),
            **self._info(),
        }
        return self._numpy(next_obs), reward.astype(np.float32), terminated, truncated, info

    def _task_outcome(self, actions: np.ndarray, next_obs: dict[str, torch.Tensor]):
        """Success, termination and reward by the task's own rules on the imagined step."""
        rule = self.outcome(
            self._obs,
            torch.as_tensor(actions),
            next_obs,
            torch.as_tensor(self._goal),
            torch.as_tensor(self._zone_color),
        )
        success = rule["success"].numpy()
        return success, success | rule["failure"].numpy(), rule["reward"].numpy()

    def _learned_outcome(self, out: dict[str, torch.Tensor]):
        """Success, termination and reward from the model's learned heads."""
        # success and termination are rare once-per-episode events: draw them with the predicted
        # probability (a 0.5 threshold would almost never fire); deterministic without sampling.
        # One draw for both: success ends an episode, so P(end) >= P(success) must not become
        # P(success) + P(end) - P(both), an ending without success that the data never showed
        if self.outcome_threshold is not None:  # only confident predictions end an imagined episode
            draw = np.full(self.num_envs, self.outcome_threshold)
        else:
            draw = self._rng.random(self.num_envs) if self.sample else np.full(self.num_envs, 0.5)
        success = out["success"].numpy() > draw
        return success, (out["terminal"].numpy() > draw) | success, out["reward"].numpy()

    def _numpy(self, obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """Imagined observations as numpy, inside the real env's space (a prediction past its bounds is clipped)."""
        out = {}
        for key in self.starts.keys:
            space = self.single_observation_space[key]
            out[key] = np.clip(obs[key].numpy(), space.low, space.high).astype(space.dtype)
        return out


def sb3_vec_env(dream: DreamVecEnv):
    """A Stable-Baselines3 ``VecEnv`` view of a dream env (e.g. for PPO)."""
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class DreamSB3(VecEnv):
        def __init__(self):
            super().__init__(dream.num_envs, dream.single_observation_space, dream.single_action_space)
            self._actions = None

        def reset(self):
            return dream.reset()[0]

        def step_async(self, actions):
            self._actions = actions

        def step_wait(self):
            obs, reward, terminated, truncated, info = dream.step(self._actions)
            done = terminated | truncated
            infos = [
                {
                    "is_success": bool(info["is_success"][i]),
                    "disagreement": float(info["disagreement"][i]),
                    "TimeLimit.truncated": bool(truncated[i]),
                }
                for i in range(self.num_envs)
            ]
            if done.any():  # SB3 resets finished envs inside step (same-step autoreset)
                for i in np.flatnonzero(done):
                    infos[i]["terminal_observation"] = {k: v[i] for k, v in obs.items()}
                obs = _reset_rows(dream, obs, done)
            return obs, reward, done, infos

        def close(self):
            pass

        def get_attr(self, attr_name, indices=None):
            return [getattr(dream, attr_name)] * self.num_envs

        def set_attr(self, attr_name, value, indices=None):
            setattr(dream, attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [getattr(dream, method_name)(*args, **kwargs)]

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * self.num_envs

        def seed(self, seed=None):
            dream.reset(seed=seed)
            return [seed] * self.num_envs

    return DreamSB3()


def _reset_rows(dream: DreamVecEnv, obs: dict[str, np.ndarray], done: np.ndarray) -> dict[str, np.ndarray]:
    """Replace the rows of ``obs`` that ended with fresh start observations (SB3 semantics)."""
    fresh = dream._numpy(dream._draw_starts(done))
    out = {k: v.copy() for k, v in obs.items()}
    for key in out:
        out[key][done] = fresh[key]
    dream._obs = obs_to_tensors(out)
    dream._t[done] = 0
    dream._needs_reset[:] = False
    return out
