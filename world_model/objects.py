"""Inputs of the world model's object-centric head: one small network, shared by every object slot.

A flat network over all slots must learn "the ball hit the object" once per slot, from the
few percent of transitions where a contact happens in that slot. Contact depends on where an
object is *relative to* what can hit it, not on its slot, so this head predicts each object's
change from the body's state, the action, that object's own state and attributes, its offset
from the effector and from its nearest neighbour (after interaction networks; Battaglia et
al. 2016). Every contact in the data then trains the same weights, and the relative offsets
make "about to touch" a threshold on an input rather than a difference the net must learn.
"""

from __future__ import annotations

import torch

from envs.base import HALF_EXTENT, effector_xy
from envs.scene import TABLE_HALF

PAIR_FEATURES = 10
"""Per-object relational inputs: offset from the effector (dx, dy, distance), from the nearest
other present object (dx, dy, distance), that neighbour's velocity (vx, vy), the object's
elevation (height minus half-extent: 0 resting on the table, below 0 falling off it) and its
margin to the table's edge (negative beyond it: the only place an object can fall)."""

FAR = 1.0
"""Metres: the neighbour offset given to an object with no other object present."""


def relational_features(proprio: torch.Tensor, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, objects, PAIR_FEATURES) offsets of each object from the effector and its nearest
    neighbour, its elevation and its margin to the table's edge.

    ``proprio`` (B, P), ``objects`` (B, N, OBJECT_FEATURES) as the envs write them, ``mask`` (B, N).
    """
    xy = objects[..., :2]
    to_effector = xy - effector_xy(proprio)[:, None, :]
    offsets = xy[:, None, :, :] - xy[:, :, None, :]  # (B, i, j, 2): j's position relative to i
    distance = offsets.norm(dim=-1)
    n = objects.shape[1]
    absent = (mask[:, None, :] < 0.5) | torch.eye(n, dtype=torch.bool, device=objects.device)
    nearest = distance.masked_fill(absent, float("inf")).argmin(-1)  # (B, N)
    alone = absent.all(-1)
    take = nearest[..., None].expand(-1, -1, 2)
    near_offset = torch.gather(offsets, 2, nearest[..., None, None].expand(-1, -1, 1, 2)).squeeze(2)
    near_offset = near_offset.masked_fill(alone[..., None], FAR)
    near_velocity = torch.gather(objects[..., 3:5], 1, take).masked_fill(alone[..., None], 0.0)
    return torch.cat(
        [
            to_effector,
            to_effector.norm(dim=-1, keepdim=True),
            near_offset,
            near_offset.norm(dim=-1, keepdim=True),
            near_velocity,
            objects[..., 2:3] - objects[..., HALF_EXTENT : HALF_EXTENT + 1],
            TABLE_HALF - xy.abs().amax(-1, keepdim=True),
        ],
        -1,
    )


def object_inputs(obs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, objects, features): each object's own features (state, attributes) and its relational features."""
    objects = obs["objects"].float()
    pairs = relational_features(obs["proprio"].float(), objects, obs["object_mask"].float())
    return torch.cat([objects, pairs], -1)
