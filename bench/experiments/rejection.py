"""How does rejection-sampled fine-tuning (expert iteration) compare with RL, and does a judge
make a good filter?

Expert iteration on GoTo from a random policy, keeping the episodes the environment verifies
(``env``) or that the blind or privileged judge accepts (final P >= 0.5), against the
native SAC agent, SB3 SAC and SB3 PPO at the same real env-step budget. Judge-filtered runs
log the judge's estimate beside true success (Goodhart monitor) and the precision of their
filter (how many accepted episodes truly succeeded).

    python -m bench.experiments.rejection                   # ~15 min on 2 cores
    python -m bench.experiments.rejection --baselines ppo   # fewer baselines

Needs the judges of ``python -m bench.experiments.calibration`` (trains them if absent); the
judges' own training episodes are extra real steps, reported beside the table.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import agents
from bench.experiments.common import (
    REPO,
    RESULTS,
    judge_training_steps,
    judges_dir,
    plot_curves,
    run_summary,
    train_command,
    train_once,
    write_report,
)
from bench.report import cell


def expert_iteration_run(filter_name: str, judge: str, args: argparse.Namespace) -> dict:
    import torch

    from agents.policies import TorchPolicy
    from agents.rejection import RejectionConfig, expert_iteration

    torch.set_num_threads(1)
    config = RejectionConfig(
        env=f"Groundworld/{args.task}-v0",
        steps=args.steps,
        filter="judge" if judge else "env",
        judge=judge,
        seed=args.seed,
        eval_episodes=30,
    )
    start = time.time()
    policy, history = expert_iteration(config)
    wall = time.time() - start
    row = {"method": f"rejection sampling ({filter_name})", "wall_s": round(wall)}
    for split in ("train", "heldout"):
        result = agents.evaluate(TorchPolicy(policy), config.env, split, args.episodes, seed=20_000_000)
        row[split] = result.success_rate
    accepted = sum(r["accepted"] for r in history)
    row["accepted"] = accepted
    precision = [r["accepted_precision"] * r["accepted"] for r in history if r["accepted"]]
    row["precision"] = sum(precision) / accepted if accepted else float("nan")
    row["worst_gap"] = max((r["goodhart_gap"] for r in history if "goodhart_gap" in r), default=None)
    row["flags"] = sum(r.get("goodhart_flag", 0.0) for r in history)
    row["steps_to_50"] = next((r["steps"] for r in history if r["eval_success"] >= 0.5), None)
    row["steps_to_90"] = next((r["steps"] for r in history if r["eval_success"] >= 0.9), None)
    row["curve"] = [(r["steps"], r["eval_success"]) for r in history]
    return row


def rl_run(algo: str, args: argparse.Namespace) -> dict:
    env_id = f"Groundworld/{args.task}-v0"
    run_dir = REPO / "runs" / "experiments" / "rejection" / f"{args.task}-{algo}-s{args.seed}"
    train_once(train_command(env_id, algo, args.steps, run_dir, args.seed), run_dir)
    names = {"native": "native SAC (ours)", "sac": "SB3 SAC", "ppo": "SB3 PPO"}
    return {"method": names[algo], "accepted": None, "precision": None, **run_summary(run_dir, env_id, args.episodes)}


def run_job(job: tuple[str, str, str], args: argparse.Namespace) -> dict:
    kind, name, judge = job
    return expert_iteration_run(name, judge, args) if kind == "filter" else rl_run(name, args)


def plot(rows: list[dict], path: Path) -> None:
    plot_curves(path, [(r["method"], i, r["curve"], "o-") for i, r in enumerate(rows)], "real env steps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="GoTo")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baselines", nargs="*", default=["native", "sac", "ppo"])
    parser.add_argument("--filters", nargs="*", default=["env", "blind", "privileged"])
    parser.add_argument("--judge-dir", default="runs/experiments/judges")
    parser.add_argument("--name", default="rejection")
    args = parser.parse_args(argv)
    judge_dir = judges_dir(args.task, args.judge_dir)
    judge_steps = judge_training_steps(judge_dir)
    start = time.time()
    jobs = [("filter", f, "" if f == "env" else str(judge_dir / f"{f}.pt")) for f in args.filters]
    jobs += [("rl", a, "") for a in args.baselines]
    with ProcessPoolExecutor(args.workers) as pool:  # processes: each run has a core and its own GIL
        rows = list(pool.map(run_job, jobs, [args] * len(jobs)))
    plot(rows, RESULTS / f"{args.name}.png")

    table = [
        "| method | train success | held-out success | steps to 50% | steps to 90% | episodes kept "
        "| filter precision | worst judged-true gap | wall-clock (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['method']} | {r['train']:.2f} | {r['heldout']:.2f} | {cell(r['steps_to_50'])} "
            f"| {cell(r['steps_to_90'])} | {cell(r['accepted'])} | {cell(r['precision'])} "
            f"| {cell(r['worst_gap'])} | {r['wall_s']} |"
        )
    body = [
        f"{args.task}, {args.steps} real env steps per method (seed {args.seed}); success over {args.episodes} "
        f"episodes per split. Command: `python -m bench.experiments.rejection --steps {args.steps}`.",
        "",
        *table,
        "",
        f"The judges were trained on {judge_steps} further real env steps (600 mixed-policy episodes); "
        "count them when comparing judge-filtered runs with the others.",
        "",
        f"![learning curves]({args.name}.png)",
    ]
    path = write_report(args.name, "Rejection sampling (expert iteration) vs RL", body, rows, time.time() - start)
    print("\n".join(body))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
