"""Labelled whole episodes for judges, from a mix of policies.

A judge learns ``P(success | the episode so far)``; its training data are whole episodes,
each labelled by how it ended (Monte-Carlo labels). Episodes come from several policies so
that success is neither certain nor hopeless and the judge must read the attempt:

==========  ====================================================================
``oracle``  the task's scripted oracle (almost always succeeds)
``noisy``   the oracle with Gaussian action noise, its scale drawn per episode
``decoy``   the oracle heading for another object than the instruction names:
            competent behaviour that only the instruction tells apart from success
``lazy``    the oracle for a random number of steps, then random actions
``random``  uniform random actions
``agent``   a trained policy (``agents.load_policy``), when one is given
==========  ====================================================================

:class:`Episodes` holds them padded to the longest episode: ``obs[key]`` is (N, T, ...),
``action`` (N, T, A), and the privileged ground truth of each step (``info["goal"]``: which
object, which target position, in the observation's table frame) is ``goal_object`` (N, T)
and ``goal_position`` (N, T, 3). ``final_obs`` is the observation after each episode's last
action and ``terminated`` whether it ended by termination (success or failure) rather than
the time limit. Files are ``.npz`` archives written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from envs import oracles
from envs.errors import UsageError
from envs.files import atomic_path
from envs.scene import TABLE_TOP
from groundworld.replay import ReplayBuffer

FORMAT_VERSION = 1
SOURCES = ("oracle", "noisy", "decoy", "lazy", "random", "agent")
DEFAULT_MIX: dict[str, float] = {"oracle": 0.2, "noisy": 0.3, "decoy": 0.2, "lazy": 0.15, "random": 0.15}
"""Share of episodes from each policy when none is given."""

_FIELDS = ("action", "goal_object", "goal_position", "length", "success", "source", "instruction", "terminated")
Act = Callable[[dict[str, np.ndarray], dict[str, Any]], np.ndarray]


@dataclass
class Episodes:
    """Padded episodes with their labels; index ``[i]`` is episode i, ``[:t]`` its first t steps."""

    obs: dict[str, np.ndarray]
    action: np.ndarray
    goal_object: np.ndarray
    goal_position: np.ndarray
    length: np.ndarray
    success: np.ndarray
    source: np.ndarray
    instruction: np.ndarray
    final_obs: dict[str, np.ndarray]
    terminated: np.ndarray
    env_id: str
    split: str = "train"
    seed: np.ndarray | None = None
    """(N,) the seed each episode was reset with (replaying its actions from it reproduces it)."""

    def __len__(self) -> int:
        return len(self.length)

    @property
    def max_steps(self) -> int:
        return int(self.action.shape[1])

    def subset(self, index: np.ndarray | list[int]) -> Episodes:
        idx = np.asarray(index)
        return Episodes(
            {k: v[idx] for k, v in self.obs.items()},
            self.action[idx],
            self.goal_object[idx],
            self.goal_position[idx],
            self.length[idx],
            self.success[idx],
            self.source[idx],
            self.instruction[idx],
            {k: v[idx] for k, v in self.final_obs.items()},
            self.terminated[idx],
            self.env_id,
            self.split,
            None if self.seed is None else self.seed[idx],
        )

    def step_mask(self) -> np.ndarray:
        """(N, T) True on the steps each episode actually has."""
        return np.arange(self.max_steps)[None, :] < self.length[:, None]

    def first_observations(self) -> dict[str, np.ndarray]:
        """(N, ...) each episode's first observation (start states for imagination)."""
        return {k: v[:, 0] for k, v in self.obs.items()}

    def to_replay(self) -> ReplayBuffer:
        """The episodes as replay transitions (the shared format; sparse reward), e.g. to fit a
        world model or to clone."""
        space = gym.spaces.Dict({k: gym.spaces.Box(-np.inf, np.inf, v.shape[2:], v.dtype) for k, v in self.obs.items()})
        buffer = ReplayBuffer(space, self.action.shape[-1], max(int(self.length.sum()), 1), self.env_id)
        for i in range(len(self)):
            t = int(self.length[i])
            steps = np.arange(t)
            last = steps == t - 1
            success = last & bool(self.success[i])
            nxt = {k: np.concatenate([v[i, 1:t], self.final_obs[k][i : i + 1]]) for k, v in self.obs.items()}
            buffer.add(
                {k: v[i, :t] for k, v in self.obs.items()},
                self.action[i, :t],
                success.astype(np.float32),
                nxt,
                last & bool(self.terminated[i]),
                last & (not bool(self.terminated[i])),
                steps == 0,
                np.full(t, i),
                steps,
                success,
                self.goal_object[i, :t],
            )
        return buffer

    # ---------------------------------------------------------------- files
    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        meta = {"format": FORMAT_VERSION, "env_id": self.env_id, "split": self.split}
        arrays = {"obs/" + k: v for k, v in self.obs.items()}
        arrays.update({"final_obs/" + k: v for k, v in self.final_obs.items()})
        for name in _FIELDS:
            arrays[name] = getattr(self, name)
        if self.seed is not None:
            arrays["seed"] = self.seed
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, env_id: str | None = None) -> Episodes:
        """Episodes saved by :meth:`save`, checked: readable, not empty, finite, and of ``env_id`` when
        given; any problem is a :class:`~envs.errors.UsageError` naming the file."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                data = {k: archive[k] for k in archive.files if k != "meta"}
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {meta.get('format')}, expected {FORMAT_VERSION}")
            obs = {k[4:]: v for k, v in data.items() if k.startswith("obs/")}
            final = {k[10:]: v for k, v in data.items() if k.startswith("final_obs/")}
            episodes = cls(
                obs,
                *(data[name] for name in _FIELDS[:-1]),
                final_obs=final,
                terminated=data["terminated"],
                env_id=meta["env_id"],
                split=meta["split"],
                seed=data.get("seed"),
            )
        except Exception as exc:  # numpy and zipfile raise many kinds for truncated or foreign files
            raise UsageError(f"{path}: not a readable Groundworld episodes file ({type(exc).__name__}: {exc})") from exc
        episodes.check(str(path), env_id)
        return episodes

    def check(self, source: str, env_id: str | None = None) -> None:
        """Raise :class:`~envs.errors.UsageError` naming ``source`` if these episodes cannot be trained on."""
        if len(self) == 0:
            raise UsageError(f"{source} holds no episodes")
        if env_id is not None and self.env_id != env_id:
            raise UsageError(f"{source} holds {self.env_id!r} episodes, not {env_id!r}")
        mask = self.step_mask()
        for name, array in [*self.obs.items(), ("action", self.action), ("goal_position", self.goal_position)]:
            if array.dtype.kind == "f" and not np.isfinite(array[mask]).all():
                episode = int(np.flatnonzero(~np.isfinite(array[mask].reshape(mask.sum(), -1)).all(-1))[0])
                raise UsageError(f"{source}: {name!r} has a non-finite value (step {episode} of the steps stored)")

    @classmethod
    def concat(cls, parts: list[Episodes]) -> Episodes:
        """Join episode sets of one env, padding to the longest."""
        if len({p.env_id for p in parts}) != 1:
            raise UsageError(f"cannot join episodes of different envs: {sorted({p.env_id for p in parts})}")
        t = max(p.max_steps for p in parts)

        def pad(x: np.ndarray) -> np.ndarray:
            widths = [(0, 0), (0, t - x.shape[1])] + [(0, 0)] * (x.ndim - 2)
            return np.pad(x, widths)

        obs = {k: np.concatenate([pad(p.obs[k]) for p in parts]) for k in parts[0].obs}
        return cls(
            obs,
            np.concatenate([pad(p.action) for p in parts]),
            np.concatenate([pad(p.goal_object) for p in parts]),
            np.concatenate([pad(p.goal_position) for p in parts]),
            np.concatenate([p.length for p in parts]),
            np.concatenate([p.success for p in parts]),
            np.concatenate([p.source for p in parts]),
            np.concatenate([p.instruction for p in parts]),
            {k: np.concatenate([p.final_obs[k] for p in parts]) for k in parts[0].final_obs},
            np.concatenate([p.terminated for p in parts]),
            parts[0].env_id,
            parts[0].split,
            None if any(p.seed is None for p in parts) else np.concatenate([p.seed for p in parts]),
        )


def goal_arrays(info: Mapping[str, Any]) -> tuple[int, np.ndarray]:
    """``info["goal"]`` as (object index, target position in the observation's table frame)."""
    position = np.asarray(info["goal"]["position"], dtype=np.float32).copy()
    position[2] -= TABLE_TOP
    return int(info["goal"]["object"]), position


def source_policy(name: str, env: gym.Env, rng: np.random.Generator, agent: Any = None) -> Act:
    """The behaviour policy ``name`` (see the module docstring) for the episode just reset."""
    base = env.unwrapped
    oracle = envs.make_oracle(env)
    space = env.action_space
    horizon = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else 200

    def random_action() -> np.ndarray:
        return rng.uniform(space.low, space.high).astype(np.float32)

    if name == "oracle":
        return oracle
    if name == "noisy":
        scale = rng.uniform(0.5, 3.0)
        return lambda obs, info: np.clip(oracle(obs, info) + rng.normal(0, scale, space.shape), -1, 1).astype(
            np.float32
        )
    if name == "decoy":
        true_target = base.goal.targets[0]
        candidates = [i for i in range(len(base.objects)) if i != true_target]
        return oracles.decoy(base, oracle, int(rng.choice(candidates)))
    if name == "lazy":
        switch, t = int(rng.integers(0, horizon)), [0]

        def lazy(obs, info):
            t[0] += 1
            return oracle(obs, info) if t[0] <= switch else random_action()

        return lazy
    if name == "random":
        return lambda obs, info: random_action()
    if name == "agent":
        if agent is None:
            raise ValueError("the 'agent' source needs a policy (agents.load_policy)")
        agent.reset()
        return lambda obs, info: agent.act(obs)
    raise ValueError(f"unknown episode source {name!r}; choose from {list(SOURCES)}")


def collect_episodes(
    env_id: str,
    episodes: int,
    seed: int = 0,
    split: str = "train",
    mix: Mapping[str, float] | None = None,
    agent: Any = None,
    repeats: int = 1,
) -> Episodes:
    """Roll out ``episodes`` whole episodes, each from a policy drawn from ``mix`` (source -> weight).

    ``agent`` (an object with ``reset()`` and ``act(obs)``) serves the ``"agent"`` source.
    With ``repeats`` > 1, runs of ``repeats`` consecutive episodes share a seed: the same
    scene and instruction, attempted several times (for rejection sampling)."""
    mix = dict(mix or DEFAULT_MIX)
    unknown = sorted(set(mix) - set(SOURCES))
    if unknown:
        raise UsageError(f"unknown episode source(s) {unknown}; choose from {list(SOURCES)}")
    env = gym.make(env_id, split=split)
    rng = np.random.default_rng(seed)
    names = list(mix)
    weights = np.array([mix[n] for n in names], dtype=float)
    weights /= weights.sum()
    horizon = env.spec.max_episode_steps
    space = env.observation_space
    obs_buf = {k: np.zeros((episodes, horizon, *s.shape), dtype=s.dtype) for k, s in space.spaces.items()}
    action = np.zeros((episodes, horizon, env.action_space.shape[0]), dtype=np.float32)
    goal_object = np.zeros((episodes, horizon), dtype=np.int64)
    goal_position = np.zeros((episodes, horizon, 3), dtype=np.float32)
    final_obs = {k: np.zeros((episodes, *s.shape), dtype=s.dtype) for k, s in space.spaces.items()}
    length = np.zeros(episodes, dtype=np.int64)
    success = np.zeros(episodes, dtype=bool)
    ended = np.zeros(episodes, dtype=bool)
    source, instruction = [], []
    seeds = seed * 1_000_003 + np.arange(episodes) // max(1, repeats)
    for i in range(episodes):
        obs, info = env.reset(seed=int(seeds[i]))
        name = names[rng.choice(len(names), p=weights)]
        act = source_policy(name, env, rng, agent)
        source.append(name)
        instruction.append(info["instruction"])
        for t in range(horizon):
            for k in obs_buf:
                obs_buf[k][i, t] = obs[k]
            goal_object[i, t], goal_position[i, t] = goal_arrays(info)
            action[i, t] = act(obs, info)
            obs, _, terminated, truncated, info = env.step(action[i, t])
            if terminated or truncated:
                break
        length[i], success[i], ended[i] = t + 1, bool(info["is_success"]), terminated
        for k in final_obs:
            final_obs[k][i] = obs[k]
    env.close()
    return Episodes(
        obs_buf,
        action,
        goal_object,
        goal_position,
        length,
        success,
        np.array(source),
        np.array(instruction),
        final_obs,
        ended,
        env_id,
        split,
        seeds,
    )
