"""Train a privileged and a blind judge on the same episodes and measure their calibration.

    python -m agents.judges --env Groundworld/GoTo-v0 --episodes 600 --run-dir runs/judges-goto
    python -m agents.judges --env Groundworld/GoTo-v0 --agent runs/goto --run-dir runs/judges-goto-agent

The episodes come from a mix of scripted behaviour policies and, with ``--agent``, a trained
agent's own attempts (which is why this command lives beside the agents; the judges themselves
are :mod:`world_model.judges`). See :func:`world_model.judges.pipeline.train_judges` for what
the run folder receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import torch

import envs
from envs import cli
from envs.errors import UsageError
from groundworld.runs import RunLock
from world_model.judges.episodes import DEFAULT_MIX, SOURCES, Episodes, collect_episodes
from world_model.judges.judge import JudgeConfig
from world_model.judges.pipeline import markdown, train_judges


def parse_mix(items: tuple[str, ...], agent: str) -> dict[str, float] | None:
    """``("oracle=0.5", "random=0.5")`` -> {"oracle": 0.5, "random": 0.5}; an agent joins the default mix."""
    if not items:
        return {**DEFAULT_MIX, "agent": 0.3} if agent else None
    mix = {}
    for item in items:
        name, _, weight = item.partition("=")
        try:
            mix[name] = float(weight)
        except ValueError as exc:
            raise UsageError(f"--mix entries look like oracle=0.2, got {item!r}") from exc
        if name not in SOURCES:
            raise UsageError(f"unknown episode source {name!r} in --mix; sources are {', '.join(SOURCES)}")
        if not mix[name] >= 0:
            raise UsageError(f"--mix {item!r}: a weight must be >= 0")
    if sum(mix.values()) <= 0:
        raise UsageError(f"--mix weights must not all be 0, got {' '.join(items)}")
    if "agent" in mix and not agent:
        raise UsageError("the 'agent' source needs --agent RUN_DIR")
    return mix


@dataclass
class JudgesArgs:
    """What ``python -m agents.judges`` trains on, and where it writes."""

    run_dir: str = field(default=cli.REQUIRED)
    """Folder for the episodes, both judges and the calibration report."""
    env: str = "Groundworld/GoTo-v0"
    """Environment id (``envs.TASKS``)."""
    episodes: Annotated[int, cli.Range(4, None)] = 600
    """Training episodes to collect."""
    data: str = ""
    """Train on this episodes file instead of collecting."""
    mix: tuple[str, ...] = ()
    """Behaviour policies and their shares, e.g. oracle=0.2 noisy=0.3 decoy=0.2 lazy=0.15 random=0.15 agent=0.3."""
    agent: str = ""
    """Run folder of a trained agent (the 'agent' source)."""
    test_episodes: Annotated[int, cli.Range(2, None)] = 300
    """Fresh episodes per split for the calibration report."""
    seed: int = 0
    """Seed of collection, training and the test episodes."""
    td_lambda: Annotated[float, cli.Fraction] = 1.0
    """1: Monte-Carlo labels; below 1, TD(lambda) targets bootstrap."""
    epochs: Annotated[int, cli.Positive] = JudgeConfig.epochs
    """Most passes over the training episodes."""
    threads: Annotated[int, cli.NonNegative] = 0
    """Torch CPU threads (0: torch's default)."""

    def validate(self) -> None:
        envs.check_env_id(self.env)
        parse_mix(self.mix, self.agent)


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.judges``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(JudgesArgs, argv, "python -m agents.judges", __doc__.split("\n")[0])
    if args.threads:
        torch.set_num_threads(args.threads)
    data = None
    if args.data:
        data = Episodes.load(args.data, env_id=args.env)
    agent = None
    if args.agent:
        from agents.policies import load_policy

        agent, agent_config = load_policy(args.agent)
        if agent_config.env != args.env:
            raise UsageError(f"the agent in {args.agent} was trained on {agent_config.env}, not {args.env}")
    with RunLock(args.run_dir):
        mix = parse_mix(args.mix, args.agent)
        if data is None and mix is not None:
            data = collect_episodes(args.env, args.episodes, seed=args.seed, mix=mix, agent=agent)
        config = JudgeConfig(td_lambda=args.td_lambda, epochs=args.epochs, seed=args.seed)
        result = train_judges(args.env, args.episodes, args.run_dir, args.seed, args.test_episodes, config, data)
    print(markdown(result.rows))
    success = np.mean(result.tests["train"].success)
    print(f"test success rate {success:.2f}; wrote {Path(args.run_dir) / 'calibration.md'} ({result.wall_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
