"""DAgger: the oracle labels the states the learner itself visits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import envs
from agents.bc import BCPolicy
from agents.config import DAggerConfig
from agents.dagger import Labels, beta_at, in_random_images, label_and_act
from envs import symmetry


def test_the_oracle_labels_the_learners_states_and_the_learner_acts():
    vec = gym.make_vec("Groundworld/Push-v0", num_envs=3, vectorization_mode="sync")
    obs, _ = vec.reset(seed=0)
    oracles = [envs.make_oracle(env) for env in vec.envs]
    policy = BCPolicy(vec.single_observation_space, vec.single_action_space)
    rng = np.random.default_rng(0)
    for _ in range(5):
        expected = np.stack([envs.make_oracle(env)(None, None) for env in vec.envs])  # the oracle at this state
        labels, action = label_and_act(oracles, policy, obs, beta=0.0, rng=rng)
        np.testing.assert_allclose(labels, expected, atol=1e-6)
        np.testing.assert_allclose(action, policy.act(obs), atol=1e-6)  # beta 0: the learner's own actions
        assert not np.allclose(action, labels)  # so the states visited are the learner's, not the oracle's
        obs, *_ = vec.step(action)
    labels, action = label_and_act(oracles, policy, obs, beta=1.0, rng=rng)
    np.testing.assert_allclose(action, labels)


def test_beta_decays_to_zero_and_labels_keep_their_rows(tmp_path):
    config = DAggerConfig(beta=1.0, beta_steps=100)
    assert beta_at(config, 0) == 1.0 and beta_at(config, 50) == 0.5 and beta_at(config, 200) == 0.0
    space = gym.make("Groundworld/GoTo-v0").observation_space
    store = Labels(space, 2, capacity=4)
    obs = {k: np.stack([s.sample() for _ in range(3)]) for k, s in space.spaces.items()}
    store.add(obs, np.ones((3, 2), np.float32), np.arange(3))
    store.add(obs, 2 * np.ones((3, 2), np.float32), np.arange(3))  # wraps: capacity 4
    assert len(store) == 4 and sorted(store.action[:, 0].tolist()) == [1.0, 2.0, 2.0, 2.0]
    back = Labels(space, 2, capacity=4)
    back.load(store.save(tmp_path / "labels.npz"))
    np.testing.assert_array_equal(back.action, store.action)
    assert back.pos == store.pos and len(back) == 4
    with np.load(tmp_path / "labels.npz") as archive:  # a run saved before episodes were kept still resumes
        kept = {
            k: archive[k]
            for k in archive.files
            if k not in ("episode", "prev", "goal_zone", "goal_reference", "goal_second")
        }
        np.savez(tmp_path / "old.npz", **kept)
    old = Labels(space, 2, capacity=4)
    old.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.action, store.action)
    assert (old.prev == -1).all() and old.chunks(2, 3, np.random.default_rng(0))[1].all()  # one-step episodes
    assert (old.goal[:, 1:] == -1).all()  # and name no zone nor reference object


def test_chunks_for_the_memory_never_cross_episodes_and_keep_step_order():
    space = gym.make("Groundworld/GoTo-v0").observation_space
    store = Labels(space, 2, capacity=200)
    step_of = {}
    last = {0: -1, 1: -1, 2: -1}
    rng = np.random.default_rng(0)
    for t in range(30):  # three episodes interleaved as vector envs write them; episode 2 starts at t = 10
        live = [e for e in (0, 1, 2) if e != 2 or t >= 10]
        obs = {k: np.stack([s.sample() for _ in live]) for k, s in space.spaces.items()}
        rows = store.add(obs, np.zeros((len(live), 2), np.float32), np.zeros(len(live)), np.array(live),
                         np.array([last[e] for e in live]))  # fmt: skip
        for e, r in zip(live, rows, strict=True):
            step_of[int(r)] = (e, t - (10 if e == 2 else 0))
            last[e] = int(r)
    rows, start = store.chunks(64, 16, rng)
    for chunk, first in zip(rows, start, strict=True):
        episodes = {step_of[int(r)][0] for r in chunk}
        assert len(episodes) == 1  # one episode per chunk
        steps = [step_of[int(r)][1] for r in chunk]
        assert steps == sorted(steps) and all(b - a in (0, 1) for a, b in zip(steps, steps[1:], strict=False))
        assert first[0] and all(f == (s == 0) for f, s in zip(first[1:], steps[1:], strict=True))


def test_a_policy_with_memory_keeps_one_state_per_env_and_forgets_on_reset():
    from agents.bc import RecurrentBCPolicy

    env = gym.make("Groundworld/Sequence-v0")
    obs, _ = env.reset(seed=0)
    policy = RecurrentBCPolicy(env.observation_space, env.action_space, memory=16)
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    first = policy.act(batch)
    second = policy.act(batch)  # the same observation, a different memory
    assert not np.allclose(first, second)
    policy.reset(np.array([True, False]))
    third = policy.act(batch)
    np.testing.assert_allclose(third[0], first[0], atol=1e-6)  # row 0 forgot, row 1 did not
    assert not np.allclose(third[1], first[1])


def test_a_mixture_head_keeps_both_modes_that_regression_averages_away():
    """One input, two demonstrated actions (pass left or right): the squared-error head learns their mean, which
    is neither; the mixture acts with one of the two."""
    import torch

    from agents.bc import MixtureHead

    torch.manual_seed(0)
    x = torch.ones(512, 4)  # the same observation in every row
    target = torch.where(torch.rand(512, 1) < 0.5, 1.0, -1.0) * torch.tensor([[0.8, 0.0]]) + torch.tensor([[0.0, 0.3]])
    mixture, mean = (
        MixtureHead(4, (64,), 2, components=4),
        torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)),
    )
    for head, loss in ((mixture, mixture.nll), (mean, lambda x, t: (torch.tanh(mean(x)) - t).pow(2).sum(-1))):
        optim = torch.optim.Adam(head.parameters(), lr=1e-2)
        for _ in range(400):
            optim.zero_grad()
            loss(x, target).mean().backward()
            optim.step()
    with torch.no_grad():
        acted, averaged = mixture(x), torch.tanh(mean(x))
    assert acted.shape == (512, 2) and acted.abs().max() <= 1.0
    assert (acted[:, 0].abs() - 0.8).abs().max() < 0.1 and (acted[:, 1] - 0.3).abs().max() < 0.1
    assert averaged[:, 0].abs().mean() < 0.3  # regression steers between the modes


def test_a_dagger_run_with_a_mixture_head_reloads_the_same_policy(tmp_path):
    import agents
    from agents.training import config_from_args

    run = tmp_path / "gmm"
    config = config_from_args(
        {
            "env": "Groundworld/Push-v0",
            "algo": "dagger",
            "steps": 160,
            "num_envs": 2,
            "learning_starts": 40,
            "components": 3,
            "eval_every": 160,
            "eval_episodes": 1,
            "checkpoint_every": 160,
            "run_dir": str(run),
            "progress": False,
        },
        resume=False,
    )
    trained = agents.train(config)
    policy, loaded = agents.load_policy(run)
    assert loaded.dagger.components == 3
    obs, _ = gym.make("Groundworld/Push-v0").reset(seed=2)
    np.testing.assert_allclose(policy.act(obs), trained.act(obs), atol=1e-6)


def test_symmetry_turns_each_state_with_its_label_and_a_chunk_as_one():
    """``--symmetry``: a row's state and label go through the same image; a memory chunk keeps one image."""
    space = gym.make("Groundworld/Push-v0").observation_space
    obs = {k: np.stack([s.sample() for _ in range(64)]) for k, s in space.spaces.items()}
    labels = np.random.default_rng(1).uniform(-1, 1, (64, 2)).astype(np.float32)
    place = np.random.default_rng(3).uniform(-0.4, 0.4, (64, 2)).astype(np.float32)
    batch = (obs, labels, np.arange(64), place)
    (turned, turned_labels, goal, turned_place), row_images = in_random_images(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(goal, np.arange(64))
    for i in range(64):  # find the one image that maps row i's ball position and label onto the turned ones
        images = [g for g in range(symmetry.SYMMETRIES)
                  if np.allclose(symmetry.transform_xy(obs["proprio"][i, :2], g), turned["proprio"][i, :2])
                  and np.allclose(symmetry.transform_action(labels[i], g), turned_labels[i])]  # fmt: skip
        assert row_images[i] in images, i
        np.testing.assert_allclose(turned_place[i], symmetry.transform_xy(place[i], images[0]), atol=1e-6)
        expected = symmetry.transform_observation({k: v[i] for k, v in obs.items()}, images[0])
        for key in expected:
            np.testing.assert_allclose(turned[key][i], expected[key], atol=1e-6)
    assert sum(not np.allclose(turned_labels[i], labels[i]) for i in range(64)) > 40  # 7 images in 8 move a label
    # a sequence batch: 4 chunks of 8 rows, labels (4, 8, 2); every row of a chunk in its chunk's image
    chunk_labels = np.repeat(labels[:4, None], 8, axis=1)
    chunk_obs = {k: np.repeat(v[:4], 8, axis=0) for k, v in obs.items()}
    chunk_place = np.repeat(place[:4], 8, axis=0)
    (turned, turned_labels, _, _), row_images = in_random_images(
        (chunk_obs, chunk_labels, None, chunk_place), np.random.default_rng(2)
    )
    for c in range(4):
        rows = turned["proprio"][c * 8 : (c + 1) * 8]
        assert np.allclose(rows, rows[0]) and np.allclose(turned_labels[c], turned_labels[c, 0])
        assert len(set(row_images[c * 8 : (c + 1) * 8])) == 1


def test_a_multitask_batch_turns_the_balls_rows_and_leaves_the_arms():
    from groundworld.layout import to_common

    rows = [to_common(gym.make(f"Groundworld/{t}-v0").reset(seed=s)[0]) for s in range(16) for t in ("Reach", "Push")]
    obs = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    labels = np.random.default_rng(1).uniform(-1, 1, (32, 2)).astype(np.float32)
    batch = (obs, labels, None, np.zeros((32, 2), np.float32))
    (turned, turned_labels, _, _), images = in_random_images(batch, np.random.default_rng(0))
    arm = obs["embodiment"][:, 1] > 0.5
    assert arm.sum() == 16 and (images[arm] == 0).all() and (images[~arm] > 0).sum() > 10
    np.testing.assert_array_equal(turned["proprio"][arm], obs["proprio"][arm])
    np.testing.assert_array_equal(turned_labels[arm], labels[arm])


def test_the_pointers_place_turns_with_the_scene_it_is_told_is_turned():
    """Relation under ``--symmetry``: the words' side turns with the scene, so the place read in a turned scene is
    the turned place (the reference object's position alone would turn, but not "left of")."""
    import torch

    from envs.base import OBJECT_DYNAMIC, ZONE_GEOMETRY
    from groundworld.nn import GoalPointer, obs_to_tensors

    env = gym.make("Groundworld/Relation-v0")
    rows = [env.reset(seed=s)[0] for s in range(8)]
    obs = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    attrs = obs["objects"].shape[-1] - OBJECT_DYNAMIC, obs["zones"].shape[-1] - ZONE_GEOMETRY
    pointer = GoalPointer(*attrs, reference=True)
    torch.nn.init.normal_(pointer.offsets.weight, std=1.0)  # a side per word, as a trained pointer has
    images = np.arange(8)
    with torch.no_grad():
        plain = obs_to_tensors(obs)
        place = pointer.place(plain, pointer.scores(plain)).numpy()
        turned = obs_to_tensors(symmetry.transform_observation(obs, images))
        told = pointer.place(turned, pointer.scores(turned), images=torch.as_tensor(images)).numpy()
        untold = pointer.place(turned, pointer.scores(turned)).numpy()
    np.testing.assert_allclose(told, symmetry.transform_xy(place, images), atol=1e-5)
    assert np.abs(untold - symmetry.transform_xy(place, images))[1:].max() > 0.05  # untold: the side stays put


def test_symmetry_is_refused_where_the_instruction_names_a_direction(tmp_path):
    """Refused before anything is written: a task whose words name a direction the pointer does not turn, the arm
    alone, another agent; several tasks with the arm's among them are accepted (its rows stay as they are)."""
    import pytest

    from agents.config import TrainConfig
    from envs.errors import UsageError

    def config(env: str, algo: str = "dagger") -> TrainConfig:
        c = TrainConfig(env=env, algo=algo, run_dir=str(tmp_path / "run"))
        c.dagger.symmetry = True
        return c

    with pytest.raises(
        UsageError, match="--symmetry needs tasks .*Push.*--pointer-reference also .*Relation-v0.*Relation-v0 is not"
    ):
        config("Groundworld/Relation-v0").validate()
    with pytest.raises(UsageError, match="Reach-v0 is not"):
        config("Groundworld/Reach-v0").validate()
    with pytest.raises(UsageError, match="; Groundworld/Relation-v0 is not"):  # the words' side does not turn
        config("Groundworld/Reach-v0,Groundworld/Relation-v0").validate()
    config("Groundworld/Reach-v0,Groundworld/Push-v0").validate()  # several tasks: the arm's rows stay put
    turned_words = config("Groundworld/Relation-v0")
    turned_words.sac.encoder.pointer_reference = True
    turned_words.validate()  # the pointer reads the words' side as a vector, which turns with the scene
    with pytest.raises(UsageError, match="--symmetry is for --algo dagger, not native"):
        config("Groundworld/Push-v0", algo="native").validate()
    config("Groundworld/Push-v0").validate()  # accepted
    assert not (tmp_path / "run").exists()
    assert set(symmetry.symmetric_tasks()) == {f"Groundworld/{t}-v0" for t in ("GoTo", "Push", "KnockOff", "Sequence")}
    assert set(symmetry.symmetric_tasks(True)) - set(symmetry.symmetric_tasks()) == {"Groundworld/Relation-v0"}


def test_labels_keep_the_goals_zone_and_the_zone_loss_trains_the_pointer_towards_it(tmp_path):
    """Push names a zone; its labels keep it, and the zone grounding loss falls as the pointer's zone scores pick it."""
    import torch

    from groundworld.grounding import goal_arrays
    from groundworld.nn import zone_grounding_loss

    vec = gym.make_vec("Groundworld/Push-v0", num_envs=4, vectorization_mode="sync")
    obs, info = vec.reset(seed=1)
    goal, place = goal_arrays(info, 4)
    assert (goal[:, 1] >= 0).all() and (goal[:, 2] == -1).all()  # Push names a zone and no reference object
    np.testing.assert_allclose(place, info["goal"]["position"][:, :2])
    store = Labels(vec.single_observation_space, 2, capacity=8)
    store.add(obs, np.zeros((4, 2), np.float32), goal, place=place)
    back = Labels(vec.single_observation_space, 2, capacity=8)
    back.load(store.save(tmp_path / "labels.npz"))
    np.testing.assert_array_equal(back.goal[:4], goal)
    np.testing.assert_array_equal(back.place[:4], place)
    zone_mask = torch.as_tensor(obs["zone_mask"])
    n_objects = obs["objects"].shape[1]
    scores = torch.zeros(4, n_objects + zone_mask.shape[1])
    right = scores.clone()
    right[torch.arange(4), n_objects + torch.as_tensor(goal[:, 1])] = 5.0
    target = torch.as_tensor(goal[:, 1])
    object_mask = torch.as_tensor(obs["object_mask"])
    assert zone_grounding_loss(right, object_mask, zone_mask, target) < zone_grounding_loss(
        scores, object_mask, zone_mask, target
    )
    none = torch.full((4,), -1)
    assert zone_grounding_loss(right, object_mask, zone_mask, none) == 0.0  # rows that name no zone are skipped
    # a reference pointer's scores (objects, zones, then the objects again as the reference): the zone part is read
    with_reference = torch.cat([right, torch.full((4, n_objects), 7.0)], dim=1)
    torch.testing.assert_close(
        zone_grounding_loss(with_reference, object_mask, zone_mask, target),
        zone_grounding_loss(right, object_mask, zone_mask, target),
    )


def test_pointer_pretraining_teaches_the_pointer_before_the_first_real_step(tmp_path):
    """``--pointer-pretrain``: before any env step, the pointer of a Relation run learns on fresh scenes to pick the
    named and the reference object; the run's wall-clock counts that time."""
    import torch

    import agents
    from agents.training import config_from_args
    from groundworld.grounding import first_scenes
    from groundworld.nn import obs_to_tensors

    def run(name: str, pretrain: int):
        args = {"env": "Groundworld/Relation-v0", "algo": "dagger", "steps": 2, "num_envs": 2, "learning_starts": 10}
        args.update(pointer_reference=True, pointer_pretrain=pretrain, eval_every=2, eval_episodes=1)
        args.update(run_dir=str(tmp_path / name), progress=False)
        agents.train(config_from_args(args, resume=False))
        return agents.load_policy(tmp_path / name)[0].model.encoder.pointer

    obs_np, goal, _ = first_scenes(gym.make, ["Groundworld/Relation-v0"], 200, seed=70_000)
    obs = obs_to_tensors(obs_np)

    def accuracy(pointer) -> tuple[float, float]:
        with torch.no_grad():
            scores = pointer.scores(obs)
        named = (pointer.weights(obs, scores)[0].argmax(1).numpy() == goal[:, 0]).mean()
        return named, (pointer.reference_weights(obs, scores).argmax(1).numpy() == goal[:, 2]).mean()

    assert max(accuracy(run("none", 0))) < 0.7  # two to five objects: chance is about 0.3
    assert min(accuracy(run("taught", 1500))) > 0.9
    wall = [float(line.split(",")[1]) for line in (tmp_path / "taught" / "progress.csv").read_text().splitlines()[1:]]
    assert wall[0] > 1.0  # the pretraining's seconds are in the run's wall-clock
