"""Scripted controllers that the per-task oracles are built from.

They read privileged simulator state from the unwrapped environment (exact positions,
which object is the target) and are reactive: each call looks at the current state only,
so an oracle can take over in the middle of an episode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from envs import scene

Policy = Callable[[dict[str, np.ndarray], dict[str, Any]], np.ndarray]
_GAIN = 12.0


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(v[0], v[1]))
    return v / n if n > 1e-9 else np.zeros(2)


def detour(start: np.ndarray, goal: np.ndarray, obstacles: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
    """Next waypoint on the way from ``start`` to ``goal`` around disc ``obstacles``.

    Each obstacle is (centre, clearance radius). If the straight segment is clear the goal
    is returned; otherwise a point beside the first blocking obstacle, on the side of the
    segment's start, slightly beyond the obstacle's clearance.
    """
    seg = goal - start
    length = float(np.hypot(*seg))
    if length < 1e-9:
        return goal
    direction = seg / length
    normal = np.array([-direction[1], direction[0]])
    blocking = []
    for centre, radius in obstacles:
        rel = centre - start
        along = float(rel @ direction)
        if 0.0 < along < length and abs(float(rel @ normal)) < radius:
            blocking.append((along, centre, radius, float(rel @ normal)))
    if not blocking:
        return goal
    _, centre, radius, side = min(blocking, key=lambda b: b[0])
    sign = -1.0 if side > 0 else 1.0  # pass on the side away from the obstacle
    return centre + sign * normal * (radius + 0.04)


def ball_towards(env, target: np.ndarray, avoid: Sequence[int] = (), speed: float = 1.0) -> np.ndarray:
    """Action that drives the agent ball towards ``target`` (xy), around objects ``avoid``."""
    view = env.scene_view
    pos = view.effector_pos[:2]
    obstacles = [(view.object_pos[i, :2], view.objects[i].half + scene.BALL_RADIUS + 0.03) for i in avoid]
    waypoint = detour(pos, np.asarray(target, dtype=float), obstacles)
    action = _GAIN * (waypoint - pos)
    norm = float(np.hypot(*action))
    if norm > speed:
        action *= speed / norm
    return action.astype(np.float32)


def _wrap(angle: float) -> float:
    return (angle + np.pi) % (2 * np.pi) - np.pi


_ORBIT_STEP = 1.0  # radians the orbit point leads the ball by, around the object
_ALIGNED = 0.35  # radians off the push line at which pushing starts to blend in


def ball_push(env, index: int, goal: np.ndarray, avoid: Sequence[int] = (), speed: float = 1.0) -> np.ndarray:
    """Action that pushes object ``index`` with the agent ball towards ``goal`` (xy).

    The ball orbits the object towards its back side (as seen from the goal, or from a detour around
    ``avoid``) and pushes once it is there, steering back onto the line. The two blend continuously
    with how well the ball is placed, so the action is a smooth function of the state almost
    everywhere: a learner that imitates it (DAgger, BC) regresses onto a function it can represent,
    not onto the jumps of a switch between reposition and push."""
    view = env.scene_view
    pos = view.effector_pos[:2]
    obj = view.object_pos[index, :2]
    half = view.objects[index].half
    obstacles = [(view.object_pos[i, :2], view.objects[i].half + half + 0.03) for i in avoid]
    push_dir = _unit(detour(obj, np.asarray(goal, dtype=float), obstacles) - obj)
    normal = np.array([-push_dir[1], push_dir[0]])
    contact = half + scene.BALL_RADIUS
    rel = pos - obj
    dist = float(np.hypot(*rel))
    # orbit: a point on a circle round the object, ahead of the ball on the way to the back side
    angle = float(np.arctan2(rel[1], rel[0]))
    to_back = _wrap(float(np.arctan2(-push_dir[1], -push_dir[0])) - angle)
    radius = contact + 0.015 + 0.025 * min(1.0, abs(to_back) / 0.6)
    lead = angle + float(np.clip(to_back, -_ORBIT_STEP, _ORBIT_STEP))
    orbit = obj + radius * np.array([np.cos(lead), np.sin(lead)])
    others = [(view.object_pos[i, :2], view.objects[i].half + scene.BALL_RADIUS + 0.03) for i in avoid]
    reposition = _GAIN * (detour(pos, orbit, others) - pos)
    norm = float(np.hypot(*reposition))
    if norm > 1.0:
        reposition /= norm
    # push through the object, slowing near the goal and steering back onto the line
    remaining = float(np.hypot(*(np.asarray(goal) - obj)))
    drive = push_dir * max(0.35, min(1.0, 6.0 * remaining)) * speed
    push = np.clip(drive - normal * float(rel @ normal) * 10.0, -1, 1)
    aligned = np.clip((np.cos(to_back) - np.cos(_ALIGNED)) / (1 - np.cos(_ALIGNED)), 0.0, 1.0)
    close = np.clip((contact + 0.04 - dist) / 0.03, 0.0, 1.0)
    weight = float(aligned * close)
    return (weight * push + (1.0 - weight) * reposition).astype(np.float32)


def arm_inverse_kinematics(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Joint angles putting the fingertip at ``target`` (xy); the branch nearest ``current``."""
    l1, l2 = scene.ARM_LINKS
    rel = np.asarray(target, dtype=float) - scene.ARM_BASE
    r = float(np.clip(np.hypot(*rel), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6))
    cos_elbow = (r**2 - l1**2 - l2**2) / (2 * l1 * l2)
    base_angle = np.arctan2(-rel[0], rel[1])  # 0 along +y, positive to the left
    best, best_cost = None, np.inf
    for elbow in (np.arccos(np.clip(cos_elbow, -1, 1)), -np.arccos(np.clip(cos_elbow, -1, 1))):
        shoulder = base_angle - np.arctan2(l2 * np.sin(elbow), l1 + l2 * np.cos(elbow))
        shoulder = current[0] + (shoulder - current[0] + np.pi) % (2 * np.pi) - np.pi
        q = np.array([shoulder, elbow])
        cost = float(np.sum((q - current) ** 2))
        if cost < best_cost:
            best, best_cost = q, cost
    return best


def arm_towards(env, target: np.ndarray, avoid: Sequence[int] = ()) -> np.ndarray:
    """PD action in joint space moving the fingertip towards ``target`` (xy) around ``avoid``.

    The fingertip is steered along a straight task-space path: the joint target is the
    inverse kinematics of a point a few centimetres ahead on the way to the next waypoint.
    """
    d, idx, view = env.data, env.index, env.scene_view
    q, qd = d.qpos[idx.agent_qpos], d.qvel[idx.agent_qvel]
    tip = view.effector_pos[:2]
    obstacles = [(view.object_pos[i, :2], view.objects[i].half + scene.FINGER_RADIUS + 0.03) for i in avoid]
    waypoint = detour(tip, np.asarray(target, dtype=float), obstacles)
    step = waypoint - tip
    dist = float(np.hypot(*step))
    lookahead = step if dist < 0.1 else step * (0.1 / dist)
    q_target = arm_inverse_kinematics(tip + lookahead, q)
    action = 4.0 * (q_target - q) - 0.3 * qd
    return np.clip(action, -1, 1).astype(np.float32)


def towards(env, target: np.ndarray, avoid: Sequence[int] = ()) -> np.ndarray:
    """Action that moves the env's effector towards ``target`` (xy) around objects ``avoid``:
    :func:`ball_towards` for the ball, :func:`arm_towards` for the arm's fingertip."""
    if env.embodiment == "arm":
        return arm_towards(env, target, avoid=avoid)
    return ball_towards(env, target, avoid=avoid)


def others(env, *keep: int) -> list[int]:
    """Indices of the episode's objects except ``keep``."""
    return [i for i in range(len(env.objects)) if i not in keep]


def decoy(env, oracle: Policy, decoy_index: int) -> Policy:
    """``oracle`` acting as if the instruction named object ``decoy_index`` instead of the first
    described object: a confident, competent policy that did not ground the instruction.

    Judges are trained on such episodes so that reading the instruction matters. The goal's
    bound objects are swapped only while the oracle computes its action; verification always
    sees the true goal.
    """
    goal = env.goal

    def policy(obs, info) -> np.ndarray:
        bound = goal._bound
        # the decoy takes the first role; if it was another described object, the two swap roles
        goal._bound = [decoy_index] + [bound[0] if i == decoy_index else i for i in bound[1:]]
        try:
            return oracle(obs, info)
        finally:
            goal._bound = bound

    return policy
