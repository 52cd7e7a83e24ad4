"""Run folder logging: CSV, TensorBoard, a progress bar and a learning-curve PNG."""

from __future__ import annotations

import csv
import math
import os
from collections import deque
from pathlib import Path
from typing import Any


class RunLogger:
    """Writes ``progress.csv`` and TensorBoard scalars, drives the progress bar, draws the curve."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int = 0, progress: bool = True):
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self.run_dir = run_dir
        self.csv_path = run_dir / "progress.csv"
        self.rows: list[dict[str, Any]] = []
        if self.csv_path.exists():  # a resumed run keeps its earlier rows
            with open(self.csv_path) as f:
                self.rows = list(csv.DictReader(f))
        self.writer = SummaryWriter(str(run_dir / "tb"))
        self.bar = tqdm(total=total_steps, initial=start_step, disable=not progress, unit="step", dynamic_ncols=True)
        self.recent: deque[float] = deque(maxlen=100)
        self.last_eval: float | None = None
        self.judged: float | None = None
        self.goodhart_flag = False
        self.episodes = 0

    def episode(self, success: bool, step: int) -> None:
        self.recent.append(float(success))
        self.episodes += 1
        self.writer.add_scalar("train/success", float(success), step)

    def advance(self, n: int) -> None:
        self.bar.update(n)
        postfix = {"success": f"{self.train_success:.2f}" if not math.isnan(self.train_success) else "-"}
        if self.last_eval is not None:
            postfix["eval"] = f"{self.last_eval:.2f}"
        if self.judged is not None:
            postfix["judged"] = f"{self.judged:.2f}" + (" GOODHART-GAP" if self.goodhart_flag else "")
        self.bar.set_postfix(postfix, refresh=False)

    @property
    def train_success(self) -> float:
        return sum(self.recent) / len(self.recent) if self.recent else float("nan")

    def log(self, step: int, wall: float, eval_success: float | None, extra: dict[str, float]) -> None:
        if eval_success is not None:
            self.last_eval = eval_success
        if "judged_success" in extra:  # a Goodhart monitor's reading (see world_model.goodhart)
            self.judged, self.goodhart_flag = extra["judged_success"], bool(extra.get("goodhart_flag"))
        row: dict[str, Any] = {
            "step": step,
            "wall_s": round(wall, 2),
            "episodes": self.episodes,
            "train_success": self.train_success,
            "eval_success": eval_success,
            **extra,
        }
        for key, value in row.items():
            if key != "step" and isinstance(value, float) and not math.isnan(value):
                self.writer.add_scalar(f"log/{key}", value, step)
        self.rows.append(row)
        columns = list(dict.fromkeys(key for r in self.rows for key in r))  # new columns may appear later
        tmp = self.csv_path.with_name(self.csv_path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.csv_path)
        self.writer.flush()
        self.plot()

    def plot(self) -> Path | None:
        return plot_learning_curve(self.csv_path, self.run_dir / "learning_curve.png")

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


def plot_learning_curve(csv_path: Path, png_path: Path) -> Path | None:
    """Training and evaluation success against environment steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not csv_path.exists():
        return None
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "", "nan")]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for key, label in (("train_success", "train (last 100 episodes)"), ("eval_success", "evaluation")):
        xs, ys = series(key)
        if xs:
            ax.plot(xs, ys, marker="o" if key == "eval_success" else None, label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = png_path.with_name(png_path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)
    return png_path
