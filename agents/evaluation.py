"""Evaluate a trained agent: success rate with a 95% interval, a per-instruction table, videos.

    python -m agents.evaluate --run runs/goto --split heldout --episodes 100 --video
    python -m agents.evaluate --pretrained Groundworld/Push-v0 --instruction "shove the big red box into the blue area"

From Python::

    policy, config = agents.load_policy("runs/goto")
    result = agents.evaluate(policy, "Groundworld/GoTo-v0", split="heldout", episodes=100)
    print(result.summary())
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import gymnasium as gym
import numpy as np

import envs
from envs import cli, language
from envs.errors import UsageError, check_writable_dir
from envs.language import SPLITS
from groundworld.policy import Policy


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sensible at 0% and 100% too)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class EvalResult:
    env_id: str
    split: str
    episodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(e["success"] for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.successes / max(1, len(self.episodes))

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.successes, len(self.episodes))

    def per_instruction(self) -> list[tuple[str, int, int]]:
        """(goal in canonical words, successes, episodes), hardest first."""
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for e in self.episodes:
            table[e["goal"]][0] += int(e["success"])
            table[e["goal"]][1] += 1
        return sorted(((g, s, n) for g, (s, n) in table.items()), key=lambda r: (r[1] / r[2], r[0]))

    def summary(self, rows: int = 15) -> str:
        lo, hi = self.ci95
        lines = [
            f"{self.env_id} [{self.split}]: success {self.success_rate:.3f} "
            f"(95% CI {lo:.3f}-{hi:.3f}) over {len(self.episodes)} episodes, "
            f"mean length {np.mean([e['steps'] for e in self.episodes]):.1f}",
            "",
            "| goal | success | episodes |",
            "|---|---|---|",
        ]
        table = self.per_instruction()
        lines += [f"| {g} | {s / n:.2f} | {n} |" for g, s, n in table[:rows]]
        if len(table) > rows:
            lines.append(f"| ... {len(table) - rows} more goals | | |")
        return "\n".join(lines)


def evaluate(
    policy: Policy,
    env_id: str,
    split: str = "train",
    episodes: int = 50,
    seed: int = 100_000,
    video: str | Path | None = None,
    video_episodes: int = 3,
    wrap: Callable[[gym.Env], gym.Env] | None = None,
    instruction: str | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``episodes`` seeded episodes of ``policy``; optionally write the first few to ``video``.

    ``wrap`` wraps the evaluation env (e.g. in a judge's shaping wrapper, whose final
    ``info["judge_success"]`` each episode then records as ``"judge"``). With ``instruction`` (a person's
    sentence, :func:`envs.language.understand`) every episode is a scene that holds that goal, and the
    instruction is checked before any episode runs."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; expected one of {SPLITS}")
    if episodes < 1:
        raise UsageError(f"episodes must be >= 1, got {episodes}")
    if video is not None:
        envs.video.check_writable(video)  # fail before spending time on episodes
    env = gym.make(env_id, split=split, **env_kwargs)
    if wrap is not None:
        env = wrap(env)
    options = None if instruction is None else {"instruction": instruction}  # refused, if at all, at the first reset
    result = EvalResult(env_id, split if instruction is None else f"instruction {instruction!r}")
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i, options=options)
        policy.reset()
        done, steps, total = False, 0, 0.0
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            done = terminated or truncated
            steps += 1
            total += float(reward)
        result.episodes.append(
            {
                "instruction": info["instruction"],
                "goal": env.unwrapped.goal.surface(),
                "success": bool(info["is_success"]),
                "steps": steps,
                "return": total,
                "judge": info.get("judge_success"),
            }
        )
    env.close()
    if video is not None:
        render_env = gym.make(env_id, split=split, render_mode="rgb_array", **env_kwargs)
        envs.record_video(
            render_env,
            lambda obs, info: policy.act(obs),
            video,
            episodes=video_episodes,
            seed=seed,
            on_reset=policy.reset,
            options=options,
        )
        render_env.close()
    return result


@dataclass
class EvaluateArgs:
    """What ``python -m agents.evaluate`` measures."""

    run: str = ""
    """Run folder written by agents.train (or agents.rejection)."""
    pretrained: str = ""
    """Instead of --run: a shipped policy (agents.load_pretrained), by env id or 'all' for the multi-task one."""
    env: str = ""
    """Environment id (default: the one the run was trained on; every one, for a multi-task run)."""
    split: Literal[SPLITS] = "train"
    """Which instructions the episodes draw."""
    episodes: Annotated[int, cli.Positive] = 100
    """Seeded evaluation episodes."""
    seed: int = 100_000
    """Episode i is reset with seed + i."""
    video: bool = False
    """Also write an mp4 of the first episodes to --video-dir."""
    video_episodes: Annotated[int, cli.Positive] = 3
    """Episodes in the video."""
    video_dir: str = "videos"
    """Folder of the video."""
    instruction: tuple[str, ...] = ()
    """Sentences to follow, as a person types them (repeat the flag for several): each is run in scenes that hold
    it, in the task of the policy that takes it, instead of the split's instructions (--episodes default: 10)."""

    def validate(self) -> None:
        if bool(self.run) == bool(self.pretrained):
            raise UsageError("give --run DIR (a run folder) or --pretrained ID (a shipped policy), one of the two")
        if self.env:
            envs.check_env_id(self.env)


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.evaluate``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    from agents.policies import load_policy, pretrained_policy

    args, given = cli.parse(EvaluateArgs, argv, "python -m agents.evaluate", __doc__.split("\n")[0])
    if args.video:
        check_writable_dir(args.video_dir, "video")  # before the policy is loaded and episodes are run
    if args.run:
        policy, config = load_policy(args.run)
    else:
        policy, config = pretrained_policy(args.pretrained)
    name = Path(args.run).name if args.run else args.pretrained.split("/")[-1].removesuffix("-v0")
    env_ids = (args.env,) if args.env else config.env_ids  # a multi-task policy: every task it learned
    if args.instruction:
        episodes = args.episodes if ("episodes",) in given else INSTRUCTION_EPISODES
        jobs = [(task_for(text, env_ids), text) for text in args.instruction]  # every sentence checked first
    else:
        episodes, jobs = args.episodes, [(env_id, None) for env_id in env_ids]
    for env_id, text in jobs:
        video = None
        if args.video:
            what = args.split if text is None else slug(text)
            video = Path(args.video_dir) / f"{name}_{env_id.split('/')[-1]}_{what}.mp4"
        if text is not None:
            words = language.understand(text, kinds=(envs.goal_kind(env_id),)).words  # what this task's env shows
            print(f"{env_id}: {text!r}; the policy reads {words!r}")
        result = evaluate(
            policy,
            env_id,
            args.split,
            episodes,
            args.seed,
            video=video,
            video_episodes=min(args.video_episodes, episodes),
            instruction=text,
        )
        print(result.summary())
        if video is not None:
            print(f"\nvideo: {video}")
    return 0


INSTRUCTION_EPISODES = 10
"""Episodes per ``--instruction`` sentence unless ``--episodes`` is given."""


def task_for(text: str, env_ids: tuple[str, ...]) -> str:
    """The one of ``env_ids`` whose task takes the sentence ``text``; a :class:`UsageError` naming what was
    understood and what was not otherwise."""
    kinds = {envs.goal_kind(env_id): env_id for env_id in env_ids}
    goal = language.parse(text, kinds=tuple(kinds))
    return kinds[goal.kind]


def slug(text: str, length: int = 60) -> str:
    """A file-name form of a sentence: its lower-case letters and digits, words joined by '-'."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:length].rstrip("-") or "instruction"


if __name__ == "__main__":
    raise SystemExit(main())
