"""The one report helper of the benchmarks: the results folder, markdown tables, JSON and run logs.

Every benchmark and experiment writes ``bench/results/<name>.md`` (a title, the machine, the
wall-clock and its tables) and ``bench/results/<name>.json`` (its rows); ``docs/results.md``
cites the reports that hold a current figure.
"""

from __future__ import annotations

import csv
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cell(value: Any, signed: bool = False, missing: str = "-") -> str:
    """A table cell: floats to 2 decimals (with a sign if ``signed``), None or NaN as ``missing``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, float):
        return f"{value:+.2f}" if signed else f"{value:.2f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A markdown table of ``rows`` (dicts) over ``columns`` (default: the first row's keys)."""
    columns = list(columns or rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    return {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%d %H:%M"),
    }


def write_json(name: str, rows: list[dict], wall_s: float | None = None) -> Path:
    """``bench/results/<name>.json``: the rows and where and when they were measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = machine()
    if wall_s is not None:
        meta["wall_s"] = round(wall_s, 1)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=float))
    return path


def write_report(name: str, title: str, body: list[str], rows: list[dict], wall_s: float) -> Path:
    """``bench/results/<name>.md`` (title, machine, wall-clock, body) and ``<name>.json`` (rows)."""
    write_json(name, rows, wall_s)
    meta = machine()
    head = [f"# {title}", "", f"Wall-clock {wall_s / 60:.1f} min on {meta['machine']} ({meta['time']}).", ""]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(head + body) + "\n")
    return path


def best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    """Best-of-``repeats`` rate of ``fn`` (which returns how many items it processed) per second."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        items = fn()
        rates.append(items / (time.perf_counter() - start))
    return max(rates)


def read_progress(path: Path) -> list[dict]:
    """The rows of a run's ``progress.csv`` (none if it does not exist)."""
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def steps_to(progress_csv: Path, threshold: float = 0.9, consecutive: int = 1) -> tuple[int | None, float | None]:
    """(env steps, wall seconds) of the first training evaluation at or above ``threshold`` that begins a run of
    ``consecutive`` such evaluations (issue 15's "90% at" takes two)."""
    evaluations = [r for r in read_progress(progress_csv) if r.get("eval_success") not in (None, "", "nan")]
    for i in range(len(evaluations) - consecutive + 1):
        if all(float(r["eval_success"]) >= threshold for r in evaluations[i : i + consecutive]):
            return int(evaluations[i]["step"]), float(evaluations[i]["wall_s"])
    return None, None


def training_wall(progress_csv: Path) -> float | None:
    """Wall-clock seconds the run itself recorded at its last logged step (None without a log)."""
    rows = read_progress(progress_csv)
    return float(rows[-1]["wall_s"]) if rows and rows[-1].get("wall_s") not in (None, "") else None
