"""Groundworld environments: language-conditioned MuJoCo tasks for Gymnasium.

Importing this package registers every task under the ``Groundworld/`` namespace::

    import gymnasium as gym
    import envs

    env = gym.make("Groundworld/Push-v0", render_mode="rgb_array")
    obs, info = env.reset(seed=0)
    print(info["instruction"])
"""

from envs import _gl

_gl.choose_backend()  # must run before the first ``import mujoco``

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from envs import (  # noqa: E402
    goto,
    knockoff,
    push,
    reach,
    relation,
    sequence,
    vector,  # noqa: E402
)
from envs.base import EnvConfig, GroundworldEnv  # noqa: E402
from envs.errors import UsageError  # noqa: E402
from envs.video import record_video  # noqa: E402
from envs.wrappers import FlatObservation  # noqa: E402

# id suffix -> (module, class name, max_episode_steps)
_TASKS: dict[str, tuple[Any, str, int]] = {
    "GoTo": (goto, "GoToEnv", 100),
    "Push": (push, "PushEnv", 200),
    "Reach": (reach, "ReachEnv", 100),
    "Relation": (relation, "RelationEnv", 200),
    "Sequence": (sequence, "SequenceEnv", 150),
    "KnockOff": (knockoff, "KnockOffEnv", 200),
}
TASKS: tuple[str, ...] = tuple(f"Groundworld/{name}-v0" for name in _TASKS)
"""Every registered environment id."""

for _name, (_module, _cls, _steps) in _TASKS.items():
    _id = f"Groundworld/{_name}-v0"
    setattr(vector, _name, vector.vector_factory(_id))  # make_vec's default: a vector env checking every row
    if _id not in gym.registry:
        gym.register(
            id=_id,
            entry_point=f"{_module.__name__}:{_cls}",
            vector_entry_point=f"envs.vector:{_name}",
            max_episode_steps=_steps,
        )


def check_env_id(env_id: str, also: str = "") -> None:
    """Raise :class:`~envs.errors.UsageError` naming the registered ids if ``env_id`` is not one; ``also`` names
    further accepted values for the message (e.g. ``"all"``)."""
    if env_id not in TASKS:
        more = f" (or {also})" if also else ""
        raise UsageError(f"unknown env id {env_id!r}; Groundworld ids are {', '.join(TASKS)}{more}")


def goal_kind(env_id: str) -> str:
    """The goal kind (``envs.language``) of task ``env_id``'s instructions: "goto", "push", ..."""
    check_env_id(env_id)
    module, cls, _ = _TASKS[env_id.split("/")[-1].removesuffix("-v0")]
    return getattr(module, cls).goal_type.kind


_ORACLES = {getattr(module, cls): module.oracle for module, cls, _ in _TASKS.values()}


def make_oracle(env: gym.Env) -> Callable[[dict[str, np.ndarray], dict[str, Any]], np.ndarray]:
    """A scripted policy ``policy(obs, info) -> action`` for ``env`` (privileged state).

    Works on a wrapped or unwrapped Groundworld env; it reads the unwrapped env's
    simulator state, so it is only valid for that env instance.
    """
    base = env.unwrapped
    if type(base) not in _ORACLES:
        raise TypeError(f"no oracle for {type(base).__name__}; Groundworld tasks are {list(TASKS)}")
    return _ORACLES[type(base)](base)


__all__ = [
    "TASKS",
    "EnvConfig",
    "FlatObservation",
    "GroundworldEnv",
    "check_env_id",
    "goal_kind",
    "make_oracle",
    "record_video",
]
