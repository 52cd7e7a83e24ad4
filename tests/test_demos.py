"""Demonstrations: a dataset of oracle episodes (and its Minari twin), mixed into the native agent's batches."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.config import SACConfig
from agents.demos import DemoMix, collect_demos, demo_success
from agents.sac import SACAgent
from groundworld.replay import ReplayBuffer


@pytest.fixture(scope="module")
def demos() -> ReplayBuffer:
    return collect_demos("Groundworld/GoTo-v0", episodes=4, seed=7)


def test_a_demo_file_round_trips_with_its_episode_facts(demos, tmp_path):
    back = ReplayBuffer.load(demos.save(tmp_path / "demos.npz"), env_id="Groundworld/GoTo-v0")
    for key, value in demos.rows().items():
        np.testing.assert_array_equal(back.rows()[key], value)
    records = back.info["episodes"]
    assert [r["seed"] for r in records] == [7, 8, 9, 10] and demo_success(back) == 1.0
    assert sum(r["length"] for r in records) == len(back) and back.info["source"] == "oracle"
    env = gym.make("Groundworld/GoTo-v0", reward_mode="dense")  # the seed and the actions reproduce each episode
    rows = back.rows()
    for record in records:
        obs, info = env.reset(seed=record["seed"])
        assert info["instruction"] == record["instruction"]
        at = np.flatnonzero(rows["episode"] == record["episode"])
        np.testing.assert_array_equal(rows["obs/instruction"][at[0]], obs["instruction"])
        for i in at:
            obs, reward, *_ = env.step(rows["action"][i])
            assert np.isclose(reward, rows["reward"][i])
        np.testing.assert_allclose(obs["objects"], rows["next_obs/objects"][at[-1]], atol=1e-6)


def test_the_minari_export_is_lossless(demos, tmp_path):
    pytest.importorskip("minari", reason="the Minari round trip needs the optional extra: pip install -e '.[interop]'")
    pytest.importorskip("h5py", reason="the Minari round trip needs the optional extra: pip install -e '.[interop]'")
    from agents.demos import from_minari, to_minari

    to_minari(demos, "groundworld/goto-test-v0", root=tmp_path)
    back = from_minari("groundworld/goto-test-v0", root=tmp_path)
    for key, value in demos.rows().items():
        np.testing.assert_array_equal(back.rows()[key], value, err_msg=key)
    assert back.info == demos.info


def test_a_mixed_batch_has_its_demo_share_and_marks_it(demos):
    own = collect_demos("Groundworld/GoTo-v0", episodes=2, seed=100)
    mix = DemoMix(demos, ratio=0.25, bc_weight=2.0, decay_steps=100)
    batch = mix.sample(own, 64, np.random.default_rng(0))
    assert len(batch["reward"]) == 64 and batch["is_demo"].sum() == 16
    demo_rows = {tuple(r) for r in demos.rows()["obs/proprio"]}
    assert all(tuple(p) in demo_rows for p in batch["obs/proprio"][batch["is_demo"] == 1])
    assert mix.sample(None, 8, np.random.default_rng(0))["is_demo"].all()  # no own data yet: all demos
    assert mix.bc_weight(0) == 2.0 and mix.bc_weight(50) == 1.0 and mix.bc_weight(500) == 0.0


def test_the_action_supervision_term_pulls_the_actor_to_the_demonstrated_actions(demos):
    env = gym.make("Groundworld/GoTo-v0")
    torch.manual_seed(0)
    agent = SACAgent(env.observation_space, env.action_space, SACConfig(batch_size=64, layer_norm=True, compile=False))
    mix = DemoMix(demos, ratio=1.0, bc_weight=5.0)
    rng = np.random.default_rng(0)
    batch = mix.sample(None, 256, rng)
    obs = {k: batch["obs/" + k] for k in agent.encoder.keys}

    def error() -> float:
        return float(((agent.act(obs, deterministic=True) - batch["action"]) ** 2).sum(-1).mean())

    before = error()
    for _ in range(150):
        losses = agent.update(mix.sample(None, 64, rng), demos.keys, bc_weight=mix.bc_weight(0))
    assert "bc_loss" in losses and error() < 0.5 * before
    assert any("first_norms" in name for name, _ in agent.critic.named_parameters())  # critic LayerNorm
