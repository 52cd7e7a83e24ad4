"""The table's symmetries: a turned or mirrored scene is a scene of the same task, whose observations,
physics and oracle labels are the images of the first (the premise of ``--symmetry`` in DAgger)."""

import copy
import dataclasses

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import envs
from envs import symmetry
from envs.rules import RELATION_AXES

SYMMETRIC = [t for t in envs.TASKS if gym.make(t).unwrapped.table_symmetric]


def mirrored_twin(env_id: str, seed: int, g: int):
    """Two envs of the same episode: the second's scene is the image of the first's under ``g``."""
    a, b = gym.make(env_id), gym.make(env_id)
    obs_a, _ = a.reset(seed=seed)
    b.reset(seed=seed)  # same goal, objects and instruction
    ua, ub = a.unwrapped, b.unwrapped
    positions = symmetry.transform_xy(ua.scene_view.object_pos[:, :2].copy(), g)
    zones = [dataclasses.replace(z, xy=tuple(symmetry.transform_xy(np.asarray(z.xy), g))) for z in ua.zones]
    agent = symmetry.transform_xy(ua.data.qpos[ua.index.agent_qpos].copy(), g)
    ub._write_episode(ua.objects, zones, positions, agent)
    return a, b, obs_a, ub._get_obs()


def assert_obs_close(expected: dict, got: dict, atol: float) -> None:
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=atol, err_msg=key)


def test_matrices_form_the_group_of_the_square():
    mats = {tuple(symmetry.matrix(g).ravel()) for g in range(symmetry.SYMMETRIES)}
    assert len(mats) == 8
    for g in range(8):
        m = symmetry.matrix(g)
        assert abs(round(np.linalg.det(m))) == 1 and np.array_equal(m @ m.T, np.eye(2))
    with pytest.raises(ValueError, match="0..7"):
        symmetry.matrix(8)


def test_which_tasks_are_symmetric():
    assert set(SYMMETRIC) == {f"Groundworld/{t}-v0" for t in ("GoTo", "Push", "KnockOff", "Sequence")}


def test_batched_transform_uses_each_rows_symmetry():
    env = gym.make("Groundworld/Push-v0")
    obs, _ = env.reset(seed=3)
    batch = {k: np.stack([v] * 8) for k, v in obs.items()}
    out = symmetry.transform_observation(batch, np.arange(8))
    for g in range(8):
        one = symmetry.transform_observation(obs, g)
        assert_obs_close(one, {k: v[g] for k, v in out.items()}, atol=0)
    np.testing.assert_array_equal(out["instruction"], batch["instruction"])
    assert out["objects"].dtype == np.float32


def image_state(src, dst, g: int) -> None:
    """Put ``dst`` (an env of the same episode) in the image of ``src``'s current state: positions, velocities
    and the goal's progress (orientations are not observed and stay as they are)."""
    us, ud = src.unwrapped, dst.unwrapped
    ud.data.qpos[us.index.agent_qpos] = symmetry.transform_xy(us.data.qpos[us.index.agent_qpos], g)
    ud.data.qvel[us.index.agent_qvel] = symmetry.transform_xy(us.data.qvel[us.index.agent_qvel], g)
    for slot in range(len(us.objects)):
        p, v = us.index.object_qpos[slot], us.index.object_qvel[slot]
        ud.data.qpos[p : p + 2] = symmetry.transform_xy(us.data.qpos[p : p + 2], g)
        ud.data.qpos[p + 2] = us.data.qpos[p + 2]
        ud.data.qvel[v : v + 2] = symmetry.transform_xy(us.data.qvel[v : v + 2], g)
        ud.data.qvel[v + 2] = us.data.qvel[v + 2]
    mujoco.mj_forward(ud.model, ud.data)
    ud._sync_view()
    ud.goal = copy.deepcopy(us.goal)


@pytest.mark.parametrize("env_id", SYMMETRIC)
@pytest.mark.parametrize("g", range(symmetry.SYMMETRIES))
def test_image_scene_has_image_observations(env_id, g):
    _, _, obs_a, obs_b = mirrored_twin(env_id, seed=11, g=g)
    assert_obs_close(symmetry.transform_observation(obs_a, g), obs_b, atol=1e-6)
    np.testing.assert_array_equal(obs_a["instruction"], obs_b["instruction"])


@pytest.mark.parametrize("env_id", SYMMETRIC)
@pytest.mark.parametrize("g", range(1, symmetry.SYMMETRIES))
def test_image_actions_give_image_physics(env_id, g):
    """Exact until the first contact. MuJoCo's pyramidal friction cones lie along a contact frame that does not
    turn with the scene, so through a push the images agree only to a few centimetres per second."""
    a, b, obs_a, obs_b = mirrored_twin(env_id, seed=11, g=g)
    oracle = envs.make_oracle(a)
    for _ in range(40):
        label = oracle(obs_a, {})
        obs_a, _, term, trunc, _ = a.step(label)
        obs_b, *_ = b.step(symmetry.transform_action(label, g))
        touched = any(a.unwrapped.scene_view.gap(i) < 0.005 for i in range(len(a.unwrapped.objects)))
        if touched:
            break
        assert_obs_close(symmetry.transform_observation(obs_a, g), obs_b, atol=1e-3)
        if term or trunc:
            break


@pytest.mark.parametrize("env_id", SYMMETRIC)
def test_oracle_labels_image_states_with_image_actions(env_id):
    """What DAgger's ``--symmetry`` relies on: the oracle's label of an image state is the image of its label
    (up to ties between equally good detours or edges)."""
    agree = []
    for g in range(1, symmetry.SYMMETRIES):
        a, b, obs_a, _ = mirrored_twin(env_id, seed=11, g=g)
        oracle_a, oracle_b = envs.make_oracle(a), envs.make_oracle(b)
        for _ in range(60):
            image_state(a, b, g)
            label = oracle_a(obs_a, {})
            agree.append(np.abs(symmetry.transform_action(label, g) - oracle_b(None, {})).max() < 1e-4)
            obs_a, _, term, trunc, _ = a.step(label)
            if term or trunc:
                break
    assert np.mean(agree) >= 0.95, np.mean(agree)


def turned_relation(relation: str, g: int) -> str:
    """The relation whose side is the image of ``relation``'s under ``g``."""
    side = symmetry.transform_xy(np.asarray(RELATION_AXES[relation], dtype=np.float32), g)
    return next(r for r, axis in RELATION_AXES.items() if np.allclose(axis, side))


def test_a_turned_relation_scene_is_the_scene_of_the_turned_side():
    """Relation names a side, so its image is a Relation scene only with the side turned too ("left of" under a
    quarter turn is "in front of"); then the oracle's labels are the images of its labels, which
    ``--symmetry --pointer-reference`` relies on (the pointer turns the words' side with the scene)."""
    agree, sides = [], set()
    for g in range(1, symmetry.SYMMETRIES):
        a, b, obs_a, _ = mirrored_twin("Groundworld/Relation-v0", seed=11, g=g)
        oracle_a, oracle_b = envs.make_oracle(a), envs.make_oracle(b)
        for _ in range(60):
            image_state(a, b, g)
            b.unwrapped.goal.relation = turned_relation(a.unwrapped.goal.relation, g)
            sides.add(b.unwrapped.goal.relation)
            label = oracle_a(obs_a, {})
            agree.append(np.abs(symmetry.transform_action(label, g) - oracle_b(None, {})).max() < 1e-4)
            obs_a, _, term, trunc, _ = a.step(label)
            if term or trunc:
                break
    assert len(sides) == 4 and np.mean(agree) >= 0.95, (sides, np.mean(agree))
