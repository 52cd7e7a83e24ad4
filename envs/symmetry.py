"""The table's eight symmetries, acting on observations and actions of the ball tasks.

The table is a square centred on the origin, the ball is a point mass pushed by a force along x
and y, and the objects' orientations are not observed. Turning the whole scene by a quarter turn,
or mirroring it, therefore gives another scene of the same task whose physics is the image of the
first: if action ``a`` is right in state ``s``, action ``g(a)`` is right in state ``g(s)`` (exactly until
objects touch; through contact MuJoCo's pyramidal friction cones, which lie along a contact frame that
does not turn with the scene, make the images agree to a few centimetres per second). The oracles read
positions only, so their label of ``g(s)`` is ``g`` of their label of ``s``, ties aside. An
imitation learner can train on every labelled state in all eight images (Zinkevich and Balch's
symmetry in MDPs; data augmentation by symmetry in robot learning) and so sees eight scenes per
state it visited, which is what its generalisation to new scenes lacks.

It holds as it stands only where the instruction does not name a direction (``GroundworldEnv.table_symmetric``):
a relation ("left of", "behind") mirrors into another instruction, and the arm's base breaks the square's
symmetry. Where the words name a side (``GroundworldEnv.names_direction``) it holds once that side turns with
the scene, which a learner can do if it reads the side as a vector (``groundworld.nn.GoalPointer.place``).

Element ``g`` in 0..7: ``g % 4`` quarter turns anticlockwise, after mirroring x -> -x when ``g >= 4``.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np

SYMMETRIES = 8

# (x, y) fields of each observation key, as (start, stop) column ranges of its last axis: positions and velocities
XY_FIELDS: dict[str, tuple[tuple[int, int], ...]] = {
    "proprio": ((0, 2), (2, 4)),  # the ball's position and velocity
    "objects": ((0, 2), (3, 5)),  # each object's position and velocity (z untouched)
    "zones": ((0, 2),),  # each zone's centre
}


def matrix(g: int) -> np.ndarray:
    """The 2x2 integer matrix of symmetry ``g``."""
    if not 0 <= g < SYMMETRIES:
        raise ValueError(f"symmetry {g} is not one of the table's {SYMMETRIES} (0..{SYMMETRIES - 1})")
    turn = np.array([[0, -1], [1, 0]])
    m = np.linalg.matrix_power(turn, g % 4)
    return m @ np.diag([-1, 1]) if g >= 4 else m


MATRICES = np.stack([matrix(g) for g in range(SYMMETRIES)]).astype(np.float32)


def transform_xy(xy: np.ndarray, g: np.ndarray | int) -> np.ndarray:
    """``xy`` (..., 2) under symmetry ``g``: one element, or one per leading row of ``xy``."""
    m = MATRICES[np.asarray(g)]
    if m.ndim == 3:  # one symmetry per row: broadcast over the row's inner axes
        m = m.reshape(m.shape[:1] + (1,) * (xy.ndim - 2) + (2, 2))
    return np.einsum("...ij,...j->...i", m, xy).astype(xy.dtype, copy=False)


def transform_observation(obs: dict[str, np.ndarray], g: np.ndarray | int) -> dict[str, np.ndarray]:
    """A copy of a ball task's observation (one, or a batch with one symmetry per row) seen under ``g``."""
    out = dict(obs)
    for key, fields in XY_FIELDS.items():
        if key not in obs:
            continue
        value = np.array(obs[key], copy=True)
        for start, stop in fields:
            value[..., start:stop] = transform_xy(value[..., start:stop], g)
        out[key] = value
    return out


def transform_action(action: np.ndarray, g: np.ndarray | int) -> np.ndarray:
    """The ball's force (..., 2) under symmetry ``g``."""
    return transform_xy(np.asarray(action, dtype=np.float32), g)


@functools.cache
def _task_classes() -> dict[str, type]:
    """Each registered task's env class (read off its entry point; no env is built)."""
    import envs

    return {t: gym.envs.registration.load_env_creator(gym.spec(t).entry_point) for t in envs.TASKS}


def symmetric_tasks(turned_words: bool = False) -> tuple[str, ...]:
    """The registered task ids whose env class says ``table_symmetric``, and with ``turned_words`` those that say
    ``names_direction`` too."""
    classes = _task_classes()
    return tuple(t for t, c in classes.items() if c.table_symmetric or (turned_words and c.names_direction))


def arm_tasks() -> tuple[str, ...]:
    """The registered task ids of the arm, whose base breaks the square's symmetry: in a multi-task run their rows
    are left as they are while the ball's are turned."""
    return tuple(t for t, c in _task_classes().items() if c.embodiment != "ball")
