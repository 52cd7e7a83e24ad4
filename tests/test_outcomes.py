"""Task outcome rules: the env's own reward, success and failure, recomputed from observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from groundworld.nn import obs_to_tensors
from world_model.outcomes import KINDS, TaskOutcome

RULED_TASKS = ["Groundworld/GoTo-v0", "Groundworld/Reach-v0", "Groundworld/Push-v0", "Groundworld/KnockOff-v0"]


def _batch(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return obs_to_tensors({k: v[None] for k, v in obs.items()})


def _rule_of_step(rule: TaskOutcome, obs, action, next_obs, info) -> dict[str, float]:
    out = rule(
        _batch(obs),
        torch.as_tensor(action[None], dtype=torch.float32),
        _batch(next_obs),
        torch.tensor([info["goal"]["object"]]),
        torch.as_tensor(rule.goal_zone_colors(obs["instruction"][None])),
    )
    return {k: float(v[0]) for k, v in out.items()}


@pytest.mark.parametrize("reward_mode", ["dense", "sparse"])
@pytest.mark.parametrize("env_id", RULED_TASKS)
def test_task_rules_reproduce_the_envs_reward_success_and_failure(env_id, reward_mode):
    env = gym.make(env_id, reward_mode=reward_mode)
    rule = TaskOutcome.from_env(env.unwrapped)
    oracle = envs.make_oracle(env)
    rng = np.random.default_rng(0)
    successes = 0
    for episode in range(4):  # oracle episodes reach success; random ones wander and bump objects
        obs, info = env.reset(seed=episode)
        done = False
        while not done:
            if episode % 2 == 0:
                action = np.asarray(oracle(obs, info), dtype=np.float32)
            else:
                action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
            next_obs, reward, terminated, truncated, info = env.step(action)
            out = _rule_of_step(rule, obs, action, next_obs, info)
            assert out["reward"] == pytest.approx(reward, abs=1e-5)
            assert bool(out["success"]) == info["is_success"]
            assert bool(out["failure"]) == info["is_failure"]
            successes += info["is_success"]
            obs, done = next_obs, terminated or truncated
    assert successes == 2  # both oracle episodes ended in success, as the rules said


def _fallen(obs: dict[str, np.ndarray], slot: int) -> dict[str, np.ndarray]:
    out = {k: v.copy() for k, v in obs.items()}
    out["objects"][slot, 2] = -0.05  # below the table top
    return out


def test_a_fallen_target_fails_and_costs_one():
    env = gym.make("Groundworld/Push-v0", reward_mode="dense")
    rule = TaskOutcome.from_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    action = np.zeros(2, dtype=np.float32)
    target = info["goal"]["object"]
    out = _rule_of_step(rule, obs, action, _fallen(obs, target), info)
    assert out["failure"] == 1.0 and out["success"] == 0.0
    assert out["reward"] == pytest.approx(-1.0, abs=1e-4)  # the target did not move in the plane: no progress
    other = next(i for i in range(int(obs["object_mask"].sum())) if i != target)
    assert _rule_of_step(rule, obs, action, _fallen(obs, other), info)["failure"] == 0.0


def test_push_rule_reads_the_zone_the_instruction_names():
    env = gym.make("Groundworld/Push-v0")
    rule = TaskOutcome.from_env(env.unwrapped)
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        color = int(rule.goal_zone_colors(obs["instruction"][None])[0])
        assert envs.scene.COLOR_NAMES[color] in info["instruction"].split()
        named = env.unwrapped.goal.zone_index
        assert obs["zones"][named, 3 + color] == 1.0


def test_tasks_without_known_rules_are_refused_by_name():
    for env_id in envs.TASKS:
        kind = gym.make(env_id).unwrapped.goal_type.kind
        if kind in KINDS:
            assert TaskOutcome.for_env(env_id).kind == kind
        else:
            with pytest.raises(ValueError, match=kind):
                TaskOutcome.for_env(env_id)


@pytest.mark.parametrize("reward_mode", ["dense", "sparse"])
@pytest.mark.parametrize("which", ["target", "other"])
def test_knockoff_rule_matches_the_env_when_an_object_goes_over_the_edge(which, reward_mode):
    env = gym.make("Groundworld/KnockOff-v0", reward_mode=reward_mode)
    rule = TaskOutcome.from_env(env.unwrapped)
    obs, info = env.reset(seed=3)
    target = info["goal"]["object"]
    slot = target if which == "target" else next(i for i in range(len(env.unwrapped.objects)) if i != target)
    base = env.unwrapped
    qpos = base.index.object_qpos[slot]
    base.data.qpos[qpos : qpos + 3] = [0.56, 0.0, envs.scene.TABLE_TOP - 0.02]  # just past the edge, below the top
    action = np.zeros(2, dtype=np.float32)
    next_obs, reward, terminated, _, info = env.step(action)
    assert terminated and info["is_success"] == (which == "target") and info["is_failure"] == (which == "other")
    out = _rule_of_step(rule, obs, action, next_obs, info)
    assert bool(out["success"]) == info["is_success"] and bool(out["failure"]) == info["is_failure"]
    assert out["reward"] == pytest.approx(reward, abs=1e-5)
