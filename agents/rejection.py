"""Rejection sampling (expert iteration): sample, keep the successes, clone them, repeat.

Each round the current policy, made stochastic with Gaussian action noise, attempts
``instructions`` scenes ``attempts`` times each; a filter keeps some episodes — those the
environment verifies as successful (``filter="env"``) or those a judge accepts
(``filter="judge"``: final success probability >= ``threshold``) — and the policy is
behaviour-cloned on everything kept so far. The same loop as rejection-sampling fine-tuning
of language models, with the environment's verifier or a learned judge as the reward model.

    python -m agents.rejection --env Groundworld/GoTo-v0 --steps 20000 --run-dir runs/rs-env
    python -m agents.rejection --filter judge --judge runs/judges-goto/blind.pt --run-dir runs/rs-judge

From Python: ``policy, history = expert_iteration(RejectionConfig(...))``. With a judge
filter each evaluation also records the judge's estimate beside the true success
(:class:`~world_model.judges.goodhart.GoodhartMonitor`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import gymnasium as gym
import numpy as np
import torch

import envs
from agents.bc import BCPolicy
from agents.evaluation import evaluate
from agents.policies import TorchPolicy
from envs import cli
from envs.errors import UsageError
from groundworld.checkpoint import save_checkpoint
from groundworld.nn import obs_to_tensors
from groundworld.policy import batch1
from groundworld.replay import ReplayBuffer
from groundworld.runs import CsvLog, RunLock
from world_model.judges.episodes import Episodes, collect_episodes
from world_model.judges.goodhart import GOODHART_THRESHOLD, GoodhartMonitor
from world_model.judges.judge import Judge, judge_probabilities, load_judge
from world_model.judges.shaping import judge_readout

FILTERS = ("env", "judge")


@dataclass
class RejectionConfig:
    """Expert iteration's budget, sampling, filter and cloning."""

    env: str = "Groundworld/GoTo-v0"
    """Environment id."""
    steps: Annotated[int, cli.Positive] = 20_000
    """Real environment steps to spend on sampling."""
    instructions: Annotated[int, cli.Positive] = 8
    """Scenes (each with its instruction) sampled per round."""
    attempts: Annotated[int, cli.Positive] = 4
    """Episodes per scene and instruction."""
    noise: Annotated[float, cli.NonNegative] = 0.6
    """Standard deviation of the Gaussian added to the policy's action when sampling."""
    filter: Literal[FILTERS] = "env"
    """"env": keep episodes the environment verifies; "judge": keep those the judge accepts."""
    judge: str = ""
    """Judge checkpoint for ``filter="judge"`` (and for the Goodhart monitor)."""
    threshold: Annotated[float, cli.Fraction] = 0.5
    """A judge accepts an episode whose final success probability is at least this."""
    updates: Annotated[int, cli.Positive] = 300
    """Behaviour-cloning gradient steps per round, on everything kept so far."""
    batch_size: Annotated[int, cli.Positive] = 256
    """Behaviour-cloning minibatch."""
    lr: Annotated[float, cli.Positive] = 1e-3
    """Behaviour-cloning learning rate."""
    eval_episodes: Annotated[int, cli.Positive] = 50
    """Deterministic evaluation episodes after each round (train split)."""
    goodhart_threshold: Annotated[float, cli.Fraction] = GOODHART_THRESHOLD
    """Flag evaluations where the judge's estimate exceeds true success by this."""
    seed: int = 0
    """Seed of sampling, networks and evaluation."""

    def validate(self) -> None:
        if self.filter not in FILTERS:  # also checked by cli.validate; this message names the filter
            raise UsageError(f"filter must be one of {FILTERS}, got {self.filter!r}")
        cli.validate(self)
        envs.check_env_id(self.env)
        if self.filter == "judge" and not self.judge:
            raise UsageError("filter='judge' needs a judge checkpoint (--judge)")


class NoisyPolicy:
    """A deterministic policy plus Gaussian action noise (the sampling distribution)."""

    def __init__(self, policy: BCPolicy, noise: float, rng: np.random.Generator):
        self.policy, self.noise, self.rng = policy, noise, rng

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = self.policy.act(batch1(obs))[0]
        return np.clip(action + self.rng.normal(0, self.noise, action.shape), -1, 1).astype(np.float32)


def final_judgements(judge: Judge, episodes: Episodes) -> np.ndarray:
    """(N,) the judge's success probability after each whole episode."""
    probs = judge_probabilities(judge, episodes)
    return probs[np.arange(len(episodes)), episodes.length - 1]


def accept(episodes: Episodes, filter: str, judge: Judge | None = None, threshold: float = 0.5) -> np.ndarray:
    """(N,) bool: the episodes the filter keeps."""
    if filter == "env":
        return episodes.success.astype(bool)
    if filter == "judge":
        if judge is None:
            raise UsageError("the judge filter needs a judge")
        return final_judgements(judge, episodes) >= threshold
    raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")


def clone(policy: BCPolicy, data: ReplayBuffer, updates: int, batch_size: int, optim, rng) -> float:
    """``updates`` behaviour-cloning steps on random minibatches of ``data``; the last loss."""
    device = next(policy.parameters()).device
    loss = torch.zeros(())
    for _ in range(updates):
        batch = data.sample(batch_size, rng)
        obs = obs_to_tensors({k: batch["obs/" + k] for k in data.keys}, device)
        loss = (policy(obs) - torch.as_tensor(batch["action"], device=device)).pow(2).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"behaviour-cloning loss became {loss.item()}")
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return float(loss.item())


def expert_iteration(
    config: RejectionConfig, on_round: Callable[[dict[str, Any]], None] | None = None
) -> tuple[BCPolicy, list[dict[str, Any]]]:
    """Run rounds until the step budget is spent; return the policy and one history row per round."""
    config.validate()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    env = gym.make(config.env)
    policy = BCPolicy(env.observation_space, env.action_space)
    optim = torch.optim.Adam(policy.parameters(), lr=config.lr)
    judge = load_judge(config.judge)[0] if config.judge else None
    monitor = GoodhartMonitor(config.goodhart_threshold) if config.filter == "judge" else None
    wrap = judge_readout(judge) if judge is not None else None  # the judge's estimate, for the Goodhart monitor

    kept: Episodes | None = None
    steps, round_, history, start = 0, 0, [], time.time()
    while steps < config.steps:
        sampler = NoisyPolicy(policy, config.noise, rng)
        n = config.instructions * config.attempts
        batch = collect_episodes(
            config.env, n, seed=config.seed * 7919 + round_, mix={"agent": 1.0}, agent=sampler, repeats=config.attempts
        )
        steps += int(batch.length.sum())
        mask = accept(batch, config.filter, judge, config.threshold)
        if mask.any():
            chosen = batch.subset(np.flatnonzero(mask))
            kept = chosen if kept is None else Episodes.concat([kept, chosen])
        loss = float("nan")
        if kept is not None:
            loss = clone(policy, kept.to_replay(), config.updates, config.batch_size, optim, rng)
        result = evaluate(
            TorchPolicy(policy), config.env, "train", config.eval_episodes, seed=20_000_000 + round_, wrap=wrap
        )
        row = {
            "round": round_,
            "steps": steps,
            "wall_s": round(time.time() - start, 1),
            "sampled_success": float(batch.success.mean()),
            "accepted": int(mask.sum()),
            "accepted_precision": float(batch.success[mask].mean()) if mask.any() else float("nan"),
            "kept_episodes": 0 if kept is None else len(kept),
            "bc_loss": loss,
            "eval_success": result.success_rate,
        }
        if monitor is not None:
            row.update(monitor.record_evaluation(steps, result.episodes))
        history.append(row)
        if on_round is not None:
            on_round(row)
        round_ += 1
    env.close()
    return policy, history


@dataclass
class RejectionArgs:
    """What ``python -m agents.rejection`` runs, and where it writes."""

    run_dir: str = field(default=cli.REQUIRED)
    """Folder for checkpoint.pt and progress.csv."""
    threads: Annotated[int, cli.NonNegative] = 1
    """Torch CPU threads (0: torch's default)."""
    rejection: RejectionConfig = field(default_factory=RejectionConfig)
    """Budget, sampling, filter and cloning (every field is also a flat flag: --steps, --filter, ...)."""

    def validate(self) -> None:
        self.rejection.validate()


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.rejection``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(RejectionArgs, argv, "python -m agents.rejection", __doc__.split("\n")[0])
    config = args.rejection
    if args.threads:
        torch.set_num_threads(args.threads)
    with RunLock(args.run_dir) as lock:
        run = lock.path.parent
        log = CsvLog(run / "progress.csv", keep=lambda row: False)

        def on_round(row: dict[str, Any]) -> None:
            log.append({"step": row["steps"], **row})
            flag = "  GOODHART-GAP" if row.get("goodhart_flag") else ""
            judged = f"  judged {row['judged_success']:.2f}" if "judged_success" in row else ""
            print(
                f"round {row['round']:3d}  steps {row['steps']:6d}  kept {row['kept_episodes']:4d}  "
                f"eval {row['eval_success']:.2f}{judged}{flag}",
                flush=True,
            )

        policy, _ = expert_iteration(config, on_round)
        save_checkpoint(
            run / "checkpoint.pt",
            {
                "algo": "rejection",
                "env": config.env,
                "policy": policy.state_dict(),
                "config": dataclasses.asdict(config),
            },
        )
    print(f"wrote {run / 'checkpoint.pt'} and {run / 'progress.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
