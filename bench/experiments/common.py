"""Shared helpers of the judge experiments (reports and run logs: :mod:`bench.report`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.report import RESULTS, read_progress, steps_to, training_wall, write_report  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def train_command(
    env_id: str, algo: str, steps: int, run_dir: Path, seed: int = 0, eval_every: int = 2_500, flags: Sequence[str] = ()
) -> list[str]:
    """``python -m agents.train`` for an experiment run (30 evaluation episodes, one checkpoint, no bar)."""
    cmd = [sys.executable, "-m", "agents.train", "--env", env_id, "--algo", algo, "--steps", str(steps)]
    cmd += ["--seed", str(seed), "--run-dir", str(run_dir), "--eval-every", str(eval_every)]
    return [*cmd, "--eval-episodes", "30", "--checkpoint-every", str(steps), "--no-progress", *flags]


def train_once(cmd: list[str], run_dir: Path) -> None:
    """Run ``cmd`` unless ``run_dir`` already holds a finished run (experiments reuse finished runs)."""
    if (run_dir / "checkpoint.pt").exists():
        return
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:6])} failed: {done.stderr[-800:]}")


def run_summary(run_dir: Path, env_id: str, episodes: int) -> dict:
    """A finished run: final success per split, steps to 50%/90%, training wall-clock, the evaluation
    curve and, for runs trained against a judge, the worst judged-minus-true gap and the flags."""
    import agents

    policy, _ = agents.load_policy(run_dir)
    progress = read_progress(run_dir / "progress.csv")
    gaps = [float(r["goodhart_gap"]) for r in progress if r.get("goodhart_gap") not in (None, "")]
    row = {
        split: agents.evaluate(policy, env_id, split, episodes, seed=20_000_000).success_rate
        for split in ("train", "heldout")
    }
    wall = training_wall(run_dir / "progress.csv")
    row.update(
        steps_to_50=steps_to(run_dir / "progress.csv", 0.5)[0],
        steps_to_90=steps_to(run_dir / "progress.csv", 0.9)[0],
        wall_s=round(wall) if wall is not None else None,
        worst_gap=max(gaps) if gaps else None,
        flags=int(sum(float(r["goodhart_flag"]) for r in progress if r.get("goodhart_flag") not in (None, ""))),
        curve=[(int(r["step"]), float(r["eval_success"])) for r in progress if r.get("eval_success") not in (None, "")],
    )
    return row


def judges_dir(task: str, root: str | Path) -> Path:
    """The folder with ``task``'s privileged and blind judges (from the calibration experiment),
    training them there first if they are missing."""
    path = REPO / root / task
    if not (path / "blind.pt").exists() or not (path / "privileged.pt").exists():
        from world_model.judges.pipeline import train_judges

        train_judges(f"Groundworld/{task}-v0", 600, path, progress=False)
    return path


def judge_training_steps(path: Path) -> int:
    """Real env steps in the episodes the judges in ``path`` were trained on."""
    with np.load(path / "episodes.npz", allow_pickle=False) as archive:
        return int(archive["length"].sum())


def plot_curves(path: Path, lines: list[tuple[str | None, int, list[tuple[float, float]], str]], xlabel: str) -> None:
    """Success curves: each line is (label or None, colour index, (x, y) points, line style)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, color, points, style in lines:
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, style, color=f"C{color}", ms=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("success (train split)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
