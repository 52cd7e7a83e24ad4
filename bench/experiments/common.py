"""Shared helpers of the judge experiments."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_report(name: str, title: str, body: list[str], rows: list[dict], wall_s: float) -> Path:
    """``results/<name>.md`` (title, machine, wall-clock, body) and ``results/<name>.json`` (rows)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "time": time.strftime("%Y-%m-%d %H:%M"),
        "wall_s": round(wall_s, 1),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=float))
    head = [f"# {title}", "", f"Wall-clock {wall_s / 60:.1f} min on {meta['machine']} ({meta['time']}).", ""]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(head + body) + "\n")
    return path
