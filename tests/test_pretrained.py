"""Shipped policies load in seconds and act; a task without one is named in a clear error."""

from __future__ import annotations

import pytest

import agents
from agents.pretrained import shipped
from envs.errors import UsageError


def test_every_shipped_policy_loads_and_acts_as_its_index_says():
    index = shipped()
    assert index, "agents/weights/index.json lists no policy"
    for env_id, entry in index.items():
        policy = agents.load_pretrained(env_id)
        tasks = list(entry["success"])
        result = agents.evaluate(policy, tasks[0], "train", episodes=10, seed=123)
        assert result.success_rate >= entry["success"][tasks[0]]["train"] - 0.3, (env_id, result.success_rate)
        for task in tasks[1:]:  # the multi-task policy acts in every task's own env
            assert len(agents.evaluate(policy, task, "train", episodes=1, seed=123).episodes) == 1, task


def test_a_task_without_a_shipped_policy_is_named():
    with pytest.raises(UsageError, match="no pretrained policy for 'Groundworld/Nope-v0'; shipped: "):
        agents.load_pretrained("Groundworld/Nope-v0")
