"""Stepping a Gymnasium vector env into a replay buffer, with episode bookkeeping.

Gymnasium 1.x vector envs auto-reset in ``NEXT_STEP`` mode: the step after an episode
ends only resets that env (its action is ignored, its reward is 0). :class:`Collector`
skips those steps, so every stored row is a real transition, and numbers episodes and
their steps for the replay format.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from gymnasium.vector import VectorEnv

from groundworld.replay import ReplayBuffer


class Collector:
    """Drives ``vec`` and appends its transitions to ``replay``."""

    def __init__(
        self,
        vec: VectorEnv,
        replay: ReplayBuffer,
        seed: int,
        first_episode: int = 0,
        on_episode: Callable[[dict[str, np.ndarray]], None] | None = None,
    ):
        """``on_episode`` receives each finished episode's transitions (``obs/<key>``, ``next_obs/<key>``,
        ``action``, in step order), e.g. to store it again under another instruction."""
        self.vec, self.replay, self.n = vec, replay, vec.num_envs
        self.on_episode = on_episode
        self._running: list[list[dict[str, np.ndarray]]] = [[] for _ in range(self.n)]
        self.obs, info = vec.reset(seed=seed)
        self.goal_object = _goal_objects(info, self.n)
        self.episode = np.arange(first_episode, first_episode + self.n)
        self.next_episode = first_episode + self.n
        self.t = np.zeros(self.n, dtype=np.int32)
        self.after_reset = np.zeros(self.n, dtype=bool)

    def step(self, action: np.ndarray) -> tuple[int, list[bool]]:
        """Step every env once; return (transitions stored, success flags of episodes that ended)."""
        self.begin(action)
        return self.finish()

    def begin(self, action: np.ndarray) -> None:
        """Send ``action`` to the envs. An ``AsyncVectorEnv`` steps them in its worker processes while the
        caller goes on (say, with gradient updates) until :meth:`finish`; other vector envs step in
        :meth:`finish`. Either way the transition is stored at :meth:`finish`, so the same seeds give the same
        data in both: work done between the two calls never sees this step."""
        self._action = np.asarray(action)
        if hasattr(self.vec, "step_async"):
            self.vec.step_async(self._action)

    def finish(self) -> tuple[int, list[bool]]:
        """Receive the step begun by :meth:`begin` and store it (see :meth:`step` for what it returns)."""
        action = self._action
        if hasattr(self.vec, "step_wait"):
            next_obs, reward, terminated, truncated, info = self.vec.step_wait()
        else:
            next_obs, reward, terminated, truncated, info = self.vec.step(action)
        valid = ~self.after_reset
        rows = np.flatnonzero(valid)
        if len(rows):
            self.replay.add(
                {k: v[rows] for k, v in self.obs.items()},
                action[rows],
                reward[rows],
                {k: v[rows] for k, v in next_obs.items()},
                terminated[rows],
                truncated[rows],
                self.t[rows] == 0,
                self.episode[rows],
                self.t[rows],
                info["is_success"][rows],
                self.goal_object[rows],
            )
        done = (terminated | truncated) & valid
        finished = [bool(info["is_success"][i]) for i in np.flatnonzero(done)]
        if self.on_episode is not None:
            self._track(rows, action, next_obs, done)
        self.t = np.where(valid & ~done, self.t + 1, 0)
        self.episode[done] = np.arange(self.next_episode, self.next_episode + int(done.sum()))
        self.next_episode += int(done.sum())
        self.after_reset = done
        self.obs = next_obs
        self.goal_object = _goal_objects(info, self.n)  # the goal that comes with next_obs
        return len(rows), finished

    def _track(self, rows: np.ndarray, action: np.ndarray, next_obs: dict, done: np.ndarray) -> None:
        for i in rows:
            row = {f"obs/{k}": v[i] for k, v in self.obs.items()}
            row.update({f"next_obs/{k}": v[i] for k, v in next_obs.items()}, action=action[i])
            self._running[i].append(row)
        for i in np.flatnonzero(done):
            steps, self._running[i] = self._running[i], []
            self.on_episode({key: np.stack([r[key] for r in steps]) for key in steps[0]})


def _goal_objects(info: dict, n: int) -> np.ndarray:
    """``info["goal"]["object"]`` of each env, -1 where an env does not report one."""
    goal = info.get("goal")
    if not isinstance(goal, dict) or "object" not in goal:
        return np.full(n, -1, dtype=np.int64)
    present = goal.get("_object", np.ones(n, dtype=bool))
    return np.where(present, goal["object"], -1).astype(np.int64)
