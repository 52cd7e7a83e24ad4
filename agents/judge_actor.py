"""Learning through a frozen judge: an actor trained to make a judge say "success" in imagination.

From real start states the actor acts in the learned world model for ``horizon`` steps; a
judge reads the imagined episode and outputs its success probability after every step. The
actor's loss is minus the mean of those probabilities, back-propagated through the judge and
the world model (Dreamer/SVG style, reparameterised model noise) while **both stay frozen**:
only the actor's weights move — "train it to output a high judgement, holding the judgement
weights constant". The only real environment steps are those that trained the judge and the
model (and evaluation).

Because the actor optimises a learned signal, every evaluation records the judge's estimate
of success beside the true success (:class:`~world_model.judges.goodhart.GoodhartMonitor`): a rising
gap means the actor found states the judge scores highly but the task does not.

    actor = JudgeActor(policy, model, judge, starts, JudgeActorConfig())
    history = actor.train(env_id="Groundworld/GoTo-v0")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.bc import BCPolicy
from agents.evaluation import evaluate
from agents.policies import TorchPolicy
from groundworld.nn import obs_to_tensors
from world_model.ensemble import EnsembleModel
from world_model.judges.goodhart import GOODHART_THRESHOLD, GoodhartMonitor
from world_model.judges.judge import Judge, freeze


@dataclass
class JudgeActorConfig:
    """Imagination and optimisation of the actor."""

    horizon: int = 15
    """Imagined steps per rollout."""
    batch_size: int = 64
    """Start states per update."""
    updates: int = 600
    """Actor gradient steps."""
    lr: float = 3e-4
    """Actor learning rate."""
    action_cost: float = 0.01
    """Weight of the mean squared action in the loss."""
    eval_every: int = 100
    """Updates between evaluations in the real environment."""
    eval_episodes: int = 30
    """Evaluation episodes (train split)."""
    goodhart_threshold: float = GOODHART_THRESHOLD
    """Flag evaluations where the judge's estimate exceeds true success by this."""
    seed: int = 0
    """Seed of start-state sampling, model noise and evaluation."""


class JudgeActor:
    """Trains ``policy`` by gradient ascent on a frozen judge's success probability over imagined rollouts."""

    def __init__(
        self,
        policy: BCPolicy,
        model: EnsembleModel,
        judge: Judge,
        starts: dict[str, np.ndarray],
        config: JudgeActorConfig | None = None,
        start_goals: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.config = c = config or JudgeActorConfig()
        self.policy, self.model, self.judge = policy, freeze(model), freeze(judge)
        if judge.privileged and start_goals is None:
            raise ValueError("a privileged judge needs each start state's goal (start_goals)")
        self.device = next(policy.parameters()).device
        self.starts = obs_to_tensors(starts, self.device)
        self.goals = None if start_goals is None else [torch.as_tensor(g, device=self.device) for g in start_goals]
        self.n_starts = len(next(iter(starts.values())))
        self.optim = torch.optim.Adam(policy.parameters(), lr=c.lr)
        self.generator = torch.Generator(device=self.device).manual_seed(c.seed)
        self.updates = 0

    def imagine(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Roll the actor out in the model from start states ``idx``.

        Returns the judge's probabilities (B, H) and the actions (B, H, A)."""
        obs = {k: v[idx] for k, v in self.starts.items()}
        goal_object, goal_position = (None, None) if self.goals is None else (g[idx] for g in self.goals)
        state = self.judge.initial_state(len(idx), self.device)
        probs, actions = [], []
        for t in range(self.config.horizon):
            action = self.policy(obs)
            step = torch.full((len(idx),), t, device=self.device)
            logit, state = self.judge.step(state, obs, action, step, goal_object, goal_position)
            probs.append(torch.sigmoid(logit))
            actions.append(action)
            obs = self.model.imagine(obs, action, self.generator)["next_obs"]
        return torch.stack(probs, 1), torch.stack(actions, 1)

    def loss(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        probs, actions = self.imagine(idx)
        loss = -probs.mean() + self.config.action_cost * actions.pow(2).mean()
        return loss, {"imagined_judgement": float(probs[:, -1].detach().mean()), "actor_loss": float(loss.detach())}

    def update(self) -> dict[str, float]:
        """One actor step on a batch of start states; the judge and the model are not changed."""
        # training mode because cuDNN's RNN backward needs it; the weights stay frozen, and neither
        # module has dropout or normalisation, so their outputs are the same in either mode
        self.model.train()
        self.judge.train()
        idx = torch.randint(self.n_starts, (self.config.batch_size,), generator=self.generator, device=self.device)
        loss, info = self.loss(idx)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"actor loss became {loss.item()} at update {self.updates}")
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.updates += 1
        return info

    def train(self, env_id: str, on_eval: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Run ``config.updates`` steps, evaluating in the real env (with the Goodhart monitor) as it goes."""
        from world_model.judges.shaping import judge_readout

        c = self.config
        monitor = GoodhartMonitor(c.goodhart_threshold)
        wrap = judge_readout(self.judge)
        history: list[dict[str, Any]] = []
        info: dict[str, float] = {}
        for i in range(c.updates + 1):
            if i % c.eval_every == 0 or i == c.updates:
                result = evaluate(
                    TorchPolicy(self.policy), env_id, "train", c.eval_episodes, seed=30_000_000 + i, wrap=wrap
                )
                row = {"updates": i, "eval_success": result.success_rate, **info}
                row.update(monitor.record_evaluation(i, result.episodes))
                history.append(row)
                if on_eval is not None:
                    on_eval(row)
            if i < c.updates:
                info = self.update()
        return history
