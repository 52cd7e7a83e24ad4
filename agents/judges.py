"""Train a privileged and a blind judge on the same episodes and measure their calibration.

    python -m agents.judges --env Groundworld/GoTo-v0 --episodes 600 --run-dir runs/judges-goto
    python -m agents.judges --env Groundworld/GoTo-v0 --agent runs/goto --run-dir runs/judges-goto-agent

The episodes come from a mix of scripted behaviour policies and, with ``--agent``, a trained
agent's own attempts (which is why this command lives beside the agents; the judges themselves
are :mod:`world_model.judges`). See :func:`world_model.judges.pipeline.train_judges` for what
the run folder receives.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from envs.errors import check_writable_dir
from world_model.judges.episodes import DEFAULT_MIX, Episodes, collect_episodes
from world_model.judges.judge import JudgeConfig
from world_model.judges.pipeline import markdown, train_judges


def parse_mix(items: list[str] | None, agent: str | None) -> dict[str, float] | None:
    """``["oracle=0.5", "random=0.5"]`` -> {"oracle": 0.5, "random": 0.5}; an agent joins the default mix."""
    if not items:
        return {**DEFAULT_MIX, "agent": 0.3} if agent else None
    mix = {}
    for item in items:
        name, _, weight = item.partition("=")
        try:
            mix[name] = float(weight)
        except ValueError as exc:
            raise ValueError(f"--mix entries look like oracle=0.2, got {item!r}") from exc
    if "agent" in mix and not agent:
        raise ValueError("the 'agent' source needs --agent RUN_DIR")
    return mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.judges", description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Groundworld/GoTo-v0")
    parser.add_argument("--episodes", type=int, default=600, help="training episodes to collect")
    parser.add_argument("--data", default=None, help="train on this episodes file instead of collecting")
    parser.add_argument(
        "--mix",
        nargs="+",
        default=None,
        metavar="SOURCE=WEIGHT",
        help="behaviour policies and their shares, e.g. oracle=0.2 noisy=0.3 decoy=0.2 lazy=0.15 random=0.15 agent=0.3",
    )
    parser.add_argument("--agent", default=None, help="run folder of a trained agent (the 'agent' source)")
    parser.add_argument("--test-episodes", type=int, default=300, help="fresh episodes per split for evaluation")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--td-lambda", type=float, default=1.0, help="1 = Monte-Carlo labels; <1 bootstraps")
    parser.add_argument("--epochs", type=int, default=JudgeConfig.epochs)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        check_writable_dir(args.run_dir)
        data = Episodes.load(args.data) if args.data else None
        if data is not None and data.env_id != args.env:
            raise ValueError(f"{args.data} holds {data.env_id} episodes, not {args.env}")
        mix = parse_mix(args.mix, args.agent)
        if data is None and (mix is not None or args.agent):
            agent = None
            if args.agent:
                from agents.policies import load_policy

                agent, agent_config = load_policy(args.agent)
                if agent_config.env != args.env:
                    raise ValueError(f"the agent in {args.agent} was trained on {agent_config.env}, not {args.env}")
            data = collect_episodes(args.env, args.episodes, seed=args.seed, mix=mix, agent=agent)
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: an unusable agent checkpoint
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config = JudgeConfig(td_lambda=args.td_lambda, epochs=args.epochs, seed=args.seed)
    result = train_judges(args.env, args.episodes, args.run_dir, args.seed, args.test_episodes, config, data)
    print(markdown(result.rows))
    success = np.mean(result.tests["train"].success)
    print(f"test success rate {success:.2f}; wrote {Path(args.run_dir) / 'calibration.md'} ({result.wall_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
