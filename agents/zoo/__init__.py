"""RL Baselines3 Zoo hyperparameters for every Groundworld id (``MultiInputPolicy`` with our extractor).

One module per algorithm, each a ``hyperparams`` dict keyed by env id, as the Zoo reads a python config::

    python -m rl_zoo3.train --algo ppo --env Groundworld/Push-v0 --gym-packages envs --conf-file agents.zoo.ppo
    python -m rl_zoo3.train --algo sac --env Groundworld/GoTo-v0 --gym-packages envs --conf-file agents.zoo.sac

``--hyperparams n_timesteps:20000`` (or any other key) overrides a value, as for the Zoo's own files.
"""

from __future__ import annotations

from typing import Any

import envs
from agents.sb3 import sb3_policy_kwargs


def for_every_task(common: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``common`` for every registered id, with the dense reward and the grounded extractor."""
    return {
        env_id: {
            "policy": "MultiInputPolicy",
            "env_kwargs": {"reward_mode": "dense"},
            **common,
            "policy_kwargs": sb3_policy_kwargs(),
        }  # fmt: skip
        for env_id in envs.TASKS
    }
