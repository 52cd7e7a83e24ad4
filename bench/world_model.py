"""World-model benchmarks: imagination throughput, model error, imagined vs real success.

    python -m bench.world_model --data runs/bench/goto_bar10/GoTo-native/replay-30000.npz \\
        --policy-run runs/bench/goto_bar10/GoTo-native --name world_model_goto_bar10

1. imagined transitions/s (a dream env of 4096 rows) against real ``env.step``/s, same process
   (target >= 20x);
2. the world model fitted on the replay of a successful run: open-loop error at k = 1, 5, 15
   normalised by feature variance (target k=15 < 0.1), disagreement-error correlation;
3. success predicted in imagination vs achieved in the real env, same policy, same start states.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import agents
import envs  # noqa: F401
from bench.report import RESULTS, markdown_table, write_json
from groundworld.replay import ReplayBuffer
from world_model import DreamVecEnv, EnsembleConfig, WorldModelConfig, fit
from world_model.metrics import disagreement_correlation, imagined_vs_real, open_loop_error, outcome_prediction
from world_model.outcomes import TaskOutcome


def throughput(model, replay: ReplayBuffer, env_id: str, rows: int = 4096, steps: int = 20) -> dict:
    dream = DreamVecEnv(model, replay, num_envs=rows, horizon=15, max_disagreement=1e9, seed=0)
    dream.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, rows, 2)).astype(np.float32)
    start = time.perf_counter()
    for a in actions:
        dream.step(a)
    imagined = rows * steps / (time.perf_counter() - start)
    env = gym.make(env_id)
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions[:, 0].repeat(20, axis=0):
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    real = steps * 20 / (time.perf_counter() - start)
    return {
        "imagined transitions/s": imagined,
        "real env steps/s": real,
        "ratio": imagined / real,
        "dream precision": "bf16" if dream.bf16 else "fp32",
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="replay file of a (successful) run")
    parser.add_argument("--policy-run", default=None, help="run folder whose policy is used for imagined vs real")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--name", default="world_model", help="report name in bench/results/")
    parser.add_argument(
        "--fit-rows",
        type=int,
        default=None,
        help="fit on the first N rows only (what an agent had after N steps) and measure on the rest",
    )
    parser.add_argument("--reward-mode", default="dense", help="reward mode the replay was recorded with")
    parser.add_argument("--nll-beta", type=float, default=None, help="EnsembleConfig.nll_beta (default: its default)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    replay = ReplayBuffer.load(args.data)
    env_id = replay.env_id
    train, test = replay.split(args.fit_rows) if args.fit_rows else (replay, replay)
    start = time.time()
    ensemble = EnsembleConfig() if args.nll_beta is None else EnsembleConfig(nll_beta=args.nll_beta)
    model, history = fit(train, WorldModelConfig(epochs=args.epochs, ensemble=ensemble))
    fit_s = time.time() - start
    errors = open_loop_error(model, test)
    outcome = None  # the task's rules, where they are written down and the replay has goal labels
    if TaskOutcome.knows(env_id) and (test.rows()["goal_object"] >= 0).all():
        outcome = TaskOutcome.for_env(env_id, args.reward_mode)
    report: dict = {
        "env": env_id,
        "transitions": len(train),
        "measured on": "the fitted rows" if test is replay else f"the {len(test)} rows after them",
        "fit seconds": round(fit_s),
        "epochs": len(history),
        "nll_beta": ensemble.nll_beta,
        "open_loop": errors,
        "disagreement_corr": disagreement_correlation(model, test),
        "outcomes": outcome_prediction(model, test, outcome),
        "throughput": throughput(model, replay, env_id),
    }
    if args.policy_run:
        policy, _ = agents.load_policy(args.policy_run)
        report["imagined_vs_real"] = imagined_vs_real(model, policy, env_id)
    rows = [{"k": k, **{name: round(v, 4) for name, v in comps.items()}} for k, comps in errors.items()]
    outcome_rows = [{"measure": name, "value": round(v, 3)} for name, v in report["outcomes"].items()]
    text = [
        f"world model on {env_id}: {len(train)} transitions, fitted in {fit_s:.0f} s ({len(history)} epochs, "
        f"nll_beta {ensemble.nll_beta}); measured on {report['measured on']}",
        "",
        markdown_table(rows, list(rows[0])),
        "",
        f"disagreement-error correlation: {report['disagreement_corr']:.3f}",
        "",
        "imagined rewards and successes against the real ones (real start and action):",
        "",
        markdown_table(outcome_rows, ["measure", "value"]),
        "",
        markdown_table([report["throughput"]], list(report["throughput"])),
    ]
    if "imagined_vs_real" in report:
        text += ["", markdown_table([report["imagined_vs_real"]], list(report["imagined_vs_real"]))]
    print("\n".join(text))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text("\n".join(text) + "\n")
    print(f"\nwrote {write_json(args.name, [report])}")
    return report


if __name__ == "__main__":
    main()
