"""Train a language-conditioned agent on a Groundworld task.

    python -m agents.train --env Groundworld/GoTo-v0 --algo native --steps 60000 --run-dir runs/goto
    python -m agents.train --env Groundworld/KnockOff-v0 --run-dir runs/knockoff  # the task's best recipe
    python -m agents.train --preset mbpo-task --run-dir runs/goto-mbpo   # a named recipe (agents.presets)
    python -m agents.train --run-dir runs/goto --resume                  # continue after a crash or kill
    tensorboard --logdir runs/                                           # live curves

Every field of :class:`~agents.config.TrainConfig` is a flag (``--help`` lists them: flat names
such as ``--tau`` and dotted ones such as ``--sac.tau``). The run folder gets ``config.json``
(every value resolved), ``progress.csv``, TensorBoard logs (``tb/``), ``checkpoint.pt`` (+
``replay-<step>.npz`` for native and mbpo, ``demos.npz`` for bc) and ``learning_curve.png``; one
process at a time may write to it (``.lock``). From Python: ``agents.train(TrainConfig(...))``
returns the trained policy. Resuming restores weights, optimizer moments, the replay buffer, the
step and episode counters, the wall clock and random-number state; rows logged after the
checkpoint are dropped, since they are logged again; episodes in flight at the checkpoint restart
(the replay keeps their rows without an end). SB3 runs resume their weights and optimizers, not
SB3's replay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the environments)
from agents.config import TrainConfig
from agents.dagger import train_dagger
from agents.demos import DemoMix, collect_demos
from agents.evaluation import evaluate
from agents.loop import CHECKPOINT, RunExists, Schedule, TrainingError, rng_state, stopped  # noqa: F401  (TrainingError: re-exported)
from agents.mbpo import Imagination
from agents.policies import SB3Policy, TorchPolicy, make_sb3_model
from agents.presets import PRESETS, TASK_PRESETS
from agents.relabel import Relabeller
from envs import cli
from envs.errors import UsageError
from envs.files import atomic_path
from groundworld.checkpoint import CheckpointError, load_checkpoint, load_state, save_checkpoint
from groundworld.collect import Collector
from groundworld.nn import resolve_device
from groundworld.replay import ReplayBuffer
from groundworld.runs import RunLock, RunLogger
from world_model.judges.goodhart import GoodhartMonitor


def judge_shaping(config: TrainConfig) -> Callable[[gym.Env], gym.Env] | None:
    """The env wrapper that adds the judge's potential-based shaping term, when ``config.shaping.judge`` is set."""
    if not config.shaping.judge:
        return None
    from world_model.judges.judge import load_judge
    from world_model.judges.shaping import JudgePotential, PotentialShaping

    judge, judge_env = load_judge(config.shaping.judge)
    if judge_env != config.env:
        raise UsageError(f"the judge {config.shaping.judge} was trained on {judge_env}, not {config.env}")

    def wrap(env: gym.Env) -> gym.Env:
        return PotentialShaping(env, JudgePotential(judge), config.sac.gamma, config.shaping.shaping_scale)

    return wrap


def demo_mix(config: TrainConfig, run_dir: Path, resume: bool) -> DemoMix | None:
    """The run's demonstrations (collected once, kept as ``demos.npz`` in the run folder), or None."""
    c = config.demos
    if c.demo_episodes == 0:
        return None
    path = run_dir / "demos.npz"
    if resume and path.exists():
        demos = ReplayBuffer.load(path, env_id=config.env)
    else:
        demos = collect_demos(config.env, c.demo_episodes, c.demo_seed, "train", config.reward_mode)
        demos.save(path)
    return DemoMix(demos, c.demo_ratio, c.bc_weight, c.bc_decay_steps)


# ---------------------------------------------------------------------------------------- native
def train_native(config: TrainConfig, run_dir: Path, resume: bool, device: torch.device) -> TorchPolicy:
    from agents.sac import SACAgent

    shaping = judge_shaping(config)
    vec = gym.make_vec(
        config.env,
        num_envs=config.num_envs,
        vectorization_mode=config.vectorization,
        wrappers=[shaping] if shaping else None,
        reward_mode=config.reward_mode,
        split="train",
    )
    monitor = GoodhartMonitor(config.shaping.goodhart_threshold) if shaping else None
    obs_space, act_space = vec.single_observation_space, vec.single_action_space
    agent = SACAgent(obs_space, act_space, config.sac, device)
    replay = ReplayBuffer(obs_space, act_space.shape[0], config.buffer_size, config.env)
    rng = np.random.default_rng(config.seed)
    step, next_episode, episodes, wall = 0, 0, 0, 0.0
    if resume:
        payload = load_checkpoint(run_dir / CHECKPOINT, expect={"algo": config.algo, "env": config.env})
        load_state(agent, payload["agent"], "agent")
        for name, optim in agent.optimizers().items():
            optim.load_state_dict(payload["optim"][name])
        replay = ReplayBuffer.load(run_dir / payload["replay_file"], obs_space, config.buffer_size, config.env)
        step, next_episode = payload["step"], payload["next_episode"]
        episodes, wall = payload.get("episodes", 0), payload.get("wall_s", 0.0)
        rng.bit_generator.state = payload["rng"]
        torch.set_rng_state(payload["torch_rng"])

    mix = demo_mix(config, run_dir, resume)
    if mix is not None and not resume:
        for _ in range(config.demos.pretrain_updates):  # pretraining on the demonstrations alone
            losses = agent.update(mix.sample(None, config.sac.batch_size, rng), replay.keys, mix.bc_weight(0))
            if not all(np.isfinite(v) for v in losses.values()):
                raise stopped(run_dir, 0, losses)
    imagination = None
    if config.algo == "mbpo":  # the model-based variant: imagined transitions join the real ones
        imagination = Imagination(
            config.mbpo, replay, obs_space, act_space, config.seed, config.reward_mode, config.learning_starts
        )
    logger = RunLogger(run_dir, config.steps, step, config.progress, episodes, wall)
    evals, checkpoints = Schedule(config.eval_every, step), Schedule(config.checkpoint_every, step)
    policy = TorchPolicy(agent)

    def checkpoint() -> None:
        replay_file = f"replay-{step}.npz"
        replay.save(run_dir / replay_file)
        save_checkpoint(
            run_dir / CHECKPOINT,
            {
                "algo": config.algo,
                "env": config.env,
                "step": step,
                "next_episode": next_episode,
                "episodes": logger.episodes,
                "wall_s": logger.wall,
                "agent": agent.state_dict(),
                "optim": {k: o.state_dict() for k, o in agent.optimizers().items()},
                "sac_config": asdict(config.sac),
                "replay_file": replay_file,
                "rng": rng_state(rng),
                "torch_rng": torch.get_rng_state(),
                "config": config.to_dict(),
            },
        )
        for old in run_dir.glob("replay-*.npz"):  # only the pair just written is needed
            if old.name != replay_file:
                old.unlink()

    on_episode = None
    if config.relabel:  # finished episodes are stored again under instructions they satisfied
        relabeller, relabelled = Relabeller(config.env, config.reward_mode), [0]

        def on_episode(episode: dict[str, np.ndarray]) -> None:
            for new in relabeller.relabel(episode, rng, config.relabel):
                n = len(new["reward"])
                relabelled[0] += 1
                replay.add(
                    {k[4:]: v for k, v in new.items() if k.startswith("obs/")}, new["action"], new["reward"],
                    {k[9:]: v for k, v in new.items() if k.startswith("next_obs/")}, new["is_terminal"],
                    np.zeros(n, dtype=bool), np.arange(n) == 0, np.full(n, RELABELLED + relabelled[0]),
                    np.arange(n), new["is_success"], new["goal_object"],
                )  # fmt: skip

    collector = Collector(vec, replay, seed=config.seed + step, first_episode=next_episode, on_episode=on_episode)
    update_credit, losses, pending = 0.0, {}, 0

    def updates(new_rows: int) -> None:  # the gradient steps that ``new_rows`` real transitions earn
        nonlocal update_credit, losses
        update_credit += config.utd * new_rows
        while update_credit >= 1.0:
            source = imagination if imagination is not None else replay
            if mix is None:
                losses = agent.update(source.sample(config.sac.batch_size, rng), replay.keys)
            else:
                batch = mix.sample(source, config.sac.batch_size, rng)
                losses = agent.update(batch, replay.keys, mix.bc_weight(step))
            update_credit -= 1.0
            if not all(np.isfinite(v) for v in losses.values()):
                raise stopped(run_dir, step, losses)

    while step < config.steps:
        if step < config.learning_starts:
            action = rng.uniform(-1, 1, size=(vec.num_envs, act_space.shape[0])).astype(np.float32)
        else:
            action = agent.act(collector.obs)
        collector.begin(action)
        if config.policy_lag:  # update on the steps before this one while the envs step (in parallel if async)
            updates(pending)
        stored, finished = collector.finish()
        for success in finished:
            logger.episode(success, step)
        next_episode = collector.next_episode
        step += stored
        logger.advance(stored)
        if imagination is not None and step >= config.learning_starts:
            imagination.refit_if_due(step)
            imagination.imagine(agent.act)
        learning = step >= config.learning_starts
        if config.policy_lag:
            pending = stored if learning else 0
        elif learning:
            updates(stored)
        if evals.due(step) or step >= config.steps:
            result = evaluate(policy, config.env, "train", config.eval_episodes, seed=10_000_000 + step, wrap=shaping)
            extra = dict(losses)
            if mix is not None:  # the oracle's steps, reported beside the real steps they are not part of
                extra.update(demo_steps=len(mix.demos), bc_weight=mix.bc_weight(step))
            if monitor is not None:  # trained against a learned signal: watch for a judged-vs-true gap
                extra.update(monitor.record_evaluation(step, result.episodes))
            if imagination is not None and imagination.fits:
                extra.update(
                    model_heldout=imagination.fits[-1]["heldout"],
                    imagined=len(imagination.replay),
                    rollout_length=imagination.rollout_length(step),
                )
            logger.log(step, result.success_rate, extra)
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
    step, episodes, wall = 0, 0, 0.0
    if resume:
        payload = load_checkpoint(run_dir / CHECKPOINT, expect={"algo": config.algo, "env": config.env})
        model.set_parameters(payload["params"], exact_match=True, device=device)
        step, episodes, wall = payload["step"], payload.get("episodes", 0), payload.get("wall_s", 0.0)
        model.num_timesteps = step
    logger = RunLogger(run_dir, config.steps, step, config.progress, episodes, wall)
    sb3_log = SB3Metrics(logger.writer)
    model.set_logger(sb3_log.logger())
    evals, checkpoints = Schedule(config.eval_every, step), Schedule(config.checkpoint_every, step)
    policy = SB3Policy(model)

    def checkpoint(at: int) -> None:
        with atomic_path(run_dir / sb3_file(config.algo)) as tmp:  # SB3's own format: SAC.load / PPO.load read it
            model.save(tmp)
        save_checkpoint(
            run_dir / CHECKPOINT,
            {
                "algo": config.algo,
                "env": config.env,
                "step": at,
                "episodes": logger.episodes,
                "wall_s": logger.wall,
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
                logger.log(self.num_timesteps, result.success_rate, sb3_log.latest)
            if checkpoints.due(self.num_timesteps):
                checkpoint(self.num_timesteps)
            return True

    model.learn(total_timesteps=max(0, config.steps - step), callback=Callback(), reset_num_timesteps=not resume)
    result = evaluate(policy, config.env, "train", config.eval_episodes, seed=10_000_000 + model.num_timesteps)
    logger.log(model.num_timesteps, result.success_rate, sb3_log.latest)
    checkpoint(model.num_timesteps)
    if getattr(model, "replay_buffer", None) is not None:  # off-policy: SAC.load(...).load_replay_buffer(...)
        with atomic_path(run_dir / SB3_REPLAY) as tmp:
            model.save_replay_buffer(tmp)
    logger.close()
    return policy


SB3_REPLAY = "sb3_replay_buffer.pkl"
"""An SB3 run's replay buffer in SB3's format (``model.load_replay_buffer``), written when the run ends."""


def sb3_file(algo: str) -> str:
    """The SB3 model file of a run: ``sb3_<algo>.zip`` (``SAC.load``, ``PPO.load``, ``RecurrentPPO.load``)."""
    return f"sb3_{algo}.zip"


class SB3Metrics:
    """Where an SB3 model's logger writes: its ``train/*`` and ``rollout/*`` scalars to the run's TensorBoard
    (under ``sb3/``), the latest ``train/*`` values kept for ``progress.csv`` (``actor_loss``, ``value_loss``, ...)."""

    def __init__(self, writer: Any):
        self.writer = writer
        self.latest: dict[str, float] = {}

    def logger(self) -> Any:
        from stable_baselines3.common.logger import KVWriter, Logger

        metrics = self

        class _Writer(KVWriter):
            def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
                metrics.write(key_values, step)

            def close(self) -> None:
                pass

        return Logger(folder=None, output_formats=[_Writer()])

    def write(self, key_values: dict[str, Any], step: int) -> None:
        for key, value in key_values.items():
            if not key.startswith(("train/", "rollout/")) or isinstance(value, bool):
                continue
            if isinstance(value, (int, float, np.integer, np.floating)):
                self.writer.add_scalar(f"sb3/{key}", float(value), step)
                if key.startswith("train/"):
                    self.latest[key.split("/", 1)[1]] = float(value)


# ---------------------------------------------------------------------------------------- BC
def train_behaviour_cloning(config: TrainConfig, run_dir: Path, resume: bool, device: torch.device) -> TorchPolicy:
    from agents.bc import BCPolicy, collect_demonstrations, train_bc

    env = gym.make(config.env)
    policy = BCPolicy(env.observation_space, env.action_space).to(device)
    if resume and (run_dir / CHECKPOINT).exists():
        payload = load_checkpoint(run_dir / CHECKPOINT, expect={"algo": "bc", "env": config.env})
        load_state(policy, payload["policy"], "policy")
        return TorchPolicy(policy)
    demos_path = run_dir / "demos.npz"
    if demos_path.exists():
        demos = ReplayBuffer.load(demos_path, env.observation_space, env_id=config.env)
    else:
        demos = collect_demonstrations(config.env, config.steps, seed=config.seed, reward_mode=config.reward_mode)
        demos.save(demos_path)
    logger = RunLogger(run_dir, config.bc.epochs, 0, config.progress)

    def on_epoch(epoch: int, loss: float) -> None:
        logger.advance(1)
        logger.writer.add_scalar("bc/loss", loss, epoch)

    losses = train_bc(policy, demos, config.bc.epochs, config.sac.batch_size, config.sac.lr, config.seed, on_epoch)
    wrapped = TorchPolicy(policy)
    result = evaluate(wrapped, config.env, "train", config.eval_episodes, seed=10_000_000)
    logger.log(config.steps, result.success_rate, {"bc_loss": losses[-1]})
    save_checkpoint(
        run_dir / CHECKPOINT,
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
TRAINERS: dict[str, Callable[[TrainConfig, Path, bool, torch.device], Any]] = {
    "native": train_native,
    "mbpo": train_native,
    "sac": train_sb3,
    "ppo": train_sb3,
    "rppo": train_sb3,
    "bc": train_behaviour_cloning,
    "dagger": train_dagger,
}
"""The one trainer registry: ``--algo`` -> the function that trains it."""


def train(config: TrainConfig, resume: bool = False) -> Any:
    """Train ``config.algo`` on ``config.env``; return the trained policy (``policy.act(obs)``).

    Every value is checked, and the run folder claimed (a second writer fails at once), before
    anything is written; with ``resume`` the folder must hold a checkpoint."""
    config.validate()
    run_dir = Path(config.run_dir)
    with RunLock(run_dir):
        if resume:
            if not (run_dir / CHECKPOINT).exists():
                raise CheckpointError(f"--resume: {run_dir} has no {CHECKPOINT} to resume from")
        elif (run_dir / CHECKPOINT).exists():
            raise RunExists(f"{run_dir} already holds a run; pass --resume to continue it or pick another --run-dir")
        device = resolve_device(config.device)
        config.save(run_dir / "config.json")
        torch.manual_seed(config.seed)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        return TRAINERS[config.algo](config, run_dir, resume, device)


RELABELLED = 10**12
"""Episode ids of relabelled episodes start here, apart from the real ones (world-model windows keep to one id)."""

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
"""The fields a resumed run may change (the rest would make it another run)."""


def config_from_args(args: dict[str, Any], resume: bool, preset: str = "") -> TrainConfig:
    """The run's config from flag values (keys: flat or dotted field names; lists allowed): over ``preset``
    over the defaults, or with ``resume`` over the saved config, of which only :data:`RESUME_OVERRIDES` may
    change."""
    tree = cli.leaves(TrainConfig)
    by_name = {leaf.flat.replace("-", "_"): leaf for leaf in tree if leaf.flat}
    by_name.update({".".join(leaf.path): leaf for leaf in tree})
    given: dict[tuple[str, ...], Any] = {}
    for key, value in args.items():
        leaf = by_name.get(key) or by_name.get(key.replace("-", "_"))
        if leaf is None:
            raise UsageError(f"unknown config field {key!r}")
        given[leaf.path] = tuple(value) if isinstance(value, list) else value
    run_dir = Path(given.get(("run_dir",), TrainConfig.run_dir))
    if not resume:
        base = TrainConfig(preset=preset)
        if preset:
            base = cli.replace(base, cli.preset_values(PRESETS, preset, tree))
        return cli.replace(base, given)
    if not (run_dir / CHECKPOINT).exists() and not (run_dir / "config.json").exists():
        raise CheckpointError(f"--resume: {run_dir} has no {CHECKPOINT} to resume from")
    config = TrainConfig.from_run(run_dir)
    config = cli.replace(config, {("run_dir",): str(run_dir)})  # the folder being resumed, wherever it was written
    if preset and preset != config.preset:
        raise UsageError(f"--preset {preset} differs from the run being resumed ({config.preset or 'none'})")
    changes = {}
    for path, value in given.items():
        if path == ("run_dir",) or value == cli.get(config, path):
            continue
        name = path[-1]
        if name not in RESUME_OVERRIDES:
            flag = next(leaf.flag for leaf in tree if leaf.path == path)
            raise UsageError(
                f"{flag} differs from the run being resumed ({cli.get(config, path)!r}); "
                f"only {', '.join(RESUME_OVERRIDES)} may change on --resume"
            )
        changes[path] = value
    return cli.replace(config, changes)


def task_preset(given: dict[str, Any], resume: bool) -> str:
    """The preset of the task's best recipe (:data:`~agents.presets.TASK_PRESETS`) when the flags name neither a
    preset nor an algorithm (and the run is new), else ""."""
    if resume or "algo" in given:
        return ""
    return TASK_PRESETS.get(given.get("env", TrainConfig.env), "")


def build_parser() -> cli.Parser:
    parser = cli.Parser(prog="python -m agents.train", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--preset", default="", help=f"start from a named recipe: {', '.join(sorted(PRESETS))} (see agents.presets)"
    )
    parser.add_argument("--resume", action="store_true", default=False, help="continue the run in --run-dir")
    cli.add_config(parser, TrainConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.train``: a usage error prints one line and returns 2 (see :func:`envs.cli.run`)."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    tree = cli.leaves(TrainConfig)
    namespace = parser.parse_args(argv)
    given = {".".join(path): value for path, value in cli.given_values(namespace, tree).items()}
    given.pop("preset", None)
    preset = namespace.preset or task_preset(given, namespace.resume)
    config = config_from_args(given, namespace.resume, preset)
    train(config, resume=namespace.resume)
    run = Path(config.run_dir)
    print(f"done: {run}/{CHECKPOINT}, curve {run}/learning_curve.png, logs {run}/progress.csv and {run}/tb")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
