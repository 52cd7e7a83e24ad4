"""Learning benchmarks: train agents side by side at the same env-step budget and compare.

    python -m bench.learning --tasks GoTo Push Reach --algos native sac ppo bc --steps 20000 --workers 2
    python -m bench.learning --tasks GoTo --algos native --steps 60000 --name goto_bar   # the 10-minute bar
    python -m bench.learning --tasks GoTo --algos mbpo --steps 8000 --eval-every 1000 --name mbpo_task \
        --preset mbpo-task                                                                # sample efficiency
    python -m bench.learning --tasks Reach Push --algos task --steps 30000 --eval-episodes 50 --consecutive 2 \
        --workers 1 --seed 1 --name every_task_s1                 # each task's own recipe (issue 15's bar a)

``--algos task`` trains each task's recipe (``agents.presets.TASK_PRESETS``; native SAC where it has none).

Each (task, algo) trains in its own process (``python -m agents.train``) under
``runs/bench/<name>/``; it is then evaluated for ``--episodes`` seeded episodes on the train
and held-out splits. Reported: success with 95% intervals, env steps at which the training
evaluation first reached 90%, and the training wall-clock the run logged. Writes
``bench/results/<name>.md``, ``.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import agents
from bench.report import RESULTS, markdown_table, steps_to, training_wall, write_json

REPO = Path(__file__).resolve().parents[1]


def run_one(task: str, algo: str, args: argparse.Namespace) -> dict:
    env_id = f"Groundworld/{task}-v0"
    run_dir = REPO / "runs" / "bench" / args.name / f"{task}-{algo}"
    cmd = [
        sys.executable,
        "-m",
        "agents.train",
        "--env",
        env_id,
        *(["--algo", algo] if algo != "task" else []),
        "--steps",
        str(args.steps),
        "--run-dir",
        str(run_dir),
        "--seed",
        str(args.seed),
        "--eval-every",
        str(args.eval_every),
        "--eval-episodes",
        str(args.eval_episodes),
        "--checkpoint-every",
        str(args.steps),
        "--no-progress",
    ]
    cmd += (["--preset", args.preset] if args.preset else []) + args.train_args.split()
    start = time.time()
    if not (run_dir / "checkpoint.pt").exists():
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            return {"task": task, "algo": algo, "error": done.stderr[-500:]}
    wall = time.time() - start
    policy, _ = agents.load_policy(run_dir)
    row: dict = {"task": task, "algo": algo, "env steps": args.steps}
    for split in ("train", "heldout"):
        result = agents.evaluate(policy, env_id, split, args.episodes, seed=20_000_000)
        lo, hi = result.ci95
        row[f"{split} success"] = f"{result.success_rate:.2f} [{lo:.2f}, {hi:.2f}]"
        row[f"_{split}"] = result.success_rate
    reached, reached_wall = steps_to(run_dir / "progress.csv", consecutive=args.consecutive)
    row["steps to 90%"] = reached if reached is not None else "not reached"
    row["wall to 90% (s)"] = round(reached_wall) if reached_wall is not None else "-"
    recorded = training_wall(run_dir / "progress.csv")  # a finished run that is reused keeps its own time
    row["wall-clock (s)"] = round(recorded if recorded is not None else wall)
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "error" not in r]
    labels = [f"{r['task']}\n{r['algo']}" for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.8), 3.5), dpi=100)
    ax.bar([i - 0.2 for i in x], [r["_train"] for r in rows], width=0.4, label="train split")
    ax.bar([i + 0.2 for i in x], [r["_heldout"] for r in rows], width=0.4, label="held-out split")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("success")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["GoTo", "Push", "Reach"])
    parser.add_argument("--algos", nargs="+", default=["native", "sac", "ppo", "bc"])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--episodes", type=int, default=100, help="final evaluation episodes per split")
    parser.add_argument("--eval-episodes", type=int, default=30, help="episodes of each evaluation while training")
    parser.add_argument(
        "--consecutive", type=int, default=1, help="training evaluations >= 0.9 in a row that count as reaching 90%%"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel (one core each)")
    parser.add_argument("--name", default="learning")
    parser.add_argument("--preset", default="", help="agents.train --preset for every run (agents/presets.py)")
    parser.add_argument(
        "--train-args", default="", help="extra flags for agents.train, e.g. '--utd 1 --refit-every 2500'"
    )
    args = parser.parse_args(argv)
    jobs = [(t, a) for t in args.tasks for a in args.algos]
    with ThreadPoolExecutor(args.workers) as pool:
        rows = list(pool.map(lambda job: run_one(*job, args), jobs))
    columns = [
        "task",
        "algo",
        "env steps",
        "train success",
        "heldout success",
        "steps to 90%",
        "wall to 90% (s)",
        "wall-clock (s)",
    ]
    good = [r for r in rows if "error" not in r]
    text = markdown_table(good, columns) if good else "(no finished runs)"
    for r in rows:
        if "error" in r:
            text += f"\n\n{r['task']}/{r['algo']} failed: {r['error']}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(text + "\n")
    if good:
        plot(good, RESULTS / f"{args.name}.png")
    print(text)
    print(f"\nwrote {write_json(args.name, rows)} and {RESULTS / (args.name + '.md')}")
    return rows


if __name__ == "__main__":
    main()
