"""Render frames/s of every task at 128 and 480 px, against Gymnasium's Reacher-v5.

    python -m bench.render_speed [--frames 150]

Each measurement is step + render (as a video recorder or pixel agent does), in the same
process with the same GL backend. Target: every task >= 1.5x Reacher-v5 at each size.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import envs
from bench.report import markdown_table, write_json


def frames_per_second(env: gym.Env, frames: int) -> float:
    env.reset(seed=0)
    env.render()  # creates the GL context outside the timing
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(frames):
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, size=env.action_space.shape))
        if terminated or truncated:
            env.reset()
        env.render()
    elapsed = time.perf_counter() - start
    env.close()
    return frames / elapsed


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args(argv)
    sizes = (128, 480)
    baseline = {
        s: frames_per_second(gym.make("Reacher-v5", render_mode="rgb_array", width=s, height=s), args.frames)
        for s in sizes
    }
    rows = [
        {
            "env": "Reacher-v5 (baseline)",
            **{f"fps@{s}": baseline[s] for s in sizes},
            **{f"x Reacher@{s}": 1.0 for s in sizes},
        }
    ]
    for env_id in envs.TASKS:
        row = {"env": env_id}
        for s in sizes:
            fps = frames_per_second(gym.make(env_id, render_mode="rgb_array", width=s, height=s), args.frames)
            row[f"fps@{s}"] = fps
            row[f"x Reacher@{s}"] = fps / baseline[s]
        rows.append(row)
    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}\n")
    print(markdown_table(rows, list(rows[0])))
    print(f"\nwrote {write_json('render_speed', rows)}")
    return rows


if __name__ == "__main__":
    main()
