"""The main job: train the default agent on the default task, evaluate it, record videos.

    python -m agents.demo [--steps 30000] [--run-dir runs/demo]

1. oracle videos of every task into ``videos/`` (seconds);
2. the native SAC agent trained on ``Groundworld/GoTo-v0`` (dense reward) for ``--steps``;
3. evaluation on the train and held-out splits (success with 95% intervals, per-goal
   tables) and an evaluation video of each split.
Everything lands in the run folder and ``videos/``; the last lines say where.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import agents
from envs import demo as env_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Groundworld/GoTo-v0")
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--run-dir", default="runs/demo")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per split")
    args = parser.parse_args(argv)
    start = time.time()

    env_demo.main(["--episodes", "5", "--video-episodes", "1"])
    run = Path(args.run_dir)
    config = agents.TrainConfig(env=args.env, algo="native", steps=args.steps, run_dir=str(run), eval_every=5_000)
    resume = (run / "checkpoint.pt").exists()
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
