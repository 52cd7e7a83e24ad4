"""What every consumer of a policy relies on: ``reset()`` between episodes, ``act(obs)`` for one observation."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Policy(Protocol):
    """Deterministic actions for one observation at a time; ``reset`` clears any memory."""

    def reset(self) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


def batch1(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One observation as a batch of one (a leading axis on every key)."""
    return {k: np.asarray(v)[None] for k, v in obs.items()}
