"""Environment steps per second while the native agent learns: sync envs against async envs with a policy lag.

    python -m bench.throughput [--env Groundworld/GoTo-v0] [--steps 4000] [--utd 0.5] [--batch-size 128]

Measured one after the other in this process, after the same warm-up (random steps that fill the
replay, three updates, the first of which compiles the loss): the training loop of ``agents.train``
with its envs stepping in this process between updates (``--vectorization sync --policy-lag 0``),
and with them stepping in worker processes while the learner updates (``--vectorization async
--policy-lag 1``). Beside them, the raw ``mj_step`` rate of the task's scene on one core, the
ceiling of any loop. Writes ``bench/results/<name>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import mujoco
import numpy as np
import torch

import envs
from agents.config import SACConfig
from agents.sac import SACAgent
from bench.report import markdown_table, write_report
from groundworld.collect import Collector
from groundworld.replay import ReplayBuffer


def raw_rate(env_id: str, seconds: float = 3.0) -> float:
    """``mj_step(nstep=frame_skip)`` calls per second on a reset scene of ``env_id`` (one core)."""
    env = gym.make(env_id)
    env.reset(seed=0)
    base = env.unwrapped
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mujoco.mj_step(base.model, base.data, nstep=base.frame_skip)
        n += 1
    return n / (time.perf_counter() - start)


def learning_rate(env_id: str, mode: str, lag: int, steps: int, utd: float, batch: int, warmup: int = 1000) -> float:
    """Env steps per second of the training loop (see the module docstring)."""
    torch.manual_seed(0)
    vec = gym.make_vec(env_id, num_envs=8, vectorization_mode=mode, reward_mode="dense")
    agent = SACAgent(vec.single_observation_space, vec.single_action_space, SACConfig(batch_size=batch))
    replay = ReplayBuffer(vec.single_observation_space, 2, warmup + steps + 100, env_id)
    collector = Collector(vec, replay, seed=0)
    rng = np.random.default_rng(0)
    while len(replay) < warmup:
        collector.step(rng.uniform(-1, 1, size=(8, 2)).astype(np.float32))
    for _ in range(3):
        agent.update(replay.sample(batch, rng), replay.keys)
    done, credit, pending = 0, 0.0, 0

    def updates(rows: int) -> None:
        nonlocal credit
        credit += utd * rows
        while credit >= 1.0:
            agent.update(replay.sample(batch, rng), replay.keys)
            credit -= 1.0

    start = time.perf_counter()
    while done < steps:
        collector.begin(agent.act(collector.obs))
        if lag:
            updates(pending)
        stored, _ = collector.finish()
        done += stored
        if lag:
            pending = stored
        else:
            updates(stored)
    rate = done / (time.perf_counter() - start)
    vec.close()
    return rate


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Groundworld/GoTo-v0", choices=envs.TASKS)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--utd", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--name", default="throughput")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    raw = raw_rate(args.env)
    rows = []
    for mode, lag in (("sync", 0), ("async", 1)):
        rate = learning_rate(args.env, mode, lag, args.steps, args.utd, args.batch_size)
        rows.append({"envs": mode, "policy lag": lag, "env steps/s": round(rate, 1), "% of raw mj_step": 0.0})
        rows[-1]["% of raw mj_step"] = round(100 * rate / raw, 1)
    ratio = rows[1]["env steps/s"] / rows[0]["env steps/s"]
    body = [
        f"{args.env}, native SAC at UTD {args.utd}, batch {args.batch_size}, 8 envs, one torch thread; {args.steps} "
        f"env steps each after a 1k-step warm-up. Raw `mj_step` (one core, same run): {raw:.0f} steps/s.",
        "",
        markdown_table(rows),
        "",
        f"async with lag 1 / sync: **{ratio:.2f}x**. Command: `python -m bench.throughput --steps {args.steps}`.",
    ]
    print("\n".join(body))
    print(
        f"wrote {write_report(args.name, 'Learning throughput: sync vs async envs', body, rows, time.time() - start)}"
    )
    return rows


if __name__ == "__main__":
    main()
