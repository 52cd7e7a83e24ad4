"""Checkpoints: state dicts and plain data only, written atomically, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, corrupt, or made for something else."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, state dicts, numbers, strings, lists, dicts) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"version": CHECKPOINT_VERSION, **payload}, tmp)
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one
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
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: unknown checkpoint format (expected version {CHECKPOINT_VERSION})")
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
