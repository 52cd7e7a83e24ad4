"""Hindsight relabelling: the rewritten episode succeeds under its new instruction, with the env's own reward."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs
from agents.relabel import Relabeller
from envs import language, oracles, tokenizer
from tests.conftest import TASK_IDS


def decoy_episode(env_id: str, seed: int) -> tuple[dict[str, np.ndarray], int] | None:
    """An episode of the oracle heading for another object than the instruction names, and that object
    (None when the scene holds only the named objects)."""
    env = gym.make(env_id, reward_mode="dense")
    obs, info = env.reset(seed=seed)
    base = env.unwrapped
    decoy = next((i for i in range(len(base.objects)) if i not in base.goal.targets), None)
    if decoy is None:
        return None
    act = oracles.decoy(base, envs.make_oracle(env), decoy)
    rows: dict[str, list] = {}
    done = False
    while not done:
        action = act(obs, info)
        next_obs, _, terminated, truncated, info = env.step(action)
        for key in obs:
            rows.setdefault("obs/" + key, []).append(obs[key])
            rows.setdefault("next_obs/" + key, []).append(next_obs[key])
        rows.setdefault("action", []).append(action)
        obs, done = next_obs, terminated or truncated
    return {k: np.stack(v) for k, v in rows.items()}, decoy


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_a_relabelled_episode_succeeds_under_its_new_instruction_with_the_envs_reward(env_id):
    relabeller = Relabeller(env_id, "dense")
    for seed in range(40):  # a scene whose decoy goal is a training-split goal the decoy episode reaches
        found = decoy_episode(env_id, seed)
        if found is None:
            continue
        episode, decoy = found
        rewritten = relabeller.relabel(episode, np.random.default_rng(0), k=50)
        hits = [r for r in rewritten if r["goal_object"][0] == decoy or decoy in _targets(r, env_id, seed)]
        if hits:
            break
    else:
        pytest.fail(f"no relabelled decoy episode on {env_id} in 40 seeds")
    new = hits[0]
    text = str(new["instruction"])
    assert not language.parse(text).heldout  # held-out instructions stay unseen
    np.testing.assert_array_equal(new["obs/instruction"][0], tokenizer.encode(text))
    assert new["is_success"][-1] and new["is_terminal"][-1] and not new["is_terminal"][:-1].any()
    # the env itself, from the same seed, with the new goal in place of its own and the same actions
    env = gym.make(env_id, reward_mode="dense")
    env.reset(seed=seed)
    base = env.unwrapped
    goal = language.parse(text, kinds=(base.goal_type.kind,))
    goal.bind(base.objects, base.zones)
    goal.reset()
    base.goal, base._potential = goal, None
    base._potential = base.potential()
    rewards, success = [], False
    for action in new["action"]:
        _, reward, terminated, _, info = env.step(action)
        rewards.append(reward)
        success = info["is_success"]
        if terminated:
            break
    assert success and len(rewards) == len(new["reward"])
    np.testing.assert_allclose(new["reward"], rewards, atol=1e-4)


def _targets(episode, env_id, seed):
    env = gym.make(env_id)
    env.reset(seed=seed)
    goal = language.parse(str(episode["instruction"]), kinds=(env.unwrapped.goal_type.kind,))
    goal.bind(env.unwrapped.objects, env.unwrapped.zones)
    return goal.targets


def test_native_training_with_relabel_stores_relabelled_successes_apart(tmp_path):
    import agents
    from agents.training import RELABELLED, config_from_args
    from groundworld.checkpoint import load_checkpoint
    from groundworld.replay import ReplayBuffer

    run = tmp_path / "her"
    flags = {
        "env": "Groundworld/GoTo-v0", "steps": 3000, "num_envs": 8, "learning_starts": 3000, "batch_size": 16,
        "eval_every": 3000, "eval_episodes": 1, "checkpoint_every": 3000, "progress": False, "relabel": 2,
        "run_dir": str(run), "compile": False,
    }  # fmt: skip
    agents.train(config_from_args(flags, resume=False))
    payload = load_checkpoint(run / "checkpoint.pt")
    rows = ReplayBuffer.load(run / payload["replay_file"]).rows()
    extra = rows["episode"] >= RELABELLED
    assert payload["step"] == (~extra).sum() >= 3000  # the real steps alone count as steps
    assert extra.any() and rows["is_success"][extra & rows["is_last"]].all()
    assert (rows["reward"][extra & rows["is_last"]] > 0.5).all()  # the success bonus, recomputed
