"""Environment steps per second while learning: native SAC against Stable-Baselines3 SAC.

    python -m bench.agent_speed [--env Groundworld/GoTo-v0] [--utd 1.0 0.5]

Both learn on the same task with the same grounded encoder, the same update-to-data ratio
(gradient updates per environment step), one torch thread each, measured one after the
other in this process after their warm-up (random steps that fill the replay buffer, and
for the native agent three updates, the first of which compiles its loss: its seconds are
reported as "native warm-up s"). SB3 runs with its default batch (256) and with the native
agent's (128).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import agents
import envs  # noqa: F401
from agents.sac import SACAgent, SACConfig
from bench.report import markdown_table, write_json
from groundworld.collect import Collector
from groundworld.replay import ReplayBuffer


def native_rate(
    env_id: str,
    utd: float,
    steps: int,
    num_envs: int = 8,
    warmup: int = 1000,
    device: str = "cpu",
    hidden: tuple[int, ...] = SACConfig.hidden,
    compile: bool = SACConfig.compile,
    precision: str = SACConfig.precision,
) -> tuple[float, float]:
    """(env steps per second, seconds of the warm-up updates, which include compilation)."""
    vec = gym.make_vec(env_id, num_envs=num_envs, reward_mode="dense")
    config = SACConfig(hidden=tuple(hidden), compile=compile, precision=precision)
    agent = SACAgent(vec.single_observation_space, vec.single_action_space, config, torch.device(device))
    replay = ReplayBuffer(vec.single_observation_space, 2, warmup + steps + 100, env_id)
    collector = Collector(vec, replay, seed=0)
    rng = np.random.default_rng(0)
    while len(replay) < warmup:
        collector.step(rng.uniform(-1, 1, size=(num_envs, 2)).astype(np.float32))
    first = time.perf_counter()
    for _ in range(3):  # warm-up updates; the first compiles the loss (reported separately)
        agent.update(replay.sample(agent.config.batch_size, rng), replay.keys)
    compile_s = time.perf_counter() - first
    done, credit = 0, 0.0
    start = time.perf_counter()
    while done < steps:
        stored, _ = collector.step(agent.act(collector.obs))
        done += stored
        credit += utd * stored
        while credit >= 1.0:
            agent.update(replay.sample(agent.config.batch_size, rng), replay.keys)
            credit -= 1.0
    return done / (time.perf_counter() - start), compile_s


def sb3_rate(env_id: str, utd: float, steps: int, batch_size: int, warmup: int = 1000, device: str = "cpu") -> float:
    from stable_baselines3 import SAC

    freq, grad = (1, int(round(utd))) if utd >= 1 else (int(round(1 / utd)), 1)
    env = gym.make(env_id, reward_mode="dense")
    model = SAC(
        "MultiInputPolicy",
        env,
        policy_kwargs=agents.sb3_policy_kwargs(),
        learning_starts=warmup,
        train_freq=freq,
        gradient_steps=grad,
        batch_size=batch_size,
        seed=0,
        device=device,
    )
    model.learn(warmup + 1)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Groundworld/GoTo-v0")
    parser.add_argument("--utd", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--sb3-steps", type=int, default=300)
    parser.add_argument("--native-steps", type=int, default=1500)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both agents)")
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=list(SACConfig.hidden), help="native widths; SB3 keeps its own"
    )
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=SACConfig.compile, help="native: compile the loss"
    )
    parser.add_argument("--precision", default=SACConfig.precision, help="native: auto | bf16 | fp32")
    parser.add_argument("--name", default="agent_speed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for utd in args.utd:
        native, compile_s = native_rate(
            args.env,
            utd,
            args.native_steps,
            device=args.device,
            hidden=tuple(args.hidden),
            compile=args.compile,
            precision=args.precision,
        )
        sb3_default = sb3_rate(args.env, utd, args.sb3_steps, batch_size=256, device=args.device)
        sb3_same = sb3_rate(args.env, utd, args.sb3_steps, batch_size=128, device=args.device)
        rows.append(
            {
                "env": args.env,
                "device": args.device,
                "native hidden": " ".join(map(str, args.hidden)),
                "native compile": args.compile,
                "native precision": args.precision,
                "native warm-up s": compile_s,
                "utd": utd,
                "native steps/s": native,
                "SB3 SAC steps/s (batch 256)": sb3_default,
                "SB3 SAC steps/s (batch 128)": sb3_same,
                "native / SB3 (256)": native / sb3_default,
                "native / SB3 (128)": native / sb3_same,
            }
        )
    print(markdown_table(rows, list(rows[0])))
    print(f"\nwrote {write_json(args.name, rows)}")
    return rows


if __name__ == "__main__":
    main()
