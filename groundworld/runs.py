"""Run folders: one writer at a time, a CSV log that survives kills, TensorBoard, a progress bar, the curve.

:class:`RunLock` makes a second process that opens a busy run folder fail at once, naming the
holder (host, PID, start time); a lock left by a process that died is detected and taken over.
:class:`CsvLog` is the one writer of run logs (``progress.csv`` of training, ``metrics.csv`` of a
world-model fit, the rounds of rejection sampling): each row is written atomically, and a resumed
run first drops the rows logged after its checkpoint, so a kill and a resume never duplicate rows.
:class:`RunLogger` drives ``progress.csv``, TensorBoard, the progress bar and ``learning_curve.png``
for the agents; its episode count and wall clock continue across resumes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envs.errors import UsageError, check_writable_dir
from envs.files import atomic_path

LOCK_NAME = ".lock"


class RunBusy(UsageError):
    """Another live process is writing to the run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


class RunLock:
    """An exclusive claim on a run folder: the file ``.lock`` holding the holder's host, PID and start."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        """The recorded holder, or None when the folder is free (an unreadable lock counts as free)."""
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def acquire(self) -> RunLock:
        check_writable_dir(self.path.parent)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is not None and holder.get("pid") == me["pid"] and holder.get("host") == me["host"]:
                    break  # this process already holds it (a second trainer in the same process is the caller's bug)
                if holder is not None and (holder.get("host") != me["host"] or _alive(int(holder.get("pid", -1)))):
                    raise RunBusy(
                        f"run folder {str(self.path.parent)!r} is in use by PID {holder.get('pid')} on "
                        f"{holder.get('host')} since {holder.get('since')}; wait for it to finish, or pick another "
                        f"--run-dir (if that process is gone, delete {self.path})"
                    ) from None
                self.path.unlink(missing_ok=True)  # a stale lock: its process died
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            break
        self.held = True
        return self

    def release(self) -> None:
        if self.held:
            holder = self.holder()
            if holder is None or holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class CsvLog:
    """Rows of a run log, each one written atomically; new columns may appear in later rows.

    ``keep`` filters the rows already in the file (a resumed run keeps those up to its checkpoint)."""

    def __init__(self, path: str | os.PathLike, keep: Callable[[dict[str, str]], bool] | None = None):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if keep is None or keep(row)]
            if keep is not None:
                self._write()

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        columns = list(dict.fromkeys(key for r in self.rows for key in r))
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)


def up_to_step(step: int) -> Callable[[dict[str, str]], bool]:
    """A :class:`CsvLog` filter keeping rows logged at or before ``step`` (what a checkpoint at ``step`` saw)."""

    def keep(row: dict[str, str]) -> bool:
        try:
            return int(float(row["step"])) <= step
        except (KeyError, ValueError):
            return False

    return keep


class RunLogger:
    """``progress.csv``, TensorBoard scalars, the progress bar and the learning curve of a training run.

    ``episodes`` and ``wall`` (seconds of training so far) continue from a checkpoint's values on resume."""

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int = 0,
        progress: bool = True,
        episodes: int = 0,
        wall: float = 0.0,
    ):
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self.run_dir = run_dir
        self.csv = CsvLog(run_dir / "progress.csv", keep=up_to_step(start_step))
        self.writer = SummaryWriter(str(run_dir / "tb"))
        self.bar = tqdm(total=total_steps, initial=start_step, disable=not progress, unit="step", dynamic_ncols=True)
        self.recent: deque[float] = deque(maxlen=100)
        self.last_eval: float | None = None
        self.judged: float | None = None
        self.goodhart_flag = False
        self.episodes = episodes
        self._wall_offset, self._start = wall, time.time()

    @property
    def wall(self) -> float:
        """Seconds of training, this segment and every earlier one."""
        return self._wall_offset + time.time() - self._start

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

    def log(self, step: int, eval_success: float | None, extra: dict[str, float]) -> None:
        if eval_success is not None:
            self.last_eval = eval_success
        if "judged_success" in extra:  # a Goodhart monitor's reading (see world_model.judges.goodhart)
            self.judged, self.goodhart_flag = extra["judged_success"], bool(extra.get("goodhart_flag"))
        row: dict[str, Any] = {
            "step": step,
            "wall_s": round(self.wall, 2),
            "episodes": self.episodes,
            "train_success": self.train_success,
            "eval_success": eval_success,
            **extra,
        }
        for key, value in row.items():
            if key != "step" and isinstance(value, float) and not math.isnan(value):
                self.writer.add_scalar(f"log/{key}", value, step)
        self.csv.append(row)
        self.writer.flush()
        self.plot()

    def plot(self) -> Path | None:
        return plot_learning_curve(self.csv.path, self.run_dir / "learning_curve.png")

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
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return png_path
