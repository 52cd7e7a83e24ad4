"""Evaluate a trained agent: success rate with a 95% interval, a per-instruction table, videos.

    python -m agents.evaluate --run runs/goto --split heldout --episodes 100 --video

From Python::

    policy, config = agents.load_policy("runs/goto")
    result = agents.evaluate(policy, "Groundworld/GoTo-v0", split="heldout", episodes=100)
    print(result.summary())
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import gymnasium as gym
import numpy as np

import envs
from envs import cli
from envs.errors import UsageError, check_writable_dir
from envs.language import SPLITS
from groundworld.policy import Policy


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sensible at 0% and 100% too)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class EvalResult:
    env_id: str
    split: str
    episodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(e["success"] for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.successes / max(1, len(self.episodes))

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.successes, len(self.episodes))

    def per_instruction(self) -> list[tuple[str, int, int]]:
        """(goal in canonical words, successes, episodes), hardest first."""
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for e in self.episodes:
            table[e["goal"]][0] += int(e["success"])
            table[e["goal"]][1] += 1
        return sorted(((g, s, n) for g, (s, n) in table.items()), key=lambda r: (r[1] / r[2], r[0]))

    def summary(self, rows: int = 15) -> str:
        lo, hi = self.ci95
        lines = [
            f"{self.env_id} [{self.split}]: success {self.success_rate:.3f} "
            f"(95% CI {lo:.3f}-{hi:.3f}) over {len(self.episodes)} episodes, "
            f"mean length {np.mean([e['steps'] for e in self.episodes]):.1f}",
            "",
            "| goal | success | episodes |",
            "|---|---|---|",
        ]
        table = self.per_instruction()
        lines += [f"| {g} | {s / n:.2f} | {n} |" for g, s, n in table[:rows]]
        if len(table) > rows:
            lines.append(f"| ... {len(table) - rows} more goals | | |")
        return "\n".join(lines)


def evaluate(
    policy: Policy,
    env_id: str,
    split: str = "train",
    episodes: int = 50,
    seed: int = 100_000,
    video: str | Path | None = None,
    video_episodes: int = 3,
    wrap: Callable[[gym.Env], gym.Env] | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``episodes`` seeded episodes of ``policy``; optionally write the first few to ``video``.

    ``wrap`` wraps the evaluation env (e.g. in a judge's shaping wrapper, whose final
    ``info["judge_success"]`` each episode then records as ``"judge"``)."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; expected one of {SPLITS}")
    if episodes < 1:
        raise UsageError(f"episodes must be >= 1, got {episodes}")
    if video is not None:
        envs.video.check_writable(video)  # fail before spending time on episodes
    env = gym.make(env_id, split=split, **env_kwargs)
    if wrap is not None:
        env = wrap(env)
    result = EvalResult(env_id, split)
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        policy.reset()
        done, steps, total = False, 0, 0.0
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            done = terminated or truncated
            steps += 1
            total += float(reward)
        result.episodes.append(
            {
                "instruction": info["instruction"],
                "goal": env.unwrapped.goal.surface(),
                "success": bool(info["is_success"]),
                "steps": steps,
                "return": total,
                "judge": info.get("judge_success"),
            }
        )
    env.close()
    if video is not None:
        render_env = gym.make(env_id, split=split, render_mode="rgb_array", **env_kwargs)
        envs.record_video(
            render_env,
            lambda obs, info: policy.act(obs),
            video,
            episodes=video_episodes,
            seed=seed,
            on_reset=policy.reset,
        )
        render_env.close()
    return result


@dataclass
class EvaluateArgs:
    """What ``python -m agents.evaluate`` measures."""

    run: str = field(default=cli.REQUIRED)
    """Run folder written by agents.train (or agents.rejection)."""
    env: str = ""
    """Environment id (default: the one the run was trained on; every one, for a multi-task run)."""
    split: Literal[SPLITS] = "train"
    """Which instructions the episodes draw."""
    episodes: Annotated[int, cli.Positive] = 100
    """Seeded evaluation episodes."""
    seed: int = 100_000
    """Episode i is reset with seed + i."""
    video: bool = False
    """Also write an mp4 of the first episodes to --video-dir."""
    video_episodes: Annotated[int, cli.Positive] = 3
    """Episodes in the video."""
    video_dir: str = "videos"
    """Folder of the video."""

    def validate(self) -> None:
        if self.env:
            envs.check_env_id(self.env)


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.evaluate``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    from agents.policies import load_policy

    args, _ = cli.parse(EvaluateArgs, argv, "python -m agents.evaluate", __doc__.split("\n")[0])
    if args.video:
        check_writable_dir(args.video_dir, "video")  # before the policy is loaded and episodes are run
    policy, config = load_policy(args.run)
    for env_id in (args.env,) if args.env else config.env_ids:  # a multi-task policy: every task it learned
        video = None
        if args.video:
            video = Path(args.video_dir) / f"{Path(args.run).name}_{env_id.split('/')[-1]}_{args.split}.mp4"
        result = evaluate(
            policy, env_id, args.split, args.episodes, args.seed, video=video, video_episodes=args.video_episodes
        )
        print(result.summary())
        if video is not None:
            print(f"\nvideo: {video}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
