"""The task rules, defined once: what success, failure and the dense-reward potential of each goal are.

Every function takes a batch of states, as numpy or torch arrays of any leading shape, and
returns arrays of that shape; a single state may also be given as Python numbers (a batch of
one without array overhead, which the environment's every step can afford). The arithmetic is
the same in each library: IEEE operations and a square root, so float64 inputs give identical
results in numpy and Python floats, and in torch up to the last bit of a distance (torch's CPU
square root is accurate to one unit in the last place, not correctly rounded). The environment
evaluates the rules on float64 values read from its simulator (:meth:`envs.language.Goal.verify`
and the tasks' ``potential()``); the world model on imagined torch observations
(:class:`world_model.outcomes.TaskOutcome`).

Quantities are in the observation frame: table-plane positions relative to the table centre and
heights ``z`` relative to the table top, as ``obs["objects"]`` holds them. A position ``xy`` is a
``(..., 2)`` array or an ``(x, y)`` pair. A rule reads only what it names (an object's centre,
its half-extent, the effector's centre and radius), so it never depends on how a caller stores
its state.

Each task's outcome is a pair of boolean arrays ``(success, failure)`` that are never both true;
the order in which the conditions are tested (which one wins when both hold) is part of the rule.
"""

from __future__ import annotations

import math
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from envs.scene import TABLE_HALF

Array = Any
"""A numpy or torch array (or a Python / numpy scalar, read as a 0-d array)."""

TOUCH_TOLERANCE = 0.02
"""Metres of gap between the effector's and an object's surfaces that count as touching."""
RELATION_AXES: dict[str, tuple[float, float]] = {
    "left of": (-1.0, 0.0),
    "right of": (1.0, 0.0),
    "in front of": (0.0, -1.0),
    "behind": (0.0, 1.0),
}
"""Unit table-plane direction, from the reference object, of each relation's side."""
RELATION_BAND = (0.1, 0.3)
"""Along-axis distances between centres (metres) that count for a relation."""
RELATION_LATERAL = 0.1
"""Largest sideways offset between centres (metres) that counts for a relation."""
RELATION_AIM = 0.5 * (RELATION_BAND[0] + RELATION_BAND[1])
"""Distance from the reference, along the relation's axis, of the point the relation's potential pulls towards."""


def _maximum(a: float, b: float) -> float:
    return a if a > b or a != a else b  # a NaN propagates, as in numpy and torch


SCALARS = SimpleNamespace(
    sqrt=math.sqrt,
    maximum=_maximum,
    clip=lambda x, min: _maximum(x, min),  # the keyword numpy and torch name it by
    logical_not=lambda x: not x,
    where=lambda condition, a, b: a if condition else b,
)
"""The functions of the array namespaces that the rules use, for one state given as Python numbers."""
_SCALAR_TYPES = (float, int, bool)


def namespace(*arrays: Array) -> ModuleType | SimpleNamespace:
    """The array library of ``arrays``: torch if any of them is a torch tensor, else numpy, and
    :data:`SCALARS` when all are Python numbers.

    torch is looked up among the loaded modules, never imported: a tensor exists only once
    torch was imported by its caller.
    """
    xp: ModuleType | SimpleNamespace = SCALARS
    for a in arrays:
        kind = type(a)
        if kind in _SCALAR_TYPES:
            continue
        if kind.__module__.partition(".")[0] == "torch":
            return sys.modules["torch"]
        xp = np
    return xp


def _xy(position: Array) -> tuple[Array, Array]:
    """The x and y of a ``(..., 2)`` array or an ``(x, y)`` pair."""
    if type(position) is tuple:
        return position
    return position[..., 0], position[..., 1]


# ---------------------------------------------------------------------------------------- quantities
def centre_distance(a_xy: Array, b_xy: Array) -> Array:
    """Table-plane distance between the centres ``a_xy`` and ``b_xy``."""
    (ax, ay), (bx, by) = _xy(a_xy), _xy(b_xy)
    dx, dy = ax - bx, ay - by
    return namespace(dx, dy).sqrt(dx * dx + dy * dy)


def surface_gap(effector_xy: Array, object_xy: Array, object_half: Array, effector_radius: Array) -> Array:
    """Table-plane distance between the effector's and an object's surfaces (negative when they overlap).

    Objects are measured by their half-extent (radius, half side or half height), the effector
    by its radius: the gap is what touching (:func:`touching`) and every approach term read.
    """
    return centre_distance(object_xy, effector_xy) - object_half - effector_radius


def surface_distance(a_xy: Array, a_half: Array, b_xy: Array, b_half: Array) -> Array:
    """Table-plane distance between two objects' surfaces, by their half-extents."""
    return centre_distance(a_xy, b_xy) - (a_half + b_half)


def touching(gap: Array) -> Array:
    """Whether a :func:`surface_gap` counts as contact."""
    return gap <= TOUCH_TOLERANCE


def fallen(object_z: Array) -> Array:
    """Whether an object's centre is below the table top (``object_z`` is relative to it): off the table."""
    return object_z < 0.0


def in_zone(object_xy: Array, zone_xy: Array, zone_radius: Array) -> Array:
    """Whether an object's centre lies inside a zone (disc of ``zone_radius`` around ``zone_xy``)."""
    return centre_distance(object_xy, zone_xy) <= zone_radius


def relation_offsets(object_xy: Array, reference_xy: Array, axis: Array) -> tuple[Array, Array]:
    """(along ``axis``, sideways) offsets of an object's centre from the reference's.

    ``axis`` is the relation's unit direction (:data:`RELATION_AXES`).
    """
    (ox, oy), (rx, ry), (ax, ay) = _xy(object_xy), _xy(reference_xy), _xy(axis)
    dx, dy = ox - rx, oy - ry
    return dx * ax + dy * ay, abs(dx * ay - dy * ax)


def relation_holds(along: Array, sideways: Array) -> Array:
    """Whether :func:`relation_offsets` place the object on the relation's side of the reference."""
    return (RELATION_BAND[0] <= along) & (along <= RELATION_BAND[1]) & (sideways <= RELATION_LATERAL)


def relation_aim(reference_xy: Array, axis: Array) -> Array:
    """The point :data:`RELATION_AIM` from the reference along the relation's axis: an ``(x, y)``
    pair for a pair ``reference_xy``, else a ``(..., 2)`` array."""
    (rx, ry), (ax, ay) = _xy(reference_xy), _xy(axis)
    x, y = rx + RELATION_AIM * ax, ry + RELATION_AIM * ay
    if type(reference_xy) is tuple:
        return x, y
    return namespace(x, y).stack((x, y), -1)


def edge_distance(object_xy: Array) -> Array:
    """How far an object's centre is inside the nearest table edge (0 once past it)."""
    x, y = _xy(object_xy)
    xp = namespace(x, y)
    return xp.clip(TABLE_HALF - xp.maximum(abs(x), abs(y)), min=0.0)


# ---------------------------------------------------------------------------------------- outcomes
def goto_outcome(gap: Array, target_fell: Array) -> tuple[Array, Array]:
    """GoTo and Touch: success on contact with the target, even as it falls; failure when it fell untouched."""
    success = touching(gap)
    return success, target_fell & namespace(success).logical_not(success)


def push_outcome(inside: Array, target_fell: Array) -> tuple[Array, Array]:
    """PushInto: a fallen object fails first; else success when its centre is in the zone (:func:`in_zone`)."""
    return inside & namespace(inside).logical_not(target_fell), target_fell


def relation_outcome(holds: Array, named_fell: Array) -> tuple[Array, Array]:
    """Relate: either named object fallen fails first; else success when the relation holds."""
    return holds & namespace(holds).logical_not(named_fell), named_fell


def knockoff_outcome(fell: Array, is_target: Array) -> tuple[Array, Array]:
    """KnockOff: any other object off the table fails first; else success once the target is off.

    ``fell`` and ``is_target`` (``(..., objects)`` booleans, or sequences of bools for one state)
    say which of the scene's objects are off the table and which one is the target; entries past
    a scene's objects must be False in ``fell``.
    """
    if isinstance(fell, list | tuple):
        failure = any(f and not t for f, t in zip(fell, is_target, strict=True))
        return not failure and any(f and t for f, t in zip(fell, is_target, strict=True)), failure
    xp = namespace(fell, is_target)
    failure = (fell & xp.logical_not(is_target)).any(-1)
    return (fell & is_target).any(-1) & xp.logical_not(failure), failure


def sequence_outcome(
    progress: Array, first_touched: Array, second_touched: Array, named_fell: Array
) -> tuple[Array, Array, Array]:
    """Sequence: (progress, success, failure) after one step from ``progress``.

    Progress is 0 before the first object was touched, 1 after, 2 once the second was touched
    after it (success). Either named object fallen fails first and leaves progress as it was;
    touching the second object before the first does not count.
    """
    xp = namespace(progress, first_touched, second_touched, named_fell)
    standing = xp.logical_not(named_fell)
    progress = xp.where(standing & (progress == 0) & first_touched, 1, progress)
    success = standing & (progress == 1) & second_touched
    return xp.where(success, 2, progress), success, named_fell


# ---------------------------------------------------------------------------------------- potentials
def goto_potential(gap: Array) -> Array:
    """GoTo and Touch: minus the effector-target gap."""
    return -gap


def push_potential(object_xy: Array, zone_xy: Array, gap: Array, approach_weight: float) -> Array:
    """PushInto: minus the object-zone centre distance and ``approach_weight`` x the effector-object gap."""
    return -centre_distance(object_xy, zone_xy) - approach_weight * gap


def relation_potential(object_xy: Array, reference_xy: Array, axis: Array, gap: Array, approach_weight: float) -> Array:
    """Relate: minus the object's distance to :func:`relation_aim` and ``approach_weight`` x the effector-object gap."""
    return -centre_distance(object_xy, relation_aim(reference_xy, axis)) - approach_weight * gap


def knockoff_potential(object_xy: Array, gap: Array, approach_weight: float) -> Array:
    """KnockOff: minus the target's :func:`edge_distance` and ``approach_weight`` x the (non-negative) gap."""
    return -edge_distance(object_xy) - approach_weight * namespace(gap).clip(gap, min=0.0)


def sequence_potential(progress: Array, first_gap: Array, second_gap: Array, between: Array) -> Array:
    """Sequence: minus the gap to the current object and, while the first is pending, minus the
    :func:`surface_distance` ``between`` the two objects too (so the potential is continuous at the first touch)."""
    xp = namespace(progress, first_gap, second_gap, between)
    return xp.where(progress >= 1, -second_gap, -first_gap - between)
