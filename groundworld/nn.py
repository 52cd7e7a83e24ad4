"""Language-grounded encoders and heads in plain PyTorch, shared by agents, judges and world models.

:class:`GroundedEncoder` reads a Groundworld observation dict (batched tensors) and returns
one feature vector. The instruction is embedded with position-aware token embeddings
(word order matters: "touch A after B"); each object and zone is embedded and FiLM-modulated
by the instruction, then several instruction-conditioned attention heads pool the set, so
the policy can pick out "the red cube" whichever slot it is in. A :class:`GoalPointer` adds
the state of the object and zone the instruction names, found by a conjunctive word-attribute
match that carries over to colour-shape pairs never named in training. With ``pixels`` a
small CNN reads the image instead (FiLM-modulated by the instruction as well).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from envs import symmetry, tokenizer
from envs.base import OBJECT_ATTRIBUTE_GROUPS, OBJECT_DYNAMIC, ZONE_GEOMETRY, effector_xy
from envs.cli import Positive
from envs.errors import UsageError
from groundworld.layout import to_common

PRECISIONS = ("auto", "bf16", "fp32")
"""Matmul precisions of hidden layers (resolved by :func:`uses_bf16`)."""
DEVICES = ("auto", "cpu", "cuda")
"""Device names :func:`resolve_device` accepts."""


@dataclass
class EncoderConfig:
    """Sizes of :class:`GroundedEncoder`."""

    SAVED_DEFAULTS: ClassVar[dict[str, object]] = {"pointer_groups": False}
    """What a saved config that lacks a field was built with (:func:`envs.cli.from_dict`)."""

    token_dim: Annotated[int, Positive] = 32
    """Width of word and position embeddings."""
    instruction_dim: Annotated[int, Positive] = 64
    """Width of the instruction vector."""
    entity_dim: Annotated[int, Positive] = 32
    """Width of each object/zone embedding."""
    heads: Annotated[int, Positive] = 4
    """Attention heads pooling the objects (each may attend to a different named object)."""
    head_dim: Annotated[int, Positive] = 32
    """Width of each attention head's output."""
    match_dim: Annotated[int, Positive] = 16
    """Width of the bag-of-words attribute match added to the attention scores (and of the first pointer's)."""
    proprio_dim: Annotated[int, Positive] = 64
    """Width of the embedded body state."""
    cnn_dim: Annotated[int, Positive] = 128
    """Width of the image features (pixel observations only)."""
    pointer: bool = True
    """Add a :class:`GoalPointer`: a conjunctive word-attribute match that picks the named object
    and zone and reads out their state. Checkpoints from before it existed load with False."""
    pointer_groups: bool = True
    """Each of the pointer's words scores one attribute (colour, shape or size), and object and zone words are
    gated apart (:class:`GoalPointer`); False is the first pointer (:class:`SharedGatePointer`). Saved configs
    without this field were written before it and load with False (:data:`SAVED_DEFAULTS`)."""
    pointer_reference: bool = False
    """The pointer also picks the object the words name second (Relation's reference, "... left of *the blue
    ball*"; Sequence's "..., then *the red cube*") and reads out that object and the place the words name beside
    it (``GoalPointer.place``); with ``relative``, the named object's offsets are then to that place instead of to
    a zone. Trained by the reference and place losses (``info["goal"]["named"]``, and ``info["goal"]["position"]``
    where the goal has a reference)."""
    relative: bool = False
    """Also read out the pointer's named object relative to the effector and the named zone relative to that
    object (offsets and distances): where to push from and where to, without differences to learn."""
    obstacles: bool = False
    """With ``relative``, also read out the object nearest the named one, other than it (a soft minimum over the
    present objects): its offset and distance from the named object and from the effector. A head that sees only
    the read-out otherwise cannot see what the oracle steers round (Relation's reference lies beside the place
    its object must reach)."""
    readout_only: bool = False
    """Features are the body state and the pointer's read-out alone (with ``relative``, its geometry too): the
    instruction's embedding and the attention pool over every entity stay out. The words then only choose
    what the pointer reads, and a head cannot tell episodes apart by them (cloning Push's oracle with
    ``--symmetry``, the label error on held-out episodes falls from 0.36 to 0.32: ``bench.label_probe``). It
    sees no other object, so it cannot steer round one."""


class InstructionEncoder(nn.Module):
    """Token ids (B, T) -> instruction vector (B, D): masked mean and max of word + position embeddings."""

    def __init__(self, max_tokens: int, token_dim: int, out_dim: int, vocab_size: int = tokenizer.VOCAB_SIZE):
        super().__init__()
        self.words = nn.Embedding(vocab_size, token_dim, padding_idx=0)
        self.positions = nn.Embedding(max_tokens, token_dim)
        self.out = nn.Sequential(nn.Linear(2 * token_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.long()
        mask = (tokens != 0).unsqueeze(-1).float()
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = (self.words(tokens) + self.positions(positions)) * mask
        mean = x.sum(1) / mask.sum(1).clamp(min=1.0)
        maxed = x.masked_fill(mask == 0, -1e4).amax(1)
        return self.out(torch.cat([mean, maxed], dim=-1))


class FiLMEntities(nn.Module):
    """Per-entity features (B, N, F) -> embeddings (B, N, D) modulated by the instruction."""

    def __init__(self, in_dim: int, dim: int, cond_dim: int):
        super().__init__()
        self.inp = nn.Linear(in_dim, dim)
        self.film = nn.Linear(cond_dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(cond).unsqueeze(1).chunk(2, dim=-1)
        h = F.relu(self.inp(x) * (1 + gamma) + beta)
        return F.relu(self.out(h))


class AttentionPool(nn.Module):
    """Multi-head attention pooling over a masked set, queried by the instruction and body.

    Keys are given by the caller; each head has one query, so scores are computed with
    broadcasting rather than batched matmuls (which are slow for such small matrices on CPU).
    """

    def __init__(self, value_dim: int, query_dim: int, heads: int, head_dim: int = 32):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.query = nn.Linear(query_dim, heads * head_dim)
        self.value = nn.Linear(value_dim, heads * head_dim)
        self.out_dim = heads * head_dim

    def forward(
        self,
        keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor,
        query: torch.Tensor,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, n, _ = values.shape
        q = self.query(query).view(b, 1, self.heads, self.head_dim)
        k = keys.view(b, n, self.heads, self.head_dim)
        v = self.value(values).view(b, n, self.heads, self.head_dim)
        scores = (q * k).sum(-1) / math.sqrt(self.head_dim)  # (B, N, H)
        if bias is not None:  # a score shared by every head, e.g. the instruction's attribute match
            scores = scores + bias.unsqueeze(-1)
        scores = scores.masked_fill(mask.unsqueeze(-1) < 0.5, -1e4)
        weights = scores.softmax(dim=1).unsqueeze(-1)  # over the set
        return (weights * v).sum(1).reshape(b, self.out_dim)


class GoalPointer(nn.Module):
    """Which object and zone the instruction names, and where they are.

    Every word asks something of an entity, and each word asks about one attribute. Object word ``t``
    scores object ``e`` with the logit ``l_t(e) = b_t + sum_g pi_tg <w_tg, a_g(e)>``, where ``a_g(e)``
    is the object's one-hot colour, one-hot shape or size (:data:`envs.base.OBJECT_ATTRIBUTE_GROUPS`)
    and ``pi_t`` a learned softmax over those groups; zone word ``t`` scores a zone's colour the same
    way. An entity's score is a soft conjunction, ``sum_t g_t log sigmoid(l_t(e))``: it must satisfy
    every relevant word. Two context gates (convolutions over the tokens) say whether a word describes
    the object or the zone ("push the *red cube* into the *green zone*").

    Both structures are there for colour-shape pairs never named in training. In the training split a
    held-out pair (the purple cube) is present only as a distractor, so every gradient pushes it down;
    a word free to score any attribute learns "purple, but not a cube" and then refuses the purple cube
    when it is named. Scoring one group per word leaves "purple" nothing to say about shape. And one
    gate for objects and zones had to switch "green" off for both, or let it veto every object that is
    not green. Trained on the train split's first observations with the grounding losses alone, 6,000
    steps, the first pointer (:class:`SharedGatePointer`) picks the named object in 0.85 (Push) and
    0.93 (KnockOff) of held-out scenes, this one in 1.00 and 0.99 (``python -m bench.pointer_probe``).
    It starts with no opinion per word and learns more slowly from scratch than the first pointer did
    (hence ``groundworld.grounding``).

    The pointer reads out the softmax-weighted dynamic state of the objects (position, velocity)
    and the geometry of the zones: the features of "the thing the instruction is about".
    """

    def __init__(self, object_attrs: int, zone_attrs: int, token_dim: int = 16, reference: bool = False):
        super().__init__()
        groups = [(lo, hi) for lo, hi in OBJECT_ATTRIBUTE_GROUPS if hi <= object_attrs]
        if not groups or groups[-1][1] != object_attrs:
            raise ValueError(f"{object_attrs} object attributes do not split into {OBJECT_ATTRIBUTE_GROUPS}")
        self.groups = tuple(groups)
        self.object_asks = nn.Embedding(tokenizer.VOCAB_SIZE, object_attrs + 1, padding_idx=0)  # w_t and b_t
        self.object_group = nn.Embedding(tokenizer.VOCAB_SIZE, len(self.groups), padding_idx=0)  # pi_t's logits
        self.zone_asks = nn.Embedding(tokenizer.VOCAB_SIZE, zone_attrs + 1, padding_idx=0)
        for asks in (self.object_asks, self.zone_asks):  # small: a word starts with no opinion it must unlearn
            nn.init.normal_(asks.weight, std=0.1)
            asks.weight.data[0] = 0.0
        self.tokens = nn.Embedding(tokenizer.VOCAB_SIZE, token_dim, padding_idx=0)
        self.reference = reference
        self.gate = _gate(token_dim, outputs=3 if reference else 2)  # does word t describe the object, the zone, ...
        self.out_dim = OBJECT_DYNAMIC + ZONE_GEOMETRY
        if reference:  # ... the reference object, and where does it put the object relative to that one?
            self.offsets = nn.Embedding(tokenizer.VOCAB_SIZE, 2, padding_idx=0)
            nn.init.zeros_(self.offsets.weight)
            self.out_dim += OBJECT_DYNAMIC + 2

    def scores(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, objects + zones) log-scores: how well each entity satisfies the instruction (with ``reference``,
        (B, objects + zones + objects): the objects' scores as the reference object follow)."""
        tokens = obs["instruction"].long()
        gate = torch.sigmoid(self.gate_logits(tokens)) * (tokens != 0).float().unsqueeze(-1)  # (B, T, gates)
        objects, zones = obs["objects"][..., OBJECT_DYNAMIC:], obs["zones"][..., ZONE_GEOMETRY:]
        asks, share = self.object_asks(tokens), self.object_group(tokens).softmax(-1)  # (B, T, A + 1), (B, T, G)
        object_logits = asks[..., -1:]
        for g, (lo, hi) in enumerate(self.groups):
            object_logits = object_logits + share[..., g : g + 1] * torch.bmm(
                asks[..., lo:hi], objects[..., lo:hi].transpose(1, 2)
            )  # (B, T, N)
        zone_asks = self.zone_asks(tokens)
        zone_logits = torch.bmm(zone_asks[..., :-1], zones.transpose(1, 2)) + zone_asks[..., -1:]
        fits = F.logsigmoid(object_logits)
        parts = [(fits * gate[..., :1]).sum(1), (F.logsigmoid(zone_logits) * gate[..., 1:2]).sum(1)]
        if self.reference:
            parts.append((fits * gate[..., 2:]).sum(1))
        return torch.cat(parts, dim=1)

    def gate_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, gates) relevance logits: ``self.gate``'s convolutions, computed as
        one matmul per kernel offset (several times faster than CPU convolutions this small)."""
        conv, _, out = self.gate
        pad, length = conv.padding[0], tokens.shape[1]
        x = F.pad(self.tokens(tokens), (0, 0, pad, pad))  # (B, T + 2 pad, C)
        shifted = (F.linear(x[:, k : k + length], conv.weight[:, :, k]) for k in range(conv.kernel_size[0]))
        hidden = F.relu(sum(shifted) + conv.bias)
        return F.linear(hidden, out.weight.flatten(1), out.bias)

    @staticmethod
    def weights(obs: dict[str, torch.Tensor], scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, objects) and (B, zones): the softmax of ``scores`` over the present objects and zones."""
        n, z = obs["objects"].shape[1], obs["zones"].shape[1]
        objects = scores[:, :n].masked_fill(obs["object_mask"] < 0.5, -1e4).softmax(-1)
        zones = scores[:, n : n + z].masked_fill(obs["zone_mask"] < 0.5, -1e4).softmax(-1)
        return objects, zones

    @staticmethod
    def reference_weights(obs: dict[str, torch.Tensor], scores: torch.Tensor) -> torch.Tensor:
        """(B, objects): the softmax of a ``reference`` pointer's reference scores over the present objects."""
        start = obs["objects"].shape[1] + obs["zones"].shape[1]
        return scores[:, start:].masked_fill(obs["object_mask"] < 0.5, -1e4).softmax(-1)

    def place(
        self,
        obs: dict[str, torch.Tensor],
        scores: torch.Tensor,
        reference: torch.Tensor | None = None,
        images: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, 2): where a ``reference`` pointer reads the instruction to put its object: the reference object's
        table-plane position plus an offset that each word adds to (in :data:`RELATIVE_SCALE` units), so "left
        of" learns its side once for every pair of objects. ``reference``: :meth:`reference_weights`, if known.
        ``images`` (B,): the table symmetry (:mod:`envs.symmetry`) each row's scene is seen under; the words'
        offset turns with it, so a turned scene of "left of" is read as the turned side (:func:`turn_xy`)."""
        if reference is None:
            reference = self.reference_weights(obs, scores)
        where = (reference.unsqueeze(-1) * obs["objects"][..., :2]).sum(1)
        offset = self.offsets(obs["instruction"].long()).sum(1) / RELATIVE_SCALE
        return where + (offset if images is None else turn_xy(offset, images))

    def forward(
        self, obs: dict[str, torch.Tensor], scores: torch.Tensor, images: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, out_dim): the named object's position and velocity, the named zone's x, y and radius; with
        ``reference``, the reference object's position and velocity and :meth:`place` (turned by ``images``)."""
        objects, zones = self.weights(obs, scores)
        parts = [
            (objects.unsqueeze(-1) * obs["objects"][..., :OBJECT_DYNAMIC]).sum(1),
            (zones.unsqueeze(-1) * obs["zones"][..., :ZONE_GEOMETRY]).sum(1),
        ]
        if self.reference:
            reference = self.reference_weights(obs, scores)
            parts.append((reference.unsqueeze(-1) * obs["objects"][..., :OBJECT_DYNAMIC]).sum(1))
            parts.append(self.place(obs, scores, reference, images))
        return torch.cat(parts, dim=-1)


def turn_xy(xy: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(B, 2) table-plane vectors, row i under the table symmetry ``images[i]`` (:func:`envs.symmetry.matrix`)."""
    matrices = torch.as_tensor(symmetry.MATRICES, device=xy.device, dtype=xy.dtype)[images.long()]
    return torch.einsum("bij,bj->bi", matrices, xy)


class SharedGatePointer(GoalPointer):
    """The first :class:`GoalPointer`, which checkpoints saved before ``EncoderConfig.pointer_groups`` hold.

    Word ``t`` scores every entity with ``<w_t, a(e)> + b_t``, ``a(e)`` linear in all of the entity's
    attributes at once, and one gate serves objects and zones alike.
    """

    def __init__(self, object_attrs: int, zone_attrs: int, dim: int, token_dim: int = 16):
        nn.Module.__init__(self)
        self.asks = nn.Embedding(tokenizer.VOCAB_SIZE, dim + 1, padding_idx=0)  # w_t and b_t
        self.object_attrs = nn.Linear(object_attrs, dim, bias=False)
        self.zone_attrs = nn.Linear(zone_attrs, dim, bias=False)
        self.tokens = nn.Embedding(tokenizer.VOCAB_SIZE, token_dim, padding_idx=0)
        self.gate = _gate(token_dim, outputs=1)
        self.reference = False
        self.out_dim = OBJECT_DYNAMIC + ZONE_GEOMETRY

    def scores(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = obs["instruction"].long()
        gate = torch.sigmoid(self.gate_logits(tokens)[..., 0]) * (tokens != 0).float()  # (B, T)
        asks = self.asks(tokens)  # (B, T, dim + 1)
        entities = torch.cat(
            [
                self.object_attrs(obs["objects"][..., OBJECT_DYNAMIC:]),
                self.zone_attrs(obs["zones"][..., ZONE_GEOMETRY:]),
            ],
            dim=1,
        )  # (B, N, dim)
        logits = torch.bmm(asks[..., :-1], entities.transpose(1, 2)) + asks[..., -1:]  # (B, T, N)
        return (F.logsigmoid(logits) * gate.unsqueeze(-1)).sum(1)


def _gate(token_dim: int, outputs: int) -> nn.Sequential:
    """The pointer's context gates: a width-5 convolution over the token embeddings, then one logit per gate,
    starting with every word relevant."""
    gate = nn.Sequential(nn.Conv1d(token_dim, token_dim, 5, padding=2), nn.ReLU(), nn.Conv1d(token_dim, outputs, 1))
    nn.init.constant_(gate[-1].bias, 2.0)
    return gate


def make_pointer(
    object_attrs: int, zone_attrs: int, groups: bool, dim: int = 16, reference: bool = False
) -> GoalPointer:
    """A :class:`GoalPointer` (``groups``) or the first form, :class:`SharedGatePointer`, of width ``dim``."""
    if groups:
        return GoalPointer(object_attrs, zone_attrs, reference=reference)
    if reference:
        raise ValueError("the reference object needs the grouped pointer (pointer_groups=True)")
    return SharedGatePointer(object_attrs, zone_attrs, dim)


class PixelEncoder(nn.Module):
    """uint8 or float images (B, H, W, 3) or (B, 3, H, W) -> features, FiLM-modulated."""

    def __init__(self, out_dim: int, cond_dim: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 32, 5, stride=2), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )  # fmt: skip
        self.film = nn.Linear(cond_dim, 2 * 64 * 16)
        self.out = nn.Linear(64 * 16, out_dim)

    def forward(self, pixels: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = pixels.float()
        if x.shape[-1] == 3:
            x = x.permute(0, 3, 1, 2)
        if x.max() > 1.5:  # raw uint8 values (SB3 has already divided by 255)
            x = x / 255.0
        gamma, beta = self.film(cond).chunk(2, dim=-1)
        return F.relu(self.out(F.relu(self.conv(x) * (1 + gamma) + beta)))


class GroundedEncoder(nn.Module):
    """A Groundworld observation dict -> feature vector of size :attr:`out_dim`.

    Works with every observation layout the envs produce ("state", "pixels",
    "state+pixels", with or without ``progress``).
    """

    def __init__(self, observation_space: gym.spaces.Dict, config: EncoderConfig | None = None):
        super().__init__()
        c = config or EncoderConfig()
        spaces = observation_space.spaces
        if "instruction" not in spaces:
            raise ValueError(f"observation has no 'instruction'; keys are {list(spaces)}")
        self.keys = tuple(spaces)
        self.instruction = InstructionEncoder(spaces["instruction"].shape[0], c.token_dim, c.instruction_dim)
        self.has_state = "objects" in spaces
        self.has_pixels = "pixels" in spaces
        self.extra = [k for k in ("progress", "embodiment") if k in spaces]  # read with the body state
        out = c.instruction_dim
        self.pointer: GoalPointer | None = None
        if self.has_state:
            body_dim = spaces["proprio"].shape[0] + sum(spaces[k].shape[0] for k in self.extra)
            self.body = nn.Sequential(nn.Linear(body_dim, c.proprio_dim), nn.ReLU())
            self.objects = FiLMEntities(spaces["objects"].shape[-1], c.entity_dim, c.instruction_dim)
            self.zones = FiLMEntities(spaces["zones"].shape[-1], c.entity_dim, c.instruction_dim)
            # keys are linear in the attribute one-hots (colour, shape, size): "red" and "cube"
            # add up to a match, so a colour-shape pair never named in training scores like the
            # trained ones (systematic generalisation); positions do not enter the keys
            self.object_keys = nn.Linear(spaces["objects"].shape[-1] - OBJECT_DYNAMIC, c.heads * c.head_dim)
            self.zone_keys = nn.Linear(spaces["zones"].shape[-1] - ZONE_GEOMETRY, c.heads * c.head_dim)
            # a bag-of-words match added to every head's scores: each word votes for the
            # attributes it names, linearly, so "red" + "cube" picks the red cube even when
            # that pair was never named in training
            self.word_votes = nn.Embedding(tokenizer.VOCAB_SIZE, c.match_dim, padding_idx=0)
            self.object_match = nn.Linear(spaces["objects"].shape[-1] - OBJECT_DYNAMIC, c.match_dim, bias=False)
            self.zone_match = nn.Linear(spaces["zones"].shape[-1] - ZONE_GEOMETRY, c.match_dim, bias=False)
            self.pool = AttentionPool(c.entity_dim, c.instruction_dim + c.proprio_dim, c.heads, c.head_dim)
            out += c.proprio_dim + self.pool.out_dim
            if c.pointer:
                object_attrs = spaces["objects"].shape[-1] - OBJECT_DYNAMIC
                zone_attrs = spaces["zones"].shape[-1] - ZONE_GEOMETRY
                self.pointer = make_pointer(
                    object_attrs, zone_attrs, c.pointer_groups, c.match_dim, c.pointer_reference
                )
                out += self.pointer.out_dim + (RELATIVE if c.relative else 0) + (OBSTACLE if c.obstacles else 0)
            self.relative = c.pointer and c.relative
            if c.obstacles and not self.relative:
                raise ValueError("obstacles needs the pointer's relative read-out (pointer=True, relative=True)")
            self.obstacles = c.obstacles
            self.readout_only = c.readout_only
            if c.readout_only:
                if not c.pointer:
                    raise ValueError("readout_only needs the pointer (pointer=True): it is what the features read")
                out -= c.instruction_dim + self.pool.out_dim
            self.common_layout = "embodiment" in spaces  # groundworld.layout puts the effector's x, y first
        if self.has_pixels:
            self.pixels = PixelEncoder(c.cnn_dim, c.instruction_dim)
            out += c.cnn_dim
        self.out_dim = out

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(obs)[0]

    def adapt(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``obs`` in the layout this encoder reads: an encoder built for the common layout of both bodies
        (:mod:`groundworld.layout`) takes any task's own observation."""
        if "embodiment" in self.keys:
            return to_common(obs)
        return obs

    def encode(
        self, obs: dict[str, torch.Tensor], images: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features and the entity scores of :meth:`match` (None without object state), in one pass. ``images``
        (B,): the table symmetry each row is seen under, for a training batch turned by it (the words' place
        offset turns too, :meth:`GoalPointer.place`); None for scenes as the env gives them."""
        if self.has_state and self.readout_only:
            return self.encode_readout(obs, images)
        instr = self.instruction(obs["instruction"])
        parts, match = [instr], None
        if self.has_state:
            body = self.embed_body(obs)
            values = torch.cat([self.objects(obs["objects"], instr), self.zones(obs["zones"], instr)], dim=1)
            keys = torch.cat(
                [
                    self.object_keys(obs["objects"][..., OBJECT_DYNAMIC:]),
                    self.zone_keys(obs["zones"][..., ZONE_GEOMETRY:]),
                ],
                dim=1,
            )
            mask = torch.cat([obs["object_mask"], obs["zone_mask"]], dim=1)
            query = torch.cat([instr, body], dim=-1)
            match = self.vote(obs)
            parts += [body, self.pool(keys, values, mask, query, match)]
            if self.pointer is not None:
                read, match = self.read_pointer(obs, images)
                parts += read
        if self.has_pixels:
            parts.append(self.pixels(obs["pixels"], instr))
        return torch.cat(parts, dim=-1), match

    def encode_readout(
        self, obs: dict[str, torch.Tensor], images: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode` with ``readout_only``: the body state and the pointer's read-out."""
        read, match = self.read_pointer(obs, images)
        parts = [self.embed_body(obs), *read]
        if self.has_pixels:
            parts.append(self.pixels(obs["pixels"], self.instruction(obs["instruction"])))
        return torch.cat(parts, dim=-1), match

    def embed_body(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The embedded body state (proprio and the extra body keys)."""
        return self.body(torch.cat([obs["proprio"], *(obs[k] for k in self.extra)], dim=-1))

    def read_pointer(
        self, obs: dict[str, torch.Tensor], images: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """([the pointer's read-out, and with ``relative`` its geometry], the pointer's entity scores)."""
        match = self.pointer.scores(obs)
        readout = self.pointer(obs, match, images)
        if self.relative:
            destination = readout[..., -2:] if self.pointer.reference else None
            effector = self.effector(obs["proprio"])
            parts = [readout, relative_readout(readout, effector, destination)]
            if self.obstacles:
                n = obs["objects"].shape[1]
                named = match[:, :n].masked_fill(obs["object_mask"] < 0.5, -1e4).argmax(-1)  # the weights' largest
                objects = obs["objects"][..., :2]
                parts.append(obstacle_readout(objects, obs["object_mask"], named, readout[..., :2], effector))
            return parts, match
        return [readout], match

    def effector(self, proprio: torch.Tensor) -> torch.Tensor:
        """(B, 2): the effector's table-plane position inside ``proprio``."""
        return proprio[..., :2] if self.common_layout else effector_xy(proprio)

    def match(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, objects + zones): how well each entity fits the instruction (the pointer's scores,
        or the bag-of-words vote without a pointer); the grounding loss trains these."""
        return self.pointer.scores(obs) if self.pointer is not None else self.vote(obs)

    def vote(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, objects + zones): how strongly the instruction's words name each entity's attributes."""
        tokens = obs["instruction"].long()
        words = (tokens != 0).unsqueeze(-1).float()
        votes = (self.word_votes(tokens) * words).sum(1) / words.sum(1).clamp(min=1.0)  # (B, M)
        entities = torch.cat(
            [
                self.object_match(obs["objects"][..., OBJECT_DYNAMIC:]),
                self.zone_match(obs["zones"][..., ZONE_GEOMETRY:]),
            ],
            dim=1,
        )  # (B, N, M)
        return (entities * votes.unsqueeze(1)).sum(-1)


RELATIVE = 12
"""Width of :func:`relative_readout`."""

RELATIVE_SCALE = 10.0
"""Offsets are read out in tenths of a metre: contact happens within a few centimetres, and an MLP on inputs of
a few hundredths learns such sharp changes slowly."""


def relative_readout(
    readout: torch.Tensor, effector: torch.Tensor, destination: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, 12) from a :class:`GoalPointer` read-out (object position, velocity, zone x, y, radius): the named
    object minus the effector and the named zone (or ``destination``, (B, 2)) minus that object (x, y, in
    :data:`RELATIVE_SCALE` units), their lengths, their directions, and the cosine and sine between the directions
    (is the effector behind the object, as seen from the zone?)."""
    if destination is None:
        destination = readout[..., OBJECT_DYNAMIC : OBJECT_DYNAMIC + 2]
    to_object = (readout[..., :2] - effector) * RELATIVE_SCALE
    to_zone = (destination - readout[..., :2]) * RELATIVE_SCALE
    lengths = [to_object.norm(dim=-1, keepdim=True), to_zone.norm(dim=-1, keepdim=True)]
    u_object, u_zone = to_object / lengths[0].clamp(min=1e-3), to_zone / lengths[1].clamp(min=1e-3)
    cos = (u_object * u_zone).sum(-1, keepdim=True)
    sin = u_object[..., :1] * u_zone[..., 1:] - u_object[..., 1:] * u_zone[..., :1]
    return torch.cat([to_object, to_zone, *lengths, u_object, u_zone, cos, sin], -1)


OBSTACLE = 6
"""Width of :func:`obstacle_readout`."""


def obstacle_readout(
    positions: torch.Tensor,
    mask: torch.Tensor,
    named: torch.Tensor,
    centre: torch.Tensor,
    effector: torch.Tensor,
    softness: float = 0.03,
) -> torch.Tensor:
    """(B, 6): the object nearest the named one among the others present (positions (B, N, 2), ``mask`` (B, N), the
    named object's index (B,) and position as the pointer reads it, ``centre`` (B, 2)), as its offset from the named
    object and from the effector (x, y, in :data:`RELATIVE_SCALE` units) and their lengths. "Nearest" is a soft
    minimum over distance (``softness`` metres). Without another object: zeros."""
    other = (mask > 0.5) & (torch.arange(mask.shape[1], device=mask.device) != named.unsqueeze(-1))
    distance = (positions - centre.unsqueeze(1)).norm(dim=-1)  # (B, N)
    weights = (-distance / softness).masked_fill(~other, -1e4).softmax(-1)
    present = other.any(-1, keepdim=True).float()
    nearest = (weights.unsqueeze(-1) * positions).sum(1)
    from_object = (nearest - centre) * RELATIVE_SCALE * present
    from_effector = (nearest - effector) * RELATIVE_SCALE * present
    lengths = [from_object.norm(dim=-1, keepdim=True), from_effector.norm(dim=-1, keepdim=True)]
    return torch.cat([from_object, from_effector, *lengths], -1)


def _choice_loss(scores: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``scores`` (B, N) over the entities ``mask`` keeps against ``target`` (B,); rows whose
    target is -1 are skipped (no branch on the data, so the loss compiles into one graph)."""
    known = (target >= 0).float()
    per_row = F.cross_entropy(scores.masked_fill(mask < 0.5, -1e4), target.long().clamp(min=0), reduction="none")
    return (per_row * known).sum() / known.sum().clamp(min=1.0)


def grounding_loss(scores: torch.Tensor, object_mask: torch.Tensor, goal_object: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of entity scores (B, objects + zones; e.g. :meth:`GroundedEncoder.match`) over
    the present objects against the goal's object; rows whose goal names no object (-1) are skipped."""
    return _choice_loss(scores[:, : object_mask.shape[1]], object_mask, goal_object)


def zone_grounding_loss(
    scores: torch.Tensor, object_mask: torch.Tensor, zone_mask: torch.Tensor, goal_zone: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the zone part of entity scores (B, objects + zones [+ objects]) over the present zones
    against the goal's zone; rows whose goal names no zone (-1) are skipped. Without it the pointer learns which zone
    is meant only through the action loss, and reads half of one zone and half of the other."""
    n = object_mask.shape[1]
    return _choice_loss(scores[:, n : n + zone_mask.shape[1]], zone_mask, goal_zone)


def reference_grounding_loss(
    scores: torch.Tensor, object_mask: torch.Tensor, zone_mask: torch.Tensor, goal_reference: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of a ``reference`` pointer's reference scores (the last objects' worth of its scores) over the
    present objects against the object the words name second; rows whose goal names none (-1) are skipped."""
    return _choice_loss(scores[:, object_mask.shape[1] + zone_mask.shape[1] :], object_mask, goal_reference)


def place_loss(place: torch.Tensor, target: torch.Tensor, goal_reference: torch.Tensor) -> torch.Tensor:
    """Squared error (in :data:`RELATIVE_SCALE` units) of :meth:`GoalPointer.place` against the goal's target
    position (``info["goal"]["position"]``'s x, y) on the rows whose goal names a reference object."""
    known = (goal_reference >= 0).float()
    per_row = ((place - target) * RELATIVE_SCALE).square().sum(-1)
    return (per_row * known).sum() / known.sum().clamp(min=1.0)


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, layer_norm: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them (and LayerNorm before each ReLU if ``layer_norm``)."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), *([nn.LayerNorm(h)] if layer_norm else []), nn.ReLU()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def obs_to_tensors(obs: dict, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Batched numpy observation dict -> tensors (token ids stay integers)."""
    out = {}
    for key, value in obs.items():
        t = torch.as_tensor(value, device=device)
        out[key] = t if key in ("instruction", "pixels") else t.float()
    return out


def has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), at twice the fp32 rate."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Resolve a precision name: "bf16", "fp32", or "auto" (bf16 on a CPU with native bf16
    dot products, fp32 elsewhere, CUDA included)."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return device.type == "cpu" and has_native_bf16()
    return precision == "bf16"


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when torch sees a device, else CPU), ``"cpu"`` or ``"cuda"``."""
    if name not in DEVICES:
        raise UsageError(f"device must be one of {list(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)
