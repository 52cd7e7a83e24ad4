"""One observation layout for both bodies, so that one policy can act in every task.

The ball's ``proprio`` is (x, y, vx, vy) and the arm's (cos q1, sin q1, cos q2, sin q2, q1', q2',
fingertip x, fingertip y). The common layout puts the effector's table-plane position first for
both, then the body's own state, padded to :data:`PROPRIO`, and adds ``embodiment`` (a one-hot
over :data:`EMBODIMENTS`); every other key is already shared (objects, zones, masks, the
instruction). :func:`to_common` builds it from any Groundworld observation (one or a batch, and
it leaves a common one as it is), so a multi-task policy reads each env's own observation;
:class:`CommonLayout` does the same as a wrapper, so envs of different tasks batch into one
vector env. Sequence's optional ``progress`` feature is not part of it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

EMBODIMENTS = ("ball", "arm")
PROPRIO = 8
"""Width of the common ``proprio``: effector x, y, then the body's own state, zero-padded."""
SHARED_KEYS = ("objects", "object_mask", "zones", "zone_mask", "instruction")


def embodiment_of(proprio_width: int) -> str:
    return "ball" if proprio_width == 4 else "arm"


def to_common(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The common layout of a Groundworld observation (a single one or a batch on the leading axis)."""
    if "embodiment" in obs:
        return obs
    proprio = np.asarray(obs["proprio"], dtype=np.float32)
    lead = proprio.shape[:-1]
    body = embodiment_of(proprio.shape[-1])
    common = np.zeros((*lead, PROPRIO), dtype=np.float32)
    if body == "ball":
        common[..., :4] = proprio  # x, y first already
    else:
        common[..., :2] = proprio[..., 6:8]
        common[..., 2:8] = proprio[..., :6]
    onehot = np.zeros((*lead, len(EMBODIMENTS)), dtype=np.float32)
    onehot[..., EMBODIMENTS.index(body)] = 1.0
    out = {k: obs[k] for k in SHARED_KEYS}
    out.update(proprio=common, embodiment=onehot)
    return out


def common_space(space: spaces.Dict) -> spaces.Dict:
    """The observation space of :func:`to_common` (state observations only)."""
    missing = [k for k in (*SHARED_KEYS, "proprio") if k not in space.spaces]
    if missing:
        raise ValueError(f"the common layout needs state observations; {missing} are missing")
    proprio = space["proprio"]
    out = {k: space[k] for k in SHARED_KEYS}
    out["proprio"] = spaces.Box(float(proprio.low.min()), float(proprio.high.max()), (PROPRIO,), np.float32)
    out["embodiment"] = spaces.Box(0.0, 1.0, (len(EMBODIMENTS),), np.float32)
    return spaces.Dict(out)


class CommonLayout(gym.ObservationWrapper):
    """An env whose observations are in the common layout (see the module docstring)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = common_space(env.observation_space)

    def observation(self, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        return to_common(observation)
