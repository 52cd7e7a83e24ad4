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
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import agents
from bench.experiments.common import RESULTS, write_report
from bench.experiments.shaping import read_progress, training_wall
from bench.learning import steps_to

REPO = Path(__file__).resolve().parents[2]


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
    cmd = [sys.executable, "-m", "agents.train", "--env", env_id, "--algo", algo, "--steps", str(args.steps)]
    cmd += ["--seed", str(args.seed), "--run-dir", str(run_dir), "--eval-every", "2500", "--eval-episodes", "30"]
    cmd += ["--checkpoint-every", str(args.steps), "--no-progress"]
    start = time.time()
    if not (run_dir / "checkpoint.pt").exists():
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{algo} failed: {done.stderr[-800:]}")
    wall = training_wall(run_dir, time.time() - start)
    policy, _ = agents.load_policy(run_dir)
    names = {"native": "native SAC (ours)", "sac": "SB3 SAC", "ppo": "SB3 PPO"}
    row = {"method": names[algo], "wall_s": round(wall), "accepted": None, "precision": None, "worst_gap": None}
    row["flags"] = 0
    for split in ("train", "heldout"):
        row[split] = agents.evaluate(policy, env_id, split, args.episodes, seed=20_000_000).success_rate
    row["steps_to_50"] = steps_to(run_dir / "progress.csv", 0.5)[0]
    row["steps_to_90"] = steps_to(run_dir / "progress.csv", 0.9)[0]
    row["curve"] = [
        (int(r["step"]), float(r["eval_success"]))
        for r in read_progress(run_dir / "progress.csv")
        if r.get("eval_success") not in (None, "")
    ]
    return row


def run_job(job: tuple[str, str, str], args: argparse.Namespace) -> dict:
    kind, name, judge = job
    return expert_iteration_run(name, judge, args) if kind == "filter" else rl_run(name, args)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, r in enumerate(rows):
        if r["curve"]:
            xs, ys = zip(*r["curve"], strict=True)
            ax.plot(xs, ys, color=f"C{i}", marker="o", ms=2, label=r["method"])
    ax.set_xlabel("real env steps")
    ax.set_ylabel("evaluation success (train split)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    judge_dir = REPO / args.judge_dir / args.task
    if not (judge_dir / "blind.pt").exists():
        from world_model.judges import train_judges

        train_judges(f"Groundworld/{args.task}-v0", 600, judge_dir, progress=False)
    judge_steps = None
    if (judge_dir / "calibration.json").exists():
        from world_model.episodes import collect_episodes

        judge_steps = int(collect_episodes(f"Groundworld/{args.task}-v0", 600, seed=0).length.sum())
    start = time.time()
    jobs = [("filter", f, "" if f == "env" else str(judge_dir / f"{f}.pt")) for f in args.filters]
    jobs += [("rl", a, "") for a in args.baselines]
    with ProcessPoolExecutor(args.workers) as pool:  # processes: each run has a core and its own GIL
        rows = list(pool.map(run_job, jobs, [args] * len(jobs)))
    plot(rows, RESULTS / f"{args.name}.png")

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        return f"{v:.2f}" if isinstance(v, float) else str(v)

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
        (
            f"The judges were trained on {judge_steps} further real env steps (600 mixed-policy episodes); "
            "count them when comparing judge-filtered runs with the others."
            if judge_steps
            else ""
        ),
        "",
        f"![learning curves]({args.name}.png)",
    ]
    path = write_report(args.name, "Rejection sampling (expert iteration) vs RL", body, rows, time.time() - start)
    print("\n".join(body))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
