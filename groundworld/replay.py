"""One replay format for agents, behaviour cloning and world models.

Each row is one transition of one environment:

==============  ===========================================================
``obs/<key>``   observation before the action (every key of the Dict space)
``next_obs/…``  observation after it (the true final observation at an episode end)
``action``      the action taken (float32, already in the env's action range)
``reward``      the reward received
``is_first``    ``obs`` is the first observation of its episode
``is_last``     the episode ended with this transition (terminated or truncated)
``is_terminal`` it ended by termination (success or failure): do not bootstrap
``is_success``  the task was achieved on this transition (``info["is_success"]``)
``episode``     a run-wide episode id; rows of one episode are in step order
``step``        index of the transition inside its episode
``goal_object`` privileged: index of the object the goal is about when ``obs``
                was seen (``info["goal"]["object"]``), -1 if unknown; used
                only for training-time auxiliary losses, never as input
==============  ===========================================================

Files are ``.npz`` archives with the same keys plus ``meta`` (JSON: format version,
env id, tokenizer version, and the buffer's ``info``: free-form facts about the data, such as the
instruction text and reset seed of each demonstration episode), written atomically.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import gymnasium as gym
import numpy as np

from envs import tokenizer
from envs.errors import UsageError
from envs.files import atomic_path

FORMAT_VERSION = 2  # 2 added goal_object; version-1 files load with goal_object = -1
_SCALARS = {
    "reward": np.float32,
    "is_first": bool,
    "is_last": bool,
    "is_terminal": bool,
    "is_success": bool,
    "episode": np.int64,
    "step": np.int32,
    "goal_object": np.int64,
}


class ReplayBuffer:
    """A ring buffer of transitions from one or more environments."""

    def __init__(self, observation_space: gym.spaces.Dict, action_dim: int, capacity: int, env_id: str = ""):
        if capacity < 1:
            raise UsageError(f"replay capacity must be positive, got {capacity}")
        self.capacity, self.action_dim, self.env_id = int(capacity), int(action_dim), env_id
        self.info: dict = {}
        """JSON-ready facts about the data (saved with it), e.g. ``{"episodes": [{"seed": ..., ...}]}``."""
        self.observation_space = observation_space
        """The env's observation space (its keys are the buffer's; a dream env imagines in it)."""
        self.keys = tuple(observation_space.spaces)
        self.data: dict[str, np.ndarray] = {}
        for key, space in observation_space.spaces.items():
            for prefix in ("obs/", "next_obs/"):
                self.data[prefix + key] = np.zeros((self.capacity, *space.shape), dtype=space.dtype)
        self.data["action"] = np.zeros((self.capacity, self.action_dim), dtype=np.float32)
        for key, dtype in _SCALARS.items():
            self.data[key] = np.zeros(self.capacity, dtype=dtype)
        self.pos, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: dict,
        action,
        reward,
        next_obs: dict,
        terminated,
        truncated,
        is_first,
        episode,
        step,
        success=None,
        goal_object=None,
    ) -> None:
        """Add a batch of transitions (leading dimension = number of envs)."""
        n = len(np.atleast_1d(reward))
        idx = (self.pos + np.arange(n)) % self.capacity
        for key in self.keys:
            self.data["obs/" + key][idx] = obs[key]
            self.data["next_obs/" + key][idx] = next_obs[key]
        self.data["action"][idx] = np.asarray(action, dtype=np.float32).reshape(n, self.action_dim)
        self.data["reward"][idx] = reward
        self.data["is_terminal"][idx] = terminated
        self.data["is_last"][idx] = np.logical_or(terminated, truncated)
        self.data["is_first"][idx] = is_first
        self.data["is_success"][idx] = False if success is None else success
        self.data["episode"][idx] = episode
        self.data["step"][idx] = step
        self.data["goal_object"][idx] = -1 if goal_object is None else goal_object
        self.pos = int((self.pos + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        if self.size == 0:
            raise UsageError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=batch_size)
        return {key: value[idx] for key, value in self.data.items()}

    def rows(self) -> dict[str, np.ndarray]:
        """All stored rows in insertion order (oldest first)."""
        order = (
            np.arange(self.size) if self.size < self.capacity else (self.pos + np.arange(self.capacity)) % self.capacity
        )
        return {key: value[order] for key, value in self.data.items()}

    def split(self, n: int) -> tuple[ReplayBuffer, ReplayBuffer]:
        """The first ``n`` stored rows (insertion order) and the rest, as two new buffers: what an
        agent had after ``n`` steps, and what came later."""
        if not 0 < n < self.size:
            raise UsageError(f"split point {n} must be inside the buffer's {self.size} rows")
        rows = self.rows()
        return self._from_rows(rows, slice(0, n)), self._from_rows(rows, slice(n, self.size))

    def compact(self) -> ReplayBuffer:
        """A copy holding just the stored rows, oldest first, with no spare capacity (for files of whole datasets)."""
        return self._from_rows(self.rows(), slice(0, self.size))

    def _from_rows(self, rows: dict[str, np.ndarray], part: slice) -> ReplayBuffer:
        out = copy.copy(self)  # same keys, env id and action size; fresh arrays below
        out.data = {key: value[part].copy() for key, value in rows.items()}
        out.capacity = out.size = len(out.data["reward"])
        out.pos = 0
        return out

    # ---------------------------------------------------------------- files
    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        meta = {
            "format": FORMAT_VERSION,
            "env_id": self.env_id,
            "tokenizer": tokenizer.TOKENIZER_VERSION,
            "capacity": self.capacity,
            "keys": list(self.keys),
            "action_dim": self.action_dim,
            "info": self.info,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **self.rows())
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        observation_space: gym.spaces.Dict | None = None,
        capacity: int | None = None,
        env_id: str | None = None,
    ) -> ReplayBuffer:
        """Load a saved buffer, checking it: readable, not empty, finite, of ``env_id`` (when given), and
        shaped as ``observation_space`` (by default the space of the env id recorded in the file). Any
        problem is a :class:`~envs.errors.UsageError` naming the file."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                rows = {key: archive[key] for key in archive.files if key != "meta"}
        except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path}: not a readable Groundworld replay file ({exc})") from exc
        except Exception as exc:  # zipfile raises BadZipFile and friends for a truncated archive
            raise UsageError(f"{path}: not a readable Groundworld replay file (truncated? {exc})") from exc
        if env_id is not None and meta.get("env_id") != env_id:
            raise UsageError(f"{path} holds {meta.get('env_id')!r} transitions, not {env_id!r}")
        if "reward" not in rows or len(rows["reward"]) == 0:
            raise UsageError(f"{path} holds no transitions")
        if meta.get("format") == 1 and "goal_object" not in rows:
            rows["goal_object"] = np.full(len(rows["reward"]), -1, dtype=np.int64)
            meta["format"] = FORMAT_VERSION
        if meta.get("format") != FORMAT_VERSION or meta.get("tokenizer") != tokenizer.TOKENIZER_VERSION:
            raise UsageError(
                f"{path}: replay format {meta.get('format')} / tokenizer {meta.get('tokenizer')}, "
                f"expected {FORMAT_VERSION} / {tokenizer.TOKENIZER_VERSION}"
            )
        if observation_space is None:
            try:
                observation_space = gym.make(meta["env_id"]).observation_space
            except gym.error.Error as exc:
                raise UsageError(f"{path} was recorded on {meta.get('env_id')!r}, which is not a known env id") from exc
        n = len(rows["reward"])
        buffer = cls(observation_space, meta["action_dim"], max(capacity or meta["capacity"], n, 1), meta["env_id"])
        for key, value in buffer.data.items():
            if key not in rows or rows[key].shape[1:] != value.shape[1:]:
                got = rows[key].shape[1:] if key in rows else "missing"
                raise UsageError(
                    f"{path}: field {key!r} is {got}, the env expects {value.shape[1:]} ({meta['env_id']})"
                )
            if value.dtype.kind == "f" and not np.isfinite(rows[key]).all():
                bad = int(np.flatnonzero(~np.isfinite(rows[key]).reshape(n, -1).all(-1))[0])
                raise UsageError(f"{path}: field {key!r} has a non-finite value (row {bad}); the file is corrupt")
            value[:n] = rows[key]
        buffer.pos, buffer.size = n % buffer.capacity, n
        buffer.info = meta.get("info", {})
        return buffer
