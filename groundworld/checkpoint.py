"""Checkpoints: state dicts and plain data only, written atomically, loaded with ``weights_only=True``.

Every checkpoint carries :data:`CHECKPOINT_VERSION`; one written in a format this version of
Groundworld does not read is refused with a message saying so, never half-loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from envs.errors import UsageError
from envs.files import atomic_path

CHECKPOINT_VERSION = 1
"""The checkpoint format written and read here."""


class CheckpointError(UsageError, RuntimeError):
    """A checkpoint that cannot be used: missing, unreadable, corrupt, of another format, or made for something else."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, state dicts, numbers, strings, lists, dicts) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"version": CHECKPOINT_VERSION, **payload}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint safely; check that its entries equal ``expect`` (e.g. env id, algo)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): {exc}") from exc
    if not isinstance(payload, dict) or "version" not in payload:
        raise CheckpointError(f"{path} is not a Groundworld checkpoint (no format version)")
    if payload["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} is in checkpoint format {payload['version']!r}; this Groundworld reads format {CHECKPOINT_VERSION}"
        )
    for key, value in (expect or {}).items():
        if payload.get(key) != value:
            raise CheckpointError(f"{path} was made for {key}={payload.get(key)!r}, not {value!r}")
    return payload


def load_state(module: torch.nn.Module, state: dict[str, Any], what: str) -> None:
    """``module.load_state_dict`` with an error that says which part did not fit."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint's {what} does not match this model: {exc}") from exc
