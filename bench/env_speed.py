"""env.step throughput of every task against raw ``mujoco.mj_step(nstep=frame_skip)``.

    python -m bench.env_speed [--episodes 40]

Episode by episode, the env and a raw loop run on the same compiled model in the same
process, from the same start state and with the same random actions; the ratio is env
steps/s over raw steps/s (target >= 0.8).
``gym.make`` adds Gymnasium's wrappers (time limit, order enforcing, passive checker);
the unwrapped column is the env class alone.
"""

from __future__ import annotations

import argparse
import copy
import time

import gymnasium as gym
import mujoco
import numpy as np

import envs
from bench.report import markdown_table, write_json


def _timed_episode(env: gym.Env, actions: np.ndarray) -> tuple[float, int]:
    steps = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    return time.perf_counter() - start, steps


def _timed_raw(model: mujoco.MjModel, data: mujoco.MjData, actions: np.ndarray, frame_skip: int) -> float:
    start = time.perf_counter()
    for action in actions:
        data.ctrl[:] = action
        mujoco.mj_step(model, data, nstep=frame_skip)
    return time.perf_counter() - start


def measure(env_id: str, episodes: int) -> dict:
    """Interleave, episode by episode, the wrapped env, the unwrapped env and the raw loop
    over identical start states and actions; resets are not timed."""
    rng = np.random.default_rng(0)
    wrapped, base = gym.make(env_id), gym.make(env_id).unwrapped
    limit = wrapped.spec.max_episode_steps
    totals = {"wrapped": 0.0, "unwrapped": 0.0, "raw": 0.0}
    steps = 0
    for episode in range(episodes):
        actions = rng.uniform(-1, 1, size=(limit, 2)).astype(np.float32)
        wrapped.reset(seed=episode)
        base.reset(seed=episode)
        start_state = copy.copy(base.data)
        elapsed, n = _timed_episode(wrapped, actions)
        totals["wrapped"] += elapsed
        elapsed, n_base = _timed_episode(base, actions)
        assert n_base == n, "the wrapped and unwrapped envs diverged"
        totals["unwrapped"] += elapsed
        totals["raw"] += _timed_raw(base.model, start_state, actions[:n], base.frame_skip)
        steps += n
    rates = {k: steps / v for k, v in totals.items()}
    return {
        "task": env_id,
        "steps": steps,
        "raw mj_step/s": round(rates["raw"]),
        "gym.make step/s": round(rates["wrapped"]),
        "unwrapped step/s": round(rates["unwrapped"]),
        "ratio (gym.make)": rates["wrapped"] / rates["raw"],
        "ratio (unwrapped)": rates["unwrapped"] / rates["raw"],
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=40, help="episodes per task (random actions)")
    args = parser.parse_args(argv)
    rows = [measure(env_id, args.episodes) for env_id in envs.TASKS]
    print(markdown_table(rows, list(rows[0])))
    print(f"\nwrote {write_json('env_speed', rows)}")
    return rows


if __name__ == "__main__":
    main()
