"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    """Best-of-``repeats`` rate of ``fn`` (which returns how many items it processed) per second."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        items = fn()
        rates.append(items / (time.perf_counter() - start))
    return max(rates)


def write_json(name: str, rows: list[dict]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {"machine": platform.machine(), "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M")}
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    return path


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
