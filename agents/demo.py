"""The main job: train an agent on a navigation task and one on a contact task, evaluate them, record videos.

    python -m agents.demo [--steps 30000] [--run-dir runs/demo] [--contact-env Groundworld/Push-v0]

1. oracle videos of every task into ``videos/`` (seconds);
2. the native SAC agent trained on ``Groundworld/GoTo-v0`` (dense reward) for ``--steps``;
3. the contact task's own recipe (``agents.presets.TASK_PRESETS``: DAgger for Push) for ``--contact-steps``,
   in the run folder ``<run-dir>_<Task>`` (``--contact-env ""`` skips it);
4. evaluation of each on the train and held-out splits (success with 95% intervals, per-goal
   tables) and an evaluation video of each split.
Everything lands in the run folders and ``videos/``; the last lines say where.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import agents
import envs
from agents.presets import TASK_PRESETS
from agents.training import config_from_args
from envs import cli
from envs import demo as env_demo
from envs.errors import UsageError


@dataclass
class DemoArgs:
    """What ``python -m agents.demo`` trains and shows."""

    env: str = "Groundworld/GoTo-v0"
    """The task to learn."""
    steps: Annotated[int, cli.Positive] = 30_000
    """Real environment steps of training."""
    run_dir: str = "runs/demo"
    """The run folder (an unfinished demo run resumes)."""
    episodes: Annotated[int, cli.Positive] = 100
    """Evaluation episodes per split."""
    contact_env: str = "Groundworld/Push-v0"
    """A contact task learned second, by its task preset ("": none)."""
    contact_steps: Annotated[int, cli.Positive] = 35_000
    """Real environment steps of the contact task's training (the Push preset's three seeds first reached 90% of
    training-split episodes at 25k-30k)."""


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.demo``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(DemoArgs, argv, "python -m agents.demo", __doc__.split("\n")[0])
    tasks = [t for t in TASK_PRESETS if t in envs.TASKS]  # one task each ("all" is the multi-task run)
    if args.contact_env and args.contact_env not in tasks:
        raise UsageError(
            f"--contact-env {args.contact_env!r} is not a task with a preset; one of: {', '.join(tasks)}, or ''"
        )
    start = time.time()

    env_demo.main(["--episodes", "5", "--video-episodes", "1"])
    run = Path(args.run_dir)
    runs = [train_and_show(args.env, args.steps, run, "demo", args.episodes, run.name)]
    if args.contact_env:
        contact_run = run.with_name(f"{run.name}_{args.contact_env.split('/')[-1]}")
        preset = TASK_PRESETS[args.contact_env]
        runs.append(train_and_show(args.contact_env, args.contact_steps, contact_run, preset, args.episodes, run.name))
    print(
        f"\nDone in {time.time() - start:.0f} s. Run folders: {', '.join(f'{r}/' for r in runs)} "
        "(learning_curve.png, progress.csv, tb/, checkpoint.pt); videos in videos/."
    )
    return 0


def train_and_show(env_id: str, steps: int, run: Path, preset: str, episodes: int, videos: str) -> Path:
    """Train ``env_id`` with ``preset`` in ``run`` (resuming an unfinished run), then evaluate both splits with
    a video each (``videos/<videos>_<Task>_<split>.mp4``); returns the run folder."""
    resume = (run / "checkpoint.pt").exists()
    config = config_from_args({"env": env_id, "steps": steps, "run_dir": str(run)}, resume, preset=preset)
    verb = "Resuming" if resume else "Training"
    print(f"\n{verb} {config.algo} ({preset} recipe) on {env_id} for {steps} steps -> {run}/")
    policy = agents.train(config, resume=resume)
    name = env_id.split("/")[-1]
    for split in ("train", "heldout"):
        video = Path("videos") / f"{videos}_{name}_{split}.mp4"
        result = agents.evaluate(policy, env_id, split, episodes, video=video, video_episodes=3)
        print(f"\n{result.summary(rows=8)}\nvideo: {video}")
    return run


if __name__ == "__main__":
    raise SystemExit(main())
