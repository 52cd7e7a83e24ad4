"""Do judge-shaped rewards speed up learning from a sparse reward, and do they get gamed?

The native agent learns GoTo from the sparse reward (1 on success) alone, and with the
potential-based term ``gamma * P(h') - P(h)`` of the blind or the privileged judge (which
leaves the optimal policy unchanged), at the same env-step budget and seed. The dense
hand-written reward is the reference. Each judge-shaped run logs the judge's estimate beside
the true success at every evaluation (the Goodhart monitor).

    python -m bench.experiments.shaping                     # ~15 min on 2 cores
    python -m bench.experiments.shaping --steps 30000 --seeds 0 1

Needs the judges of ``python -m bench.experiments.calibration`` (trains them if absent).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import agents
from bench.experiments.common import RESULTS, write_report
from bench.learning import steps_to

REPO = Path(__file__).resolve().parents[2]


def variants(judge_dir: Path) -> dict[str, list[str]]:
    return {
        "sparse": ["--reward-mode", "sparse"],
        "sparse + blind judge": ["--reward-mode", "sparse", "--judge", str(judge_dir / "blind.pt")],
        "sparse + privileged judge": ["--reward-mode", "sparse", "--judge", str(judge_dir / "privileged.pt")],
        "dense (hand-written)": ["--reward-mode", "dense"],
    }


def read_progress(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def training_wall(run_dir: Path, measured: float) -> float:
    """Training wall-clock from the run's log (also when the run was trained earlier and is reused)."""
    rows = read_progress(run_dir / "progress.csv")
    return float(rows[-1]["wall_s"]) if rows else measured


def run(name: str, flags: list[str], task: str, seed: int, args: argparse.Namespace) -> dict:
    env_id = f"Groundworld/{task}-v0"
    slug = name.replace(" ", "").replace("+", "_").replace("(", "").replace(")", "").replace("-", "")
    run_dir = REPO / "runs" / "experiments" / "shaping" / f"{task}-{slug}-s{seed}"
    cmd = [sys.executable, "-m", "agents.train", "--env", env_id, "--algo", "native", "--steps", str(args.steps)]
    cmd += ["--seed", str(seed), "--run-dir", str(run_dir), "--eval-every", str(args.eval_every)]
    cmd += ["--eval-episodes", "30", "--checkpoint-every", str(args.steps), "--no-progress", *flags]
    start = time.time()
    if not (run_dir / "checkpoint.pt").exists():
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed: {done.stderr[-800:]}")
    wall = training_wall(run_dir, time.time() - start)
    policy, _ = agents.load_policy(run_dir)
    row = {"variant": name, "seed": seed, "wall_s": round(wall)}
    for split in ("train", "heldout"):
        row[split] = agents.evaluate(policy, env_id, split, args.episodes, seed=20_000_000).success_rate
    for level in (0.5, 0.9):
        reached, _ = steps_to(run_dir / "progress.csv", level)
        row[f"steps_to_{int(level * 100)}"] = reached
    progress = read_progress(run_dir / "progress.csv")
    gaps = [float(r["goodhart_gap"]) for r in progress if r.get("goodhart_gap") not in (None, "")]
    row["worst_gap"] = max(gaps) if gaps else None
    row["flags"] = sum(float(r["goodhart_flag"]) for r in progress if r.get("goodhart_flag") not in (None, ""))
    row["curve"] = [
        (int(r["step"]), float(r["eval_success"])) for r in progress if r.get("eval_success") not in (None, "")
    ]
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, name in enumerate(dict.fromkeys(r["variant"] for r in rows)):
        for j, r in enumerate(r for r in rows if r["variant"] == name):
            xs, ys = zip(*r["curve"], strict=True) if r["curve"] else ((), ())
            ax.plot(xs, ys, color=f"C{i}", alpha=0.9, label=name if j == 0 else None)
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
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--judge-dir", default="runs/experiments/judges")
    parser.add_argument("--variants", nargs="+", default=None, help="subset of the variant names")
    parser.add_argument("--name", default="shaping")
    args = parser.parse_args(argv)
    judge_dir = REPO / args.judge_dir / args.task
    if not (judge_dir / "blind.pt").exists():
        from world_model.judges import train_judges

        train_judges(f"Groundworld/{args.task}-v0", 600, judge_dir, progress=False)
    chosen = {k: v for k, v in variants(judge_dir).items() if args.variants is None or k in args.variants}
    start = time.time()
    jobs = [(name, flags, seed) for seed in args.seeds for name, flags in chosen.items()]
    with ThreadPoolExecutor(args.workers) as pool:
        rows = list(pool.map(lambda job: run(job[0], job[1], args.task, job[2], args), jobs))
    plot(rows, RESULTS / f"{args.name}.png")

    def cell(v) -> str:
        return "not reached" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))

    table = [
        "| reward | seed | train success | held-out success | steps to 50% | steps to 90% | worst judged-true gap "
        "| Goodhart flags | wall-clock (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = "-" if r["worst_gap"] is None else f"{r['worst_gap']:+.2f}"
        table.append(
            f"| {r['variant']} | {r['seed']} | {r['train']:.2f} | {r['heldout']:.2f} | {cell(r['steps_to_50'])} "
            f"| {cell(r['steps_to_90'])} | {gap} | {int(r['flags'])} | {r['wall_s']} |"
        )
    body = [
        f"Native agent on {args.task}, {args.steps} real env steps per run, evaluation every {args.eval_every} "
        f"steps (30 episodes); final success over {args.episodes} episodes per split. Command: "
        f"`python -m bench.experiments.shaping --steps {args.steps} --seeds {' '.join(map(str, args.seeds))}`.",
        "",
        *table,
        "",
        f"![learning curves]({args.name}.png)",
    ]
    path = write_report(args.name, "Judge-shaped rewards", body, rows, time.time() - start)
    print("\n".join(body))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
