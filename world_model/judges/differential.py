"""The differential signal: where a judge that knows the answer and one that does not disagree.

Per step, ``delta = P_privileged - P_blind``. Large |delta| marks what the blind judge has
not worked out: instructions it has not grounded (a decoy heading confidently for the wrong
object looks like success to it), phases where success hinges on information it lacks, and
instructions outside its training. :func:`report` tabulates |delta| by behaviour policy,
instruction (colour and shape named), split and phase of the episode, and writes videos of
the episodes with the largest disagreement, both judges' curves drawn under the frames.

    python -m world_model.judges.differential --run-dir runs/judges-goto --videos 3

(the run folder of ``python -m agents.judges``). The signal can also train: a blind
judge distilled from the privileged one (``JudgeConfig(distill=...)``, see
``bench/experiments/differential.py``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the environments)
from envs import cli, language
from envs.video import caption, check_writable, outcome_mark
from world_model.judges.calibration import at_fraction, auroc
from world_model.judges.episodes import Episodes
from world_model.judges.judge import Judge, judge_probabilities

PRIVILEGED_COLOR = (240, 140, 30)
BLIND_COLOR = (60, 140, 240)


def differential(judges: dict[str, Judge], episodes: Episodes) -> dict[str, np.ndarray]:
    """Both judges' probabilities (N, T) and their difference ``delta`` (NaN past each end)."""
    out = {kind: judge_probabilities(judge, episodes) for kind, judge in judges.items()}
    out["delta"] = out["privileged"] - out["blind"]
    return out


def named_object(instruction: str) -> str:
    """The (colour, shape) words of the first object an instruction names, e.g. "red cube"."""
    try:
        goal = language.parse(instruction)
    except ValueError:
        return "?"
    desc = goal.descriptions()[0]
    return f"{desc.color} {desc.shape}"


def group_rows(
    curves: dict[str, np.ndarray], episodes: Episodes, key: Callable[[int], str], min_count: int = 5
) -> list[dict[str, Any]]:
    """Per group of episodes: count, success rate, mean |delta| and mean delta, both judges' AUROC at 25%."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(episodes)):
        groups[key(i)].append(i)
    rows = []
    for name, idx in groups.items():
        if len(idx) < min_count:
            continue
        idx = np.array(idx)
        delta = curves["delta"][idx]
        row = {
            "group": name,
            "episodes": len(idx),
            "success": float(episodes.success[idx].mean()),
            "mean_abs_delta": float(np.nanmean(np.abs(delta))),
            "mean_delta": float(np.nanmean(delta)),
        }
        for kind in ("privileged", "blind"):
            p = at_fraction(curves[kind][idx], episodes.length[idx], 0.25)
            row[f"{kind}_auroc25"] = auroc(p, episodes.success[idx])
        rows.append(row)
    return sorted(rows, key=lambda r: -r["mean_abs_delta"])


def phase_rows(curves: dict[str, np.ndarray], lengths: np.ndarray, phases: int = 4) -> list[dict[str, Any]]:
    """Mean |delta| in each quarter (by default) of the episodes."""
    t = np.arange(curves["delta"].shape[1])[None, :]
    where = t / np.maximum(lengths[:, None], 1)
    rows = []
    for q in range(phases):
        inside = (where >= q / phases) & (where < (q + 1) / phases)
        values = np.abs(curves["delta"][inside])
        rows.append(
            {"phase": f"{100 * q // phases}-{100 * (q + 1) // phases}%", "mean_abs_delta": float(np.nanmean(values))}
        )
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str], limit: int = 12) -> list[str]:
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows[:limit]]
    return lines


def findings(by_source: list[dict], by_object: list[dict], by_split: list[dict], phases: list[dict]) -> list[str]:
    """Plain-language reading of the tables (computed, not written by hand)."""
    lines = []
    top = by_source[0]
    lines.append(
        f"- The judges disagree most on **{top['group']}** episodes (mean |delta| {top['mean_abs_delta']:.3f}, "
        f"success {top['success']:.2f}); there {_direction(top['mean_delta'])}."
    )
    decoy = next((r for r in by_source if r["group"] == "decoy"), None)
    if decoy is not None:  # competent behaviour towards the wrong object: only the instruction tells
        lines.append(
            f"- On **decoy** episodes (the oracle heading for an object the instruction does not name; success "
            f"{decoy['success']:.2f}) {_direction(decoy['mean_delta'])} (mean delta {decoy['mean_delta']:+.3f}): "
            "the size of this gap is how far the blind judge has failed to ground the instruction."
        )
    low = by_source[-1]
    lines.append(f"- They agree most on **{low['group']}** episodes (mean |delta| {low['mean_abs_delta']:.3f}).")
    if by_object:
        names = ", ".join(f"{r['group']} ({r['mean_abs_delta']:.3f})" for r in by_object[:3])
        lines.append(f"- Named objects with the largest disagreement: {names}.")
    split = {r["group"]: r for r in by_split}
    if "train" in split and "heldout" in split:
        lines.append(
            f"- Held-out instructions: mean |delta| {split['heldout']['mean_abs_delta']:.3f} vs "
            f"{split['train']['mean_abs_delta']:.3f} on training instructions."
        )
    peak = max(phases, key=lambda r: r["mean_abs_delta"])
    lines.append(f"- By phase, disagreement peaks in the {peak['phase']} stretch of episodes.")
    return lines


def _direction(mean_delta: float, tolerance: float = 0.02) -> str:
    if abs(mean_delta) < tolerance:
        return "neither judge is systematically more optimistic"
    side = "more optimistic" if mean_delta < 0 else "more pessimistic"
    return f"the blind judge is {side} than the privileged one"


def curve_strip(width: int, height: int, curves: dict[str, np.ndarray], upto: int, horizon: int) -> np.ndarray:
    """An image strip with each judge's probability up to step ``upto`` (x: step, y: probability)."""
    strip = np.full((height, width, 3), 24, dtype=np.uint8)
    strip[height // 2, :, :] = 60  # the 0.5 line
    colors = {"privileged": PRIVILEGED_COLOR, "blind": BLIND_COLOR}
    for kind, values in curves.items():
        xs = np.linspace(0, width - 1, horizon)[: upto + 1]
        ys = (1 - np.nan_to_num(values[: upto + 1])) * (height - 5) + 2
        if len(xs) == 1:
            xs, ys = np.repeat(xs, 2), np.repeat(ys, 2)
        fine = np.linspace(0, len(xs) - 1, 8 * len(xs))
        px = np.interp(fine, np.arange(len(xs)), xs).astype(int)
        py = np.interp(fine, np.arange(len(ys)), ys).astype(int)
        for dy in (-1, 0, 1):
            strip[np.clip(py + dy, 0, height - 1), px] = colors[kind]
    return strip


def episode_video(episodes: Episodes, i: int, curves: dict[str, np.ndarray], path: str | Path, size: int = 320) -> Path:
    """Replay episode ``i`` (its seed and actions) with both judges' curves under the frames."""
    import imageio.v2 as imageio

    if episodes.seed is None:
        raise ValueError("these episodes carry no seeds, so they cannot be replayed")
    path = check_writable(path)
    env = gym.make(episodes.env_id, split=episodes.split, render_mode="rgb_array", width=size, height=size)
    env.reset(seed=int(episodes.seed[i]))
    n = int(episodes.length[i])
    mine = {kind: curves[kind][i] for kind in ("privileged", "blind")}
    strip_h = size // 4
    writer = imageio.get_writer(
        path, fps=env.metadata["render_fps"], codec="libx264", macro_block_size=2, format="FFMPEG"
    )
    text = str(episodes.instruction[i])
    try:
        for t in range(n):
            frame = env.render()
            footer = f"step {t}  P(priv) {mine['privileged'][t]:.2f}  P(blind) {mine['blind'][t]:.2f}"
            frame = caption(frame, text, footer)
            writer.append_data(np.concatenate([frame, curve_strip(size, strip_h, mine, t, episodes.max_steps)]))
            env.step(episodes.action[i, t])
        last = outcome_mark(caption(env.render(), f"{text}  [{episodes.source[i]}]"), bool(episodes.success[i]))
        last = np.concatenate([last, curve_strip(size, strip_h, mine, n - 1, episodes.max_steps)])
        for _ in range(12):
            writer.append_data(last)
    finally:
        writer.close()
        env.close()
    return path


def report(
    judges: dict[str, Judge],
    tests: dict[str, Episodes],
    out_dir: str | Path,
    videos: int = 3,
    video_dir: str | Path = "videos",
) -> dict[str, Any]:
    """Write ``differential.md`` / ``differential.json`` into ``out_dir`` and the top-|delta| videos."""
    out = Path(out_dir)
    both = Episodes.concat(list(tests.values()))
    split_of = np.concatenate([[name] * len(e) for name, e in tests.items()])
    curves = differential(judges, both)
    by_source = group_rows(curves, both, lambda i: str(both.source[i]))
    by_object = group_rows(curves, both, lambda i: named_object(str(both.instruction[i])))
    by_split = group_rows(curves, both, lambda i: str(split_of[i]))
    phases = phase_rows(curves, both.length)
    task = both.env_id.split("/")[-1]
    per_episode = np.nanmean(np.abs(curves["delta"]), axis=1)
    paths = []
    for rank, i in enumerate(np.argsort(-per_episode)[:videos]):
        name = f"differential_{task}_{rank}_{both.source[i]}.mp4"
        paths.append(str(episode_video(both, int(i), curves, Path(video_dir) / name)))
    cols = ["group", "episodes", "success", "mean_abs_delta", "mean_delta", "privileged_auroc25", "blind_auroc25"]
    lines = [
        f"# Differential signal on {both.env_id}",
        "",
        "delta = P(success | privileged judge) - P(success | blind judge), per step, on "
        f"{len(both)} fresh episodes ({', '.join(f'{k}: {len(v)}' for k, v in tests.items())}).",
        "",
        "## What it reveals",
        "",
        *findings(by_source, by_object, by_split, phases),
        "",
        "## By behaviour policy",
        "",
        *_table(by_source, cols),
        "",
        "## By named object (colour, shape)",
        "",
        *_table(by_object, cols),
        "",
        "## By split",
        "",
        *_table(by_split, cols),
        "",
        "## By phase of the episode",
        "",
        *_table(phases, ["phase", "mean_abs_delta"]),
        "",
        "## Episodes with the largest disagreement (videos: orange privileged, blue blind)",
        "",
        *[f"- `{p}`" for p in paths],
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "differential.md").write_text("\n".join(lines) + "\n")
    result = {"by_source": by_source, "by_object": by_object, "by_split": by_split, "phases": phases, "videos": paths}
    (out / "differential.json").write_text(json.dumps(result, indent=1))
    return result


@dataclass
class DifferentialArgs:
    """What ``python -m world_model.judges.differential`` reports on."""

    run_dir: str = field(default=cli.REQUIRED)
    """A folder written by python -m agents.judges."""
    videos: Annotated[int, cli.NonNegative] = 3
    """Episodes with the largest disagreement to film."""
    video_dir: str = "videos"
    """Folder of the videos."""


def main(argv: list[str] | None = None) -> int:
    """``python -m world_model.judges.differential``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    from world_model.judges.pipeline import load_run

    args, _ = cli.parse(DifferentialArgs, argv, "python -m world_model.judges.differential", __doc__.split("\n")[0])
    judges, tests, _ = load_run(args.run_dir)
    report(judges, tests, args.run_dir, args.videos, args.video_dir)
    print((Path(args.run_dir) / "differential.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
