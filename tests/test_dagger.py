"""DAgger: the oracle labels the states the learner itself visits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import envs
from agents.bc import BCPolicy
from agents.config import DAggerConfig
from agents.dagger import Labels, beta_at, label_and_act


def test_the_oracle_labels_the_learners_states_and_the_learner_acts():
    vec = gym.make_vec("Groundworld/Push-v0", num_envs=3, vectorization_mode="sync")
    obs, _ = vec.reset(seed=0)
    oracles = [envs.make_oracle(env) for env in vec.envs]
    policy = BCPolicy(vec.single_observation_space, vec.single_action_space)
    rng = np.random.default_rng(0)
    for _ in range(5):
        expected = np.stack([envs.make_oracle(env)(None, None) for env in vec.envs])  # the oracle at this state
        labels, action = label_and_act(oracles, policy, obs, beta=0.0, rng=rng)
        np.testing.assert_allclose(labels, expected, atol=1e-6)
        np.testing.assert_allclose(action, policy.act(obs), atol=1e-6)  # beta 0: the learner's own actions
        assert not np.allclose(action, labels)  # so the states visited are the learner's, not the oracle's
        obs, *_ = vec.step(action)
    labels, action = label_and_act(oracles, policy, obs, beta=1.0, rng=rng)
    np.testing.assert_allclose(action, labels)


def test_beta_decays_to_zero_and_labels_keep_their_rows(tmp_path):
    config = DAggerConfig(beta=1.0, beta_steps=100)
    assert beta_at(config, 0) == 1.0 and beta_at(config, 50) == 0.5 and beta_at(config, 200) == 0.0
    space = gym.make("Groundworld/GoTo-v0").observation_space
    store = Labels(space, 2, capacity=4)
    obs = {k: np.stack([s.sample() for _ in range(3)]) for k, s in space.spaces.items()}
    store.add(obs, np.ones((3, 2), np.float32), np.arange(3))
    store.add(obs, 2 * np.ones((3, 2), np.float32), np.arange(3))  # wraps: capacity 4
    assert len(store) == 4 and sorted(store.action[:, 0].tolist()) == [1.0, 2.0, 2.0, 2.0]
    back = Labels(space, 2, capacity=4)
    back.load(store.save(tmp_path / "labels.npz"))
    np.testing.assert_array_equal(back.action, store.action)
    assert back.pos == store.pos and len(back) == 4
