"""One policy for every task: the common observation layout, and a multi-task DAgger run that acts everywhere."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import agents
import envs
from agents.training import config_from_args
from groundworld.layout import CommonLayout, common_space, to_common


def test_the_common_layout_puts_the_effector_first_for_both_bodies():
    for env_id, body in (("Groundworld/GoTo-v0", 0), ("Groundworld/Reach-v0", 1)):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=0)
        common = to_common(obs)
        assert common_space(env.observation_space).contains(common)
        np.testing.assert_allclose(common["proprio"][:2], envs.base.effector_xy(obs["proprio"]))
        assert common["embodiment"].argmax() == body and to_common(common) is common
        batch = {k: np.stack([v, v]) for k, v in obs.items()}
        np.testing.assert_array_equal(to_common(batch)["proprio"][1], common["proprio"])
    wrapped = CommonLayout(gym.make("Groundworld/Sequence-v0"))
    assert wrapped.observation_space == common_space(gym.make("Groundworld/GoTo-v0").observation_space)


def test_a_multitask_policy_trains_on_every_task_and_acts_in_each_env(tmp_path):
    config = config_from_args(
        {
            "env": "all",
            "algo": "dagger",
            "steps": 240,
            "num_envs": 6,
            "learning_starts": 60,
            "eval_every": 240,
            "eval_episodes": 1,
            "checkpoint_every": 240,
            "run_dir": str(tmp_path / "all"),
            "progress": False,
        },
        resume=False,
    )
    agents.train(config)
    policy, loaded = agents.load_policy(tmp_path / "all")
    assert loaded.multitask and set(loaded.env_ids) == set(envs.TASKS)
    header = (tmp_path / "all" / "progress.csv").read_text().splitlines()[0]
    assert all(f"eval_success/{env_id.split('/')[-1]}" in header for env_id in envs.TASKS)
    for env_id in envs.TASKS:  # one set of weights acts in every task's own env
        env = gym.make(env_id)
        obs, _ = env.reset(seed=1)
        action = policy.act(obs)
        assert env.action_space.contains(action.astype(np.float32))
