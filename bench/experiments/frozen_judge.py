"""Can an actor learn by maximising a frozen judge's verdict through a learned world model?

The 600 mixed-policy GoTo episodes that trained the judges also train a world model. An actor
(grounded encoder + MLP, from scratch) then learns only in imagination: from real first
observations it acts for ``horizon`` steps in the frozen model, and the frozen judge's success
probability is back-propagated into it. Compared at the same real env steps with the native
SAC agent and with behaviour cloning on the successful episodes of the same data (the same
real data, the environment as judge). Every evaluation logs judged vs true success (Goodhart).

    python -m bench.experiments.frozen_judge              # ~15 min on 2 cores
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np
import torch

import agents
from agents.bc import BCPolicy
from agents.judge_actor import JudgeActor, JudgeActorConfig
from agents.policies import TorchPolicy
from bench.experiments.common import REPO, RESULTS, judges_dir, plot_curves, run_summary, train_command, write_report
from bench.report import cell
from world_model.judges.episodes import collect_episodes
from world_model.judges.judge import load_judge
from world_model.training import WorldModelConfig, fit


def final_scores(policy, env_id: str, episodes: int) -> dict:
    return {
        split: agents.evaluate(TorchPolicy(policy), env_id, split, episodes, seed=20_000_000).success_rate
        for split in ("train", "heldout")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="GoTo")
    parser.add_argument("--episodes", type=int, default=600, help="real episodes (judge and model data)")
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--judges", nargs="+", default=["blind", "privileged"])
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--judge-dir", default="runs/experiments/judges")
    parser.add_argument("--no-native", action="store_true", help="skip the native SAC baseline")
    parser.add_argument("--name", default="frozen_judge")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    env_id = f"Groundworld/{args.task}-v0"
    judge_dir = judges_dir(args.task, args.judge_dir)
    data = collect_episodes(env_id, args.episodes, seed=0)  # the judges' training episodes
    real_steps = int(data.length.sum())

    native = None
    if not args.no_native:  # the model-free baseline at the same real steps, on the other core
        run_dir = REPO / "runs" / "experiments" / "frozen_judge" / f"{args.task}-native-{real_steps}"
        proc = None
        if not (run_dir / "checkpoint.pt").exists():  # a finished run of the same budget is reused
            cmd = train_command(env_id, "native", real_steps, run_dir)
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        native = (proc, run_dir)

    t0 = time.time()
    model, history = fit(data.to_replay(), WorldModelConfig())
    model_wall = time.time() - t0
    print(f"world model: {len(history)} epochs, held-out {history[-1]['heldout']:.4f}, {model_wall:.0f} s", flush=True)

    rows, curves = [], {}
    env = agents.evaluation.gym.make(env_id)
    for kind in args.judges:
        judge, _ = load_judge(judge_dir / f"{kind}.pt")
        torch.manual_seed(0)
        policy = BCPolicy(env.observation_space, env.action_space)
        goals = (data.goal_object[:, 0], data.goal_position[:, 0]) if judge.privileged else None
        config = JudgeActorConfig(horizon=args.horizon, updates=args.updates)
        actor = JudgeActor(policy, model, judge, data.first_observations(), config, start_goals=goals)
        t0 = time.time()
        log = actor.train(env_id, on_eval=lambda r, kind=kind: print(kind, r, flush=True))
        row = {"method": f"frozen {kind} judge through the model", "wall_s": round(time.time() - t0 + model_wall)}
        row.update(final_scores(policy, env_id, args.eval_episodes))
        row["judged"] = log[-1]["judged_success"]
        row["worst_gap"] = max(r["goodhart_gap"] for r in log)
        row["flags"] = int(sum(r["goodhart_flag"] for r in log))
        row["imagined"] = log[-1].get("imagined_judgement")
        rows.append(row)
        curves[row["method"]] = [(r["updates"], r["eval_success"], r["judged_success"]) for r in log]

    # the same real data, filtered by the environment and cloned: one round of rejection sampling
    from agents.rejection import clone

    torch.manual_seed(0)
    bc = BCPolicy(env.observation_space, env.action_space)
    t0 = time.time()
    successes = data.subset(np.flatnonzero(data.success)).to_replay()
    clone(bc, successes, 3000, 256, torch.optim.Adam(bc.parameters(), lr=1e-3), np.random.default_rng(0))
    row = {"method": "BC on the data's successful episodes", "wall_s": round(time.time() - t0)}
    row.update(final_scores(bc, env_id, args.eval_episodes))
    row.update(judged=None, worst_gap=None, flags=0, imagined=None)
    rows.append(row)

    if native is not None:
        proc, run_dir = native
        if proc is not None:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"native baseline failed: {err.decode()[-800:]}")
        row = {"method": "native SAC (model-free)", **run_summary(run_dir, env_id, args.eval_episodes)}
        row.update(judged=None, imagined=None)
        rows.append(row)

    lines = []
    for i, (name, pts) in enumerate(curves.items()):
        lines.append((f"{name}: true", i, [(x, true) for x, true, _ in pts], "o-"))
        lines.append((f"{name}: judged", i, [(x, judged) for x, _, judged in pts], "--"))
    plot_curves(RESULTS / f"{args.name}.png", lines, "actor updates (imagination only)")

    table = [
        "| method | train success | held-out success | judged success (last eval) | worst judged-true gap "
        "| Goodhart flags | wall-clock (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        judged = "-" if r["judged"] is None else f"{r['judged']:.2f}"
        table.append(
            f"| {r['method']} | {r['train']:.2f} | {r['heldout']:.2f} | {judged} | {cell(r['worst_gap'], signed=True)} "
            f"| {r['flags']} | {r['wall_s']} |"
        )
    body = [
        f"Every method uses the same {real_steps} real env steps ({args.episodes} mixed-policy {args.task} episodes; "
        f"the native agent collects its own {real_steps}). Frozen-judge actors: {args.updates} updates, horizon "
        f"{args.horizon}, world model fitted in {model_wall:.0f} s ({len(history)} epochs). Success over "
        f"{args.eval_episodes} episodes per split. Command: `python -m bench.experiments.frozen_judge`.",
        "",
        *table,
        "",
        f"![true vs judged success while training]({args.name}.png)",
    ]
    path = write_report(args.name, "Learning through a frozen judge", body, rows, time.time() - start)
    print("\n".join(body))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
