"""The task rules (envs.rules): one definition, the same numbers in numpy, torch and Python floats,
and the very rules every env's verify and potential apply."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

import envs
from envs import rules, scene
from envs.base import HALF_EXTENT, effector_xy
from envs.language import Status

B = 500  # rows of random states per check


def _inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random float64 quantities of B states, spread across every rule's thresholds."""
    return {
        "eff": rng.uniform(-0.6, 0.6, (B, 2)),
        "a": rng.uniform(-0.6, 0.6, (B, 2)),
        "b": rng.uniform(-0.6, 0.6, (B, 2)),
        "half": rng.choice([0.03, 0.045], B),
        "half_b": rng.choice([0.03, 0.045], B),
        "z": rng.uniform(-0.1, 0.1, B),
        "z_b": rng.uniform(-0.1, 0.1, B),
        "axis": np.array(list(rules.RELATION_AXES.values()))[rng.integers(0, 4, B)],
        "radius": rng.uniform(0.05, 0.15, B),
        "progress": rng.integers(0, 3, B),
        "fell": rng.random((B, 5)) < 0.2,
        "is_target": np.eye(5, dtype=bool)[rng.integers(0, 5, B)],
    }


def _every_rule(q: dict, radius: float = 0.05) -> dict[str, object]:
    """Every rule of every task kind on the quantities ``q`` (numpy, torch or one row of Python numbers)."""
    gap = rules.surface_gap(q["eff"], q["a"], q["half"], radius)
    gap_b = rules.surface_gap(q["eff"], q["b"], q["half_b"], radius)
    fell, fell_b = rules.fallen(q["z"]), rules.fallen(q["z_b"])
    named_fell = fell | fell_b
    along, side = rules.relation_offsets(q["a"], q["b"], q["axis"])
    between = rules.surface_distance(q["a"], q["half"], q["b"], q["half_b"])
    out = {
        "gap": gap,
        "edge": rules.edge_distance(q["a"]),
        "along": along,
        "side": side,
        "aim": rules.relation_aim(q["b"], q["axis"]),
        "goto": rules.goto_outcome(gap, fell),
        "push": rules.push_outcome(rules.in_zone(q["a"], q["b"], q["radius"]), fell),
        "relate": rules.relation_outcome(rules.relation_holds(along, side), named_fell),
        "knockoff": rules.knockoff_outcome(q["fell"], q["is_target"]),
        "sequence": rules.sequence_outcome(q["progress"], rules.touching(gap), rules.touching(gap_b), named_fell),
        "goto_potential": rules.goto_potential(gap),
        "push_potential": rules.push_potential(q["a"], q["b"], gap, 0.3),
        "relate_potential": rules.relation_potential(q["a"], q["b"], q["axis"], gap, 0.3),
        "knockoff_potential": rules.knockoff_potential(q["a"], gap, 0.3),
        "sequence_potential": rules.sequence_potential(q["progress"], gap, gap_b, between),
    }
    return out


def _flat(value) -> list[np.ndarray]:
    """The arrays a rule returned (one, or a tuple of them), as numpy arrays."""
    if isinstance(value, tuple):
        return [array for part in value for array in _flat(part)]
    return [value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)]


def _row(parts: list[np.ndarray], row: int | None = None) -> list:
    """The values of one row (all of them when ``row`` is None), as Python numbers."""
    return [x for p in parts for x in np.ravel(p if row is None else p[row]).tolist()]


def test_numpy_torch_and_python_floats_give_identical_results():
    """Every outcome and progress is identical; distances and potentials are identical in numpy and
    Python floats and agree with torch to the last bit (torch's CPU square root is not correctly rounded)."""
    q = _inputs(np.random.default_rng(0))
    with_numpy = _every_rule(q)
    with_torch = _every_rule({k: torch.from_numpy(v) for k, v in q.items()})
    for name in with_numpy:
        for a, b in zip(_flat(with_numpy[name]), _flat(with_torch[name]), strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape, name
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-15, err_msg=name)
            else:
                np.testing.assert_array_equal(a, b, err_msg=name)
    for row in range(0, B, 10):  # one state as Python numbers: the env's form
        one = {k: v[row].tolist() for k, v in q.items()}
        one = {k: tuple(v) if k in ("eff", "a", "b", "axis") else v for k, v in one.items()}
        for name, value in _every_rule(one).items():
            assert _row(_flat(value)) == _row(_flat(with_numpy[name]), row), name


def test_outcomes_are_exclusive_and_follow_each_tasks_order():
    q = _inputs(np.random.default_rng(1))
    out = _every_rule(q)
    for kind in ("goto", "push", "relate", "knockoff"):
        success, failure = out[kind]
        assert not np.any(success & failure), kind
        assert success.any() and failure.any(), kind  # the random states reach both
    progress, success, failure = out["sequence"]
    assert not np.any(success & failure) and success.any() and failure.any()
    assert np.all(progress[failure] == q["progress"][failure])  # a fall leaves progress as it was
    assert np.all((progress == 2) == (success | (q["progress"] == 2)))
    fell = rules.fallen(q["z"])
    gap = out["gap"]
    touched_falling = rules.touching(gap) & fell
    assert touched_falling.any() and np.all(out["goto"][0][touched_falling])  # GoTo: contact counts as it falls
    assert np.all(out["push"][1] == fell)  # PushInto: a fallen object fails first


# ---------------------------------------------------------------- the envs apply these rules
def _from_obs(base, obs: dict[str, np.ndarray], progress: int) -> tuple[bool, bool, float, int]:
    """(success, failure, potential, progress) of an observation, by the rules, as a world model
    would compute them: from the observation arrays and the goal's object slots."""
    goal, kind = base.goal, base.goal_type.kind
    objects = obs["objects"].astype(np.float64)[None]  # a batch of one
    eff = effector_xy(obs["proprio"].astype(np.float64)[None])
    radius, weight = base._effector_radius(), base.approach_weight

    def xy(i):
        return objects[:, i, :2]

    def gap(i):
        return rules.surface_gap(eff, xy(i), objects[:, i, HALF_EXTENT], radius)

    fell = rules.fallen(objects[..., 2]) & (obs["object_mask"][None] > 0.5)
    t = goal.targets
    if kind in ("goto", "touch"):
        (success, failure), potential = rules.goto_outcome(gap(t[0]), fell[:, t[0]]), rules.goto_potential(gap(t[0]))
    elif kind == "push":
        zone = obs["zones"][None, goal.zone_index, :3].astype(np.float64)
        success, failure = rules.push_outcome(rules.in_zone(xy(t[0]), zone[:, :2], zone[:, 2]), fell[:, t[0]])
        potential = rules.push_potential(xy(t[0]), zone[:, :2], gap(t[0]), weight)
    elif kind == "relate":
        axis = np.array(goal.axis)[None]
        holds = rules.relation_holds(*rules.relation_offsets(xy(t[0]), xy(t[1]), axis))
        success, failure = rules.relation_outcome(holds, fell[:, t[0]] | fell[:, t[1]])
        potential = rules.relation_potential(xy(t[0]), xy(t[1]), axis, gap(t[0]), weight)
    elif kind == "knockoff":
        success, failure = rules.knockoff_outcome(fell, np.arange(objects.shape[1])[None] == t[0])
        potential = rules.knockoff_potential(xy(t[0]), gap(t[0]), weight)
    else:
        assert kind == "sequence"
        before = np.array([progress])
        touched = [rules.touching(gap(i)) for i in t]
        progress, success, failure = rules.sequence_outcome(before, *touched, fell[:, t[0]] | fell[:, t[1]])
        between = rules.surface_distance(
            xy(t[0]), objects[:, t[0], HALF_EXTENT], xy(t[1]), objects[:, t[1], HALF_EXTENT]
        )
        potential = rules.sequence_potential(progress, gap(t[0]), gap(t[1]), between)
        return bool(success[0]), bool(failure[0]), float(potential[0]), int(progress[0])
    return bool(success[0]), bool(failure[0]), float(potential[0]), progress


def _random_state(base, rng: np.random.Generator) -> None:
    """Put the env's objects and effector at random places: on and off the table, sometimes
    touching the goal's objects, sometimes where the goal's condition holds."""
    d, idx, view = base.data, base.index, base.scene_view
    n = len(base.objects)
    qpos = d.qpos[base._pos_idx].reshape(n, 3)
    xy = rng.uniform(-0.56, 0.56, (n, 2))
    goal = base.goal
    if goal.kind == "relate" and rng.random() < 0.5:  # near the aim point: the relation often holds
        xy[goal.targets[0]] = xy[goal.targets[1]] + 0.2 * np.array(goal.axis) + rng.normal(0, 0.06, 2)
    if goal.kind == "push" and rng.random() < 0.5:
        xy[goal.targets[0]] = np.array(base.zones[goal.zone_index].xy) + rng.normal(0, 0.08, 2)
    halves = np.array([o.half for o in base.objects])
    qpos[:, :2] = xy
    qpos[:, 2] = scene.TABLE_TOP + np.where(rng.random(n) < 0.15, -rng.uniform(0.01, 0.3, n), halves)
    d.qpos[base._pos_idx] = qpos.ravel()
    touched = goal.targets[int(rng.integers(len(goal.targets)))]
    near = xy[touched] + rng.normal(0, 0.03, 2) + 0.09 * rng.standard_normal(2) / np.sqrt(2)
    if base.embodiment == "ball":
        d.qpos[idx.agent_qpos] = near if rng.random() < 0.6 else rng.uniform(-0.47, 0.47, 2)
    else:
        d.qpos[idx.agent_qpos] = envs.oracles.arm_inverse_kinematics(near, d.qpos[idx.agent_qpos])
    mujoco.mj_forward(base.model, d)
    base._sync_view()
    assert view is base.scene_view


@pytest.mark.parametrize("env_id", envs.TASKS)
def test_each_envs_verify_and_potential_are_the_rules(env_id):
    env = gym.make(env_id)
    base = env.unwrapped
    rng = np.random.default_rng(2)
    seen = {Status.SUCCESS: 0, Status.FAILURE: 0, Status.CONTINUE: 0}
    for episode in range(4):
        env.reset(seed=episode)
        for _ in range(100):
            _random_state(base, rng)
            progress = getattr(base.goal, "progress", 0)
            status = base.goal.verify(base.scene_view)
            success, failure, potential, after = _from_obs(base, base._get_obs(), progress)
            assert (success, failure) == (status is Status.SUCCESS, status is Status.FAILURE)
            assert base.potential() == pytest.approx(potential, abs=1e-5)
            if base.goal_type.kind == "sequence":
                assert after == base.goal.progress
                if rng.random() < 0.3:
                    base.goal.reset()  # start over sometimes, so every phase is visited
            seen[status] += 1
    assert min(seen.values()) > 0, seen  # the random states reach success, failure and neither
