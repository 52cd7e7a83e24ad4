"""Learning curves of finished runs side by side, and the real steps each took to a success rate.

    python -m bench.curves runs/bench/native_goto_e1k/GoTo-native runs/bench/mbpo_task/GoTo-mbpo \\
        --name sample_efficiency_goto

For runs trained by ``bench.learning`` or ``agents.train`` (also resumed ones: wall-clock seconds
restart at a resume, so the wall column adds the segments up). Writes ``bench/results/<name>.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.report import RESULTS, markdown_table, read_progress


def curve(run_dir: Path) -> list[dict]:
    """(step, evaluation success, total wall seconds) of every evaluation the run logged."""
    rows, out, offset, last_wall = read_progress(run_dir / "progress.csv"), [], 0.0, 0.0
    for row in rows:
        wall = float(row["wall_s"])
        if wall < last_wall:  # a resumed segment restarted its clock
            offset += last_wall
        last_wall = wall
        if row.get("eval_success") not in (None, "", "nan"):
            out.append({"step": int(row["step"]), "success": float(row["eval_success"]), "wall": offset + wall})
    return out


def first_reaching(points: list[dict], threshold: float) -> dict | None:
    return next((p for p in points if p["success"] >= threshold), None)


def _label(run: Path) -> str:
    """bench.learning runs live in runs/bench/<name>/<Task>-<algo>: name them by <name>."""
    return run.parent.name if run.parent.name != "bench" else run.name


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with progress.csv)")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--name", default="curves")
    args = parser.parse_args(argv)
    curves = {}
    for run in args.runs:
        if not (run / "progress.csv").exists():
            parser.error(f"{run} has no progress.csv")
        curves[str(run)] = curve(run)
    summary = []
    for run, points in curves.items():
        hit = first_reaching(points, args.threshold)
        summary.append(
            {
                "run": run,
                f"steps to {args.threshold:.0%}": hit["step"] if hit else f"not in {points[-1]['step']}",
                "wall to it (s)": round(hit["wall"]) if hit else "-",
                "last evaluation": f"{points[-1]['success']:.2f} at {points[-1]['step']}",
            }
        )
    steps = sorted({p["step"] // 1000 * 1000 for points in curves.values() for p in points})
    table = []
    for s in steps:
        row = {"steps (k)": s // 1000}
        for run, points in curves.items():
            near = [p["success"] for p in points if p["step"] // 1000 * 1000 == s]
            row[_label(Path(run))] = f"{near[0]:.2f}" if near else ""
        table.append(row)
    text = "\n".join(
        [
            markdown_table(summary, list(summary[0])),
            "",
            "training-split evaluation success by real steps:",
            "",
            markdown_table(table, list(table[0])),
        ]
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
