"""The main demo: oracle videos of every task into ``videos/`` and a table of oracle success.

python -m envs.demo [--episodes 20] [--video-episodes 2]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import gymnasium as gym

import envs
from envs import cli
from envs.language import SPLITS
from envs.record import default_video_path


def oracle_success(env_id: str, split: str, episodes: int, seed: int = 0) -> tuple[int, float]:
    """(successes out of ``episodes``, mean episode length) of the oracle on ``env_id``."""
    env = gym.make(env_id, split=split)
    policy = envs.make_oracle(env)
    successes, steps = 0, 0
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
            steps += 1
            done = terminated or truncated
        successes += bool(info["is_success"])
    env.close()
    return successes, steps / episodes


@dataclass
class DemoArgs:
    """What ``python -m envs.demo`` films and counts."""

    episodes: Annotated[int, cli.Positive] = 20
    """Episodes per task and split for the table."""
    video_episodes: Annotated[int, cli.Positive] = 2
    """Episodes per task in each video."""
    size: Annotated[int, cli.Range(16, 4096)] = 480
    """Frame width and height in pixels."""


def main(argv: list[str] | None = None) -> int:
    """``python -m envs.demo``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(DemoArgs, argv, "python -m envs.demo", __doc__.split("\n")[0])

    start = time.time()
    print(f"Recording oracle videos ({args.video_episodes} episodes per task)...")
    for env_id in envs.TASKS:
        env = gym.make(env_id, render_mode="rgb_array", width=args.size, height=args.size)
        path = default_video_path(env_id, "oracle", "train")
        results = envs.record_video(env, envs.make_oracle(env), path, episodes=args.video_episodes)
        env.close()
        print(f"  {path}  ({sum(r['success'] for r in results)}/{len(results)} successes)")

    print(f"\nOracle success over {args.episodes} seeded episodes per split:\n")
    print("| task | " + " | ".join(SPLITS) + " | mean steps (train) |")
    print("|---|" + "---|" * (len(SPLITS) + 1))
    for env_id in envs.TASKS:
        cells, mean_steps = [], 0.0
        for split in SPLITS:
            wins, steps = oracle_success(env_id, split, args.episodes)
            cells.append(f"{wins}/{args.episodes}")
            mean_steps = steps if split == "train" else mean_steps
        print(f"| {env_id} | " + " | ".join(cells) + f" | {mean_steps:.1f} |")
    print(f"\nDone in {time.time() - start:.0f} s. Videos are in videos/.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
