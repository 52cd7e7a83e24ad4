"""A language-conditioned probabilistic ensemble of dynamics, reward, success and termination.

Each member maps (dynamic state, fixed context, instruction, action) to a Gaussian over
the normalised change of the dynamic state, a reward, and success and termination logits
(after PETS/MBPO; small named methods after TD-MPC2's ``WorldModel``). The instruction is
read by the same position-aware token encoder the agents use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn
from torch.nn import functional as F

from agents.networks import GoalPointer, InstructionEncoder, grounding_loss
from envs.base import OBJECT_DYNAMIC, ZONE_GEOMETRY
from world_model.codec import StateCodec


@dataclass
class EnsembleConfig:
    """Sizes of :class:`EnsembleModel`."""

    members: int = 5
    """Ensemble members trained from different initialisations and data orders."""
    elites: int = 3
    """Members kept for prediction (best held-out loss)."""
    hidden: int = 200
    """Width of each member's hidden layers."""
    layers: int = 3
    """Hidden layers per member."""
    instruction_dim: int = 32
    """Width of the instruction vector."""
    pointer: bool = True
    """Give the members the agents' :class:`~agents.networks.GoalPointer` read-out: the state of
    the object and zone the instruction names. Rewards and success depend on *which* object is
    meant; without it the members must find that out from pooled tokens. Trained by the model's
    losses and a grounding cross-entropy against the replay's ``goal_object``."""
    move_gate: bool = True
    """Predict, per object, whether it moves this step (a logit trained on whether its position
    or velocity changed by more than ``MOVE_TOLERANCE``); in imagination an object predicted to
    stay at rest keeps its state exactly, so resting objects do not drift open-loop."""


MOVE_TOLERANCE = 1e-3
"""Metres or metres/second: an object whose state changes less than this in a step is at rest."""


class Normalizer(nn.Module):
    """Per-feature mean and standard deviation, stored as buffers (saved with the model)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor, mask: torch.Tensor | None = None, floor: float = 1e-4) -> None:
        """Statistics of ``x`` (rows x features), counting only entries where ``mask`` is 1; no
        standard deviation below ``floor``."""
        w = torch.ones_like(x) if mask is None else mask.to(x.dtype)
        count = w.sum(0).clamp(min=1.0)
        mean = (x * w).sum(0) / count
        var = ((x - mean) ** 2 * w).sum(0) / count
        self.mean.copy_(mean)
        self.std.copy_(var.sqrt().clamp(min=floor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class EnsembleLinear(nn.Module):
    """``k`` independent linear layers as one batched matmul: (k, B, in) -> (k, B, out)."""

    def __init__(self, k: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(k, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(k, 1, out_dim))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        if members is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(self.bias[members], x, self.weight[members])  # only some members (e.g. elites)


@dataclass
class Prediction:
    """One step of every member: tensors shaped (members, batch, ...)."""

    delta_mean: torch.Tensor  # normalised change of the dynamic state
    delta_logvar: torch.Tensor
    reward: torch.Tensor
    success_logit: torch.Tensor
    terminal_logit: torch.Tensor
    move_logit: torch.Tensor | None = None  # (members, batch, objects): does each object move
    goal_scores: torch.Tensor | None = None  # (batch, objects + zones): the goal pointer's scores


class EnsembleModel(nn.Module):
    """The world model. ``obs`` arguments are dicts of batched tensors (see ``obs_to_tensors``)."""

    def __init__(self, observation_space: gym.spaces.Dict, action_dim: int, config: EnsembleConfig | None = None):
        super().__init__()
        self.config = c = config or EnsembleConfig()
        self.codec = StateCodec(observation_space)
        self.action_dim = action_dim
        self.instruction = InstructionEncoder(observation_space["instruction"].shape[0], 16, c.instruction_dim)
        self.state_norm = Normalizer(self.codec.dim)
        self.delta_norm = Normalizer(self.codec.dim)
        self.context_norm = Normalizer(self.codec.context_dim)
        in_dim = self.codec.dim + self.codec.context_dim + c.instruction_dim + action_dim
        self.pointer: GoalPointer | None = None
        if c.pointer:
            spaces = observation_space.spaces
            attrs = spaces["objects"].shape[-1] - OBJECT_DYNAMIC, spaces["zones"].shape[-1] - ZONE_GEOMETRY
            self.pointer = GoalPointer(*attrs, dim=16)
            in_dim += self.pointer.out_dim
        dims = [in_dim] + [c.hidden] * c.layers
        self.body = nn.ModuleList(EnsembleLinear(c.members, a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.gates = self.codec.num_objects if c.move_gate else 0
        self.out = EnsembleLinear(c.members, c.hidden, 2 * self.codec.dim + 3 + self.gates)
        self.max_logvar = nn.Parameter(torch.full((self.codec.dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((self.codec.dim,), -10.0))
        self.register_buffer("elite_index", torch.arange(c.elites))

    # ---------------------------------------------------------------- small named pieces
    def inputs(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, goal_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The members' shared input row: normalised state and context, instruction, action, and the
        goal pointer's read-out (from ``goal_scores``, the pointer's scores of ``obs``)."""
        state = self.state_norm(self.codec.dynamic(obs))
        context = self.context_norm(self.codec.context(obs))
        parts = [state, context, self.instruction(obs["instruction"]), action.float()]
        if self.pointer is not None:
            parts.append(self.pointer(obs, goal_scores))
        return torch.cat(parts, -1)

    def forward(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, members: torch.Tensor | None = None
    ) -> Prediction:
        """Predictions of every member, or of ``members`` only (in that order)."""
        k = self.config.members if members is None else len(members)
        goal_scores = self.pointer.scores(obs) if self.pointer is not None else None
        x = self.inputs(obs, action, goal_scores).unsqueeze(0).expand(k, -1, -1)
        for layer in self.body:
            x = F.silu(layer(x, members))
        out = self.out(x, members)
        d = self.codec.dim
        mean, logvar = out[..., :d], out[..., d : 2 * d]
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)  # soft bounds (PETS)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        move = out[..., 2 * d + 3 :] if self.gates else None
        return Prediction(mean, logvar, out[..., 2 * d], out[..., 2 * d + 1], out[..., 2 * d + 2], move, goal_scores)

    def loss(
        self, obs, action, next_obs, reward, success, terminal, goal_object=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(total training loss, per-member held-out score) for one batch of transitions;
        ``goal_object`` (the replay's, -1 where unknown) trains the goal pointer's match."""
        pred = self(obs, action)
        target = self.delta_norm(self.codec.dynamic(next_obs) - self.codec.dynamic(obs))
        mask = self.codec.dynamic_mask(obs) * self.learned()
        inv_var = torch.exp(-pred.delta_logvar)
        nll = (((pred.delta_mean - target) ** 2) * inv_var + pred.delta_logvar) * mask
        per_member = nll.sum(-1) / mask.sum(-1)
        reward_loss = (pred.reward - reward) ** 2
        success_loss = F.binary_cross_entropy_with_logits(
            pred.success_logit, success.expand_as(pred.success_logit), reduction="none"
        )
        terminal_loss = F.binary_cross_entropy_with_logits(
            pred.terminal_logit, terminal.expand_as(pred.terminal_logit), reduction="none"
        )
        member_loss = (per_member + reward_loss + success_loss + terminal_loss).mean(-1)  # (members,)
        if pred.move_logit is not None:
            member_loss = member_loss + self.move_loss(pred.move_logit, obs, next_obs)
        bounds = 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())
        mse = ((((pred.delta_mean - target) ** 2) * mask).sum(-1) / mask.sum(-1)).mean(-1)
        total = member_loss.sum() + bounds
        if pred.goal_scores is not None and goal_object is not None:
            total = total + grounding_loss(pred.goal_scores, obs["object_mask"], goal_object)
        return total, mse + reward_loss.mean(-1)

    def learned(self) -> torch.Tensor:
        """(features,) 1.0 for the dynamic features the model learns: those whose change varied in
        the training data. The rest carry no signal (a shrinking variance on them would swamp
        the loss) and are imagined unchanged."""
        return (self.delta_norm.std > 2e-4).float()

    def moved(self, obs: dict[str, torch.Tensor], next_obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, objects) 1.0 where an object's position or velocity changed by more than ``MOVE_TOLERANCE``."""
        change = (self.codec.dynamic(next_obs) - self.codec.dynamic(obs))[:, self.codec.proprio_dim :]
        return (change.abs().reshape(change.shape[0], self.gates, -1).amax(-1) > MOVE_TOLERANCE).float()

    def move_loss(
        self, move_logit: torch.Tensor, obs: dict[str, torch.Tensor], next_obs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """(members,) cross-entropy of the move gates over the present objects."""
        target = self.moved(obs, next_obs).expand_as(move_logit)
        present = obs["object_mask"].expand_as(move_logit)
        bce = F.binary_cross_entropy_with_logits(move_logit, target, reduction="none")
        return (bce * present).sum((-1, -2)) / present.sum((-1, -2)).clamp(min=1.0)

    def gate_mask(self, move_logit: torch.Tensor | None, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, dim) 1 for the body and for objects predicted to move, 0 for objects predicted at rest."""
        mask = self.codec.dynamic_mask(obs)
        if move_logit is None:
            return mask
        body = torch.ones_like(mask[:, : self.codec.proprio_dim])
        moving = (move_logit > 0).to(mask.dtype).repeat_interleave(OBJECT_DYNAMIC, -1)
        return mask * torch.cat([body, moving], -1)

    # ---------------------------------------------------------------- prediction
    @torch.no_grad()
    def step(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool = True,
        elite_mean: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Imagine one step. Each row uses a random elite (TS-1) and, with ``sample``, draws from
        its Gaussian; ``elite_mean`` uses the elites' average prediction instead (for
        measuring). Returns next_obs (dict), reward, success and terminal probabilities, and
        the elites' disagreement (mean std of their normalised predicted change)."""
        return self.imagine(obs, action, generator, sample, elite_mean)

    def imagine(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool = True,
        elite_mean: bool = False,
    ) -> dict[str, torch.Tensor]:
        """:meth:`step` with gradients: differentiable in ``obs`` and ``action`` (the Gaussian
        draw is reparameterised), for actors that learn by back-propagating through the model."""
        pred = self(obs, action, self.elite_index)  # imagination runs the elites only
        mean, logvar = pred.delta_mean, pred.delta_logvar
        b = action.shape[0]
        rows = torch.arange(b, device=action.device)
        pick = torch.randint(len(self.elite_index), (b,), generator=generator, device=action.device)
        move = pred.move_logit
        if elite_mean:
            delta = mean.mean(0)
            move = None if move is None else move.mean(0)
        else:
            delta = mean[pick, rows]
            move = None if move is None else move[pick, rows]
            if sample:
                noise = torch.randn(delta.shape, generator=generator, device=delta.device)
                delta = delta + noise * (0.5 * logvar[pick, rows]).exp()
        mask = self.codec.dynamic_mask(obs)
        delta = delta * self.learned()  # unlearned features keep their mean change
        dynamic = self.codec.dynamic(obs) + self.delta_norm.inverse(delta) * self.gate_mask(move, obs)
        disagreement = (mean.std(0) * mask).sum(-1) / mask.sum(-1)
        return {
            "next_obs": self.codec.compose(obs, dynamic),
            "reward": pred.reward[pick, rows],
            "success": torch.sigmoid(pred.success_logit[pick, rows]),
            "terminal": torch.sigmoid(pred.terminal_logit[pick, rows]),
            "disagreement": disagreement,
        }
