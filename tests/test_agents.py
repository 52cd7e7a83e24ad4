"""Agents: encoders on every layout, SB3 glue, the native SAC's update, checkpoints, resume, CLIs."""

from __future__ import annotations

import functools
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import envs
import groundworld.nn
from agents.bc import BCPolicy, collect_demonstrations, train_bc
from agents.config import TrainConfig
from agents.evaluation import wilson_interval
from agents.sac import SACAgent, SACConfig, uses_bf16
from agents.training import config_from_args
from envs import tokenizer
from groundworld.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from groundworld.collect import Collector
from groundworld.grounding import first_scenes, pretrain_pointer
from groundworld.nn import EncoderConfig, GroundedEncoder, grounding_loss, obs_to_tensors
from groundworld.replay import ReplayBuffer
from tests.conftest import TASK_IDS, random_policy

REPO = Path(__file__).resolve().parents[1]


def batch_of(env: gym.Env, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    obs = [env.reset(seed=seed + i)[0] for i in range(n)]
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


def filled_replay(env_id: str = "Groundworld/GoTo-v0", steps: int = 300) -> tuple[gym.Env, ReplayBuffer]:
    env = gym.make(env_id, reward_mode="dense")
    replay = ReplayBuffer(env.observation_space, 2, 1000, env_id)
    policy = random_policy(env, 0)
    obs, info = env.reset(seed=0)
    t, episode = 0, 0
    for _ in range(steps):
        action = policy(obs, info)
        next_obs, reward, terminated, truncated, info = env.step(action)
        replay.add(
            {k: v[None] for k, v in obs.items()},
            action[None],
            [reward],
            {k: v[None] for k, v in next_obs.items()},
            [terminated],
            [truncated],
            [t == 0],
            [episode],
            [t],
        )
        obs, t = next_obs, t + 1
        if terminated or truncated:
            obs, info = env.reset()
            t, episode = 0, episode + 1
    return env, replay


# ---------------------------------------------------------------- encoder
@pytest.mark.parametrize("env_id", TASK_IDS)
@pytest.mark.parametrize("obs_mode", ["state", "pixels", "state+pixels"])
def test_encoder_reads_every_observation_layout(env_id, obs_mode):
    env = gym.make(env_id, obs_mode=obs_mode, pixel_size=48)
    encoder = GroundedEncoder(env.observation_space)
    features = encoder(obs_to_tensors(batch_of(env, 3)))
    assert features.shape == (3, encoder.out_dim) and torch.isfinite(features).all()
    features.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters() if p.requires_grad)


def test_encoder_reads_the_progress_feature():
    env = gym.make("Groundworld/Sequence-v0", expose_progress=True)
    encoder = GroundedEncoder(env.observation_space)
    obs = obs_to_tensors(batch_of(env, 2))
    before = encoder(obs)
    obs["progress"] = torch.ones_like(obs["progress"])
    assert not torch.allclose(before, encoder(obs))


def test_encoder_ignores_slot_order_and_padding():
    """Objects are a set: permuting slots (with their mask) leaves the features unchanged."""
    torch.manual_seed(0)
    env = gym.make("Groundworld/Push-v0")
    encoder = GroundedEncoder(env.observation_space)
    obs = obs_to_tensors(batch_of(env, 4))
    perm = torch.tensor([3, 0, 4, 1, 2])
    shuffled = dict(obs, objects=obs["objects"][:, perm], object_mask=obs["object_mask"][:, perm])
    torch.testing.assert_close(encoder(obs), encoder(shuffled), atol=1e-5, rtol=1e-5)
    garbage = obs["objects"].clone()
    garbage[obs["object_mask"] == 0] = 7.0  # padded rows are masked out
    torch.testing.assert_close(encoder(obs), encoder(dict(obs, objects=garbage)), atol=1e-5, rtol=1e-5)


def test_instruction_encoder_sees_word_order():
    env = gym.make("Groundworld/Sequence-v0")
    encoder = GroundedEncoder(env.observation_space)
    a = tokenizer.encode("touch the red cube, then the blue ball")
    b = tokenizer.encode("touch the blue ball, then the red cube")  # the same words, another goal
    out = encoder.instruction(torch.as_tensor(np.stack([a, b])))
    assert not torch.allclose(out[0], out[1])


# ---------------------------------------------------------------- Stable-Baselines3
@pytest.mark.parametrize("env_id", TASK_IDS)
@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_sb3_trains_a_few_hundred_steps(env_id, algo):
    from stable_baselines3 import PPO, SAC

    torch.manual_seed(0)
    env = gym.make(env_id, reward_mode="dense")
    if algo == "ppo":
        model = PPO(
            "MultiInputPolicy",
            env,
            policy_kwargs=agents.sb3_policy_kwargs(),
            n_steps=128,
            batch_size=64,
            n_epochs=2,
            seed=0,
        )
    else:
        model = SAC(
            "MultiInputPolicy",
            env,
            policy_kwargs=agents.sb3_policy_kwargs(),
            learning_starts=100,
            batch_size=32,
            seed=0,
        )
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(256)
    assert model.num_timesteps >= 256
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    assert changed > len(before) // 2
    owner = model.policy.actor if algo == "sac" else model.policy
    assert isinstance(owner.features_extractor, agents.GroundworldExtractor)


def test_sb3_recurrent_ppo_runs_on_sequence():
    from sb3_contrib import RecurrentPPO

    env = gym.make("Groundworld/Sequence-v0", reward_mode="dense")
    model = RecurrentPPO(
        "MultiInputLstmPolicy",
        env,
        policy_kwargs=agents.sb3_policy_kwargs(),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
    )
    model.learn(128)
    assert model.num_timesteps >= 128


# ---------------------------------------------------------------- native SAC
def test_native_update_changes_parameters_and_targets_lag():
    torch.manual_seed(0)
    env, replay = filled_replay()
    agent = SACAgent(env.observation_space, env.action_space, SACConfig(batch_size=32, tau=0.05))
    rng = np.random.default_rng(0)
    online = [p.detach().clone() for p in agent.critic.parameters()]
    target = [p.detach().clone() for p in agent.target_critic.parameters()]
    actor = [p.detach().clone() for p in agent.actor.parameters()]
    losses = agent.update(replay.sample(32, rng), replay.keys)
    assert all(np.isfinite(v) for v in losses.values())
    assert all(not torch.equal(a, b) for a, b in zip(actor, agent.actor.parameters(), strict=True))
    new_online = list(agent.critic.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(online, new_online, strict=True))
    for old, new, live in zip(target, agent.target_critic.parameters(), new_online, strict=True):
        torch.testing.assert_close(new, old + 0.05 * (live.detach() - old))  # Polyak: the target lags
    assert all(not p.requires_grad for p in agent.target_critic.parameters())


def test_native_agent_acts_in_range_and_deterministically():
    env = gym.make("Groundworld/Reach-v0")
    agent = SACAgent(env.observation_space, env.action_space, SACConfig())
    obs = batch_of(env, 5)
    sampled = agent.act(obs)
    assert sampled.shape == (5, 2) and np.all(np.abs(sampled) <= 1)
    np.testing.assert_array_equal(agent.act(obs, deterministic=True), agent.act(obs, deterministic=True))


# ---------------------------------------------------------------- replay and checkpoints
def test_replay_round_trip_and_bad_files(tmp_path):
    env, replay = filled_replay(steps=120)
    path = replay.save(tmp_path / "r.npz")
    loaded = ReplayBuffer.load(path, env.observation_space)
    assert len(loaded) == len(replay) == 120
    for key, value in replay.rows().items():
        np.testing.assert_array_equal(value, loaded.rows()[key])
    assert loaded.rows()["is_first"][0] and loaded.rows()["step"][0] == 0
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable Groundworld replay"):
        ReplayBuffer.load(tmp_path / "bad.npz", env.observation_space)
    with pytest.raises(ValueError, match="the env expects"):
        ReplayBuffer.load(path, gym.make("Groundworld/Reach-v0").observation_space)  # other proprio size


def test_checkpoint_round_trip_and_errors(tmp_path):
    env = gym.make("Groundworld/GoTo-v0")
    agent = SACAgent(env.observation_space, env.action_space, SACConfig())
    path = save_checkpoint(
        tmp_path / "c.pt", {"algo": "native", "env": "Groundworld/GoTo-v0", "agent": agent.state_dict()}
    )
    clone = SACAgent(env.observation_space, env.action_space, SACConfig())
    clone.load_state_dict(load_checkpoint(path, expect={"algo": "native"})["agent"])
    obs = batch_of(env, 4)
    np.testing.assert_array_equal(agent.act(obs, True), clone.act(obs, True))
    with pytest.raises(CheckpointError, match="made for env='Groundworld/GoTo-v0'"):
        load_checkpoint(path, expect={"env": "Groundworld/Push-v0"})
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------- training runs
def tiny(run_dir: Path, **kw) -> TrainConfig:
    base = dict(
        env="Groundworld/GoTo-v0",
        algo="native",
        steps=400,
        run_dir=str(run_dir),
        num_envs=4,
        learning_starts=200,
        batch_size=32,
        eval_every=200,
        eval_episodes=2,
        checkpoint_every=200,
        progress=False,
        buffer_size=5000,
    )
    base.update(kw)
    return config_from_args(base, resume=False)


def test_train_native_writes_the_run_folder(tmp_path):
    run = tmp_path / "run"
    policy = agents.train(tiny(run))
    for name in ("config.json", "progress.csv", "checkpoint.pt", "learning_curve.png"):
        assert (run / name).exists(), name
    assert list((run / "tb").iterdir())
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["step"] >= 400
    replay = ReplayBuffer.load(run / payload["replay_file"], gym.make("Groundworld/GoTo-v0").observation_space)
    assert len(replay) == payload["step"]  # every real transition stored once, auto-reset steps skipped
    rows = replay.rows()
    for e in np.unique(rows["episode"]):
        steps = rows["step"][rows["episode"] == e]
        np.testing.assert_array_equal(steps, np.arange(len(steps)))  # episodes are contiguous, in order
    loaded, config = agents.load_policy(run)
    obs, _ = gym.make(config.env).reset(seed=1)
    np.testing.assert_array_equal(loaded.act(obs), policy.act(obs))
    with pytest.raises(FileExistsError, match="--resume"):
        agents.train(tiny(run))


def test_unwritable_run_dir_is_reported_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write to the run folder"):
        agents.train(tiny(blocker / "run"))


def test_nan_loss_stops_with_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    original = SACAgent.update
    calls = {"n": 0}

    def poisoned(self, batch, keys):
        calls["n"] += 1
        losses = original(self, batch, keys)
        return dict(losses, critic_loss=float("nan")) if calls["n"] > 60 else losses

    monkeypatch.setattr(SACAgent, "update", poisoned)
    with pytest.raises(agents.training.TrainingError, match="non-finite loss.*last good checkpoint"):
        agents.train(tiny(run, steps=2000, utd=0.5, checkpoint_every=100))
    assert load_checkpoint(run / "checkpoint.pt")["step"] < 2000


def test_kill_and_resume_continues_the_run(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "agents.train",
        "--env",
        "Groundworld/GoTo-v0",
        "--steps",
        "3000",
        "--run-dir",
        str(run),
        "--num-envs",
        "2",
        "--learning-starts",
        "100",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "400",
        "--eval-every",
        "100",
        "--eval-episodes",
        "1",
        "--no-progress",
        "--utd",
        "0.25",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:  # kill it after a checkpoint, once it has logged rows past that checkpoint
        if (run / "checkpoint.pt").exists() and (run / "progress.csv").exists():
            saved = load_checkpoint(run / "checkpoint.pt")["step"]
            if max(int(r["step"]) for r in _progress(run)) > saved:
                break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = load_checkpoint(run / "checkpoint.pt")
    assert max(int(r["step"]) for r in _progress(run)) > killed["step"]  # rows the resumed run will log again
    assert 200 <= killed["step"] < 3000
    obs_space = gym.make("Groundworld/GoTo-v0").observation_space
    assert len(ReplayBuffer.load(run / killed["replay_file"], obs_space)) == killed["step"]

    done = subprocess.run(
        [sys.executable, "-m", "agents.train", "--run-dir", str(run), "--resume", "--no-progress"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    final = load_checkpoint(run / "checkpoint.pt")
    assert final["step"] >= 3000
    replay = ReplayBuffer.load(run / final["replay_file"], obs_space)
    assert len(replay) == final["step"]  # the old transitions were kept and new ones appended
    assert final["optim"]["critic"]["state"]  # optimizer moments carried over
    assert json.loads((run / "config.json").read_text())["steps"] == 3000
    rows = _progress(run)
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(set(steps)), "progress.csv has duplicate or unordered rows after the resume"
    for column in ("episodes", "wall_s"):  # they continue across the resume instead of restarting
        values = [float(r[column]) for r in rows]
        assert values == sorted(values), column
    assert final["episodes"] >= killed["episodes"] > 0 and final["wall_s"] > killed["wall_s"]


def _progress(run: Path) -> list[dict]:
    import csv

    with open(run / "progress.csv") as f:
        return list(csv.DictReader(f))


def test_resume_without_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint.pt to resume from"):
        agents.train(tiny(tmp_path / "empty"), resume=True)


def test_cli_train_then_evaluate_with_video(tmp_path):
    run = tmp_path / "bc"
    code = agents.training.main(
        [
            "--env",
            "Groundworld/GoTo-v0",
            "--algo",
            "bc",
            "--steps",
            "600",
            "--run-dir",
            str(run),
            "--bc-epochs",
            "3",
            "--eval-episodes",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0 and (run / "demos.npz").exists()
    videos = tmp_path / "videos"
    code = agents.evaluation.main(
        [
            "--run",
            str(run),
            "--split",
            "heldout",
            "--episodes",
            "4",
            "--video",
            "--video-episodes",
            "1",
            "--video-dir",
            str(videos),
        ]
    )
    assert code == 0
    assert len(list(videos.glob("*.mp4"))) == 1


def test_cli_reports_bad_run_dir(tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    code = agents.training.main(["--steps", "10", "--run-dir", str(blocker / "x"), "--no-progress"])
    assert code == 2 and "cannot write to the run folder" in capsys.readouterr().err


# ---------------------------------------------------------------- behaviour cloning and evaluation
def test_behaviour_cloning_fits_the_oracle():
    torch.manual_seed(0)
    demos = collect_demonstrations("Groundworld/GoTo-v0", steps=800, seed=0)
    assert demos.rows()["is_first"].sum() >= 10 and len(demos) == 800
    env = gym.make("Groundworld/GoTo-v0")
    policy = BCPolicy(env.observation_space, env.action_space)
    losses = train_bc(policy, demos, epochs=8, batch_size=64)
    assert losses[-1] < 0.5 * losses[0]


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.19, abs=0.01)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(20, 20)[0] > 0.8


def test_evaluate_reports_per_goal_table():
    result = agents.evaluate(_ObservationOracle(), "Groundworld/GoTo-v0", split="heldout", episodes=6)
    assert result.success_rate == 1.0 and len(result.episodes) == 6
    assert sum(n for _, _, n in result.per_instruction()) == 6
    assert "success 1.000" in result.summary()


class _ObservationOracle:
    """A policy that steers by the observation alone: towards the object its instruction names."""

    def reset(self):
        pass

    def act(self, obs):
        words = tokenizer.decode(obs["instruction"]).split()
        color, shape = words[-2], words[-1]
        for row, present in zip(obs["objects"], obs["object_mask"], strict=True):
            if present and row[6 + envs.scene.COLOR_NAMES.index(color)] and row[12 + envs.scene.SHAPES.index(shape)]:
                return np.clip(12 * (row[:2] - obs["proprio"][:2]), -1, 1).astype(np.float32)
        raise AssertionError("the named object is not in the observation")


def test_sb3_run_checkpoint_loads_for_evaluation(tmp_path):
    run = tmp_path / "ppo"
    agents.train(tiny(run, algo="ppo", steps=512, num_envs=2, eval_every=10_000, checkpoint_every=10_000))
    payload = load_checkpoint(run / "checkpoint.pt", expect={"algo": "ppo"})
    assert payload["step"] >= 512 and "policy" in payload["params"]
    policy, config = agents.load_policy(run)
    obs, _ = gym.make(config.env).reset(seed=0)
    action = policy.act(obs)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)


def test_unwritable_video_path_fails_before_evaluating(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write video"):
        agents.evaluate(_ObservationOracle(), "Groundworld/GoTo-v0", episodes=1000, video=blocker / "v.mp4")


def test_resume_accepts_only_safe_overrides(tmp_path):
    from agents.training import config_from_args

    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(run_dir=str(run), steps=1000, algo="native").save(run / "config.json")
    extended = config_from_args({"run_dir": str(run), "steps": 5000}, resume=True)
    assert extended.steps == 5000 and extended.algo == "native"
    with pytest.raises(ValueError, match="--algo differs from the run being resumed"):
        config_from_args({"run_dir": str(run), "algo": "ppo"}, resume=True)
    assert config_from_args({"run_dir": str(run), "algo": "ppo"}, resume=False).algo == "ppo"


def test_mbpo_fits_a_model_and_trains_on_imagined_data(tmp_path, monkeypatch):
    from agents import mbpo

    fits, sampled = [], []
    original_refit, original_sample = mbpo.Imagination.refit_if_due, mbpo.Imagination.sample

    def refit(self, step):
        done = original_refit(self, step)
        if done:
            fits.append(step)
        return done

    def sample(self, batch_size, rng):
        batch = original_sample(self, batch_size, rng)
        sampled.append((len(self.replay), batch["episode"]))
        return batch

    monkeypatch.setattr(mbpo.Imagination, "refit_if_due", refit)
    monkeypatch.setattr(mbpo.Imagination, "sample", sample)
    run = tmp_path / "mbpo"
    agents.train(
        tiny(run, algo="mbpo", steps=1200, learning_starts=400, refit_every=400, real_ratio=0.25, eval_every=600)
    )
    assert fits[:3] == [400, 800, 1200] or fits[:2] == [400, 800]
    imagined_size, episodes = sampled[-1]
    assert imagined_size > 0
    n_imagined = int((episodes >= 10**9).sum())  # imagined rows carry episode ids from 1e9 up
    assert n_imagined == 32 - 8  # 25% of a 32-row batch is real
    policy, config = agents.load_policy(run)
    assert config.algo == "mbpo" and policy.act(gym.make(config.env).reset(seed=0)[0]).shape == (2,)
    header = (run / "progress.csv").read_text().splitlines()[0]
    assert "model_heldout" in header and "imagined" in header


def test_collector_stores_the_goal_that_came_with_each_observation():
    vec = gym.make_vec("Groundworld/Sequence-v0", num_envs=2, vectorization_mode="sync")
    replay = ReplayBuffer(vec.single_observation_space, 2, 500, "Groundworld/Sequence-v0")
    collector = Collector(vec, replay, seed=3)
    base = [vec.envs[i].unwrapped for i in range(2)]
    for _ in range(40):
        expected = [b.goal_target()[0] for b in base]  # the goal while the current observation is shown
        stored, _ = collector.step(np.zeros((2, 2), dtype=np.float32))
        rows = replay.rows()
        if stored == 2:
            np.testing.assert_array_equal(rows["goal_object"][-2:], expected)
    assert (replay.rows()["goal_object"] >= 0).all()


def test_grounding_loss_teaches_the_match_to_pick_the_goal_object():
    torch.manual_seed(0)
    env, replay = filled_replay(steps=200)  # stores no goals (-1): the loss skips them
    rng = np.random.default_rng(0)
    agent = SACAgent(env.observation_space, env.action_space, SACConfig(grounding=1.0, batch_size=64, lr=3e-3))
    assert agent.update(replay.sample(32, rng), replay.keys)["grounding_loss"] == 0.0
    demos = collect_demonstrations("Groundworld/GoTo-v0", steps=600, seed=1)
    assert (demos.rows()["goal_object"] >= 0).all()
    first = agent.update(demos.sample(64, rng), demos.keys)["grounding_loss"]
    for _ in range(300):  # the pointer starts with no opinion per word (small asks), so it takes a few hundred
        last = agent.update(demos.sample(64, rng), demos.keys)["grounding_loss"]
    assert last < 0.5 * first


@pytest.mark.parametrize(
    "env_id", ["Groundworld/GoTo-v0", "Groundworld/Push-v0", "Groundworld/KnockOff-v0", "Groundworld/Relation-v0"]
)
def test_goal_pointer_finds_objects_named_by_colour_shape_pairs_never_seen_in_training(env_id):
    """Taught on fresh train-split scenes only (``groundworld.grounding``), the pointer picks the named object for
    held-out colour-shape pairs (present in training scenes only as distractors) and reads out its position; with
    ``reference`` (Relation) it also picks the reference object and reads the place beside it the words name."""
    torch.manual_seed(0)
    reference = env_id == "Groundworld/Relation-v0"
    encoder = GroundedEncoder(gym.make(env_id).observation_space, EncoderConfig(pointer_reference=reference))
    train = first_scenes(gym.make, [env_id], 2000, seed=0)
    pretrain_pointer(encoder.pointer, train, 800, np.random.default_rng(0), batch_size=64, lr=1e-2)
    obs_np, goal, place = first_scenes(functools.partial(gym.make, split="heldout"), [env_id], 300, seed=50_000)
    heldout, rows = obs_to_tensors(obs_np), torch.arange(len(goal))
    with torch.no_grad():
        scores = encoder.match(heldout)
        objects, _ = encoder.pointer.weights(heldout, scores)
        where = encoder.pointer(heldout, scores)
    accuracy = (objects.argmax(1).numpy() == goal[:, 0]).mean()
    assert accuracy >= 0.97, accuracy
    close = (where[:, :3] - heldout["objects"][rows, goal[:, 0], :3]).norm(dim=-1) < 0.05
    assert close.float().mean().item() >= 0.8
    if reference:
        picked = encoder.pointer.reference_weights(heldout, scores).argmax(1).numpy()
        assert (picked == goal[:, 2]).mean() >= 0.97
        error = np.linalg.norm(where[:, -2:].numpy() - place, axis=1)
        assert np.mean(error < 0.03) >= 0.9, np.mean(error)


def test_native_checkpoints_from_before_the_goal_pointer_still_load():
    """Runs saved before the encoder config and the widths were stored were built without a
    pointer and with (256, 256) heads."""
    env = gym.make("Groundworld/GoTo-v0")
    then = SACConfig(hidden=(256, 256), encoder=EncoderConfig(pointer=False))
    old = SACAgent(env.observation_space, env.action_space, then)
    saved = {"lr": 3e-4, "gamma": 0.97, "batch_size": 128, "grounding": 1.0}  # what such runs stored
    config = SACConfig.from_dict(saved)
    assert config.encoder.pointer is False
    agent = SACAgent(env.observation_space, env.action_space, config)
    agent.load_state_dict(old.state_dict())
    assert SACConfig.from_dict({**saved, "encoder": {}}).encoder.pointer is True


@pytest.mark.parametrize(
    "env_id, common", [("Groundworld/Push-v0", False), ("Groundworld/Reach-v0", False), ("Groundworld/Reach-v0", True)]
)
def test_relative_readout_is_the_named_object_from_the_effector_and_the_zone_from_the_object(
    env_id, common, monkeypatch
):
    """With the pointer sure of the goal's object and zone, the relative read-out is those offsets in the world."""
    from envs.base import effector_xy
    from groundworld.layout import common_space, to_common

    env = gym.make(env_id)
    raw, info = env.reset(seed=3)
    obs = to_common(raw) if common else raw
    space = common_space(env.observation_space) if common else env.observation_space
    encoder = GroundedEncoder(space, EncoderConfig(pointer=True, relative=True))
    n_objects = raw["objects"].shape[0]
    zone = int(np.argmin(np.linalg.norm(raw["zones"][:, :2] - info["goal"]["position"][:2], axis=1)))
    sure = torch.full((1, n_objects + raw["zones"].shape[0]), -1e4)
    sure[0, info["goal"]["object"]] = sure[0, n_objects + zone] = 0.0
    monkeypatch.setattr(encoder.pointer, "scores", lambda _obs: sure)
    features = encoder({k: v[None] for k, v in obs_to_tensors(obs).items()})
    relative = features[0, -groundworld.nn.RELATIVE :].detach().numpy()
    target = raw["objects"][info["goal"]["object"], :2]
    to_object = (target - effector_xy(raw["proprio"])) * groundworld.nn.RELATIVE_SCALE
    to_zone = (raw["zones"][zone, :2] - target) * groundworld.nn.RELATIVE_SCALE
    u, v = to_object / np.linalg.norm(to_object), to_zone / np.linalg.norm(to_zone)
    expected = [
        *to_object,
        *to_zone,
        np.linalg.norm(to_object),
        np.linalg.norm(to_zone),
        *u,
        *v,
        u @ v,
        u[0] * v[1] - u[1] * v[0],
    ]
    np.testing.assert_allclose(relative, expected, atol=1e-5)


def test_obstacle_readout_is_the_nearest_other_object_seen_from_the_named_one_and_the_effector():
    """``--obstacles``: the nearest object other than the named one, not the named one itself, nor an absent slot."""
    from groundworld.nn import RELATIVE_SCALE, obstacle_readout

    positions = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.0, -0.4], [0.02, 0.0]]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last slot, nearest of all, is empty
    weights = torch.tensor([[0.97, 0.01, 0.01, 0.01]])  # the pointer's, not quite sure of the named object
    centre, named = (weights.unsqueeze(-1) * positions).sum(1), weights.argmax(-1)
    out = obstacle_readout(positions, mask, named, centre, effector=torch.tensor([[-0.1, 0.0]]))[0].numpy()
    centre = centre[0].numpy()
    expected = (np.array([0.1, 0.0]) - centre) * RELATIVE_SCALE, np.array([0.2, 0.0]) * RELATIVE_SCALE
    np.testing.assert_allclose(out[:4], np.concatenate(expected), atol=1e-3)
    np.testing.assert_allclose(out[4:], [np.linalg.norm(expected[0]), np.linalg.norm(expected[1])], atol=1e-3)
    only_named = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    alone = obstacle_readout(positions, only_named, named, torch.as_tensor(centre)[None], torch.zeros(1, 2))
    assert torch.count_nonzero(alone) == 0
    env = gym.make("Groundworld/Relation-v0")
    encoder = GroundedEncoder(env.observation_space, EncoderConfig(relative=True, readout_only=True, obstacles=True))
    plain = GroundedEncoder(env.observation_space, EncoderConfig(relative=True, readout_only=True))
    assert encoder(obs_to_tensors(batch_of(env, 2))).shape == (2, plain.out_dim + groundworld.nn.OBSTACLE)
    with pytest.raises(ValueError, match="obstacles needs the pointer's relative read-out"):
        GroundedEncoder(env.observation_space, EncoderConfig(obstacles=True))


@pytest.mark.parametrize("env_id", ["Groundworld/Push-v0", "Groundworld/Reach-v0"])
def test_readout_only_features_are_the_body_and_what_the_pointer_reads(env_id):
    """With ``readout_only`` the words choose what the pointer reads and nothing else: the features are the same
    whatever the instruction embedding and the attention pool hold."""
    torch.manual_seed(0)
    env = gym.make(env_id)
    encoder = GroundedEncoder(env.observation_space, EncoderConfig(relative=True, readout_only=True))
    full = GroundedEncoder(env.observation_space, EncoderConfig(relative=True))
    assert encoder.out_dim == full.out_dim - encoder.instruction.out[-1].out_features - encoder.pool.out_dim
    obs = obs_to_tensors(batch_of(env, 3))
    before, match = encoder.encode(obs)
    assert before.shape == (3, encoder.out_dim) and match.shape[1] == obs["objects"].shape[1] + obs["zones"].shape[1]
    with torch.no_grad():
        for p in [*encoder.instruction.parameters(), *encoder.pool.parameters()]:
            p.add_(torch.randn_like(p))
    torch.testing.assert_close(encoder(obs), before)
    with pytest.raises(ValueError, match="readout_only needs the pointer"):
        GroundedEncoder(env.observation_space, EncoderConfig(pointer=False, readout_only=True))


# ---------------------------------------------------------------- speed paths: compiled loss, bf16 heads
@pytest.mark.parametrize("groups", [True, False])
def test_pointer_gate_matmuls_equal_its_convolutions(groups):
    encoder = GroundedEncoder(gym.make("Groundworld/GoTo-v0").observation_space, EncoderConfig(pointer_groups=groups))
    tokens = torch.as_tensor(batch_of(gym.make("Groundworld/GoTo-v0"), 6)["instruction"]).long()
    pointer = encoder.pointer
    convolved = pointer.gate(pointer.tokens(tokens).transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(pointer.gate_logits(tokens), convolved, atol=1e-5, rtol=1e-5)


def test_grounding_loss_skips_rows_without_a_goal_object():
    scores = torch.tensor([[2.0, 0.0, 0.0, 5.0], [0.0, 3.0, 0.0, 5.0]])  # 3 objects, 1 zone
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    both = grounding_loss(scores, mask, torch.tensor([0, 1]))
    first_only = grounding_loss(scores, mask, torch.tensor([0, -1]))
    expected = torch.nn.functional.cross_entropy(scores[:1, :2], torch.tensor([0]))  # absent object 2 excluded
    torch.testing.assert_close(first_only, expected)
    assert both.item() > 0
    assert grounding_loss(scores, mask, torch.tensor([-1, -1])).item() == 0.0


def test_bf16_heads_keep_fp32_outputs_close_to_fp32(monkeypatch):
    env = gym.make("Groundworld/GoTo-v0")
    fp32 = SACAgent(env.observation_space, env.action_space, SACConfig(precision="fp32"))
    bf16 = SACAgent(env.observation_space, env.action_space, SACConfig(precision="bf16"))
    bf16.load_state_dict(fp32.state_dict())
    obs = obs_to_tensors(batch_of(env, 16))
    action = torch.rand(16, 2) * 2 - 1
    with torch.no_grad():
        features = fp32.encoder(obs)
        exact, approx = fp32.critic(features, action), bf16.critic(features, action)
    assert approx.dtype == torch.float32 and approx.shape == (2, 16)
    torch.testing.assert_close(approx, exact, atol=2e-2, rtol=2e-2)
    assert not torch.equal(approx, exact)  # the hidden layers really ran in bf16
    np.testing.assert_allclose(bf16.act(batch_of(env, 16), True), fp32.act(batch_of(env, 16), True), atol=3e-2)
    assert uses_bf16("fp32", torch.device("cpu")) is False and uses_bf16("bf16", torch.device("cpu")) is True
    assert uses_bf16("auto", torch.device("cuda")) is False
    monkeypatch.setattr(groundworld.nn, "has_native_bf16", lambda: False)
    assert uses_bf16("auto", torch.device("cpu")) is False
    with pytest.raises(ValueError, match="precision"):
        uses_bf16("fp16", torch.device("cpu"))


def test_compiled_update_matches_eager_and_the_agent_still_pickles():
    """One compiled graph (forward and backward) computes the same losses and the same new
    parameters as the eager update; the agent pickles after compiling."""
    if shutil.which(torch._inductor.config.cpp.cxx[-1] or "g++") is None:
        pytest.skip("Inductor needs a C++ compiler on CPU")
    env, replay = filled_replay()
    batch = replay.sample(32, np.random.default_rng(0))
    agents_ = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        config = SACConfig(batch_size=32, precision="fp32", compile=compile_, grounding=1.0)
        agents_.append(SACAgent(env.observation_space, env.action_space, config))
    eager, compiled = agents_
    compiled.load_state_dict(eager.state_dict())
    torch.manual_seed(1)
    expected = eager.update(batch, replay.keys)
    # tests turn compilation off (conftest); here it is on, with eager's random numbers
    with torch._dynamo.config.patch(disable=False), torch._inductor.config.patch(fallback_random=True):
        torch._dynamo.reset()  # forget code that earlier tests ran while compilation was off
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        torch.manual_seed(1)
        got = compiled.update(batch, replay.keys)
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > graphs  # it really compiled
    assert compiled._compiled != compiled.losses
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-4, atol=1e-5)
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    clone = pickle.loads(pickle.dumps(compiled))
    assert clone._compiled is None
    torch.testing.assert_close(clone.act(batch_of(env, 3), True), compiled.act(batch_of(env, 3), True))


def test_a_failing_compiler_falls_back_to_eager_with_a_warning(monkeypatch):
    def broken(fn, **kwargs):
        def raises(*args):
            raise RuntimeError("no C++ compiler")

        return raises

    monkeypatch.setattr(torch, "compile", broken)
    env, replay = filled_replay(steps=100)
    agent = SACAgent(env.observation_space, env.action_space, SACConfig(batch_size=16, compile=True))
    with pytest.warns(UserWarning, match="torch.compile failed.*no C\\+\\+ compiler"):
        losses = agent.update(replay.sample(16, np.random.default_rng(0)), replay.keys)
    assert all(np.isfinite(v) for v in losses.values())
    assert agent._compiled == agent.losses  # later updates run eagerly without retrying


def test_mbpo_with_task_outcomes_stores_imagined_rows_rewarded_by_the_task_rule():
    from agents.mbpo import Imagination, MBPOConfig
    from world_model.outcomes import TaskOutcome

    real = collect_demonstrations("Groundworld/GoTo-v0", steps=600, seed=0, action_noise=0.3, reward_mode="dense")
    env = gym.make("Groundworld/GoTo-v0")
    config = MBPOConfig(model_epochs=2, rollout_batch=16, model_outcome="task", model_step="mean")
    imagination = Imagination(config, real, env.observation_space, env.action_space, seed=0, first_fit=500)
    assert imagination.refit_if_due(600)
    dream = imagination.collector.vec
    assert dream.outcome is not None and dream.elite_mean and not dream.sample
    rng = np.random.default_rng(0)
    for _ in range(6):
        imagination.imagine(lambda obs: rng.uniform(-1, 1, (16, 2)).astype(np.float32))
    rows = imagination.replay.rows()
    assert len(rows["reward"]) == 16 * 3  # horizon 1: every other step restarts the rows
    tensors = lambda prefix: obs_to_tensors({k: rows[prefix + k] for k in imagination.replay.keys})  # noqa: E731
    rule = TaskOutcome.for_env("Groundworld/GoTo-v0", "dense")(
        tensors("obs/"), torch.as_tensor(rows["action"]), tensors("next_obs/"), torch.as_tensor(rows["goal_object"])
    )
    np.testing.assert_allclose(rows["reward"], rule["reward"].numpy(), atol=1e-5)
    np.testing.assert_array_equal(rows["is_terminal"], rule["success"].numpy() | rule["failure"].numpy())
    with pytest.raises(ValueError, match="model.step"):
        Imagination(MBPOConfig(model_step="dream harder"), real, env.observation_space, env.action_space)


def test_replay_split_keeps_insertion_order_and_refuses_points_outside():
    env = gym.make("Groundworld/GoTo-v0")
    replay = ReplayBuffer(env.observation_space, 2, 8, "Groundworld/GoTo-v0")
    obs = {k: v[None] for k, v in env.reset(seed=0)[0].items()}
    for t in range(11):  # a ring buffer that wrapped: rows 3..10 remain
        replay.add(obs, np.zeros((1, 2), np.float32), [float(t)], obs, [False], [False], [t == 0], [0], [t])
    first, rest = replay.split(5)
    np.testing.assert_array_equal(first.rows()["reward"], [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(rest.rows()["reward"], [8, 9, 10])
    assert first.env_id == rest.env_id == replay.env_id and first.keys == replay.keys
    rest.add(obs, np.zeros((1, 2), np.float32), [99.0], obs, [False], [False], [False], [0], [11])
    np.testing.assert_array_equal(replay.rows()["reward"][-3:], [8, 9, 10])  # the original is untouched
    for bad in (0, 8):
        with pytest.raises(ValueError, match="split point"):
            replay.split(bad)


def test_list_flags_resume_without_a_spurious_difference(tmp_path):
    from agents.training import config_from_args

    run = tmp_path / "run"
    run.mkdir()
    flags = {"run_dir": str(run), "algo": "mbpo", "model_horizon": [5, 5], "hidden": [64, 64]}  # as argparse gives
    config = config_from_args(flags, resume=False)
    assert config.mbpo.model_horizon == (5, 5) and config.sac.hidden == (64, 64)
    config.save(run / "config.json")
    assert config_from_args({**flags, "steps": 9000}, resume=True).mbpo.model_horizon == (5, 5)


def test_a_copied_run_resumes_in_its_new_folder(tmp_path):
    from agents.training import config_from_args

    first = tmp_path / "first"
    first.mkdir()
    TrainConfig(run_dir=str(first), steps=1000).save(first / "config.json")
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    assert config_from_args({"run_dir": str(copy), "steps": 2000}, resume=True).run_dir == str(copy)
