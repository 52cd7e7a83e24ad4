"""Judges: from an unfinished episode, the probability that it will end in success.

A :class:`Judge` reads the episode so far (each step's observation, the action taken and
the time) with the agents' grounded encoder and a GRU, and outputs one success logit per
step: ``P(success | steps 0..t)``. Two kinds share everything but one input:

- **blind** (``privileged=False``) sees only what the agent sees;
- **privileged** also sees the ground truth of ``info["goal"]`` (which object, which target
  position), so it "knows the answer" and need not ground the instruction.

Both are trained on the same :class:`~world_model.judges.episodes.Episodes` with Monte-Carlo labels
(every step of an episode is labelled with how the episode ended), optionally bootstrapped
with TD(lambda) targets. ``step`` advances one step at a time and is differentiable, so a
judge can score imagined rollouts and be back-propagated through (frozen) by an actor.

    episodes = collect_episodes("Groundworld/GoTo-v0", 600)
    judge, history = train_judge(episodes, JudgeConfig(privileged=True))
    probs = judge_probabilities(judge, test_episodes)     # (N, T), NaN past each episode's end
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import envs  # noqa: F401  (registers the environments)
from envs import cli
from envs.base import OBJECT_DYNAMIC
from envs.scene import MAX_OBJECTS
from groundworld.checkpoint import load_checkpoint, load_state, save_checkpoint
from groundworld.nn import EncoderConfig, GroundedEncoder, mlp, obs_to_tensors
from world_model.judges.episodes import Episodes

PRIVILEGED_DIM = MAX_OBJECTS + 3 + OBJECT_DYNAMIC + 3
"""Target one-hot, target position, the target object's position and velocity, their offset."""


@dataclass
class JudgeConfig:
    """A judge's inputs, sizes and training."""

    privileged: bool = False
    """Also read the ground-truth goal (target object and position)."""
    hidden: int = 128
    """Width of the per-step features and of the GRU state."""
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(heads=2, proprio_dim=32))
    """Sizes of the grounded observation encoder."""
    td_lambda: float = 1.0
    """1: Monte-Carlo labels; below 1: TD(lambda) targets mixing the label with the judge's own
    next-step prediction (bootstrapping)."""
    distill: float = 0.0
    """Weight of a teacher's per-step probabilities in the targets (0: labels only). A blind
    judge trained with the privileged judge as teacher learns from the differential signal."""
    epochs: int = 40
    """Most passes over the training episodes."""
    batch_episodes: int = 32
    """Episodes per gradient step."""
    lr: float = 1e-3
    """Adam learning rate."""
    holdout: float = 0.2
    """Fraction of episodes held out for early stopping."""
    patience: int = 8
    """Epochs without held-out improvement before stopping."""
    seed: int = 0
    """Seed of the split, initialisation and batch order."""


def privileged_features(objects: torch.Tensor, goal_object: torch.Tensor, goal_position: torch.Tensor) -> torch.Tensor:
    """(B, PRIVILEGED_DIM) ground-truth features from objects (B, N, F), target ids (B,), positions (B, 3)."""
    onehot = F.one_hot(goal_object.long(), MAX_OBJECTS).float()
    rows = torch.arange(objects.shape[0], device=objects.device)
    target = objects[rows, goal_object.long(), :OBJECT_DYNAMIC]
    return torch.cat([onehot, goal_position, target, goal_position - target[:, :3]], -1)


class Judge(nn.Module):
    """Grounded encoder + action + time (+ ground truth) -> MLP -> GRU -> success logit per step."""

    def __init__(
        self, observation_space: gym.spaces.Dict, action_dim: int, max_steps: int, config: JudgeConfig | None = None
    ):
        super().__init__()
        self.config = c = config or JudgeConfig()
        if "objects" not in observation_space.spaces:
            raise ValueError("judges read state observations; 'objects' is missing from the observation space")
        self.observation_space, self.action_dim, self.max_steps = observation_space, int(action_dim), int(max_steps)
        self.privileged = c.privileged
        self.encoder = GroundedEncoder(observation_space, c.encoder)
        in_dim = self.encoder.out_dim + self.action_dim + 1 + (PRIVILEGED_DIM if c.privileged else 0)
        self.inp = nn.Sequential(mlp(in_dim, (c.hidden,), c.hidden), nn.ReLU())
        self.gru = nn.GRU(c.hidden, c.hidden, batch_first=True)
        self.head = nn.Linear(c.hidden, 1)

    # ---------------------------------------------------------------- small named pieces
    def step_features(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        t: torch.Tensor,
        goal_object: torch.Tensor | None = None,
        goal_position: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, hidden) features of single steps (``t``: step index, shape (B,))."""
        parts = [self.encoder(obs), action.float(), (t.float() / self.max_steps).unsqueeze(-1)]
        if self.privileged:
            if goal_object is None or goal_position is None:
                raise ValueError("a privileged judge needs goal_object and goal_position")
            parts.append(privileged_features(obs["objects"], goal_object, goal_position.float()))
        return self.inp(torch.cat(parts, -1))

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(1, batch, self.config.hidden, device=device)

    def forward(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        goal_object: torch.Tensor | None = None,
        goal_position: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Success logits (B, T) for whole sequences: ``obs[key]`` (B, T, ...), ``action`` (B, T, A)."""
        b, t = action.shape[:2]
        flat = {k: v.reshape(b * t, *v.shape[2:]) for k, v in obs.items()}
        steps = torch.arange(t, device=action.device).repeat(b)
        go = goal_object.reshape(b * t) if goal_object is not None else None
        gp = goal_position.reshape(b * t, 3) if goal_position is not None else None
        x = self.step_features(flat, action.reshape(b * t, -1), steps, go, gp).reshape(b, t, -1)
        h, _ = self.gru(x)
        return self.head(h).squeeze(-1)

    def step(
        self,
        state: torch.Tensor,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        t: torch.Tensor,
        goal_object: torch.Tensor | None = None,
        goal_position: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance one step for a batch of episodes: (success logit (B,), new state)."""
        x = self.step_features(obs, action, t, goal_object, goal_position).unsqueeze(1)
        h, state = self.gru(x, state)
        return self.head(h[:, 0]).squeeze(-1), state


# -------------------------------------------------------------------- data
def episode_tensors(episodes: Episodes, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The episodes as tensors: obs dict (N, T, ...), action, goal_object, goal_position, mask, label."""
    return {
        "obs": obs_to_tensors(episodes.obs, device),
        "action": torch.as_tensor(episodes.action, device=device),
        "goal_object": torch.as_tensor(episodes.goal_object, device=device),
        "goal_position": torch.as_tensor(episodes.goal_position, device=device),
        "mask": torch.as_tensor(episodes.step_mask(), device=device),
        "label": torch.as_tensor(episodes.success, device=device).float(),
        "length": torch.as_tensor(episodes.length, device=device),
    }


def _batch(data: dict[str, Any], idx: torch.Tensor) -> dict[str, Any]:
    """Episodes ``idx``, cut to the longest of them."""
    t = int(data["length"][idx].max())
    out = {k: v[idx, :t] for k, v in data.items() if k not in ("obs", "label", "length")}
    out["obs"] = {k: v[idx, :t] for k, v in data["obs"].items()}
    out["label"] = data["label"][idx]
    return out


def _logits(judge: Judge, batch: dict[str, Any]) -> torch.Tensor:
    return judge(batch["obs"], batch["action"], batch["goal_object"], batch["goal_position"])


def td_targets(logits: torch.Tensor, label: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-step targets (B, T): the label at the last step, ``(1-lam) p_{t+1} + lam y_{t+1}`` before it."""
    b, t = logits.shape
    y = label[:, None].expand(b, t).clone()
    if lam >= 1.0:
        return y
    p = torch.sigmoid(logits.detach())
    for i in range(t - 2, -1, -1):
        inside = mask[:, i + 1]
        y[:, i] = torch.where(inside, (1 - lam) * p[:, i + 1] + lam * y[:, i + 1], label)
    return y


def judge_loss(judge: Judge, batch: dict[str, Any]) -> torch.Tensor:
    """Binary cross-entropy at every step; each episode weighs the same whatever its length."""
    logits = _logits(judge, batch)
    mask = batch["mask"].float()
    target = td_targets(logits, batch["label"], batch["mask"], judge.config.td_lambda)
    if "teacher" in batch and judge.config.distill > 0:
        target = (1 - judge.config.distill) * target + judge.config.distill * batch["teacher"]
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * mask
    return (bce.sum(1) / mask.sum(1)).mean()


def train_judge(
    episodes: Episodes,
    config: JudgeConfig | None = None,
    observation_space: gym.spaces.Dict | None = None,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    teacher: np.ndarray | None = None,
) -> tuple[Judge, list[dict[str, float]]]:
    """Fit a judge on ``episodes`` with early stopping on held-out episodes; return it and its history.

    ``teacher`` (N, T): another judge's probabilities on the same episodes, mixed into the
    targets with weight ``config.distill``."""
    config = config or JudgeConfig()
    if len(episodes) < 4:
        raise ValueError(f"a judge needs at least 4 episodes to train and hold out, got {len(episodes)}")
    torch.manual_seed(config.seed)
    space = observation_space or gym.make(episodes.env_id).observation_space
    judge = Judge(space, episodes.action.shape[-1], episodes.max_steps, config).to(device)
    data = episode_tensors(episodes, device)
    if teacher is not None:
        if teacher.shape != episodes.step_mask().shape:
            raise ValueError(f"teacher probabilities are {teacher.shape}, the episodes {episodes.step_mask().shape}")
        data["teacher"] = torch.as_tensor(np.nan_to_num(teacher), device=device).float()
    order = np.random.default_rng(config.seed).permutation(len(episodes))
    n_hold = max(1, int(round(config.holdout * len(episodes))))
    hold, train = torch.as_tensor(order[:n_hold]), torch.as_tensor(order[n_hold:])
    optim = torch.optim.Adam(judge.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    best, best_state, stale, history = float("inf"), copy.deepcopy(judge.state_dict()), 0, []
    for epoch in range(config.epochs):
        judge.train()
        perm = train[torch.randperm(len(train), generator=generator)]
        total = 0.0
        for start in range(0, len(perm), config.batch_episodes):
            idx = perm[start : start + config.batch_episodes]
            loss = judge_loss(judge, _batch(data, idx))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"judge loss became {loss.item()} in epoch {epoch}")
            optim.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(judge.parameters(), 10.0)
            optim.step()
            total += loss.item() * len(idx)
        heldout = heldout_loss(judge, data, hold)
        history.append({"epoch": epoch, "train": total / len(train), "heldout": heldout})
        if on_epoch is not None:
            on_epoch(history[-1])
        if heldout < best - 1e-4:
            best, best_state, stale = heldout, copy.deepcopy(judge.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    judge.load_state_dict(best_state)
    judge.eval()
    return judge, history


@torch.no_grad()
def heldout_loss(judge: Judge, data: dict[str, Any], idx: torch.Tensor, batch: int = 64) -> float:
    """Monte-Carlo cross-entropy on episodes ``idx`` (whatever the training targets)."""
    judge.eval()
    total = 0.0
    for start in range(0, len(idx), batch):
        b = _batch(data, idx[start : start + batch])
        mask = b["mask"].float()
        target = b["label"][:, None].expand_as(mask)
        bce = F.binary_cross_entropy_with_logits(_logits(judge, b), target, reduction="none") * mask
        total += (bce.sum(1) / mask.sum(1)).sum().item()
    return total / len(idx)


@torch.no_grad()
def judge_probabilities(judge: Judge, episodes: Episodes, batch: int = 64) -> np.ndarray:
    """(N, T) success probability after each step; NaN past each episode's end."""
    judge.eval()
    device = next(judge.parameters()).device
    data = episode_tensors(episodes, device)
    out = np.full((len(episodes), episodes.max_steps), np.nan, dtype=np.float32)
    for start in range(0, len(episodes), batch):
        idx = torch.arange(start, min(start + batch, len(episodes)))
        b = _batch(data, idx)
        probs = torch.sigmoid(_logits(judge, b)).cpu().numpy()
        probs[~b["mask"].cpu().numpy()] = np.nan
        out[idx.numpy(), : probs.shape[1]] = probs
    return out


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients into ``module``'s weights (a frozen judge or world model); gradients still
    flow through it to its inputs."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# -------------------------------------------------------------------- files
def save_judge(path: str | Path, judge: Judge, env_id: str, extra: dict[str, Any] | None = None) -> Path:
    config = dataclasses.asdict(judge.config)
    return save_checkpoint(
        path,
        {
            "kind": "judge",
            "env": env_id,
            "judge": judge.state_dict(),
            "config": config,
            "action_dim": judge.action_dim,
            "max_steps": judge.max_steps,
            **(extra or {}),
        },
    )


def load_judge(path: str | Path) -> tuple[Judge, str]:
    """A saved judge (in eval mode) and the env id it was trained on."""
    payload = load_checkpoint(path, expect={"kind": "judge"})
    raw = dict(payload["config"])
    encoder = cli.from_dict(EncoderConfig, {"pointer": False, **raw["encoder"]}, f"the encoder config in {path}")
    config = JudgeConfig(**{**raw, "encoder": encoder})
    judge = Judge(gym.make(payload["env"]).observation_space, payload["action_dim"], payload["max_steps"], config)
    load_state(judge, payload["judge"], "judge")
    return judge.eval(), payload["env"]
