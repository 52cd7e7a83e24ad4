"""Shared fixtures: every registered id, and helpers to run episodes."""

from __future__ import annotations

import os

os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")  # tests (and the CLIs they start) run eagerly; one test compiles

import gymnasium as gym
import numpy as np
import pytest

import envs

TASK_IDS = list(envs.TASKS)


@pytest.fixture(params=TASK_IDS)
def env_id(request) -> str:
    return request.param


def run_episode(env: gym.Env, policy, seed: int, max_steps: int = 1000):
    """Run one episode; return (observations, rewards, infos)."""
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos


def random_policy(env: gym.Env, seed: int):
    rng = np.random.default_rng(seed)
    shape = env.action_space.shape
    return lambda obs, info: rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
