"""Uniform policy wrappers for evaluation and loading trained agents from a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the environments)
from agents.config import TrainConfig
from envs.errors import UsageError
from groundworld.checkpoint import CheckpointError, load_checkpoint, load_state
from groundworld.layout import CommonLayout
from groundworld.nn import resolve_device
from groundworld.policy import batch1


class TorchPolicy:
    """A native agent or behaviour-cloning policy, acting deterministically on one observation."""

    def __init__(self, model: Any):
        self.model = model

    def reset(self) -> None:
        if hasattr(self.model, "reset"):  # a policy with memory forgets the last episode
            self.model.reset()

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.act(batch1(obs), deterministic=True)[0]


class SB3Policy:
    """A Stable-Baselines3 model (recurrent ones keep their LSTM state between steps)."""

    def __init__(self, model: Any):
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.state: Any = None
        self.start = np.ones(1, dtype=bool)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action, self.state = self.model.predict(obs, state=self.state, episode_start=self.start, deterministic=True)
        self.start = np.zeros(1, dtype=bool)
        return action


def make_sb3_model(config: TrainConfig, env: Any, device: torch.device) -> Any:
    """A fresh SB3 model for ``config.algo`` with Groundworld's features extractor."""
    from stable_baselines3 import PPO, SAC

    from agents.sb3 import sb3_policy_kwargs

    common = {
        "policy_kwargs": sb3_policy_kwargs(),
        "learning_rate": config.sac.lr,
        "gamma": config.sac.gamma,
        "seed": config.seed,
        "device": device,
        "verbose": 0,
        "batch_size": config.sac.batch_size,
    }
    if config.algo == "sac":
        if config.utd >= 1:
            freq, grad = 1, int(round(config.utd))
        else:
            freq, grad = int(round(1 / config.utd)), 1
        return SAC(
            "MultiInputPolicy",
            env,
            learning_starts=config.learning_starts,
            buffer_size=config.buffer_size,
            train_freq=freq,
            gradient_steps=grad,
            **common,
        )
    if config.algo == "ppo":
        return PPO("MultiInputPolicy", env, n_steps=256, n_epochs=10, **common)
    if config.algo == "rppo":
        from sb3_contrib import RecurrentPPO

        return RecurrentPPO("MultiInputLstmPolicy", env, n_steps=256, n_epochs=10, **common)
    raise ValueError(f"{config.algo!r} is not a Stable-Baselines3 algorithm")


def load_policy(run_dir: str | Path, device: str = "cpu") -> tuple[Any, TrainConfig]:
    """``(policy, config)``: the trained policy in ``run_dir`` (from its last checkpoint; ``policy.act(obs)``
    for one observation, ``policy.reset()`` between episodes) and the run's :class:`TrainConfig`.

    Reads folders written by ``agents.train`` and ``agents.rejection``; a folder without a checkpoint, or
    with one made for another algorithm or task, is a :class:`~envs.errors.UsageError` naming it."""
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoint.pt").exists():
        raise NotARun(f"{run_dir} has no checkpoint.pt: not a run folder written by agents.train or agents.rejection")
    if not (run_dir / "config.json").exists():
        payload = load_checkpoint(run_dir / "checkpoint.pt")
        if payload.get("algo") == "rejection":  # python -m agents.rejection writes a checkpoint only
            return _cloned_policy(payload, device), TrainConfig(env=payload["env"], algo="bc", run_dir=str(run_dir))
    config = TrainConfig.from_run(run_dir)
    payload = load_checkpoint(run_dir / "checkpoint.pt", expect={"algo": config.algo, "env": config.env})
    return policy_from_payload(payload, config, device), config


def policy_from_payload(payload: dict[str, Any], config: TrainConfig, device: str = "cpu") -> Any:
    """The acting policy stored in a checkpoint (or in an exported weights file, :mod:`agents.pretrained`)."""
    env = gym.make(config.env_ids[0])
    if config.multitask:  # one policy over several tasks reads the common layout of both bodies
        env = CommonLayout(env)
    dev = resolve_device(device)
    if config.algo in ("native", "mbpo"):
        from agents.config import SACConfig
        from agents.sac import SACAgent

        agent = SACAgent(env.observation_space, env.action_space, SACConfig.from_dict(payload["sac_config"]), dev)
        if payload.get("acting_only"):  # exported weights: the encoder and the actor, no critics
            missing, unexpected = agent.load_state_dict(payload["agent"], strict=False)
            if unexpected or any(k.startswith(("encoder.", "actor.")) for k in missing):
                raise CheckpointError(f"exported weights do not fit this agent: missing {missing}, extra {unexpected}")
        else:
            load_state(agent, payload["agent"], "agent")
        return TorchPolicy(agent)
    if config.algo == "bc":
        return _cloned_policy(payload, device)
    if config.algo == "dagger":
        return TorchPolicy(_dagger_policy(payload, env.observation_space, env.action_space, dev))
    from stable_baselines3.common.vec_env import DummyVecEnv

    model = make_sb3_model(config, DummyVecEnv([lambda: gym.make(config.env)]), dev)
    try:
        model.set_parameters(payload["params"], exact_match=True, device=dev)
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint's parameters do not fit a {config.algo} model: {exc}") from exc
    return SB3Policy(model)


def _dagger_policy(payload: dict[str, Any], observation_space, action_space, device) -> Any:
    """The policy of a DAgger checkpoint (a :class:`~agents.bc.BCPolicy` of the saved sizes)."""
    from agents.bc import BCPolicy
    from envs import cli
    from groundworld.nn import EncoderConfig

    spec = payload.get("policy_config", {})
    encoder = cli.from_dict(EncoderConfig, spec.get("encoder", {}), "the checkpoint's encoder config")
    hidden, components = tuple(spec.get("hidden", (256, 256))), spec.get("components", 0)
    if spec.get("memory"):
        from agents.bc import RecurrentBCPolicy

        policy = RecurrentBCPolicy(observation_space, action_space, hidden, encoder, spec["memory"], components)
    else:
        policy = BCPolicy(observation_space, action_space, hidden, encoder, components)
    policy = policy.to(device)
    load_state(policy, payload["policy"], "policy")
    return policy


class NotARun(UsageError, FileNotFoundError):
    """A folder that holds no trained run."""


def _cloned_policy(payload: dict[str, Any], device: str) -> TorchPolicy:
    """A behaviour-cloned policy (bc or rejection sampling) from its checkpoint."""
    from agents.bc import BCPolicy

    env = gym.make(payload["env"])
    policy = BCPolicy(env.observation_space, env.action_space).to(resolve_device(device))
    load_state(policy, payload["policy"], "policy")
    return TorchPolicy(policy)


WEIGHTS = Path(__file__).resolve().parent / "weights"
"""The shipped policies' folder (:mod:`agents.pretrained`)."""
INDEX = WEIGHTS / "index.json"


def shipped() -> dict[str, dict[str, Any]]:
    """The index of shipped policies: env id (or ``all``) -> file, recipe and measured success."""
    if not INDEX.exists():
        return {}
    return json.loads(INDEX.read_text())


def pretrained_policy(env_id: str, device: str = "cpu") -> tuple[Any, TrainConfig]:
    """``(policy, config)`` of the shipped policy for ``env_id``, as :func:`load_policy` gives a run's."""
    index = shipped()
    if env_id not in index:
        have = ", ".join(sorted(index)) or "none yet"
        raise UsageError(f"no pretrained policy for {env_id!r}; shipped: {have}")
    entry = index[env_id]
    payload = load_checkpoint(WEIGHTS / entry["file"], expect={"kind": "policy"})
    config = TrainConfig.from_dict(payload["config"], f"the config in {entry['file']}")
    return policy_from_payload(payload, config, device), config
