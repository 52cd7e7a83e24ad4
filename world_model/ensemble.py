"""A language-conditioned probabilistic ensemble of dynamics, reward, success and termination.

Each member maps (dynamic state, fixed context, instruction, action) to a Gaussian over
the normalised change of the dynamic state, a reward, and success and termination logits
(after PETS/MBPO; small named methods after TD-MPC2's ``WorldModel``). The instruction is
read by the same position-aware token encoder the agents use.

By default each member is *factored* (:attr:`EnsembleConfig.factored`): physics heads that do
not read the instruction (a body head, and one object head shared by every object slot) predict
the change of state; a task head reads the instruction, the state before and the state after
the step, and predicts reward, success and termination. Imagined states never leave the range
of the training data (:meth:`EnsembleModel.next_state`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

import gymnasium as gym
import torch
from torch import nn
from torch.nn import functional as F

from envs.base import HALF_EXTENT, OBJECT_DYNAMIC, OBJECT_FEATURES, ZONE_GEOMETRY, effector_xy
from envs.cli import Fraction, Positive
from envs.errors import UsageError
from envs.scene import TABLE_HALF
from groundworld.nn import GoalPointer, InstructionEncoder, grounding_loss, make_pointer
from world_model.codec import StateCodec
from world_model.objects import PAIR_FEATURES, object_inputs


@dataclass
class EnsembleConfig:
    """Sizes of :class:`EnsembleModel`."""

    SAVED_DEFAULTS: ClassVar[dict[str, object]] = {"pointer_groups": False}
    """What a saved config that lacks a field was built with (:func:`envs.cli.from_dict`)."""

    members: Annotated[int, Positive] = 5
    """Ensemble members trained from different initialisations and data orders."""
    elites: Annotated[int, Positive] = 3
    """Members kept for prediction (best held-out loss)."""
    hidden: Annotated[int, Positive] = 200
    """Width of each member's hidden layers."""
    layers: Annotated[int, Positive] = 3
    """Hidden layers per member."""
    instruction_dim: Annotated[int, Positive] = 32
    """Width of the instruction vector."""
    pointer: bool = True
    """Give the members the agents' :class:`~groundworld.nn.GoalPointer` read-out: the state of
    the object and zone the instruction names. Rewards and success depend on *which* object is
    meant; without it the members must find that out from pooled tokens. Trained by the model's
    losses and a grounding cross-entropy against the replay's ``goal_object``."""
    pointer_groups: bool = True
    """The pointer's words each score one attribute (``EncoderConfig.pointer_groups``); False: the first
    pointer, which saved configs without this field were built with (:data:`SAVED_DEFAULTS`)."""
    move_gate: bool = True
    """Predict, per object, whether it moves this step (a logit trained on whether its position
    or velocity changed by more than ``MOVE_TOLERANCE``); in imagination an object predicted to
    stay at rest keeps its state exactly, so resting objects do not drift open-loop."""
    factored: bool = True
    """Split the physics from the task. A body head predicts the body's change from the body's
    state, the action and the object nearest the effector; one object head, shared by every
    object slot, predicts each object's change from the body's state, the action, the object's
    own features and its relations (offsets from the effector and its nearest neighbour,
    elevation, margin to the table's edge; :mod:`world_model.objects`). Neither reads the
    instruction. The flat members become a compact task head: reward, success and termination
    from the instruction, the action, and the body and the pointer's named object and zone before
    and after the step (:meth:`EnsembleModel.task`). Contacts are learned once, not once per
    slot, and neither physics nor rewards latch onto inputs that do not matter: far steadier fits
    on a few thousand transitions."""
    physics_hidden: Annotated[int, Positive] = 64
    """Width of the body and object heads' hidden layers (each has ``layers`` of them)."""
    nll_beta: Annotated[float, Fraction] = 0.0
    """beta-NLL (Seitzer et al., 2022): each feature's Gaussian NLL is weighted by its predicted
    variance to the power beta (not differentiated). 0 is the plain NLL, under which the mean
    barely fits changes the model calls noisy (an object struck or falling off the edge); 0.5
    is the paper's default."""

    def validate(self) -> None:
        if self.elites > self.members:
            raise UsageError(f"--elites ({self.elites}) cannot exceed --members ({self.members})")


GAP_FEATURES = 4
"""The factored task head's distance inputs (see :meth:`EnsembleModel.gaps`)."""
READOUT = OBJECT_DYNAMIC + ZONE_GEOMETRY
"""The goal pointer's read-out: the named object's position and velocity, the named zone's x, y, radius."""
GAP_SCALE = 10.0
"""Distances enter the task head in decimetres (a step moves the ball about 0.15)."""

MOVE_TOLERANCE = 1e-3
"""Metres or metres/second: an object whose state changes less than this in a step is at rest."""


class Normalizer(nn.Module):
    """Per-feature mean and standard deviation, stored as buffers (saved with the model)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor, mask: torch.Tensor | None = None, floor: float | torch.Tensor = 1e-4) -> None:
        """Statistics of ``x`` (rows x features), counting only entries where ``mask`` is 1; no
        standard deviation below ``floor`` (one value, or one per feature)."""
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


def _mlp(members: int, in_dim: int, hidden: int, layers: int, out_dim: int) -> tuple[nn.ModuleList, EnsembleLinear]:
    """Hidden layers and output layer of one ensemble MLP."""
    dims = [in_dim] + [hidden] * layers
    body = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
    return body, EnsembleLinear(members, hidden, out_dim)


def _run_mlp(
    body: nn.ModuleList, out: EnsembleLinear, x: torch.Tensor, members: torch.Tensor | None, bf16: bool = False
) -> torch.Tensor:
    """SiLU hidden layers (in bfloat16 if ``bf16``), then the output layer in fp32; any leading
    shape (members, ..., in)."""
    k, lead = x.shape[0], x.shape[1:-1]
    h = x.reshape(k, -1, x.shape[-1])
    inplace = not torch.is_grad_enabled()  # saves an allocation per layer when imagining
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        for layer in body:
            h = F.silu(layer(h, members), inplace=inplace)
    y = out(h.float(), members)
    return y.reshape(k, *lead, y.shape[-1])


class EnsembleMLP(nn.Module):
    """``members`` independent MLPs run as batched matmuls: (members, ..., in) -> (members, ..., out)."""

    def __init__(self, members: int, in_dim: int, hidden: int, layers: int, out_dim: int):
        super().__init__()
        self.body, self.out = _mlp(members, in_dim, hidden, layers, out_dim)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None, bf16: bool = False) -> torch.Tensor:
        return _run_mlp(self.body, self.out, x, members, bf16)


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
            self.pointer = make_pointer(*attrs, groups=c.pointer_groups)
            in_dim += self.pointer.out_dim
        self.gates = self.codec.num_objects if c.move_gate else 0
        p = self.codec.proprio_dim
        # flat members: reward, success and termination logits, and (unless factored) every change and
        # the move gates; factored, they read the next state too (see ``task``)
        flat_out = 3 if c.factored else 2 * self.codec.dim + 3 + self.gates
        if c.factored:  # the task head's compact input, see ``task_inputs``
            in_dim = c.instruction_dim + action_dim + 2 * p + 2 * READOUT + GAP_FEATURES
        self.body, self.out = _mlp(c.members, in_dim, c.hidden, c.layers, flat_out)
        if c.factored:
            self.object_norm = Normalizer(OBJECT_FEATURES + PAIR_FEATURES)
            physics_in = p + action_dim + OBJECT_FEATURES + PAIR_FEATURES
            self.body_head = EnsembleMLP(c.members, physics_in, c.physics_hidden, c.layers, 2 * p)
            self.object_head = EnsembleMLP(c.members, physics_in, c.physics_hidden, c.layers, 2 * OBJECT_DYNAMIC + 1)
            self.gap_skip = EnsembleLinear(c.members, GAP_FEATURES, 3)  # rewards and success are ~linear in gaps
            nn.init.zeros_(self.gap_skip.weight)
        self.max_logvar = nn.Parameter(torch.full((self.codec.dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((self.codec.dim,), -10.0))
        self.register_buffer("elite_index", torch.arange(c.elites))
        # the envelope of the training data's dynamic state: imagination never leaves it
        self.register_buffer("state_low", torch.full((self.codec.dim,), -math.inf))
        self.register_buffer("state_high", torch.full((self.codec.dim,), math.inf))
        self.register_buffer("reward_std", torch.ones(()))  # the training rewards' scale
        # the range of (elevation, vertical velocity) of objects over the table in the training data
        self.register_buffer("table_low", torch.full((2,), -math.inf))
        self.register_buffer("table_high", torch.full((2,), math.inf))

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
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        members: torch.Tensor | None = None,
        bf16: bool = False,
        next_obs: dict[str, torch.Tensor] | None = None,
    ) -> Prediction:
        """Predictions of every member, or of ``members`` only (in that order); with ``bf16`` the
        hidden layers multiply in bfloat16 (outputs stay fp32). A factored model's reward, success
        and termination read ``next_obs`` when given (training), else each member's own mean
        prediction of it."""
        k = self.config.members if members is None else len(members)
        goal_scores = self.pointer.scores(obs) if self.pointer is not None else None
        if self.config.factored:
            mean, logvar, move = self.physics(obs, action, k, members, bf16)
            if next_obs is not None:
                after = self.codec.dynamic(next_obs)
            else:
                after = self.next_state(obs, mean, None if move is None else move > 0)
            task = self.task(obs, action, after, goal_scores, members, bf16)
        else:
            x = self.inputs(obs, action, goal_scores).unsqueeze(0).expand(k, -1, -1)
            out = _run_mlp(self.body, self.out, x, members, bf16)
            d = self.codec.dim
            mean, logvar, task = out[..., :d], out[..., d : 2 * d], out[..., 2 * d : 2 * d + 3]
            move = out[..., 2 * d + 3 :] if self.gates else None
        return Prediction(mean, self.bound_logvar(logvar), task[..., 0], task[..., 1], task[..., 2], move, goal_scores)

    def bound_logvar(self, logvar: torch.Tensor) -> torch.Tensor:
        """Soft bounds between the learned ``min_logvar`` and ``max_logvar`` (PETS)."""
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        return self.min_logvar + F.softplus(logvar - self.min_logvar)

    def next_state(
        self, obs: dict[str, torch.Tensor], delta: torch.Tensor, moving: torch.Tensor | None
    ) -> torch.Tensor:
        """The dynamic state after a normalised change ``delta`` (..., B, dim): features the model
        does not learn keep their mean change, objects not ``moving`` (..., B, objects) keep their
        state exactly, and the rest is held inside the training data's envelope (``state_low``,
        ``state_high``): a model that starts imagining an object falling through the table cannot
        accelerate it past the fastest fall it has seen."""
        gate = self.codec.dynamic_mask(obs)
        if moving is not None:
            body = torch.ones_like(gate[:, : self.codec.proprio_dim]).expand(*moving.shape[:-1], -1)
            gate = gate * torch.cat([body, moving.to(gate.dtype).repeat_interleave(OBJECT_DYNAMIC, -1)], -1)
        state = self.codec.dynamic(obs)
        after = state + self.delta_norm.inverse(delta * self.learned()) * gate
        held = self.table_contact(obs, torch.clamp(after, self.state_low, self.state_high))
        return torch.where(gate > 0, held, after)

    def table_contact(self, obs: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        """``state`` (..., B, dim) with every object over the table held inside the range of
        elevation and vertical velocity that objects over the table had in the training data
        (``table_low``, ``table_high``). The table is rigid: the global envelope must allow an
        object that fell off it to be far below, but over it, an imagined object that starts to
        sink cannot keep sinking and pick up speed."""
        if not torch.isfinite(self.table_low).all():  # not fitted (older checkpoints): unchanged
            return state
        p, n = self.codec.proprio_dim, self.codec.num_objects
        objects = state[..., p:].unflatten(-1, (n, OBJECT_DYNAMIC))
        half = obs["objects"][..., HALF_EXTENT].expand(objects.shape[:-1])
        over = objects[..., :2].abs().amax(-1) <= TABLE_HALF
        z = torch.where(
            over, objects[..., 2].clamp(half + self.table_low[0], half + self.table_high[0]), objects[..., 2]
        )
        vz = torch.where(over, objects[..., 5].clamp(self.table_low[1], self.table_high[1]), objects[..., 5])
        objects = torch.cat([objects[..., :2], z[..., None], objects[..., 3:5], vz[..., None]], -1)
        return torch.cat([state[..., :p], objects.flatten(-2)], -1)

    def task(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        after: torch.Tensor,
        goal_scores: torch.Tensor | None,
        members: torch.Tensor | None,
        bf16: bool = False,
    ) -> torch.Tensor:
        """(k, B, 3) reward, success and termination logits of a factored model, from the
        transition's start, action and dynamic state ``after`` it ((B, dim), or (k, B, dim) per
        member). Reading the state after the step turns a dense reward (a change of distance)
        and success (a distance below a threshold) into nearly a function of the inputs."""
        k = self.config.members if members is None else len(members)
        after = after.expand(k, action.shape[0], -1)
        gaps = self.gaps(obs, after, goal_scores)
        x = torch.cat([self.task_inputs(obs, action, after, goal_scores), gaps], -1)
        return _run_mlp(self.body, self.out, x, members, bf16) + self.gap_skip(gaps, members)

    def task_inputs(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, after: torch.Tensor, goal_scores: torch.Tensor | None
    ) -> torch.Tensor:
        """(k, B, features): what the factored task head reads besides the gaps: the instruction,
        the action, the body's state before and ``after`` (k, B, dim) the step, and the goal
        pointer's read-out of the named object and zone before and after (zeros without a
        pointer). Not every object's state nor every attribute: on a few thousand transitions a
        head that reads everything fits noise (held-out reward correlation 0.05)."""
        k, b = after.shape[:2]
        p = self.codec.proprio_dim
        before = self.state_norm(self.codec.dynamic(obs))
        parts = [self.instruction(obs["instruction"]), action.float(), before[:, :p]]
        parts = [x.expand(k, -1, -1) for x in parts] + [self.state_norm(after)[..., :p]]
        if goal_scores is None:
            return torch.cat([*parts, after.new_zeros(k, b, 2 * READOUT)], -1)
        w_obj, w_zone = self.pointer.weights(obs, goal_scores)
        zone = (w_zone.unsqueeze(-1) * obs["zones"][..., :ZONE_GEOMETRY]).sum(1).expand(k, -1, -1)

        def named(state: torch.Tensor) -> torch.Tensor:  # the named object's normalised state
            objects = state[..., p:].reshape(*state.shape[:-1], self.codec.num_objects, OBJECT_DYNAMIC)
            return (w_obj.unsqueeze(-1) * objects).sum(-2)

        return torch.cat([*parts, named(before).expand(k, -1, -1), named(self.state_norm(after)), zone, zone], -1)

    def gaps(self, obs: dict[str, torch.Tensor], after: torch.Tensor, goal_scores: torch.Tensor | None) -> torch.Tensor:
        """(k, B, GAP_FEATURES): distances after the step from the effector to the named object and
        from that object to the named zone, and how much each shrank, both scaled by ``GAP_SCALE``
        (the object and zone are the goal pointer's soft choices; zeros without a pointer)."""
        k, b = after.shape[:2]
        if goal_scores is None:
            return after.new_zeros(k, b, GAP_FEATURES)
        w_obj, w_zone = self.pointer.weights(obs, goal_scores)
        p, n = self.codec.proprio_dim, self.codec.num_objects
        zone = (w_zone.unsqueeze(-1) * obs["zones"][..., :2]).sum(1)  # (B, 2)

        def distances(state: torch.Tensor) -> torch.Tensor:  # (..., B, dim) -> (..., B, 2)
            xy = state[..., p:].reshape(*state.shape[:-1], n, OBJECT_DYNAMIC)[..., :2]
            target = (w_obj.unsqueeze(-1) * xy).sum(-2)
            return torch.stack([(target - effector_xy(state[..., :p])).norm(dim=-1), (target - zone).norm(dim=-1)], -1)

        before, now = distances(self.codec.dynamic(obs)), distances(after)
        return torch.cat([now, before - now], -1) * GAP_SCALE

    def physics(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        k: int,
        members: torch.Tensor | None,
        bf16: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The factored heads' (mean, log-variance) of the normalised change, (k, B, dim) each in the
        codec's layout, and the move logits (k, B, objects)."""
        rows = self.object_rows(obs, action)  # (B, objects, features)
        b, n = rows.shape[:2]
        near = self.codec.nearest_to_effector(obs)  # (B,) the slot the body most likely touches
        body = self.body_head(rows[torch.arange(b), near].expand(k, -1, -1), members, bf16)
        present = torch.nonzero(obs["object_mask"].reshape(-1) > 0.5).squeeze(-1)  # empty slots are not run
        flat = self.object_head(rows.reshape(b * n, -1)[present].expand(k, -1, -1), members, bf16)
        objects = flat.new_zeros(k, b * n, flat.shape[-1]).index_copy_(1, present, flat).reshape(k, b, n, -1)
        p = self.codec.proprio_dim
        mean = torch.cat([body[..., :p], objects[..., :OBJECT_DYNAMIC].reshape(k, b, -1)], -1)
        logvar = torch.cat([body[..., p:], objects[..., OBJECT_DYNAMIC : 2 * OBJECT_DYNAMIC].reshape(k, b, -1)], -1)
        return mean, logvar, objects[..., -1] if self.gates else None

    def object_rows(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """(B, objects, features): the physics heads' input, one row per object slot: the normalised
        body state and the action, then that object's normalised own and relational features."""
        b, n = action.shape[0], self.codec.num_objects
        body = self.state_norm(self.codec.dynamic(obs))[:, : self.codec.proprio_dim]
        shared = torch.cat([body, action.float()], -1)[:, None, :].expand(b, n, -1)
        return torch.cat([shared, self.object_norm(object_inputs(obs))], -1)

    def loss(
        self, obs, action, next_obs, reward, success, terminal, goal_object=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(total training loss, per-member held-out score) for one batch of transitions;
        ``goal_object`` (the replay's, -1 where unknown) trains the goal pointer's match."""
        pred = self(obs, action, next_obs=next_obs)
        target = self.delta_norm(self.codec.dynamic(next_obs) - self.codec.dynamic(obs))
        mask = self.codec.dynamic_mask(obs) * self.learned()
        inv_var = torch.exp(-pred.delta_logvar)
        nll = (((pred.delta_mean - target) ** 2) * inv_var + pred.delta_logvar) * mask
        if self.config.nll_beta > 0:  # beta-NLL: rare large changes (impacts, falls) keep their pull on the mean
            nll = nll * torch.exp(self.config.nll_beta * pred.delta_logvar).detach()
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
        return total, mse + reward_loss.mean(-1) / self.reward_std**2  # a reward error weighs like a state error

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

    # ---------------------------------------------------------------- prediction
    @torch.no_grad()
    def step(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool = True,
        elite_mean: bool = False,
        bf16: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Imagine one step. Each row uses a random elite (TS-1) and, with ``sample``, draws from
        its Gaussian; ``elite_mean`` uses the elites' average prediction instead (for
        measuring). Returns next_obs (dict), reward, success and terminal probabilities, and
        the elites' disagreement (mean std of their normalised predicted change). ``bf16``: see
        :meth:`forward` (twice the matmul rate on CPUs with native bfloat16)."""
        return self.imagine(obs, action, generator, sample, elite_mean, bf16)

    def imagine(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool = True,
        elite_mean: bool = False,
        bf16: bool = False,
    ) -> dict[str, torch.Tensor]:
        """:meth:`step` with gradients: differentiable in ``obs`` and ``action`` (the Gaussian
        draw is reparameterised), for actors that learn by back-propagating through the model."""
        elites = self.elite_index  # imagination runs the elites only
        if self.config.factored:  # reward and success are read off the imagined next state, below
            goal_scores = self.pointer.scores(obs) if self.pointer is not None else None
            mean, logvar, move = self.physics(obs, action, len(elites), elites, bf16)
            logvar = self.bound_logvar(logvar)
        else:
            pred = self(obs, action, elites, bf16)
            mean, logvar, move = pred.delta_mean, pred.delta_logvar, pred.move_logit
            task = torch.stack([pred.reward, pred.success_logit, pred.terminal_logit], -1)
        b = action.shape[0]
        rows = torch.arange(b, device=action.device)
        pick = torch.randint(len(self.elite_index), (b,), generator=generator, device=action.device)
        if elite_mean:
            delta = mean.mean(0)
            move = None if move is None else move.mean(0)
        else:
            delta = mean[pick, rows]
            move = None if move is None else move[pick, rows]
            if sample:
                noise = torch.randn(delta.shape, generator=generator, device=delta.device)
                delta = delta + noise * (0.5 * logvar[pick, rows]).exp()
        dynamic = self.next_state(obs, delta, None if move is None else move > 0)
        if self.config.factored:
            task = self.task(obs, action, dynamic, goal_scores, elites, bf16)
        mask = self.codec.dynamic_mask(obs)
        spread = ((mean - mean.mean(0)) ** 2).sum(0).div(max(1, mean.shape[0] - 1)).sqrt()  # std over elites
        disagreement = (spread * mask).sum(-1) / mask.sum(-1)
        outcome = torch.cat([task[..., :1], torch.sigmoid(task[..., 1:])], -1)  # reward, P(success), P(end)
        chosen = outcome.mean(0) if elite_mean else outcome[pick, rows]  # the elites' mean, or the row's elite
        return {
            "next_obs": self.codec.compose(obs, dynamic),
            "reward": chosen[:, 0],
            "success": chosen[:, 1],
            "terminal": chosen[:, 2],
            "disagreement": disagreement,
        }
