"""Evaluate a trained agent: success rate with a 95% interval, a per-instruction table, videos.

    python -m agents.evaluate --run runs/goto --split heldout --episodes 100 --video

From Python::

    policy = agents.load_policy("runs/goto")
    result = agents.evaluate(policy, "Groundworld/GoTo-v0", split="heldout", episodes=100)
    print(result.summary())
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

import envs
from envs.language import SPLITS


class Policy(Protocol):
    """What evaluation needs of an agent: deterministic actions for one observation at a time."""

    def reset(self) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


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
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
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


def main(argv: list[str] | None = None) -> int:
    from agents.policies import load_policy

    parser = argparse.ArgumentParser(prog="python -m agents.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="run folder written by agents.train")
    parser.add_argument("--env", default=None, help="environment id (default: the one it was trained on)")
    parser.add_argument("--split", default="train", choices=SPLITS)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=100_000)
    parser.add_argument("--video", action="store_true", help="also write an mp4 of the first episodes to videos/")
    parser.add_argument("--video-episodes", type=int, default=3)
    parser.add_argument("--video-dir", default="videos")
    args = parser.parse_args(argv)

    policy, config = load_policy(args.run)
    env_id = args.env or config.env
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
