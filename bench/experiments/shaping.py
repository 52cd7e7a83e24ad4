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
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.experiments.common import (
    REPO,
    RESULTS,
    judges_dir,
    plot_curves,
    run_summary,
    train_command,
    train_once,
    write_report,
)
from bench.report import cell


def variants(judge_dir: Path) -> dict[str, list[str]]:
    return {
        "sparse": ["--reward-mode", "sparse"],
        "sparse + blind judge": ["--reward-mode", "sparse", "--judge", str(judge_dir / "blind.pt")],
        "sparse + privileged judge": ["--reward-mode", "sparse", "--judge", str(judge_dir / "privileged.pt")],
        "dense (hand-written)": ["--reward-mode", "dense"],
    }


def run(name: str, flags: list[str], task: str, seed: int, args: argparse.Namespace) -> dict:
    env_id = f"Groundworld/{task}-v0"
    slug = name.replace(" ", "").replace("+", "_").replace("(", "").replace(")", "").replace("-", "")
    run_dir = REPO / "runs" / "experiments" / "shaping" / f"{task}-{slug}-s{seed}"
    train_once(train_command(env_id, "native", args.steps, run_dir, seed, args.eval_every, flags), run_dir)
    return {"variant": name, "seed": seed, **run_summary(run_dir, env_id, args.episodes)}


def plot(rows: list[dict], path: Path) -> None:
    """One colour per variant (its seeds share it)."""
    names = list(dict.fromkeys(r["variant"] for r in rows))
    seen: set[str] = set()
    lines = []
    for r in rows:
        lines.append((None if r["variant"] in seen else r["variant"], names.index(r["variant"]), r["curve"], "-"))
        seen.add(r["variant"])
    plot_curves(path, lines, "real env steps")


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
    judge_dir = judges_dir(args.task, args.judge_dir)
    chosen = {k: v for k, v in variants(judge_dir).items() if args.variants is None or k in args.variants}
    start = time.time()
    jobs = [(name, flags, seed) for seed in args.seeds for name, flags in chosen.items()]
    with ThreadPoolExecutor(args.workers) as pool:
        rows = list(pool.map(lambda job: run(job[0], job[1], args.task, job[2], args), jobs))
    plot(rows, RESULTS / f"{args.name}.png")

    table = [
        "| reward | seed | train success | held-out success | steps to 50% | steps to 90% | worst judged-true gap "
        "| Goodhart flags | wall-clock (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = "-" if r["worst_gap"] is None else f"{r['worst_gap']:+.2f}"
        table.append(
            f"| {r['variant']} | {r['seed']} | {r['train']:.2f} | {r['heldout']:.2f} "
            f"| {cell(r['steps_to_50'], missing='not reached')} | {cell(r['steps_to_90'], missing='not reached')} "
            f"| {gap} | {int(r['flags'])} | {r['wall_s']} |"
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
