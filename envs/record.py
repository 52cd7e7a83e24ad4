"""Record evaluation videos of a policy on a Groundworld task.

    python -m envs.record --env Groundworld/Push-v0 --policy oracle --episodes 3

writes ``videos/Push-v0_oracle_train.mp4`` (one file, episodes one after another, each
captioned with its instruction and ending on a SUCCESS or FAILURE mark).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from envs.language import SPLITS


def default_video_path(env_id: str, policy: str, split: str, folder: str | Path = "videos") -> Path:
    return Path(folder) / f"{env_id.split('/')[-1]}_{policy}_{split}.mp4"


def make_policy(name: str, env: gym.Env, seed: int):
    if name == "oracle":
        return envs.make_oracle(env)
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda obs, info: rng.uniform(-1.0, 1.0, size=env.action_space.shape).astype(np.float32)
    raise ValueError(f"unknown policy {name!r}; expected 'oracle' or 'random'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envs.record", description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Groundworld/Push-v0", choices=envs.TASKS, help="environment id")
    parser.add_argument("--policy", default="oracle", choices=("oracle", "random"))
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--split", default="train", choices=SPLITS)
    parser.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    parser.add_argument("--size", type=int, default=480, help="frame width and height in pixels")
    parser.add_argument("--out", type=Path, default=None, help="mp4 path (default: videos/<task>_<policy>_<split>.mp4)")
    args = parser.parse_args(argv)

    out = args.out or default_video_path(args.env, args.policy, args.split)
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
