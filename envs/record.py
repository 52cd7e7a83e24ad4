"""Record evaluation videos of a policy on a Groundworld task.

    python -m envs.record --env Groundworld/Push-v0 --policy oracle --episodes 3

writes ``videos/Push-v0_oracle_train.mp4`` (one file, episodes one after another, each
captioned with its instruction and ending on a SUCCESS or FAILURE mark).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import gymnasium as gym
import numpy as np

import envs
from envs import cli
from envs.errors import UsageError
from envs.language import SPLITS


def default_video_path(env_id: str, policy: str, split: str, folder: str | Path = "videos") -> Path:
    return Path(folder) / f"{env_id.split('/')[-1]}_{policy}_{split}.mp4"


def make_policy(name: str, env: gym.Env, seed: int):
    if name == "oracle":
        return envs.make_oracle(env)
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda obs, info: rng.uniform(-1.0, 1.0, size=env.action_space.shape).astype(np.float32)
    raise UsageError(f"unknown policy {name!r}; expected 'oracle' or 'random'")


@dataclass
class RecordArgs:
    """What ``python -m envs.record`` films."""

    env: str = "Groundworld/Push-v0"
    """Environment id (``envs.TASKS``)."""
    policy: Literal["oracle", "random"] = "oracle"
    """The scripted oracle or uniform random actions."""
    episodes: Annotated[int, cli.Positive] = 3
    """Episodes, one after another in one file."""
    split: Literal[SPLITS] = "train"
    """Which instructions the episodes draw."""
    seed: int = 0
    """Episode i is reset with seed + i."""
    size: Annotated[int, cli.Range(16, 4096)] = 480
    """Frame width and height in pixels."""
    out: str = ""
    """mp4 path (default: videos/<task>_<policy>_<split>.mp4)."""

    def validate(self) -> None:
        envs.check_env_id(self.env)


def main(argv: list[str] | None = None) -> int:
    """``python -m envs.record``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(RecordArgs, argv, "python -m envs.record", __doc__.split("\n")[0])
    out = Path(args.out) if args.out else default_video_path(args.env, args.policy, args.split)
    envs.video.check_writable(out)  # before the env is built and any episode is run
    env = gym.make(args.env, split=args.split, render_mode="rgb_array", width=args.size, height=args.size)
    results = envs.record_video(
        env, make_policy(args.policy, env, args.seed), out, episodes=args.episodes, seed=args.seed
    )
    env.close()
    for r in results:
        print(f"{'SUCCESS' if r['success'] else 'FAILURE'}  {r['steps']:4d} steps  {r['instruction']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
