"""A native soft actor-critic for Groundworld, in plain PyTorch, built for CPU speed.

Differences from a textbook SAC (after SAC-AE/DrQ): one grounded encoder is shared by the
actor and the critic and trained by the critic loss only (the actor reads detached
features); the twin Q heads share one wide first layer; one target-encoder pass feeds both
the next action and the target Q; the actor loss takes dQ/da through a detached copy of the
critic, so critic, actor and temperature losses share one backward pass (the actor follows the
critic as it was before this step's update, a step behind textbook SAC); target networks are
updated with fused ``torch._foreach_lerp_``. Everything else is SAC with automatic entropy
tuning.

Speed on CPU: the loss (forward and backward) is one ``torch.compile`` graph, and the hidden
layers of the actor and Q heads multiply in bfloat16 where the CPU has bf16 dot-product
instructions (AVX512-BF16 or AMX: twice the fp32 matmul rate), with fp32 master weights,
fp32 output layers and fp32 losses.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from agents.config import SACConfig
from groundworld.nn import GroundedEncoder, grounding_loss, mlp, obs_to_tensors, uses_bf16


def _bf16(x: torch.Tensor, enabled: bool) -> torch.autocast:
    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=enabled)


def run_head(net: nn.Sequential, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    """An :func:`~groundworld.nn.mlp`: hidden layers in bf16 when asked, the output layer in fp32."""
    *hidden, out = net
    with _bf16(x, bf16):
        for layer in hidden:
            x = layer(x)
    return out(x.float())


class TwinQ(nn.Module):
    """Two Q heads over (features, action). Their first layers are one wide linear layer
    (both read the same input); on CPU plain matmuls beat batched ones at these sizes."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], k: int = 2, bf16: bool = False, layer_norm: bool = False):
        super().__init__()
        self.k, self.width, self.bf16 = k, hidden[0], bf16
        self.first = nn.Linear(in_dim, k * hidden[0])
        self.first_norms = nn.ModuleList(nn.LayerNorm(hidden[0]) for _ in range(k)) if layer_norm else None
        self.heads = nn.ModuleList(mlp(hidden[0], hidden[1:], 1, layer_norm) for _ in range(k))

    def forward(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([features, action], dim=-1)
        with _bf16(x, self.bf16):
            parts = self.first(x).split(self.width, dim=-1)
            if self.first_norms is not None:
                parts = [norm(part) for norm, part in zip(self.first_norms, parts, strict=True)]
            parts = [F.relu(part) for part in parts]
        q = [run_head(head, part, self.bf16).squeeze(-1) for head, part in zip(self.heads, parts, strict=True)]
        return torch.stack(q)  # (k, B)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy head on encoder features."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], action_dim: int, bf16: bool = False):
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * action_dim)
        self.bf16 = bf16

    def forward(self, features: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = run_head(self.net, features, self.bf16).chunk(2, dim=-1)
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
        self.device = torch.device(device)
        self.bf16 = uses_bf16(config.precision, self.device)
        self.action_dim = int(np.prod(action_space.shape))
        self.encoder = GroundedEncoder(observation_space, config.encoder)
        self.critic = TwinQ(
            self.encoder.out_dim + self.action_dim, config.hidden, bf16=self.bf16, layer_norm=config.layer_norm
        )
        self.actor = Actor(self.encoder.out_dim, config.hidden, self.action_dim, bf16=self.bf16)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_alpha)))
        self.target_entropy = -config.target_entropy_scale * self.action_dim
        self.to(self.device)
        adam = {"lr": config.lr, "fused": True}  # fused Adam: one kernel for all parameters, CPU and CUDA
        self.critic_optim = torch.optim.Adam([*self.encoder.parameters(), *self.critic.parameters()], **adam)
        self.actor_optim = torch.optim.Adam(self.actor.parameters(), **adam)
        self.alpha_optim = torch.optim.Adam([self.log_alpha], **adam)
        self._online = [*self.encoder.parameters(), *self.critic.parameters()]
        self._target = [*self.target_encoder.parameters(), *self.target_critic.parameters()]
        self._compiled: Callable[..., dict[str, torch.Tensor]] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_compiled"] = None  # a compiled graph neither pickles nor copies; it is rebuilt on use
        return state

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations (numpy in, numpy out)."""
        features = self.encoder(obs_to_tensors(self.encoder.adapt(obs), self.device))
        action, _ = self.actor(features, deterministic)
        return action.cpu().numpy()

    def losses(
        self,
        obs: dict[str, torch.Tensor],
        next_obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        reward: torch.Tensor,
        not_done: torch.Tensor,
        goal_object: torch.Tensor | None = None,
        demo: torch.Tensor | None = None,
        bc_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Critic, actor and temperature losses, and their sum under ``"total"``: one backward
        pass of the sum trains each part on its own loss (the actor sees detached features and
        a detached critic; the temperature sees a detached log-probability).

        With ``demo`` (B,) marking demonstration rows and a ``bc_weight`` (a 0-d tensor, so that a
        decaying weight does not recompile the graph), the actor also regresses its deterministic
        action onto the demonstrated one on those rows: the action-supervision term of
        demonstration-augmented RL (Newt)."""
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():  # one target-encoder pass feeds both the next action and the target Q
            next_features = self.target_encoder(next_obs)
            next_action, next_log_prob = self.actor(next_features)
            target_q = self.target_critic(next_features, next_action).min(0).values
            target = reward + self.config.gamma * not_done * (target_q - alpha * next_log_prob)
        features, match = self.encoder.encode(obs)
        q = self.critic(features, action)
        out = {"critic_loss": F.mse_loss(q, target.unsqueeze(0).expand_as(q)) * q.shape[0]}
        critic_total = out["critic_loss"]
        if goal_object is not None and match is not None:
            out["grounding_loss"] = grounding_loss(match, obs["object_mask"], goal_object)
            critic_total = critic_total + self.config.grounding * out["grounding_loss"]

        detached = features.detach()
        pi, log_prob = self.actor(detached)
        frozen = {name: p.detach() for name, p in self.critic.named_parameters()}  # dQ/da only
        q_pi = functional_call(self.critic, frozen, (detached, pi)).min(0).values
        out["actor_loss"] = (alpha * log_prob - q_pi).mean()
        actor_total = out["actor_loss"]
        if demo is not None and bc_weight is not None:
            mean_action, _ = self.actor(detached, deterministic=True)
            error = (mean_action - action).square().sum(-1)
            out["bc_loss"] = (error * demo).sum() / demo.sum().clamp(min=1.0)
            actor_total = actor_total + bc_weight * out["bc_loss"]
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        out["total"] = critic_total + actor_total + alpha_loss
        out.update(alpha=alpha, q=q.mean().detach(), entropy=-log_prob.mean().detach())
        return out

    def update(
        self, batch: dict[str, np.ndarray], obs_keys: tuple[str, ...], bc_weight: float = 0.0
    ) -> dict[str, float]:
        """One gradient step on critic, actor and temperature; returns the losses. A batch with an
        ``is_demo`` column and ``bc_weight`` > 0 adds the action-supervision term on its demo rows."""
        t = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        args = (
            obs_to_tensors({k: t["obs/" + k] for k in obs_keys}, self.device),
            obs_to_tensors({k: t["next_obs/" + k] for k in obs_keys}, self.device),
            t["action"],
            t["reward"].float(),
            1.0 - t["is_terminal"].float(),
            t["goal_object"] if self.config.grounding > 0 and "goal_object" in t else None,
        )
        if bc_weight > 0 and "is_demo" in t:
            args = (*args, t["is_demo"].float(), torch.tensor(float(bc_weight), device=self.device))
        out = self._run_losses(args)
        optimizers = self.optimizers().values()
        for optim in optimizers:
            optim.zero_grad(set_to_none=True)
        out.pop("total").backward()
        for optim in optimizers:
            optim.step()
        with torch.no_grad():
            torch._foreach_lerp_(self._target, self._online, self.config.tau)
        return {k: v.item() for k, v in out.items()}

    def _run_losses(self, args: tuple) -> dict[str, torch.Tensor]:
        if not self.config.compile:
            return self.losses(*args)
        if self._compiled is None:
            self._compiled = torch.compile(self.losses, dynamic=False)
        try:
            return self._compiled(*args)
        except Exception as error:  # a platform without a working compiler: keep training, eagerly
            if self._compiled == self.losses:
                raise
            warnings.warn(f"torch.compile failed ({type(error).__name__}: {error}); updating eagerly", stacklevel=3)
            self._compiled = self.losses
            return self.losses(*args)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"critic": self.critic_optim, "actor": self.actor_optim, "alpha": self.alpha_optim}
