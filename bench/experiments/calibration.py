"""Can a judge read success from an unfinished episode, and what does knowing the answer add?

Trains a privileged and a blind judge per task on the same episodes (a mix of oracle, noisy,
decoy, lazy and random policies) and scores both on fresh episodes of the training and
held-out instructions after 10/25/50/75% of each episode.

    python -m bench.experiments.calibration                      # every task, ~15 min on 2 cores
    python -m bench.experiments.calibration --tasks GoTo --episodes 300
"""

from __future__ import annotations

import argparse
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.experiments.common import RESULTS, write_report
from world_model.judges.calibration import FRACTIONS

TASKS = ("GoTo", "Push", "Reach", "Relation", "Sequence", "KnockOff")


def run_task(task: str, episodes: int, test_episodes: int, seed: int, run_root: str) -> list[dict]:
    import torch

    from world_model.judges.pipeline import train_judges

    torch.set_num_threads(1)
    result = train_judges(
        f"Groundworld/{task}-v0", episodes, Path(run_root) / task, seed, test_episodes, progress=False
    )
    return [{**row, "wall_s": result.wall_s} for row in result.rows]


def gap_table(rows: list[dict]) -> list[str]:
    """Blind minus privileged AUROC at 25%, per task and split."""
    lines = ["| task | split | privileged AUROC@25% | blind AUROC@25% | blind - privileged |", "|---|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        for split in ("train", "heldout"):
            pick = {
                r["judge"]: r["auroc"]
                for r in rows
                if r["task"] == task and r["split"] == split and r["fraction"] == 0.25
            }
            gap = pick["blind"] - pick["privileged"]
            lines.append(f"| {task} | {split} | {pick['privileged']:.3f} | {pick['blind']:.3f} | {gap:+.3f} |")
    return lines


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.6 * len(tasks), 2.8), sharey=True, squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for kind, style in (("privileged", "-"), ("blind", "--")):
            for split, color in (("train", "C0"), ("heldout", "C1")):
                ys = [
                    next(r["auroc"] for r in rows if (r["task"], r["judge"], r["split"], r["fraction"]) == key)
                    for key in ((task, kind, split, f) for f in FRACTIONS)
                ]
                ax.plot([100 * f for f in FRACTIONS], ys, style, color=color, marker="o", ms=3, label=f"{kind} {split}")
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("% of episode seen")
        ax.set_ylim(0.4, 1.01)
    axes[0][0].set_ylabel("AUROC")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from world_model.judges.pipeline import markdown

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--test-episodes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--run-root", default="runs/experiments/judges")
    parser.add_argument("--name", default="calibration")
    args = parser.parse_args(argv)
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [
            pool.submit(run_task, t, args.episodes, args.test_episodes, args.seed, args.run_root) for t in args.tasks
        ]
        rows = [row for f in futures for row in f.result()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / f"{args.name}.png")
    for task in args.tasks:  # each task's reliability diagram (at 25% of each episode, train split)
        shutil.copy(Path(args.run_root) / task / "reliability.png", RESULTS / f"{args.name}_reliability_{task}.png")
    walls = {r["task"]: r["wall_s"] for r in rows}
    body = [
        f"Judges trained on {args.episodes} episodes per task (policy mix: oracle, noisy, decoy, lazy, random);",
        f"scored on {args.test_episodes} fresh episodes per split. Command: "
        f"`python -m bench.experiments.calibration --tasks {' '.join(args.tasks)} --episodes {args.episodes}`.",
        "",
        markdown(rows),
        "",
        "## Blind judge's gap to the privileged judge",
        "",
        *gap_table(rows),
        "",
        "Per-task wall-clock (collect, train both judges, evaluate): "
        + ", ".join(f"{t} {w:.0f} s" for t, w in walls.items())
        + ".",
        "",
        f"![AUROC by fraction seen]({args.name}.png)",
        "",
        "Reliability diagrams at 25% of each episode: "
        + ", ".join(f"[{t}]({args.name}_reliability_{t}.png)" for t in args.tasks)
        + ".",
    ]
    path = write_report(args.name, "Judge calibration: privileged vs blind", body, rows, time.time() - start)
    print("\n".join(body))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
