"""Train a privileged and a blind judge on the same episodes and measure their calibration.

    python -m agents.judges --env Groundworld/GoTo-v0 --episodes 600 --run-dir runs/judges-goto

(the command line lives beside the agents, since its episodes may come from a trained agent)
writes into the run folder: ``episodes.npz`` (training data), ``privileged.pt`` and
``blind.pt`` (the judges), ``test-train.npz`` and ``test-heldout.npz`` (fresh episodes on
training and held-out instructions), ``calibration.md`` / ``calibration.json`` (AUROC, Brier
score and ECE at 10/25/50/75% of each episode, both judges, both splits) and
``reliability.png``. From Python::

    result = train_judges("Groundworld/GoTo-v0", episodes=600, run_dir="runs/judges-goto")
    result.judges["privileged"], result.rows
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.errors import check_writable_dir
from world_model.judges.calibration import FRACTIONS, at_fraction, calibration_rows, reliability_diagram
from world_model.judges.episodes import Episodes, collect_episodes
from world_model.judges.judge import Judge, JudgeConfig, judge_probabilities, load_judge, save_judge, train_judge

KINDS = ("privileged", "blind")


@dataclass
class JudgeRun:
    """What :func:`train_judges` produced."""

    judges: dict[str, Judge]
    tests: dict[str, Episodes]
    rows: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


def test_sets(env_id: str, episodes: int, seed: int) -> dict[str, Episodes]:
    """Fresh episodes (unseen seeds) on training and on held-out instructions."""
    return {
        "train": collect_episodes(env_id, episodes, seed=seed + 1, split="train"),
        "heldout": collect_episodes(env_id, episodes, seed=seed + 2, split="heldout"),
    }


def evaluate_judges(judges: dict[str, Judge], tests: dict[str, Episodes]) -> list[dict[str, Any]]:
    """Calibration rows for every judge x split x fraction."""
    rows = []
    for kind, judge in judges.items():
        for split, eps in tests.items():
            probs = judge_probabilities(judge, eps)
            for row in calibration_rows(probs, eps.length, eps.success, FRACTIONS):
                rows.append({"task": eps.env_id.split("/")[-1], "judge": kind, "split": split, **row})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task | split | judge | "
        + " | ".join(f"AUROC@{int(f * 100)}%" for f in FRACTIONS)
        + " | Brier@25% | ECE@25% |",
        "|" + "---|" * (5 + len(FRACTIONS)),
    ]
    keys = sorted({(r["task"], r["split"], r["judge"]) for r in rows}, key=lambda k: (k[0], k[1] != "train", k[2]))
    for task, split, kind in keys:
        mine = {r["fraction"]: r for r in rows if (r["task"], r["split"], r["judge"]) == (task, split, kind)}
        aurocs = " | ".join(f"{mine[f]['auroc']:.3f}" for f in FRACTIONS)
        lines.append(f"| {task} | {split} | {kind} | {aurocs} | {mine[0.25]['brier']:.3f} | {mine[0.25]['ece']:.3f} |")
    return "\n".join(lines)


def train_judges(
    env_id: str,
    episodes: int = 600,
    run_dir: str | Path | None = None,
    seed: int = 0,
    test_episodes: int = 300,
    config: JudgeConfig | None = None,
    data: Episodes | None = None,
    progress: bool = True,
) -> JudgeRun:
    """Collect (or take) episodes, fit both judges, evaluate them; save everything to ``run_dir``."""
    start = time.time()
    run = check_writable_dir(run_dir) if run_dir is not None else None
    base = config or JudgeConfig(seed=seed)
    data = data if data is not None else collect_episodes(env_id, episodes, seed=seed)
    if run is not None:
        data.save(run / "episodes.npz")
    judges = {}
    for kind in KINDS:
        cfg = dataclasses.replace(base, privileged=kind == "privileged")

        def log(row: dict[str, float], kind: str = kind) -> None:
            if progress:
                print(f"{kind:>10} epoch {row['epoch']:3d}  train {row['train']:.4f}  heldout {row['heldout']:.4f}")

        judges[kind], history = train_judge(data, cfg, on_epoch=log)
        if run is not None:
            save_judge(run / f"{kind}.pt", judges[kind], env_id, {"history": history})
    tests = test_sets(env_id, test_episodes, seed + 100)
    result = JudgeRun(judges, tests, evaluate_judges(judges, tests), time.time() - start)
    if run is not None:
        for split, eps in tests.items():
            eps.save(run / f"test-{split}.npz")
        write_report(run, result, env_id)
    return result


def write_report(run: Path, result: JudgeRun, env_id: str) -> None:
    (run / "calibration.json").write_text(json.dumps(result.rows, indent=1))
    text = [
        f"# Judge calibration on {env_id}",
        "",
        f"{len(next(iter(result.tests.values())))} fresh episodes per split; wall-clock {result.wall_s:.0f} s.",
        "",
        markdown(result.rows),
        "",
        "![reliability](reliability.png)",
    ]
    (run / "calibration.md").write_text("\n".join(text) + "\n")
    curves = {}
    for kind, judge in result.judges.items():
        eps = result.tests["train"]
        p = at_fraction(judge_probabilities(judge, eps), eps.length, 0.25)
        curves[kind] = (p, eps.success)
    reliability_diagram(run / "reliability.png", curves, f"{env_id}: at 25% of each episode (train split)")


def load_run(run_dir: str | Path) -> tuple[dict[str, Judge], dict[str, Episodes], str]:
    """The judges and test episodes saved by :func:`train_judges` in ``run_dir``."""
    run = Path(run_dir)
    judges = {}
    env_id = ""
    for kind in KINDS:
        judges[kind], env_id = load_judge(run / f"{kind}.pt")
    tests = {split: Episodes.load(run / f"test-{split}.npz") for split in ("train", "heldout")}
    return judges, tests, env_id
