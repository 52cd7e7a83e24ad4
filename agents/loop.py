"""Pieces every training loop shares: the checkpoint's name, schedules, the random state, stopping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from envs.errors import UsageError

CHECKPOINT = "checkpoint.pt"


class TrainingError(UsageError, RuntimeError):
    """Training stopped (e.g. a non-finite loss); the last good checkpoint, if any, is kept."""


class RunExists(UsageError, FileExistsError):
    """The run folder already holds a run and ``--resume`` was not given."""


class Schedule:
    """Fires once every ``every`` steps."""

    def __init__(self, every: int, start: int):
        self.every, self.next = every, (start // every + 1) * every

    def due(self, step: int) -> bool:
        if step >= self.next:
            self.next = (step // self.every + 1) * self.every
            return True
        return False


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return json.loads(json.dumps(rng.bit_generator.state, default=int))


def stopped(run_dir: Path, step: int, losses: dict[str, float]) -> TrainingError:
    checkpoint = run_dir / CHECKPOINT
    kept = f"the last good checkpoint is {checkpoint}" if checkpoint.exists() else "no checkpoint was written yet"
    return TrainingError(f"non-finite loss at step {step}: {losses}; stopped, {kept}")
