"""Train a language-conditioned agent on a Groundworld task.

    python -m agents.train --env Groundworld/GoTo-v0 --algo native --steps 60000 --run-dir runs/goto
    python -m agents.train --run-dir runs/goto --resume            # continue after a crash or kill
    tensorboard --logdir runs/                                      # live curves

The run folder gets ``config.json``, ``progress.csv``, TensorBoard logs (``tb/``),
``checkpoint.pt`` (+ ``replay-<step>.npz`` for native and mbpo, ``demos.npz`` for bc) and
``learning_curve.png``. From Python: ``agents.train(TrainConfig(...))`` returns the trained
policy. Resuming restores weights, optimizer moments, the replay buffer, the step counter
and random-number state; episodes in flight at the checkpoint restart (the replay keeps
their rows without an end). SB3 runs resume their weights and optimizers, not SB3's replay.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the environments)
from agents.checkpoint import CheckpointError, load_checkpoint, load_state, save_checkpoint
from agents.collector import Collector
from agents.config import TrainConfig, add_arguments, resolve_device
from agents.evaluation import evaluate
from agents.logger import RunLogger
from agents.mbpo import Imagination, MBPOConfig
from agents.policies import SB3Policy, TorchPolicy, make_sb3_model
from agents.replay import ReplayBuffer
from envs.video import check_writable_dir
from world_model.goodhart import GoodhartMonitor


class TrainingError(RuntimeError):
    """Training stopped (e.g. a non-finite loss); the last good checkpoint is kept."""


class _Schedule:
    """Fires once every ``every`` steps."""

    def __init__(self, every: int, start: int):
        self.every, self.next = every, (start // every + 1) * every

    def due(self, step: int) -> bool:
        if step >= self.next:
            self.next = (step // self.every + 1) * self.every
            return True
        return False


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return json.loads(json.dumps(rng.bit_generator.state, default=int))


def judge_shaping(config: TrainConfig) -> Callable[[gym.Env], gym.Env] | None:
    """The env wrapper that adds the judge's potential-based shaping term, when ``config.judge`` is set."""
    if not config.judge:
        return None
    from world_model.judge import load_judge
    from world_model.shaping import JudgePotential, PotentialShaping

    judge, judge_env = load_judge(config.judge)
    if judge_env != config.env:
        raise ValueError(f"the judge {config.judge} was trained on {judge_env}, not {config.env}")

    def wrap(env: gym.Env) -> gym.Env:
        return PotentialShaping(env, JudgePotential(judge), config.gamma, config.shaping_scale)

    return wrap


# ---------------------------------------------------------------------------------------- native
def train_native(config: TrainConfig, run_dir: Path, resume: bool, device: torch.device) -> TorchPolicy:
    from agents.sac import SACAgent, SACConfig

    shaping = judge_shaping(config)
    vec = gym.make_vec(
        config.env,
        num_envs=config.num_envs,
        vectorization_mode="sync",
        wrappers=[shaping] if shaping else None,
        reward_mode=config.reward_mode,
        split="train",
    )
    monitor = GoodhartMonitor(config.goodhart_threshold) if shaping else None
    obs_space, act_space = vec.single_observation_space, vec.single_action_space
    sac_config = SACConfig(
        hidden=tuple(config.hidden),
        lr=config.lr,
        gamma=config.gamma,
        batch_size=config.batch_size,
        grounding=config.grounding,
        compile=config.compile,
        precision=config.precision,
    )
    agent = SACAgent(obs_space, act_space, sac_config, device)
    replay = ReplayBuffer(obs_space, act_space.shape[0], config.buffer_size, config.env)
    rng = np.random.default_rng(config.seed)
    step, next_episode = 0, 0
    if resume:
        payload = load_checkpoint(run_dir / "checkpoint.pt", expect={"algo": config.algo, "env": config.env})
        load_state(agent, payload["agent"], "agent")
        for name, optim in agent.optimizers().items():
            optim.load_state_dict(payload["optim"][name])
        replay = ReplayBuffer.load(run_dir / payload["replay_file"], obs_space, config.buffer_size)
        step, next_episode = payload["step"], payload["next_episode"]
        rng.bit_generator.state = payload["rng"]
        torch.set_rng_state(payload["torch_rng"])

    imagination = None
    if config.algo == "mbpo":  # the model-based variant: imagined transitions join the real ones
        mbpo = MBPOConfig(
            refit_every=config.refit_every,
            first_fit=config.learning_starts,
            real_ratio=config.real_ratio,
            outcome=config.model_outcome,
            model_step=config.model_step,
            k_start=config.model_horizon[0],
            k_end=config.model_horizon[1],
        )
        imagination = Imagination(mbpo, replay, obs_space, act_space, config.seed, config.reward_mode)
    logger = RunLogger(run_dir, config.steps, step, config.progress)
    evals, checkpoints = _Schedule(config.eval_every, step), _Schedule(config.checkpoint_every, step)
    policy = TorchPolicy(agent)

    def checkpoint() -> None:
        replay_file = f"replay-{step}.npz"
        replay.save(run_dir / replay_file)
        save_checkpoint(
            run_dir / "checkpoint.pt",
            {
                "algo": config.algo,
                "env": config.env,
                "step": step,
                "next_episode": next_episode,
                "agent": agent.state_dict(),
                "optim": {k: o.state_dict() for k, o in agent.optimizers().items()},
                "sac_config": asdict(sac_config),
                "replay_file": replay_file,
                "rng": _rng_state(rng),
                "torch_rng": torch.get_rng_state(),
                "config": config.to_dict(),
            },
        )
        for old in run_dir.glob("replay-*.npz"):  # only the pair just written is needed
            if old.name != replay_file:
                old.unlink()

    collector = Collector(vec, replay, seed=config.seed + step, first_episode=next_episode)
    update_credit, start, losses = 0.0, time.time(), {}
    while step < config.steps:
        if step < config.learning_starts:
            action = rng.uniform(-1, 1, size=(vec.num_envs, act_space.shape[0])).astype(np.float32)
        else:
            action = agent.act(collector.obs)
        stored, finished = collector.step(action)
        for success in finished:
            logger.episode(success, step)
        next_episode = collector.next_episode
        step += stored
        logger.advance(stored)
        if imagination is not None and step >= config.learning_starts:
            imagination.refit_if_due(step)
            imagination.imagine(agent.act)

        if step >= config.learning_starts:
            update_credit += config.utd * stored
            while update_credit >= 1.0:
                source = imagination if imagination is not None else replay
                losses = agent.update(source.sample(config.batch_size, rng), replay.keys)
                update_credit -= 1.0
                if not all(np.isfinite(v) for v in losses.values()):
                    raise TrainingError(
                        f"non-finite loss at step {step}: {losses}; stopped, the last good "
                        f"checkpoint is {run_dir / 'checkpoint.pt'}"
                    )
        if evals.due(step) or step >= config.steps:
            result = evaluate(policy, config.env, "train", config.eval_episodes, seed=10_000_000 + step, wrap=shaping)
            extra = dict(losses)
            if monitor is not None:  # trained against a learned signal: watch for a judged-vs-true gap
                extra.update(monitor.record_evaluation(step, result.episodes))
            if imagination is not None and imagination.fits:
                extra.update(
                    model_heldout=imagination.fits[-1]["heldout"],
                    imagined=len(imagination.replay),
                    rollout_length=imagination.rollout_length(step),
                )
            logger.log(step, time.time() - start, result.success_rate, extra)
        if checkpoints.due(step) or step >= config.steps:
            checkpoint()
    logger.close()
    vec.close()
    return policy


# ---------------------------------------------------------------------------------------- SB3
def train_sb3(config: TrainConfig, run_dir: Path, resume: bool, device: torch.device) -> SB3Policy:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    n = 1 if config.algo == "sac" else config.num_envs

    def make_env() -> gym.Env:
        return gym.make(config.env, reward_mode=config.reward_mode, split="train")

    vec = DummyVecEnv([make_env] * n)
    model = make_sb3_model(config, vec, device)
    step = 0
    if resume:
        payload = load_checkpoint(run_dir / "checkpoint.pt", expect={"algo": config.algo, "env": config.env})
        model.set_parameters(payload["params"], exact_match=True, device=device)
        step = payload["step"]
        model.num_timesteps = step
    logger = RunLogger(run_dir, config.steps, step, config.progress)
    evals, checkpoints = _Schedule(config.eval_every, step), _Schedule(config.checkpoint_every, step)
    policy = SB3Policy(model)
    start = time.time()

    def checkpoint(at: int) -> None:
        save_checkpoint(
            run_dir / "checkpoint.pt",
            {
                "algo": config.algo,
                "env": config.env,
                "step": at,
                "params": model.get_parameters(),
                "config": config.to_dict(),
            },
        )

    class Callback(BaseCallback):
        def _on_step(self) -> bool:
            for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
                if done:
                    logger.episode(bool(info.get("is_success", False)), self.num_timesteps)
            logger.advance(n)
            if evals.due(self.num_timesteps):
                result = evaluate(
                    policy, config.env, "train", config.eval_episodes, seed=10_000_000 + self.num_timesteps
                )
                policy.reset()
                logger.log(self.num_timesteps, time.time() - start, result.success_rate, {})
            if checkpoints.due(self.num_timesteps):
                checkpoint(self.num_timesteps)
            return True

    model.learn(total_timesteps=max(0, config.steps - step), callback=Callback(), reset_num_timesteps=not resume)
    result = evaluate(policy, config.env, "train", config.eval_episodes, seed=10_000_000 + model.num_timesteps)
    logger.log(model.num_timesteps, time.time() - start, result.success_rate, {})
    checkpoint(model.num_timesteps)
    logger.close()
    return policy


# ---------------------------------------------------------------------------------------- BC
def train_behaviour_cloning(config: TrainConfig, run_dir: Path, resume: bool, device: torch.device) -> TorchPolicy:
    from agents.bc import BCPolicy, collect_demonstrations, train_bc

    env = gym.make(config.env)
    policy = BCPolicy(env.observation_space, env.action_space).to(device)
    if resume and (run_dir / "checkpoint.pt").exists():
        payload = load_checkpoint(run_dir / "checkpoint.pt", expect={"algo": "bc", "env": config.env})
        load_state(policy, payload["policy"], "policy")
        return TorchPolicy(policy)
    demos_path = run_dir / "demos.npz"
    if demos_path.exists():
        demos = ReplayBuffer.load(demos_path, env.observation_space)
    else:
        demos = collect_demonstrations(config.env, config.steps, seed=config.seed, reward_mode=config.reward_mode)
        demos.save(demos_path)
    logger = RunLogger(run_dir, config.bc_epochs, 0, config.progress)
    start = time.time()

    def on_epoch(epoch: int, loss: float) -> None:
        logger.advance(1)
        logger.writer.add_scalar("bc/loss", loss, epoch)

    losses = train_bc(policy, demos, config.bc_epochs, config.batch_size, config.lr, config.seed, on_epoch)
    wrapped = TorchPolicy(policy)
    result = evaluate(wrapped, config.env, "train", config.eval_episodes, seed=10_000_000)
    logger.log(config.steps, time.time() - start, result.success_rate, {"bc_loss": losses[-1]})
    save_checkpoint(
        run_dir / "checkpoint.pt",
        {
            "algo": "bc",
            "env": config.env,
            "step": config.steps,
            "policy": policy.state_dict(),
            "config": config.to_dict(),
        },
    )
    logger.close()
    return wrapped


# ---------------------------------------------------------------------------------------- entry points
TRAINERS = {
    "native": train_native,
    "mbpo": train_native,
    "sac": train_sb3,
    "ppo": train_sb3,
    "rppo": train_sb3,
    "bc": train_behaviour_cloning,
}


def train(config: TrainConfig, resume: bool = False) -> Any:
    """Train ``config.algo`` on ``config.env``; return the trained policy (``policy.act(obs)``).

    Fails before any training if the run folder is not writable, and with ``resume`` if
    the folder holds no usable checkpoint.
    """
    config.validate()
    run_dir = check_writable_dir(config.run_dir)
    if resume:
        if not (run_dir / "checkpoint.pt").exists():
            raise CheckpointError(f"--resume: {run_dir} has no checkpoint.pt to resume from")
    elif (run_dir / "checkpoint.pt").exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or pick another --run-dir")
    config.save(run_dir / "config.json")
    torch.manual_seed(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    return TRAINERS[config.algo](config, run_dir, resume, resolve_device(config.device))


RESUME_OVERRIDES = (
    "steps",
    "progress",
    "eval_every",
    "eval_episodes",
    "checkpoint_every",
    "threads",
    "device",
    "compile",
)


def config_from_args(args: dict[str, Any], resume: bool) -> TrainConfig:
    """The run's config: flags over defaults; with ``resume``, flags over the saved config,
    where only the fields in :data:`RESUME_OVERRIDES` may change."""
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}  # argparse gives lists
    run_dir = Path(args.get("run_dir", TrainConfig.run_dir))
    saved = run_dir / "config.json"
    if not resume or not saved.exists():
        return TrainConfig(**args)
    config = TrainConfig.load(saved)
    config.run_dir = str(run_dir)  # the folder being resumed, wherever it was first written
    for key, value in args.items():
        if key == "run_dir" or value == getattr(config, key):
            continue
        if key not in RESUME_OVERRIDES:
            raise ValueError(
                f"--{key.replace('_', '-')} differs from the run being resumed ({getattr(config, key)!r}); "
                f"only {', '.join(RESUME_OVERRIDES)} may change on --resume"
            )
        setattr(config, key, value)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.train", description=__doc__.split("\n")[0], argument_default=argparse.SUPPRESS
    )
    add_arguments(parser)
    parser.add_argument(
        "--resume", action="store_true", default=False, help="continue the run in --run-dir from its checkpoint"
    )
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume")
    try:
        config = config_from_args(args, resume)
        train(config, resume=resume)
    except (TrainingError, CheckpointError, FileExistsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    run = Path(config.run_dir)
    print(f"done: {run}/checkpoint.pt, curve {run}/learning_curve.png, logs {run}/progress.csv and {run}/tb")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
