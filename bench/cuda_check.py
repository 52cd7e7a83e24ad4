"""The CUDA paths, measured against the CPU in the same run (for a machine with a GPU).

    python -m bench.cuda_check            # prints a markdown table; exits 1 if CUDA is missing

Checks that ``--device auto`` picks CUDA and trains, and times on both devices: a judge's
training epochs, frozen-judge actor updates through a world model, and a short native run.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import agents
import groundworld.nn
from agents.bc import BCPolicy
from agents.judge_actor import JudgeActor, JudgeActorConfig
from bench.report import markdown_table, write_json
from world_model.ensemble import EnsembleModel
from world_model.judges.calibration import at_fraction, auroc
from world_model.judges.episodes import collect_episodes
from world_model.judges.judge import JudgeConfig, judge_probabilities, train_judge

ENV = "Groundworld/GoTo-v0"


def judge_epochs(data, test, device: str) -> dict:
    start = time.perf_counter()
    judge, history = train_judge(data, JudgeConfig(epochs=6, patience=100), device=device)
    wall = time.perf_counter() - start
    probs = judge_probabilities(judge, test)
    return {
        "what": "judge: 6 training epochs",
        "device": device,
        "seconds": wall,
        "result": f"AUROC@25% {auroc(at_fraction(probs, test.length, 0.25), test.success):.3f}",
    }


def actor_updates(data, device: str, updates: int = 60) -> dict:
    env = gym.make(ENV)
    torch.manual_seed(0)
    model = EnsembleModel(env.observation_space, 2).to(device)
    judge, _ = train_judge(data, JudgeConfig(epochs=1), device=device)
    policy = BCPolicy(env.observation_space, env.action_space).to(device)
    actor = JudgeActor(policy, model, judge, data.first_observations(), JudgeActorConfig(horizon=20, batch_size=256))
    actor.update()  # warm-up (CUDA kernels, allocator)
    before = [t.clone() for t in list(model.state_dict().values()) + list(judge.state_dict().values())]
    start = time.perf_counter()
    for _ in range(updates):
        info = actor.update()
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    after = list(model.state_dict().values()) + list(judge.state_dict().values())
    frozen = all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    return {
        "what": f"frozen-judge actor: {updates} updates (batch 256, horizon 20)",
        "device": device,
        "seconds": wall,
        "result": f"{updates / wall:.1f} updates/s; judge and model untouched: {frozen}; "
        f"imagined judgement {info['imagined_judgement']:.2f}",
    }


def native_run(device: str, steps: int) -> dict:
    from pathlib import Path
    from tempfile import mkdtemp

    run = Path(mkdtemp()) / "run"
    config = agents.TrainConfig(
        env=ENV, algo="native", steps=steps, learning_starts=1000, utd=1.0, device=device, run_dir=str(run)
    )
    config.progress, config.eval_every, config.eval_episodes = False, steps, 10
    start = time.perf_counter()
    agents.train(config)
    wall = time.perf_counter() - start
    resolved = groundworld.nn.resolve_device(device)
    return {
        "what": f"native agent: {steps} env steps, UTD 1 (device={device} -> {resolved})",
        "device": str(resolved),
        "seconds": wall,
        "result": f"{steps / wall:.0f} env steps/s including evaluation",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--native-steps", type=int, default=4000)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("CUDA is not available here; nothing to check")
        return 1
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}")
    data = collect_episodes(ENV, 300, seed=0)
    test = collect_episodes(ENV, 200, seed=1)
    rows = []
    for device in ("cpu", "cuda"):
        rows.append(judge_epochs(data, test, device))
        rows.append(actor_updates(data, device))
    rows.append(native_run("cpu", args.native_steps))
    rows.append(native_run("auto", args.native_steps))
    for row in rows:
        row["seconds"] = round(row["seconds"], 2)
    print(markdown_table(rows, ["what", "device", "seconds", "result"]))
    print(f"wrote {write_json('cuda_check', rows)}")
    return 0 if np.isfinite([r["seconds"] for r in rows]).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
