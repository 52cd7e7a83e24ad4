"""Throughput of ``gym.make_vec`` with 1, 2 and 8 envs, sync and async (total env steps/s).

python -m bench.vec_speed [--env Groundworld/Push-v0] [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the Groundworld ids)
from bench.report import markdown_table, write_json


def measure(env_id: str, num_envs: int, mode: str, steps: int) -> dict:
    vec = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    vec.reset(seed=list(range(num_envs)))
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, num_envs, 2)).astype(np.float32)
    vec.step(actions[0])  # warm-up (async workers start lazily)
    start = time.perf_counter()
    for action in actions:
        vec.step(action)
    elapsed = time.perf_counter() - start
    vec.close()
    return {"env": env_id, "mode": mode, "num_envs": num_envs, "env steps/s": round(steps * num_envs / elapsed)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Groundworld/Push-v0")
    parser.add_argument("--steps", type=int, default=300, help="vector steps per configuration")
    args = parser.parse_args(argv)
    rows = [measure(args.env, n, mode, args.steps) for mode in ("sync", "async") for n in (1, 2, 8)]
    print(markdown_table(rows, list(rows[0])))
    print(f"\nwrote {write_json('vec_speed', rows)}")
    return rows


if __name__ == "__main__":
    main()
