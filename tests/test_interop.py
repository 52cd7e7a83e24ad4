"""Third-party clients run Groundworld unchanged: TorchRL's GymEnv and Minari's DataCollector.

These need the optional extra (``pip install -e '.[interop]'``, which ``make`` installs); without it each
test is skipped with the command that installs it.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs
from tests.conftest import TASK_IDS

EXTRA = "needs the optional extra: pip install -e '.[interop]'"


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_torchrl_gymenv_rolls_out_with_typed_infos(env_id):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchrl", reason=f"TorchRL {EXTRA}")
    from torchrl.data import Unbounded
    from torchrl.envs import GymEnv
    from torchrl.envs.gym_like import default_info_dict_reader
    from torchrl.envs.utils import check_env_specs

    env = GymEnv(env_id)  # TorchRL passes frameskip=1 first and retries without it on Python's own TypeError
    check_env_specs(env)
    flags = ["is_success", "is_failure", "physics_error"]
    specs = {key: Unbounded((), dtype=torch.bool) for key in flags}
    env.set_info_dict_reader(default_info_dict_reader(flags, spec=specs))
    check_env_specs(env)
    rollout = env.rollout(30)
    assert rollout["next", "is_success"].dtype == torch.bool and rollout.shape == (30,)
    assert rollout["instruction"].dtype == torch.int64


def test_minari_datacollector_keeps_the_instruction(tmp_path, monkeypatch):
    pytest.importorskip("minari", reason=f"Minari {EXTRA}")
    pytest.importorskip("jax", reason=f"Minari's create_dataset {EXTRA}")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    import minari
    from minari import DataCollector

    env = DataCollector(gym.make("Groundworld/Push-v0"), record_infos=True)
    instructions, steps = [], 0
    for seed in range(2):
        _, info = env.reset(seed=seed)
        instructions.append(info["instruction"])
        for _ in range(6):
            env.step(env.action_space.sample())
            steps += 1
    env.create_dataset(dataset_id="groundworld/push-test-v0", algorithm_name="random", author="tests")
    dataset = minari.load_dataset("groundworld/push-test-v0")
    assert dataset.total_episodes == 2 and dataset.total_steps == steps
    for episode, text in zip(dataset.iterate_episodes(), instructions, strict=True):
        kept = {t.decode() if isinstance(t, bytes) else str(t) for t in episode.infos["instruction"]}
        assert kept == {text}
        assert episode.infos["is_success"].dtype == np.bool_ and "reward_success" in episode.infos
    assert dataset.recover_environment().spec.id == "Groundworld/Push-v0"


@pytest.mark.parametrize("reward_mode", ["sparse", "dense"])
def test_reset_info_has_the_step_info_keys_and_numpy_scalars(reward_mode):
    for env_id in envs.TASKS:
        env = gym.make(env_id, reward_mode=reward_mode)
        _, reset_info = env.reset(seed=0)
        _, _, _, _, step_info = env.step(env.action_space.sample())
        assert reset_info.keys() == step_info.keys(), env_id
        assert reset_info["goal"].keys() == step_info["goal"].keys()
        for info in (reset_info, step_info):
            assert all(isinstance(info[k], np.bool_) for k in ("is_success", "is_failure", "physics_error"))
            assert all(isinstance(v, np.float32) for k, v in info.items() if k.startswith("reward_"))
            assert all(isinstance(info["goal"][k], np.int64) for k in ("object", "zone", "reference"))
        assert all(v == 0 for k, v in reset_info.items() if k.startswith("reward_"))


def test_vecnormalize_on_every_key_is_named_and_on_the_numeric_keys_trains():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import agents
    from envs.errors import UsageError

    def model(**normalize):
        venv = VecNormalize(make_vec_env("Groundworld/GoTo-v0", n_envs=2, seed=0), **normalize)
        return PPO("MultiInputPolicy", venv, n_steps=32, batch_size=32, policy_kwargs=agents.sb3_policy_kwargs())

    with pytest.raises(UsageError, match=r"token ids are not whole numbers .* VecNormalize\(venv, norm_obs_keys=\["):
        model().learn(64)
    assert model(norm_obs_keys=["proprio", "objects", "zones"]).learn(64).num_timesteps == 64


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_flat_observation_keeps_the_words_apart_from_the_numbers(env_id):
    from envs import tokenizer

    base = gym.make(env_id)
    flat = envs.FlatObservation(gym.make(env_id))
    obs, _ = base.reset(seed=3)
    vector, _ = flat.reset(seed=3)
    assert vector.dtype == np.float32 and flat.observation_space.contains(vector)
    for key in flat.keys:
        np.testing.assert_allclose(vector[flat.slices[key]], obs[key].ravel())
    words = vector[flat.slices[flat.keys[-1]].stop :].reshape(tokenizer.MAX_TOKENS, tokenizer.VOCAB_SIZE)
    ids = np.where(words.any(axis=1), words.argmax(axis=1), 0)
    np.testing.assert_array_equal(ids, obs["instruction"])  # the one-hot rows are the token ids, in order
    normalized = gym.wrappers.NormalizeObservation(envs.FlatObservation(gym.make(env_id)))
    normalized.reset(seed=0)
    assert normalized.step(normalized.action_space.sample())[0].dtype == np.float32
    kept = envs.FlatObservation(gym.make(env_id), instruction="keep")
    assert kept.reset(seed=3)[0]["instruction"].tolist() == obs["instruction"].tolist()


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_an_sb3_run_saves_in_sb3s_format_and_logs_its_metrics(algo, tmp_path):
    import csv

    from stable_baselines3 import PPO, SAC

    import agents

    run = tmp_path / algo
    config = agents.TrainConfig(env="Groundworld/GoTo-v0", algo=algo, steps=520, num_envs=2, eval_every=260,
                                eval_episodes=2, learning_starts=100, buffer_size=2000, run_dir=str(run),
                                progress=False)  # fmt: skip
    agents.train(config)
    model = {"ppo": PPO, "sac": SAC}[algo].load(run / f"sb3_{algo}.zip")
    obs, _ = gym.make("Groundworld/GoTo-v0").reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (2,) and model.num_timesteps >= 520
    if algo == "sac":
        model.load_replay_buffer(run / "sb3_replay_buffer.pkl")
        assert model.replay_buffer.size() == 520
    with open(run / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    loss = {"ppo": "value_loss", "sac": "critic_loss"}[algo]
    assert float(rows[-1][loss]) == float(rows[-1][loss])  # SB3's train/* metrics reach progress.csv, not NaN
    assert any(p.name.startswith("events") for p in (run / "tb").iterdir())


def test_rl_zoo_trains_every_id_from_the_shipped_hyperparameters(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("rl_zoo3", reason=f"RL Zoo {EXTRA}")
    from agents.zoo import ppo, sac

    assert set(ppo.hyperparams) == set(sac.hyperparams) == set(envs.TASKS)
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "Groundworld/Push-v0"]
    command += ["--gym-packages", "envs", "--conf-file", "agents.zoo.ppo", "-n", "128", "--eval-freq", "-1"]
    command += ["-f", str(tmp_path), "--seed", "0", "--hyperparams", "n_envs:2", "n_steps:64", "batch_size:64"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.glob("ppo/Groundworld-Push-v0_1/Groundworld-Push-v0.zip"))


def test_the_cleanrl_style_example_runs_with_same_step_autoreset():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "sac_continuous.py"
    spec = importlib.util.spec_from_file_location("sac_continuous", path)
    example = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = example  # its dataclass looks itself up there
    spec.loader.exec_module(example)
    stats = example.main(["--total-timesteps", "480", "--learning-starts", "160", "--batch-size", "32"])
    assert stats["episodes"] == 4  # four envs, each finished one 100-step episode through final_obs


def test_human_rendering_without_a_display_says_so_in_one_line(monkeypatch):
    from envs.errors import UsageError

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    env = gym.make("Groundworld/GoTo-v0", render_mode="human")
    with pytest.raises(UsageError, match="there is no display here .* run under xvfb-run"):
        env.reset(seed=0)


HUMAN = """
import gymnasium as gym, envs
env = gym.make("Groundworld/Reach-v0", render_mode="human")
obs, info = env.reset(seed=0)
for _ in range(8):
    obs, *_ = env.step(env.action_space.sample())
print("window open:", env.unwrapped._window.is_open)
env.close()
"""


def test_human_rendering_opens_a_window_where_there_is_a_display(tmp_path):
    import shutil
    import subprocess
    import sys
    import time

    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb for a display (apt-get install xvfb; .ci/run installs it)")
    server = subprocess.Popen(["Xvfb", ":97", "-screen", "0", "640x480x24"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        env = {**__import__("os").environ, "DISPLAY": ":97"}
        done = subprocess.run([sys.executable, "-c", HUMAN], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.terminate()
    assert done.returncode == 0, done.stderr[-2000:]
    assert "window open: True" in done.stdout
