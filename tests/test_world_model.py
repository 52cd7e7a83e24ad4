"""World model: codec, normalisation, fitting a known system, episode boundaries, dream env, checkpoints."""

from __future__ import annotations

import copy
import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401
import world_model
from agents.bc import collect_demonstrations
from agents.sac import SACAgent, SACConfig
from envs.base import HALF_EXTENT
from groundworld.collect import Collector
from groundworld.nn import obs_to_tensors
from groundworld.replay import ReplayBuffer
from world_model.codec import StateCodec
from world_model.ensemble import EnsembleConfig, Normalizer
from world_model.metrics import disagreement_correlation, episode_windows, open_loop_error, outcome_prediction
from world_model.outcomes import TaskOutcome
from world_model.training import REWARD_STD_FLOOR, WorldModelConfig, split_episodes

SMALL = EnsembleConfig(members=3, elites=2, hidden=64, layers=2)


@pytest.fixture(scope="module")
def goto_data() -> ReplayBuffer:
    return collect_demonstrations("Groundworld/GoTo-v0", steps=1500, seed=0, action_noise=0.3)


@pytest.fixture(scope="module")
def goto_model(goto_data):
    model, history = world_model.fit(goto_data, WorldModelConfig(epochs=8, ensemble=SMALL))
    return model


def test_codec_round_trip():
    env = gym.make("Groundworld/Push-v0")
    obs = obs_to_tensors({k: v[None] for k, v in env.reset(seed=0)[0].items()})
    codec = StateCodec(env.observation_space)
    assert codec.dynamic(obs).shape == (1, 4 + 5 * 6)
    rebuilt = codec.compose(obs, codec.dynamic(obs))
    for key in obs:
        torch.testing.assert_close(rebuilt[key], obs[key])
    mask = codec.dynamic_mask(obs)
    assert mask[0, :4].all() and mask.sum() == 4 + 6 * obs["object_mask"].sum()


def test_normalizer_round_trip_and_masking():
    x = torch.randn(500, 3) * torch.tensor([1.0, 10.0, 0.1]) + 5
    mask = torch.ones_like(x)
    mask[:250, 2] = 0
    x[:250, 2] = 1e6  # masked entries must not move the statistics
    norm = Normalizer(3)
    norm.fit(x, mask)
    torch.testing.assert_close(norm.inverse(norm(x)), x)
    assert abs(norm.std[2].item() - 0.1) < 0.03 and abs(norm.mean[1].item() - 5) < 2


def _linear_buffer(steps: int = 3000) -> ReplayBuffer:
    """GoTo-shaped observations whose body state follows s' = A s + B a exactly."""
    env = gym.make("Groundworld/GoTo-v0")
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(env.observation_space, 2, steps, "Groundworld/GoTo-v0")
    template = env.reset(seed=0)[0]
    a_mat = np.array([[1, 0, 0.04, 0], [0, 1, 0, 0.04], [0, 0, 0.8, 0], [0, 0, 0, 0.8]], dtype=np.float32)
    b_mat = np.array([[0, 0], [0, 0], [0.5, 0], [0, 0.5]], dtype=np.float32)
    state = rng.uniform(-0.4, 0.4, size=4).astype(np.float32)
    for t in range(steps):
        action = rng.uniform(-1, 1, size=2).astype(np.float32)
        nxt = a_mat @ state + b_mat @ action
        obs = dict(template, proprio=state.copy())
        next_obs = dict(template, proprio=nxt.astype(np.float32))
        buffer.add(
            {k: v[None] for k, v in obs.items()},
            action[None],
            [0.0],
            {k: v[None] for k, v in next_obs.items()},
            [False],
            [t % 50 == 49],
            [t % 50 == 0],
            [t // 50],
            [t % 50],
        )
        state = nxt if t % 50 != 49 else rng.uniform(-0.4, 0.4, size=4).astype(np.float32)
    return buffer


def test_ensemble_fits_a_known_linear_system():
    buffer = _linear_buffer()
    model, history = world_model.fit(buffer, WorldModelConfig(epochs=40, patience=40, ensemble=SMALL))
    assert history[-1]["heldout"] < history[0]["heldout"]
    # the reward never varies here: its scale is floored, so its tiny errors do not swamp the score
    assert float(model.reward_std) == pytest.approx(REWARD_STD_FLOOR)
    assert min(h["heldout"] for h in history) < 0.5
    errors = open_loop_error(model, buffer, ks=(1, 5))
    assert errors[1]["proprio"] < 0.01 and errors[5]["proprio"] < 0.05


def test_training_never_crosses_episode_boundaries(goto_data):
    rows = goto_data.rows()
    train, held = split_episodes(rows["episode"], 0.2, seed=0)
    assert set(rows["episode"][train]).isdisjoint(rows["episode"][held])
    for k in (2, 5):
        for i in episode_windows(rows, k):
            assert len(set(rows["episode"][i : i + k])) == 1
            np.testing.assert_array_equal(rows["step"][i : i + k], rows["step"][i] + np.arange(k))
            assert not rows["is_last"][i : i + k - 1].any()  # only the window's last step may end it
    # next_obs of a row is the obs of the following row inside an episode (no off-by-one)
    for i in episode_windows(rows, 2)[:50]:
        np.testing.assert_array_equal(rows["next_obs/proprio"][i], rows["obs/proprio"][i + 1])


def test_model_beats_a_copy_of_the_state(goto_model, goto_data):
    """Hallucination is measured, not hidden: the one-step error is below predicting no change."""
    errors = open_loop_error(goto_model, goto_data, ks=(1,))
    rows = goto_data.rows()
    codec = goto_model.codec
    obs = obs_to_tensors({k: rows["obs/" + k] for k in goto_data.keys})
    nxt = obs_to_tensors({k: rows["next_obs/" + k] for k in goto_data.keys})
    state = codec.dynamic(obs)
    var = state.var(0).clamp(min=1e-8)
    no_change = (((codec.dynamic(nxt) - state) ** 2 / var)[:, :4]).mean().item()
    assert errors[1]["proprio"] < no_change
    assert -1.0 <= disagreement_correlation(goto_model, goto_data) <= 1.0


def test_dream_env_matches_the_real_spaces_and_autoresets(goto_model, goto_data):
    real = gym.make("Groundworld/GoTo-v0")
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=6, horizon=3, max_disagreement=1e9, seed=0)
    assert dream.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert set(dream.single_observation_space.spaces) == set(real.observation_space.spaces)
    obs, _ = dream.reset(seed=1)
    for key, space in real.observation_space.spaces.items():
        assert obs[key].shape == (6, *space.shape) and obs[key].dtype == space.dtype
    instruction, zones = obs["instruction"].copy(), obs["zones"].copy()
    done_before = np.zeros(6, dtype=bool)
    restarted = np.zeros(6, dtype=bool)
    ends = 0
    for _ in range(7):
        obs, reward, terminated, truncated, info = dream.step(np.zeros((6, 2), dtype=np.float32))
        assert np.all(np.isfinite(reward)) and info["disagreement"].shape == (6,)
        assert np.all(reward[done_before] == 0) and not np.any((terminated | truncated)[done_before])
        restarted |= done_before
        same = ~restarted  # imagined episodes keep their instruction and zones until they end
        np.testing.assert_array_equal(obs["instruction"][same], instruction[same])
        np.testing.assert_array_equal(obs["zones"][same], zones[same])
        done_before = terminated | truncated
        ends += int(done_before.sum())
    assert ends >= 6  # with horizon 3 every imagined episode ends within 7 steps


def test_dream_env_stops_at_the_disagreement_threshold(goto_model, goto_data):
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=8, horizon=100, max_disagreement=0.0, seed=0)
    dream.reset(seed=0)
    _, _, terminated, truncated, info = dream.step(np.ones((8, 2), dtype=np.float32))
    assert np.all(truncated | terminated) and info["model_stopped"][~terminated].all()
    penalised = world_model.DreamVecEnv(goto_model, goto_data, num_envs=8, penalty=10.0, sample=False, seed=0)
    plain = world_model.DreamVecEnv(goto_model, goto_data, num_envs=8, penalty=0.0, sample=False, seed=0)
    penalised.reset(seed=0)
    plain.reset(seed=0)
    action = np.ones((8, 2), dtype=np.float32)
    r_pen, r_plain = penalised.step(action)[1], plain.step(action)[1]
    info = plain.step(action)[4]
    assert np.all(r_pen <= r_plain) and info["disagreement"].min() >= 0


def test_native_agent_and_sb3_ppo_train_in_the_dream(goto_model, goto_data, tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    import agents

    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=8, horizon=10, seed=0)
    agent = SACAgent(dream.single_observation_space, dream.single_action_space, SACConfig(batch_size=32))
    replay = ReplayBuffer(dream.single_observation_space, 2, 2000, "Groundworld/GoTo-v0")
    collector = Collector(dream, replay, seed=0)
    before = [p.detach().clone() for p in agent.actor.parameters()]
    rng = np.random.default_rng(0)
    for _ in range(30):
        collector.step(agent.act(collector.obs))
        agent.update(replay.sample(32, rng), replay.keys)
    assert len(replay) > 120  # 240 steps less the auto-reset ones
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.actor.parameters(), strict=True))

    model = PPO(
        "MultiInputPolicy",
        world_model.sb3_vec_env(dream),
        policy_kwargs=agents.sb3_policy_kwargs(),
        n_steps=32,
        batch_size=64,
        n_epochs=1,
        seed=0,
    )
    model.learn(256)
    assert model.num_timesteps >= 256
    real = gym.make("Groundworld/GoTo-v0")
    assert dream.single_observation_space == real.observation_space  # the real env's spaces, exactly
    model.save(tmp_path / "dreamt.zip")  # a policy trained in imagination loads against the real env
    loaded = PPO.load(tmp_path / "dreamt.zip", env=DummyVecEnv([lambda: gym.make("Groundworld/GoTo-v0")]))
    assert real.action_space.contains(loaded.predict(real.reset(seed=0)[0], deterministic=True)[0])


def test_world_model_checkpoint_round_trip(tmp_path, goto_model, goto_data):
    path = world_model.save_world_model(tmp_path / "wm.pt", goto_model, "Groundworld/GoTo-v0")
    loaded, env_id = world_model.load_world_model(path)
    assert env_id == "Groundworld/GoTo-v0"
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k][:16] for k in goto_data.keys})
    action = torch.as_tensor(rows["action"][:16])
    a = goto_model.step(obs, action, elite_mean=True)["next_obs"]["proprio"]
    b = loaded.step(obs, action, elite_mean=True)["next_obs"]["proprio"]
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(loaded.elite_index, goto_model.elite_index)


def test_side_by_side_video(tmp_path, goto_model):
    import imageio.v2 as imageio

    from world_model.visualize import side_by_side

    out = side_by_side(goto_model, "Groundworld/GoTo-v0", "oracle", steps=6, seed=0, out=tmp_path / "wm.mp4", size=64)
    frames = [f for f in imageio.get_reader(out)]
    assert 2 <= len(frames) <= 7 and frames[0].shape == (64, 128, 3)
    assert not np.array_equal(frames[0][:, :64], frames[-1][:, :64])  # the real scene moved


def test_metrics_handle_episodes_interleaved_by_vector_envs():
    from world_model.metrics import by_episode

    rows = {"episode": np.array([0, 1, 0, 1, 0, 2, 1]), "step": np.array([0, 0, 1, 1, 2, 0, 2]), "value": np.arange(7)}
    ordered = by_episode(rows)
    np.testing.assert_array_equal(ordered["episode"], [0, 0, 0, 1, 1, 1, 2])
    np.testing.assert_array_equal(ordered["step"], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(episode_windows(ordered, 3), [0, 3])
    assert len(episode_windows(rows, 2)) == 0  # unordered rows have no windows: always order first


def test_move_gate_learns_which_objects_move_and_keeps_resting_ones_exactly_still():
    """On Push demonstrations (the oracle shoves objects about), the gate beats calling every
    object at rest and catches moving ones; objects it calls at rest keep their state bit for
    bit in imagination (no open-loop drift)."""
    data = collect_demonstrations("Groundworld/Push-v0", steps=3000, seed=0, action_noise=0.3)
    model, _ = world_model.fit(data, WorldModelConfig(epochs=40, patience=40, ensemble=SMALL))
    rows = data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k] for k in data.keys})
    nxt = obs_to_tensors({k: rows["next_obs/" + k] for k in data.keys})
    action = torch.as_tensor(rows["action"])
    with torch.no_grad():
        logits = model(obs, action, model.elite_index).move_logit.mean(0)
        imagined = model.step(obs, action, elite_mean=True)["next_obs"]
    moved = model.moved(obs, nxt).bool()
    present = obs["object_mask"] > 0.5
    guess = logits > 0
    at_rest_rate = (~moved)[present].float().mean()
    assert (guess == moved)[present].float().mean() > at_rest_rate + 0.02
    assert guess[moved & present].float().mean() > 0.3
    still = ~guess & present
    torch.testing.assert_close(imagined["objects"][still][:, :6], obs["objects"][still][:, :6], rtol=0, atol=0)


def test_world_model_goal_pointer_learns_which_object_the_instruction_names(goto_data):
    """The members read the named object's state through a goal pointer trained on the replay's goal_object."""
    model, _ = world_model.fit(goto_data, WorldModelConfig(epochs=120, patience=120, ensemble=SMALL))
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k] for k in goto_data.keys})
    goal = torch.as_tensor(rows["goal_object"])
    assert (goal >= 0).all()
    with torch.no_grad():
        n = obs["object_mask"].shape[1]
        scores = model.pointer.scores(obs)[:, :n].masked_fill(obs["object_mask"] < 0.5, -1e4)
    assert (scores.argmax(1) == goal).float().mean() > 0.9


def test_context_scale_has_a_floor_and_unmoving_features_are_imagined_unchanged():
    """On a few episodes a context feature (an attribute) may never vary; it must not get a
    tiny scale, or an unseen attribute becomes an input of 10^4. Dynamic features that never
    changed are not learned, and imagination leaves them where they were."""
    norm = Normalizer(2)
    norm.fit(torch.tensor([[1.0, 0.0], [1.0, 0.5], [1.0, -0.5]]), floor=0.1)
    assert norm.std[0].item() == pytest.approx(0.1) and norm.std[1].item() > 0.3
    assert norm(torch.tensor([[0.0, 0.0]]))[0, 0].item() == pytest.approx(-10.0)
    buffer = _linear_buffer(steps=600)  # the body moves, the objects never do
    model, _ = world_model.fit(buffer, WorldModelConfig(epochs=3, patience=3, ensemble=SMALL))
    learned = model.learned()
    body = model.codec.proprio_dim
    assert learned[:body].all() and not learned[body:].any()
    obs = obs_to_tensors({k: v[:16] for k, v in buffer.rows().items() if k.startswith("obs/")})
    obs = {k.removeprefix("obs/"): v for k, v in obs.items()}
    with torch.no_grad():
        nxt = model.step(obs, torch.rand(16, 2) * 2 - 1, torch.Generator().manual_seed(0))["next_obs"]
    torch.testing.assert_close(nxt["objects"], obs["objects"], rtol=0, atol=0)


def test_relational_features_give_offsets_from_the_effector_and_the_nearest_neighbour():
    from world_model.objects import FAR, relational_features

    proprio = torch.tensor([[0.1, 0.2, 0.0, 0.0]])
    objects = torch.zeros(1, 4, 16)
    objects[0, 0, :2] = torch.tensor([0.4, 0.2])
    objects[0, 1, :2] = torch.tensor([0.1, -0.2])
    objects[0, 1, 3:5] = torch.tensor([0.5, -0.5])
    objects[0, 2, :2] = torch.tensor([0.5, 0.3])  # absent: must be nobody's neighbour
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    f = relational_features(proprio, objects, mask)[0]
    torch.testing.assert_close(f[0, :3], torch.tensor([0.3, 0.0, 0.3]))  # offset from the ball
    torch.testing.assert_close(f[0, 3:6], torch.tensor([-0.3, -0.4, 0.5]))  # to object 1, not to the absent 2
    torch.testing.assert_close(f[0, 6:8], torch.tensor([0.5, -0.5]))  # the neighbour's velocity
    torch.testing.assert_close(f[1, 3:5], torch.tensor([0.3, 0.4]))
    alone = relational_features(proprio, objects, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))[0, 0]
    torch.testing.assert_close(alone[3:5], torch.tensor([FAR, FAR]))
    torch.testing.assert_close(alone[6:8], torch.zeros(2))
    objects[0, 0, 2], objects[0, 0, -1] = 0.01, 0.03  # 2 cm below its resting height: falling off
    assert relational_features(proprio, objects, mask)[0, 0, 8].item() == pytest.approx(-0.02)
    assert relational_features(proprio, objects, mask)[0, 0, 9].item() == pytest.approx(0.1)  # 10 cm inside the edge
    arm = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.4, 0.2]])  # the arm's fingertip xy is last
    assert relational_features(arm, objects, mask)[0, 0, 2].item() == pytest.approx(0.0)


def test_factored_physics_ignores_the_instruction_and_is_equivariant_to_object_slots(goto_model, goto_data):
    """The physics heads do not read words (a changed instruction changes no predicted motion, only
    the task heads may change), and permuting the object slots permutes the predicted object motion."""
    assert goto_model.config.factored
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k][:64] for k in goto_data.keys})
    action = torch.as_tensor(rows["action"][:64])
    with torch.no_grad():
        base = goto_model(obs, action)
        other = dict(obs, instruction=obs["instruction"].roll(7, 0))
        reworded = goto_model(other, action)
        torch.testing.assert_close(reworded.delta_mean, base.delta_mean)
        torch.testing.assert_close(reworded.move_logit, base.move_logit)
        perm = torch.tensor([3, 0, 4, 1, 2])
        shuffled = dict(obs, objects=obs["objects"][:, perm], object_mask=obs["object_mask"][:, perm])
        moved = goto_model(shuffled, action)
    p = goto_model.codec.proprio_dim
    present = obs["object_mask"][:, perm] > 0.5
    per_slot = base.delta_mean[..., p:].reshape(3, 64, 5, 6)[:, :, perm]
    got = moved.delta_mean[..., p:].reshape(3, 64, 5, 6)
    torch.testing.assert_close(got[:, present], per_slot[:, present], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(moved.delta_mean[..., :p], base.delta_mean[..., :p], rtol=1e-4, atol=1e-5)


def test_factored_model_pools_object_statistics_over_slots(goto_model):
    p = goto_model.codec.proprio_dim
    for norm in (goto_model.state_norm, goto_model.delta_norm):
        slots = norm.std[p:].reshape(-1, 6)
        torch.testing.assert_close(slots, slots[:1].expand_as(slots))
        assert (norm.mean[p:].reshape(-1, 6) == norm.mean[p : p + 6]).all()


def test_flat_checkpoints_without_the_factored_flag_still_load(tmp_path, goto_data):
    import dataclasses

    from groundworld.checkpoint import save_checkpoint

    flat = EnsembleConfig(**{**dataclasses.asdict(SMALL), "factored": False})
    model, _ = world_model.fit(goto_data, WorldModelConfig(epochs=1, ensemble=flat))
    config = dataclasses.asdict(model.config)
    config.pop("factored"), config.pop("physics_hidden")  # as written before the factored heads existed
    state = {k: v for k, v in model.state_dict().items() if k not in ("state_low", "state_high")}
    payload = {"kind": "world_model", "env": "Groundworld/GoTo-v0", "model": state, "ensemble": config}
    path = save_checkpoint(tmp_path / "old.pt", {**payload, "action_dim": 2})
    loaded, _ = world_model.load_world_model(path)
    assert not loaded.config.factored and torch.isinf(loaded.state_high).all()  # no envelope was saved
    model.state_low.fill_(-torch.inf), model.state_high.fill_(torch.inf)
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k][:8] for k in goto_data.keys})
    action = torch.as_tensor(rows["action"][:8])
    torch.testing.assert_close(
        loaded.step(obs, action, elite_mean=True)["next_obs"]["proprio"],
        model.step(obs, action, elite_mean=True)["next_obs"]["proprio"],
    )


def test_bf16_imagination_stays_close_to_fp32(goto_model, goto_data):
    """The dream env's bfloat16 hidden layers move imagined states by a small fraction of a step's change."""
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k][:256] for k in goto_data.keys})
    action = torch.as_tensor(rows["action"][:256])
    full = goto_model.step(obs, action, elite_mean=True)
    half = goto_model.step(obs, action, elite_mean=True, bf16=True)
    codec = goto_model.codec
    change = (codec.dynamic(full["next_obs"]) - codec.dynamic(obs)).abs().mean()
    gap = (codec.dynamic(half["next_obs"]) - codec.dynamic(full["next_obs"])).abs().mean()
    assert half["next_obs"]["proprio"].dtype == torch.float32 and half["reward"].dtype == torch.float32
    assert gap < 0.05 * change
    torch.testing.assert_close(half["reward"], full["reward"], rtol=0.05, atol=0.02)
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=4, precision="fp32")
    assert not dream.bf16
    with pytest.raises(ValueError, match="precision"):
        world_model.DreamVecEnv(goto_model, goto_data, num_envs=4, precision="half")


def test_own_error_rows_pair_the_models_prediction_with_the_real_step_after_it(goto_model, goto_data):
    """Data as Demonstrator: the start state is the model's own guess of step t+1, the targets
    those of the real step t+1 -> t+2; rows without a next step in their episode get none."""
    from world_model.training import own_error_rows, successors, transitions

    episode, step = np.array([0, 1, 0, 1, 0, 2]), np.array([0, 0, 1, 1, 2, 0])
    np.testing.assert_array_equal(successors(episode, step), [2, 3, 4, -1, -1, -1])
    np.testing.assert_array_equal(successors(np.array([0, 0]), np.array([0, 2])), [-1, -1])  # a gap is no successor
    rows = goto_data.rows()
    data = transitions(goto_data, np.arange(64))
    successor = torch.as_tensor(successors(rows["episode"][:64], rows["step"][:64]))
    idx = torch.arange(64)
    extra = own_error_rows(goto_model, data, idx, successor)
    has_next = successor >= 0
    assert len(extra["action"]) == int(has_next.sum()) > 0
    nxt = successor[has_next]
    torch.testing.assert_close(extra["action"], data["action"][nxt])
    torch.testing.assert_close(extra["next_obs"]["proprio"], data["next_obs"]["proprio"][nxt])
    start = data["obs"]["proprio"][has_next]
    real = data["obs"]["proprio"][nxt]
    assert not torch.equal(extra["obs"]["proprio"], real)  # the model's guess, not the data
    assert (extra["obs"]["proprio"] - real).abs().mean() < (start - real).abs().mean()  # and a guess of t+1
    torch.testing.assert_close(extra["obs"]["instruction"], data["obs"]["instruction"][nxt])


def test_imagination_stays_inside_the_training_envelope(goto_model, goto_data):
    """However wrong a prediction, an imagined state stays within the range of the training data
    (objects pooled over slots, 10% margin); present objects only, empty slots stay empty."""
    low, high = goto_model.state_low, goto_model.state_high
    assert torch.isfinite(low).all() and (high > low).all()
    p = goto_model.codec.proprio_dim
    assert (low[p:].reshape(-1, 6) == low[p : p + 6]).all()
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k][:32] for k in goto_data.keys})
    huge = torch.full((32, goto_model.codec.dim), 1e6)  # a normalised change far beyond anything seen
    after = goto_model.next_state(obs, huge, None)
    present = goto_model.codec.dynamic_mask(obs) > 0
    assert (after[present] <= high.expand_as(after)[present] + 1e-6).all()
    state = goto_model.codec.dynamic(obs)
    assert (after[present] > state[present]).any()  # it moved, up to the envelope
    torch.testing.assert_close(after[~present], state[~present])


def test_objects_over_the_table_cannot_sink_into_it_but_past_its_edge_they_fall(goto_model, goto_data):
    """The table envelope: over the table an object keeps the elevation and vertical velocity
    seen there in training; beyond its edge only the global envelope holds."""
    low, high = goto_model.table_low, goto_model.table_high
    assert torch.isfinite(low).all() and low[0] < 0.0 < high[0] and high[0] < 0.01  # within a centimetre of resting
    rows = goto_data.rows()
    obs = obs_to_tensors({k: rows["obs/" + k][:2] for k in goto_data.keys})
    p = goto_model.codec.proprio_dim
    state = goto_model.codec.dynamic(obs)
    sinking = state.clone()
    objects = sinking[:, p:].view(2, -1, 6)
    objects[:, 0, 2] = -0.2  # 20 cm into the table, falling at 3 m/s
    objects[:, 0, 5] = -3.0
    objects[1, 0, 0] = 0.6  # row 1: that object is past the table's edge
    held = goto_model.table_contact(obs, sinking)[:, p:].view(2, -1, 6)
    half = obs["objects"][:, 0, HALF_EXTENT]
    assert held[0, 0, 2] >= half[0] + low[0] - 1e-6 and held[0, 0, 5] >= low[1] - 1e-6
    assert held[1, 0, 2] == -0.2 and held[1, 0, 5] == -3.0
    torch.testing.assert_close(held[:, 1:], objects[:, 1:])  # other objects untouched


def test_dream_env_carries_each_start_rows_goal_object_for_the_grounding_loss(goto_model, goto_data):
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=8, horizon=2, max_disagreement=1e9, seed=0)
    obs, info = dream.reset(seed=3)
    rows = goto_data.rows()

    def goal_of(proprio: np.ndarray) -> int:  # the replay row this start came from, by its exact state
        match = np.flatnonzero((rows["obs/proprio"] == proprio).all(1))
        return int(rows["goal_object"][match[0]])

    np.testing.assert_array_equal(info["goal"]["object"], [goal_of(p) for p in obs["proprio"]])
    imagined = ReplayBuffer(dream.single_observation_space, 2, 64, "Groundworld/GoTo-v0")
    collector = Collector(dream, imagined, seed=0)
    for _ in range(5):  # through an autoreset: new starts bring their own goals
        collector.step(np.zeros((8, 2), dtype=np.float32))
    stored = imagined.rows()
    assert (stored["goal_object"] >= 0).all()
    first = stored["is_first"]
    assert first.sum() > 8  # some rows restarted
    np.testing.assert_array_equal(stored["goal_object"][first], [goal_of(p) for p in stored["obs/proprio"][first]])
    for episode in np.unique(stored["episode"]):  # an imagined episode keeps its start's goal
        assert len(set(stored["goal_object"][stored["episode"] == episode])) == 1


def test_dream_env_draws_success_and_termination_together(goto_model, goto_data, monkeypatch):
    """Success ends an episode: with P(success) = P(end) = 0.3 a row ends 30% of the time, always in success."""

    def fake_step(obs, action, generator=None, sample=True, elite_mean=False, bf16=False):
        b = action.shape[0]
        third = torch.full((b,), 0.3)
        return {"next_obs": obs, "reward": 0 * third, "success": third, "terminal": third, "disagreement": 0 * third}

    monkeypatch.setattr(goto_model, "step", fake_step)
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=500, horizon=1000, max_disagreement=1e9, seed=0)
    dream.reset(seed=0)
    ended, succeeded, stepped = 0, 0, 0
    for _ in range(4):
        _, _, terminated, _, info = dream.step(np.zeros((500, 2), dtype=np.float32))
        stepped_now = dream._t > 0  # rows that stepped (not restarting after an ending)
        stepped += int(stepped_now.sum())
        ended += int(terminated[stepped_now].sum())
        succeeded += int((info["is_success"] & terminated)[stepped_now].sum())
        assert (terminated == info["is_success"]).all()
    rate = ended / stepped
    assert 0.2 < rate < 0.4 and succeeded == ended


def test_dream_env_outcome_threshold_ends_episodes_only_on_confident_predictions(goto_model, goto_data, monkeypatch):
    def fake_step(obs, action, generator=None, sample=True, elite_mean=False, bf16=False):
        p = torch.where(obs["proprio"][:, 0] > 0, 0.6, 0.3)  # confident on half the rows
        return {"next_obs": obs, "reward": 0 * p, "success": p, "terminal": p, "disagreement": 0 * p}

    monkeypatch.setattr(goto_model, "step", fake_step)
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=64, horizon=1000, seed=0, outcome_threshold=0.5)
    obs, _ = dream.reset(seed=0)
    _, _, terminated, _, info = dream.step(np.zeros((64, 2), dtype=np.float32))
    np.testing.assert_array_equal(terminated, obs["proprio"][:, 0] > 0)
    np.testing.assert_array_equal(info["is_success"], terminated)


def test_dream_env_with_task_outcomes_ends_exactly_where_the_task_rule_says(goto_model, goto_data, monkeypatch):
    """A model that moves the ball onto its goal object in half the rows: those rows, and only
    those, succeed and end, with the env's dense reward."""
    outcome = TaskOutcome.for_env("Groundworld/GoTo-v0", "dense")
    holder = {}

    def fake_step(obs, action, generator=None, sample=True, elite_mean=False, bf16=False):
        goal = torch.as_tensor(holder["dream"]._goal)
        target = obs["objects"][torch.arange(len(goal)), goal]
        proprio = obs["proprio"].clone()
        arrive = obs["proprio"][:, 0] > 0
        reach = target[arrive, HALF_EXTENT : HALF_EXTENT + 1] + 0.045  # within the ball's 5 cm radius: a touch
        proprio[arrive, :2] = target[arrive, :2] + torch.tensor([1.0, 0.0]) * reach
        zero = torch.zeros(len(goal))
        return {
            "next_obs": {**obs, "proprio": proprio},
            "reward": zero,
            "success": zero,
            "terminal": zero,
            "disagreement": zero,
        }

    monkeypatch.setattr(goto_model, "step", fake_step)
    dream = world_model.DreamVecEnv(goto_model, goto_data, num_envs=64, horizon=1000, seed=0, outcome=outcome)
    holder["dream"] = dream
    obs, _ = dream.reset(seed=0)
    action = np.zeros((64, 2), dtype=np.float32)
    next_obs, reward, terminated, _, info = dream.step(action)
    arrive = obs["proprio"][:, 0] > 0
    assert 0 < arrive.sum() < 64
    np.testing.assert_array_equal(terminated, arrive)
    np.testing.assert_array_equal(info["is_success"], arrive)
    expected = outcome(
        obs_to_tensors(obs), torch.as_tensor(action), obs_to_tensors(next_obs), torch.as_tensor(info["goal"]["object"])
    )
    np.testing.assert_allclose(reward, expected["reward"].numpy(), atol=1e-6)
    assert (reward[arrive] > 1.0).all() and (np.abs(reward[~arrive]) < 1e-6).all()  # bonus + progress; no move


def test_dream_env_refuses_task_outcomes_without_goal_labels(goto_model, goto_data):
    unlabelled = copy.deepcopy(goto_data)
    unlabelled.data["goal_object"][:] = -1  # as a replay of format 1
    with pytest.raises(ValueError, match="goal object"):
        world_model.DreamVecEnv(goto_model, unlabelled, outcome=TaskOutcome.for_env("Groundworld/GoTo-v0"))


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_beta_nll_weights_each_features_pull_on_the_mean_by_its_variance(goto_data, beta):
    """With beta-NLL a feature predicted with variance v pulls its mean v**beta times as hard as
    under the plain NLL (whose pull is error / v): noisy-looking rare changes still get fitted."""
    env = gym.make("Groundworld/GoTo-v0")
    model = world_model.EnsembleModel(env.observation_space, 2, dataclasses.replace(SMALL, nll_beta=beta))
    rows = goto_data.rows()
    zeros = torch.zeros(4)  # reward, success and termination do not touch the state's mean
    obs = obs_to_tensors({k: rows["obs/" + k][:4] for k in goto_data.keys})
    next_obs = obs_to_tensors({k: rows["next_obs/" + k][:4] for k in goto_data.keys})
    pred = model(obs, torch.as_tensor(rows["action"][:4]), next_obs=next_obs)
    mean = torch.zeros_like(pred.delta_mean, requires_grad=True)
    logvar = torch.zeros_like(pred.delta_logvar)
    logvar[..., 0], logvar[..., 1] = math.log(4.0), 0.0  # proprio x: variance 4, proprio y: variance 1
    fixed = dataclasses.replace(pred, delta_mean=mean, delta_logvar=logvar, move_logit=None, goal_scores=None)
    model.forward = lambda *a, **k: fixed
    model.loss(obs, torch.as_tensor(rows["action"][:4]), next_obs, zeros, zeros, zeros)[0].backward()
    target = model.delta_norm(model.codec.dynamic(next_obs) - model.codec.dynamic(obs))
    pull = mean.grad[..., :2] / -target[:, :2]  # d loss / d mean = -2 (target - mean) w / v / count
    ratio = (pull[..., 0] / pull[..., 1])[target[:, :2].abs().min(-1).values.expand(pull.shape[:-1]) > 1e-3]
    assert ratio.numel() >= 4
    torch.testing.assert_close(ratio, torch.full_like(ratio, 4.0**beta / 4.0))


def test_outcome_prediction_scores_a_perfect_model_perfectly_and_the_fitted_one_below(
    goto_model, goto_data, monkeypatch
):
    outcome = TaskOutcome.for_env("Groundworld/GoTo-v0", "dense")
    fitted = outcome_prediction(goto_model, goto_data, outcome)
    rows = goto_data.rows()
    real_next = obs_to_tensors({k: rows["next_obs/" + k] for k in goto_data.keys})

    def perfect_step(obs, action, generator=None, sample=True, elite_mean=False, bf16=False):
        zero = torch.zeros(len(action))
        return {"next_obs": real_next, "reward": torch.as_tensor(rows["reward"]), "success": zero, "terminal": zero}

    monkeypatch.setattr(goto_model, "step", perfect_step)
    perfect = outcome_prediction(goto_model, goto_data, outcome)
    assert perfect["success steps"] > 5  # oracle demonstrations succeed
    for name in ("elites' mean", "sampled"):
        assert perfect[f"rule reward corr ({name})"] == pytest.approx(1.0, abs=1e-6)
        assert perfect[f"rule success recall ({name})"] == 1.0 and perfect[f"rule success precision ({name})"] == 1.0
    assert perfect["learned reward corr"] == pytest.approx(1.0)
    assert 0.0 < fitted["rule reward corr (elites' mean)"] < 1.0
