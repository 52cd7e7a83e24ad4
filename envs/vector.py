"""The vector env that ``gym.make_vec`` builds for every Groundworld id by default.

Gymnasium's :class:`~gymnasium.vector.SyncVectorEnv` steps its envs one after another, so a bad
row of a batch of actions (NaN, a wrong shape) raises only after the rows before it were
stepped, and the batch is left half done. :class:`CheckedSyncVectorEnv` checks every row with
the env's own action check first and steps no env unless all rows are good. Each id registers
its builder here (``envs.vector:<Task>``, made by :func:`vector_factory`) as its
``vector_entry_point``, which ``gym.make_vec(id, num_envs)`` uses when no ``vectorization_mode``
is given; ``"sync"`` and ``"async"`` build Gymnasium's own.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv

from envs.errors import UsageError


class CheckedSyncVectorEnv(SyncVectorEnv):
    """A :class:`~gymnasium.vector.SyncVectorEnv` of Groundworld envs that checks a whole batch of
    actions before stepping any env: a bad row raises :class:`~envs.errors.UsageError` naming
    the row, and every env is left as it was."""

    def step(self, actions: Any):
        self.check_actions(actions)
        return super().step(actions)

    def check_actions(self, actions: Any) -> None:
        """Raise :class:`~envs.errors.UsageError` unless ``actions`` holds one good action per env."""
        try:
            rows = len(actions)
        except TypeError:
            rows = None
        if rows != self.num_envs or isinstance(actions, str):
            shape = np.shape(actions) if rows is not None else type(actions).__name__
            raise UsageError(
                f"actions of shape {shape} for {self.num_envs} envs; expected {self.action_space.shape}; "
                "no env was stepped"
            )
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            try:
                env.unwrapped._check_action(action)
            except UsageError as exc:
                raise UsageError(f"action row {i}: {exc}; no env was stepped") from exc


def vector_factory(env_id: str) -> Any:
    """``gym.make_vec``'s builder for registered id ``env_id``: a :class:`CheckedSyncVectorEnv` of
    ``num_envs`` ``gym.make(env_id, **kwargs)`` envs. Registered by name (``"envs.vector:GoTo"``),
    so that an env's spec stays JSON-serialisable (Minari, ``EnvSpec.to_json``)."""

    def make(num_envs: int = 1, **kwargs: Any) -> CheckedSyncVectorEnv:
        build = functools.partial(gym.make, env_id, **kwargs)
        return CheckedSyncVectorEnv([build for _ in range(num_envs)])

    make.__name__ = make.__qualname__ = env_id.split("/")[-1].removesuffix("-v0")
    return make
