"""A native soft actor-critic for Groundworld, in plain PyTorch, built for CPU speed.

Differences from a textbook SAC (after SAC-AE/DrQ): one grounded encoder is shared by the
actor and the critic and trained by the critic loss only (the actor reads detached
features); the twin Q heads share one wide first layer; one target-encoder pass feeds both
the next action and the target Q; the actor loss takes dQ/da without the critic's weight
gradients; target networks are updated with fused ``torch._foreach_lerp_``. Everything else
is SAC with automatic entropy tuning.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agents.networks import EncoderConfig, GroundedEncoder, grounding_loss, mlp, obs_to_tensors


@dataclass
class SACConfig:
    """Hyperparameters of :class:`SACAgent`."""

    hidden: tuple[int, ...] = (256, 256)
    """Hidden layers of the actor and of each Q head."""
    lr: float = 3e-4
    """Adam learning rate of actor, critic and temperature."""
    gamma: float = 0.97
    """Discount factor."""
    tau: float = 0.01
    """Polyak rate of the target critic."""
    batch_size: int = 128
    """Transitions per gradient update."""
    init_alpha: float = 0.1
    """Initial entropy temperature."""
    target_entropy_scale: float = 1.0
    """Target entropy = -scale x action dimension."""
    grounding: float = 0.0
    """Weight of an auxiliary grounding loss: cross-entropy of the encoder's instruction-attribute
    match over the objects against the goal's object (``goal_object`` in replay, from the
    privileged ``info["goal"]``; training time only, never an input)."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Sizes of the grounded encoder."""

    @classmethod
    def from_dict(cls, raw: dict) -> SACConfig:
        """A config saved with :func:`dataclasses.asdict`; checkpoints that predate a saved encoder
        config were written by the default encoder of that time (no goal pointer)."""
        raw = dict(raw)
        encoder = EncoderConfig(**raw.pop("encoder", {"pointer": False}))
        hidden = tuple(raw.pop("hidden", cls.hidden))
        return cls(**raw, hidden=hidden, encoder=encoder)


class TwinQ(nn.Module):
    """Two Q heads over (features, action). Their first layers are one wide linear layer
    (both read the same input); on CPU plain matmuls beat batched ones at these sizes."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], k: int = 2):
        super().__init__()
        self.k, self.width = k, hidden[0]
        self.first = nn.Linear(in_dim, k * hidden[0])
        self.heads = nn.ModuleList(mlp(hidden[0], hidden[1:], 1) for _ in range(k))

    def forward(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.first(torch.cat([features, action], dim=-1)))
        parts = x.split(self.width, dim=-1)
        return torch.stack([head(part).squeeze(-1) for head, part in zip(self.heads, parts, strict=True)])  # (k, B)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy head on encoder features."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], action_dim: int):
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * action_dim)

    def forward(self, features: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(features).chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean), torch.zeros(mean.shape[0], device=mean.device)
        log_std = log_std.clamp(-5.0, 2.0)
        std = log_std.exp()
        noise = torch.randn_like(mean)
        pre = mean + std * noise
        action = torch.tanh(pre)
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - pre - F.softplus(-2 * pre))).sum(-1)
        return action, log_prob


class SACAgent(nn.Module):
    """Soft actor-critic with a shared grounded encoder. Actions are in [-1, 1]."""

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        action_space: gym.spaces.Box,
        config: SACConfig,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        if not np.allclose(action_space.low, -1) or not np.allclose(action_space.high, 1):
            raise ValueError("SACAgent expects actions in [-1, 1]")
        self.config = config
        self.action_dim = int(np.prod(action_space.shape))
        self.encoder = GroundedEncoder(observation_space, config.encoder)
        self.critic = TwinQ(self.encoder.out_dim + self.action_dim, config.hidden)
        self.actor = Actor(self.encoder.out_dim, config.hidden, self.action_dim)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_alpha)))
        self.target_entropy = -config.target_entropy_scale * self.action_dim
        self.device = torch.device(device)
        self.to(self.device)
        adam = {"lr": config.lr, "fused": True}  # fused Adam: one kernel for all parameters, CPU and CUDA
        self.critic_optim = torch.optim.Adam([*self.encoder.parameters(), *self.critic.parameters()], **adam)
        self.actor_optim = torch.optim.Adam(self.actor.parameters(), **adam)
        self.alpha_optim = torch.optim.Adam([self.log_alpha], **adam)
        self._online = [*self.encoder.parameters(), *self.critic.parameters()]
        self._target = [*self.target_encoder.parameters(), *self.target_critic.parameters()]

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations (numpy in, numpy out)."""
        features = self.encoder(obs_to_tensors(obs, self.device))
        action, _ = self.actor(features, deterministic)
        return action.cpu().numpy()

    def update(self, batch: dict[str, np.ndarray], obs_keys: tuple[str, ...]) -> dict[str, float]:
        """One gradient step on critic, actor and temperature; returns the losses."""
        t = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        obs = obs_to_tensors({k: t["obs/" + k] for k in obs_keys}, self.device)
        next_obs = obs_to_tensors({k: t["next_obs/" + k] for k in obs_keys}, self.device)
        action, reward = t["action"], t["reward"].float()
        not_done = 1.0 - t["is_terminal"].float()
        alpha = self.log_alpha.exp().detach()

        with torch.no_grad():  # one target-encoder pass feeds both the next action and the target Q
            next_features = self.target_encoder(next_obs)
            next_action, next_log_prob = self.actor(next_features)
            target_q = self.target_critic(next_features, next_action).min(0).values
            target = reward + self.config.gamma * not_done * (target_q - alpha * next_log_prob)
        features, match = self.encoder.encode(obs)
        q = self.critic(features, action)
        critic_loss = F.mse_loss(q, target.unsqueeze(0).expand_as(q)) * q.shape[0]
        losses = {}
        if self.config.grounding > 0 and "goal_object" in t and match is not None:
            grounding = grounding_loss(match, obs["object_mask"], t["goal_object"])
            losses["grounding_loss"] = grounding.item()
            critic_loss = critic_loss + self.config.grounding * grounding
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()

        detached = features.detach()
        pi, log_prob = self.actor(detached)
        self.critic.requires_grad_(False)  # the actor loss needs dQ/da only, not the critic's weight gradients
        q_pi = self.critic(detached, pi).min(0).values
        self.critic.requires_grad_(True)
        actor_loss = (alpha * log_prob - q_pi).mean()
        self.actor_optim.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optim.step()

        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        self.alpha_optim.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_optim.step()

        with torch.no_grad():
            torch._foreach_lerp_(self._target, self._online, self.config.tau)
        return {
            "critic_loss": critic_loss.item(),
            "actor_loss": actor_loss.item(),
            "alpha": alpha.item(),
            "q": q.mean().item(),
            "entropy": -log_prob.mean().item(),
            **losses,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"critic": self.critic_optim, "actor": self.actor_optim, "alpha": self.alpha_optim}
