"""Splitting a Groundworld observation into what changes and what does not.

Within an episode only the body state (``proprio``) and the objects' positions and
velocities (``objects[:, :6]``) change; colours, shapes, sizes, masks, zones and the
instruction are fixed. The world model predicts the change of the dynamic part and copies
the rest, so it can never hallucinate a new colour, a moved zone or another instruction.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from envs.base import OBJECT_DYNAMIC, effector_xy  # position (3) and velocity (3) of each object


class StateCodec:
    """Flatten the dynamic part of an observation dict and write it back."""

    def __init__(self, observation_space: gym.spaces.Dict):
        spaces = observation_space.spaces
        for key in ("proprio", "objects", "object_mask", "instruction"):
            if key not in spaces:
                raise ValueError(f"the world model needs state observations; {key!r} is missing from {list(spaces)}")
        self.proprio_dim = spaces["proprio"].shape[0]
        self.num_objects = spaces["objects"].shape[0]
        self.dim = self.proprio_dim + self.num_objects * OBJECT_DYNAMIC
        self.context_keys = [k for k in spaces if k not in ("proprio", "objects", "instruction", "pixels")]
        self.context_dim = self.num_objects * (spaces["objects"].shape[1] - OBJECT_DYNAMIC) + sum(
            int(np.prod(spaces[k].shape)) for k in self.context_keys
        )

    def dynamic(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, dim): proprio then each object's position and velocity."""
        objects = obs["objects"][..., :OBJECT_DYNAMIC]
        return torch.cat([obs["proprio"], objects.reshape(objects.shape[0], -1)], -1)

    def context(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, context_dim): the fixed features (attributes, masks, zones, progress)."""
        b = obs["objects"].shape[0]
        parts = [obs["objects"][..., OBJECT_DYNAMIC:].reshape(b, -1)]
        parts += [obs[k].reshape(b, -1).float() for k in self.context_keys]
        return torch.cat(parts, -1)

    def dynamic_mask(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, dim): 1 where a dynamic feature exists (body, present objects), 0 for padding slots."""
        mask = obs["object_mask"]
        body = torch.ones(mask.shape[0], self.proprio_dim, dtype=mask.dtype, device=mask.device)
        return torch.cat([body, mask.repeat_interleave(OBJECT_DYNAMIC, -1)], -1)

    def nearest_to_effector(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) the slot of the present object whose centre is nearest the effector in the table plane."""
        offset = obs["objects"][..., :2] - effector_xy(obs["proprio"])[:, None, :]
        distance = offset.norm(dim=-1).masked_fill(obs["object_mask"] < 0.5, float("inf"))
        return distance.argmin(-1)

    def compose(self, template: dict[str, torch.Tensor], dynamic: torch.Tensor) -> dict[str, torch.Tensor]:
        """A new observation dict: ``template``'s fixed parts with ``dynamic`` written in."""
        out = dict(template)
        b = dynamic.shape[0]
        out["proprio"] = dynamic[:, : self.proprio_dim]
        objects = dynamic[:, self.proprio_dim :].reshape(b, self.num_objects, OBJECT_DYNAMIC)
        fixed = template["objects"][..., OBJECT_DYNAMIC:]
        out["objects"] = torch.cat([objects * template["object_mask"][..., None], fixed], -1)
        return out
