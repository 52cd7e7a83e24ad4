"""Oracle demonstrations as a dataset: whole episodes of every task and split, in the replay format.

    python -m agents.demos --env Groundworld/Push-v0 --episodes 200 --out data/push-demos.npz
    python -m agents.demos --env Groundworld/Push-v0 --episodes 200 --out data/push --minari   # also Minari

A demonstration file is a :class:`~groundworld.replay.ReplayBuffer` file: every transition with its
observation (instruction token ids included), action, reward, ends and the privileged goal object;
its ``info["episodes"]`` lists, per episode, the reset seed (replaying the actions from it
reproduces the episode), the split, the instruction text, the privileged goal (object and target
position) at the start, the outcome and the length. The native agent keeps such a set in its own
replay (``--demo-episodes``: RLPD/Newt-style demo share, action supervision, pretraining).

:func:`to_minari` / :func:`from_minari` convert losslessly to and from a Minari dataset (Farama's
format for offline RL), so that other tools load our demonstrations; Minari is an optional
dependency (``pip install minari``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import gymnasium as gym
import numpy as np

import envs
from envs import cli
from envs.errors import UsageError
from envs.language import SPLITS
from groundworld.policy import batch1
from groundworld.replay import ReplayBuffer


def collect_demos(
    env_id: str, episodes: int, seed: int = 1_000_000, split: str = "train", reward_mode: str = "dense"
) -> ReplayBuffer:
    """``episodes`` whole oracle episodes (episode i reset with ``seed + i``), with their facts in ``info``."""
    if episodes < 1:
        raise UsageError(f"episodes must be >= 1, got {episodes}")
    env = gym.make(env_id, split=split, reward_mode=reward_mode)
    oracle = envs.make_oracle(env)
    horizon = env.spec.max_episode_steps
    buffer = ReplayBuffer(env.observation_space, env.action_space.shape[0], episodes * horizon, env_id)
    records = []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        start_goal = {"object": int(info["goal"]["object"]), "position": np.asarray(info["goal"]["position"]).tolist()}
        text, t, done, total = info["instruction"], 0, False, 0.0
        while not done:
            action = np.asarray(oracle(obs, info), dtype=np.float32)
            goal_object = info["goal"]["object"]  # the goal that came with obs
            next_obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            buffer.add(
                batch1(obs), action[None], [reward], batch1(next_obs), [terminated], [truncated],
                [t == 0], [i], [t], [info["is_success"]], [goal_object],
            )  # fmt: skip
            obs, t, total = next_obs, t + 1, total + float(reward)
        records.append(
            {
                "episode": i,
                "seed": seed + i,
                "split": split,
                "instruction": text,
                "goal": start_goal,
                "success": bool(info["is_success"]),
                "length": t,
                "return": total,
            }
        )
    env.close()
    buffer = buffer.compact()
    buffer.info = {"source": "oracle", "reward_mode": reward_mode, "episodes": records}
    return buffer


def demo_success(buffer: ReplayBuffer) -> float:
    """The share of the demonstration episodes that succeeded."""
    records = buffer.info.get("episodes", [])
    return float(np.mean([r["success"] for r in records])) if records else float("nan")


class DemoMix:
    """Batches that draw a fixed share from a demonstration replay and the rest from the agent's own data.

    Each batch carries ``is_demo`` (1 on demonstration rows), which the native agent's action-supervision
    term reads; ``bc_weight(step)`` is that term's weight, decaying linearly to 0 over ``decay_steps``."""

    def __init__(self, demos: ReplayBuffer, ratio: float, bc_weight: float = 0.0, decay_steps: int = 0):
        self.demos, self.ratio, self.weight, self.decay_steps = demos, ratio, bc_weight, decay_steps

    def bc_weight(self, step: int) -> float:
        if self.decay_steps <= 0:
            return self.weight
        return self.weight * max(0.0, 1.0 - step / self.decay_steps)

    def sample(self, source: Any, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A batch: ``ratio`` of it from the demonstrations, the rest from ``source`` (all demonstrations
        while ``source`` is empty or None)."""
        n_demo = batch_size if source is None or len(source) == 0 else int(round(self.ratio * batch_size))
        parts = []
        if n_demo:
            parts.append({**self.demos.sample(n_demo, rng), "is_demo": np.ones(n_demo, dtype=np.float32)})
        if batch_size - n_demo:
            own = source.sample(batch_size - n_demo, rng)
            parts.append({**own, "is_demo": np.zeros(batch_size - n_demo, dtype=np.float32)})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ------------------------------------------------------------------ Minari
def to_minari(buffer: ReplayBuffer, dataset_id: str, root: str | Path | None = None) -> Any:
    """Write ``buffer``'s episodes as a Minari dataset ``dataset_id`` (under ``root``, Minari's default
    when None); the replay's facts travel in the dataset's metadata and each episode's seed and
    instruction in its ``infos``. Needs ``pip install minari``."""
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    if root is not None:
        import os

        os.environ["MINARI_DATASETS_PATH"] = str(root)
    env = gym.make(buffer.env_id)
    rows = _by_episode(buffer.rows())
    records = {r["episode"]: r for r in buffer.info.get("episodes", [])}
    buffers = []
    for episode in np.unique(rows["episode"]):
        at = np.flatnonzero(rows["episode"] == episode)
        obs = {k: np.concatenate([rows["obs/" + k][at], rows["next_obs/" + k][at[-1:]]]) for k in buffer.keys}
        record = records.get(int(episode), {})
        buffers.append(
            EpisodeBuffer(
                id=int(episode),
                seed=record.get("seed"),
                observations=obs,
                actions=rows["action"][at],
                rewards=rows["reward"][at].astype(np.float64),
                terminations=rows["is_terminal"][at],
                truncations=rows["is_last"][at] & ~rows["is_terminal"][at],
                infos={
                    "goal_object": np.concatenate([rows["goal_object"][at], rows["goal_object"][at[-1:]]]),
                    "is_success": np.concatenate([[False], rows["is_success"][at]]),
                },
            )
        )
    dataset = minari.create_dataset_from_buffers(
        dataset_id=dataset_id,
        buffer=buffers,
        env=env,
        algorithm_name="groundworld-oracle",
        description=json.dumps({"groundworld": {"env_id": buffer.env_id, "info": buffer.info}}),
    )
    env.close()
    return dataset


def from_minari(dataset_id: str, root: str | Path | None = None) -> ReplayBuffer:
    """A replay buffer from a Minari dataset written by :func:`to_minari` (its facts restored)."""
    minari = _minari()
    if root is not None:
        import os

        os.environ["MINARI_DATASETS_PATH"] = str(root)
    dataset = minari.load_dataset(dataset_id)
    meta = json.loads(dataset.storage.metadata.get("description") or "{}").get("groundworld", {})
    env_id = meta.get("env_id") or dataset.spec.env_spec.id
    space = gym.make(env_id).observation_space
    episodes = list(dataset.iterate_episodes())
    buffer = ReplayBuffer(space, dataset.action_space.shape[0], sum(len(e.actions) for e in episodes), env_id)
    for e in episodes:
        n = len(e.actions)
        terminal, truncated = np.asarray(e.terminations), np.asarray(e.truncations)
        buffer.add(
            {k: v[:n] for k, v in e.observations.items()},
            e.actions,
            e.rewards.astype(np.float32),
            {k: v[1 : n + 1] for k, v in e.observations.items()},
            terminal,
            truncated,
            np.arange(n) == 0,
            np.full(n, e.id),
            np.arange(n),
            np.asarray(e.infos["is_success"])[1 : n + 1],
            np.asarray(e.infos["goal_object"])[:n],
        )
    buffer.info = meta.get("info", {})
    return buffer


def _by_episode(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.lexsort((rows["step"], rows["episode"]))
    return {k: v[order] for k, v in rows.items()}


def _minari():
    try:
        import minari
    except ImportError as exc:
        raise UsageError("Minari export and import need the minari package: pip install minari") from exc
    return minari


# ------------------------------------------------------------------ command line
@dataclass
class DemoArgs:
    """What ``python -m agents.demos`` collects, and where it writes."""

    out: str = field(default=cli.REQUIRED)
    """The demonstration file (.npz); with --minari also the Minari dataset id's stem."""
    env: str = "Groundworld/GoTo-v0"
    """Environment id (``envs.TASKS``)."""
    episodes: Annotated[int, cli.Positive] = 200
    """Oracle episodes."""
    split: Literal[SPLITS] = "train"
    """Which instructions the episodes draw."""
    seed: int = 1_000_000
    """Episode i is reset with seed + i."""
    reward_mode: Literal["dense", "sparse"] = "dense"
    """Reward recorded with the transitions."""
    minari: bool = False
    """Also write a Minari dataset (groundworld/<task>-<split>-v0)."""

    def validate(self) -> None:
        envs.check_env_id(self.env)


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.demos``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(DemoArgs, argv, "python -m agents.demos", __doc__.split("\n")[0])
    out = Path(args.out).with_suffix(".npz")
    envs.errors.check_writable_dir(out.parent, "demonstration")
    buffer = collect_demos(args.env, args.episodes, args.seed, args.split, args.reward_mode)
    buffer.save(out)
    print(f"{args.episodes} oracle episodes ({len(buffer)} transitions, success {demo_success(buffer):.2f}) -> {out}")
    if args.minari:
        name = f"groundworld/{args.env.split('/')[-1].lower()}-{args.split}-v0"
        to_minari(buffer, name)
        print(f"Minari dataset {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
