"""The main job: train the default agent on the default task, evaluate it, record videos.

    python -m agents.demo [--steps 30000] [--run-dir runs/demo]

1. oracle videos of every task into ``videos/`` (seconds);
2. the native SAC agent trained on ``Groundworld/GoTo-v0`` (dense reward) for ``--steps``;
3. evaluation on the train and held-out splits (success with 95% intervals, per-goal
   tables) and an evaluation video of each split.
Everything lands in the run folder and ``videos/``; the last lines say where.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import agents
from agents.training import config_from_args
from envs import cli
from envs import demo as env_demo


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


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.demo``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(DemoArgs, argv, "python -m agents.demo", __doc__.split("\n")[0])
    start = time.time()

    env_demo.main(["--episodes", "5", "--video-episodes", "1"])
    run = Path(args.run_dir)
    resume = (run / "checkpoint.pt").exists()
    config = config_from_args({"env": args.env, "steps": args.steps, "run_dir": str(run)}, resume, preset="demo")
    print(f"\n{'Resuming' if resume else 'Training'} the native agent on {args.env} for {args.steps} steps -> {run}/")
    policy = agents.train(config, resume=resume)
    name = args.env.split("/")[-1]
    for split in ("train", "heldout"):
        video = Path("videos") / f"{run.name}_{name}_{split}.mp4"
        result = agents.evaluate(policy, args.env, split, args.episodes, video=video, video_episodes=3)
        print(f"\n{result.summary(rows=8)}\nvideo: {video}")
    print(
        f"\nDone in {time.time() - start:.0f} s. Run folder: {run}/ (learning_curve.png, progress.csv, tb/, "
        f"checkpoint.pt); videos in videos/."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
