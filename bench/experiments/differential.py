"""What does the judge that knows the answer see that the blind one misses, and can the blind one learn it?

For each task: the differential report (|P_privileged - P_blind| by behaviour policy, named
object, split and phase; videos of the most disputed episodes with both judges' curves), then
the signal put to use: a blind judge distilled from the privileged one (its per-step
probabilities mixed into the targets, weight ``--distill``) against a blind judge trained on
labels alone, same episodes and seeds, scored on fresh episodes.

    python -m bench.experiments.differential                 # GoTo and Push, ~10 min on 2 cores
    (uses the judges of python -m bench.experiments.calibration when present, else trains them)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.experiments.common import RESULTS, judges_dir, write_report
from world_model.judges.calibration import at_fraction, auroc, brier
from world_model.judges.differential import report
from world_model.judges.episodes import collect_episodes
from world_model.judges.judge import JudgeConfig, judge_probabilities, load_judge, train_judge
from world_model.judges.pipeline import test_sets


def judges_for(task: str, run_root: str) -> dict:
    run = judges_dir(task, run_root)
    return {kind: load_judge(run / f"{kind}.pt")[0] for kind in ("privileged", "blind")}


def scores(judge, tests) -> dict:
    out = {}
    for split, eps in tests.items():
        probs = judge_probabilities(judge, eps)
        for f in (0.1, 0.25):
            p = at_fraction(probs, eps.length, f)
            out[f"{split}_auroc{int(f * 100)}"] = auroc(p, eps.success)
        out[f"{split}_brier25"] = brier(at_fraction(probs, eps.length, 0.25), eps.success)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["GoTo", "Push"])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--test-episodes", type=int, default=300)
    parser.add_argument("--distill", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--run-root", default="runs/experiments/judges")
    parser.add_argument("--name", default="differential")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    rows, body = [], []
    for task in args.tasks:
        env_id = f"Groundworld/{task}-v0"
        judges = judges_for(task, args.run_root)
        tests = test_sets(env_id, args.test_episodes, 100)  # the calibration experiment's test seeds
        out = RESULTS / f"{args.name}_{task}"
        result = report(judges, tests, out, args.videos)
        body += [f"## {task}", "", *(Path(out) / "differential.md").read_text().splitlines()[4:], ""]
        data = collect_episodes(env_id, args.episodes, seed=0)  # the judges' training episodes
        teacher = judge_probabilities(judges["privileged"], data)
        for seed in args.seeds:
            for distill in (0.0, args.distill):
                config = JudgeConfig(seed=seed, distill=distill)
                blind, _ = train_judge(data, config, teacher=teacher if distill else None)
                rows.append({"task": task, "seed": seed, "distill": distill, **scores(blind, tests)})
                print(rows[-1], flush=True)
        rows.append({"task": task, "seed": "-", "distill": "privileged", **scores(judges["privileged"], tests)})
        del result
    cols = [k for k in rows[0] if k not in ("task", "seed", "distill")]
    table = ["| task | blind judge | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for task in args.tasks:
        for distill in (0.0, args.distill, "privileged"):
            mine = [r for r in rows if r["task"] == task and r["distill"] == distill]
            label = {0.0: "labels only", "privileged": "(privileged judge, for reference)"}.get(
                distill, f"distilled from privileged ({distill})"
            )
            means = " | ".join(f"{np.mean([r[c] for r in mine]):.3f}" for c in cols)
            table.append(f"| {task} | {label} | {means} |")
    body = [
        "Command: `python -m bench.experiments.differential --tasks "
        + " ".join(args.tasks)
        + f" --distill {args.distill}`. Blind judges: mean over seeds {args.seeds}.",
        "",
        "## Using the signal: a blind judge distilled from the privileged one",
        "",
        *table,
        "",
        *body,
    ]
    path = write_report(args.name, "The differential signal", body, rows, time.time() - start)
    print("\n".join(table))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
