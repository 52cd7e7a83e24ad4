"""Judges, calibration metrics, judge shaping, the frozen-judge actor, rejection sampling, Goodhart monitor."""

from __future__ import annotations

import csv
import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import groundworld.checkpoint
from agents.bc import BCPolicy
from agents.judge_actor import JudgeActor, JudgeActorConfig
from agents.rejection import RejectionConfig, accept, expert_iteration, final_judgements
from tests.test_agents import tiny
from world_model.ensemble import EnsembleConfig, EnsembleModel
from world_model.judges.calibration import at_fraction, auroc, brier, calibration_rows, ece, reliability
from world_model.judges.episodes import Episodes, collect_episodes
from world_model.judges.goodhart import GoodhartMonitor
from world_model.judges.judge import (
    Judge,
    JudgeConfig,
    judge_probabilities,
    load_judge,
    save_judge,
    td_targets,
    train_judge,
)
from world_model.judges.shaping import JudgePotential, PotentialShaping

GOTO = "Groundworld/GoTo-v0"
FAST = JudgeConfig(hidden=32, epochs=30, patience=30, lr=3e-3, batch_episodes=16)


# ------------------------------------------------------------------ metrics
def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairwise = np.mean([(p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg)])
    assert auroc(scores, labels) == pytest.approx(pairwise)
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert np.isnan(auroc([0.3, 0.4], [1, 1]))


def test_brier_and_ece_on_known_cases():
    labels = np.array([1, 0, 1, 0])
    assert brier(labels, labels) == 0.0
    assert brier(np.full(4, 0.5), labels) == 0.25
    # predictions of 0.75 that come true 3 times in 4 are perfectly calibrated; 0.25 for a 0.75 event is off by 0.5
    assert ece(np.full(4, 0.75), np.array([1, 1, 1, 0])) == pytest.approx(0.0)
    assert ece(np.full(4, 0.25), np.array([1, 1, 1, 0])) == pytest.approx(0.5)
    predicted, observed, count = reliability(np.array([0.05, 0.95, 0.97]), np.array([0, 1, 0]))
    assert count[0] == 1 and count[9] == 2 and observed[9] == 0.5


def test_at_fraction_takes_the_prediction_after_that_share_of_each_episode():
    probs = np.arange(20, dtype=float).reshape(2, 10)
    np.testing.assert_array_equal(at_fraction(probs, np.array([10, 4]), 0.25), [2.0, 10.0])  # ceil(2.5)=3 -> idx 2
    np.testing.assert_array_equal(at_fraction(probs, np.array([10, 4]), 0.01), [0.0, 10.0])  # at least one step
    with pytest.raises(ValueError, match="fraction"):
        at_fraction(probs, np.array([10, 4]), 0.0)


# ------------------------------------------------------------------ synthetic episodes with known success rules
def synthetic(n: int, rule: str, seed: int = 0, t: int = 8) -> Episodes:
    """GoTo-shaped episodes whose success follows a known rule.

    ``"action"``: success iff the first action pushes right (visible to both judges).
    ``"hidden"``: success iff the goal is object 0 rather than 1; the two objects are identical
    and the instruction is the same, so only the ground truth tells (privileged only)."""
    env = gym.make(GOTO, min_objects=2, max_objects=2)
    template, _ = env.reset(seed=0)
    rng = np.random.default_rng(seed)
    template["objects"][1, 6:] = template["objects"][0, 6:]  # same colour, shape and size
    obs = {k: np.repeat(np.repeat(v[None, None], n, 0), t, 1).copy() for k, v in template.items()}
    obs["proprio"] += rng.normal(0, 0.05, obs["proprio"].shape).astype(np.float32)
    action = rng.uniform(-1, 1, (n, t, 2)).astype(np.float32)
    action[:, 0, 0] = np.sign(action[:, 0, 0])  # a clear push, left or right
    goal_object = np.repeat(rng.integers(0, 2, n)[:, None], t, 1)
    success = action[:, 0, 0] > 0 if rule == "action" else goal_object[:, 0] == 0
    return Episodes(
        obs,
        action,
        goal_object,
        np.zeros((n, t, 3), dtype=np.float32),
        np.full(n, t),
        success,
        np.array(["synthetic"] * n),
        np.array(["go to the red cube"] * n),
        {k: v[:, -1] for k, v in obs.items()},
        np.zeros(n, dtype=bool),
        GOTO,
    )


def _auroc_at(judge: Judge, episodes: Episodes, fraction: float) -> float:
    probs = judge_probabilities(judge, episodes)
    return auroc(at_fraction(probs, episodes.length, fraction), episodes.success)


def test_judges_learn_a_visible_success_rule():
    train, test = synthetic(160, "action", seed=1), synthetic(80, "action", seed=2)
    for privileged in (False, True):
        judge, _ = train_judge(train, dataclasses.replace(FAST, privileged=privileged))
        assert _auroc_at(judge, test, 0.25) > 0.95  # the deciding action is in the first quarter


def test_only_the_privileged_judge_sees_hidden_ground_truth():
    train, test = synthetic(160, "hidden", seed=3), synthetic(80, "hidden", seed=4)
    blind, _ = train_judge(train, FAST)
    privileged, _ = train_judge(train, dataclasses.replace(FAST, privileged=True))
    assert _auroc_at(privileged, test, 0.1) > 0.95
    assert abs(_auroc_at(blind, test, 0.5) - 0.5) < 0.2  # nothing it sees tells the outcome


def test_step_by_step_judging_matches_whole_sequences():
    episodes = synthetic(6, "action", t=7)
    judge = Judge(gym.make(GOTO).observation_space, 2, 7, JudgeConfig(privileged=True, hidden=16)).eval()
    whole = judge_probabilities(judge, episodes)
    obs = {k: torch.as_tensor(v).float() if k != "instruction" else torch.as_tensor(v) for k, v in episodes.obs.items()}
    state = judge.initial_state(6)
    with torch.no_grad():
        for t in range(7):
            logit, state = judge.step(
                state,
                {k: v[:, t] for k, v in obs.items()},
                torch.as_tensor(episodes.action[:, t]),
                torch.full((6,), t),
                torch.as_tensor(episodes.goal_object[:, t]),
                torch.as_tensor(episodes.goal_position[:, t]),
            )
            np.testing.assert_allclose(torch.sigmoid(logit).numpy(), whole[:, t], atol=1e-5)


def test_td_targets_mix_label_and_next_prediction():
    logits = torch.zeros(1, 4)  # p = 0.5 everywhere
    mask = torch.tensor([[True, True, True, False]])
    label = torch.tensor([1.0])
    np.testing.assert_allclose(td_targets(logits, label, mask, 1.0).numpy(), [[1, 1, 1, 1]])
    # lambda 0: every step but the last targets the next step's prediction; the last the label
    np.testing.assert_allclose(td_targets(logits, label, mask, 0.0)[0, :3].numpy(), [0.5, 0.5, 1.0])


def test_judge_checkpoint_round_trip_and_corruption(tmp_path):
    judge = Judge(gym.make(GOTO).observation_space, 2, 100, JudgeConfig(privileged=True, hidden=16))
    path = save_judge(tmp_path / "judge.pt", judge, GOTO)
    loaded, env_id = load_judge(path)
    assert env_id == GOTO and loaded.privileged
    for a, b in zip(judge.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(groundworld.checkpoint.CheckpointError, match="corrupt"):
        load_judge(path)


# ------------------------------------------------------------------ real episodes
@pytest.fixture(scope="module")
def goto_episodes() -> Episodes:
    return collect_episodes(GOTO, 40, seed=5)


def test_episode_mix_labels_and_privileged_truth(goto_episodes):
    e = goto_episodes
    assert set(np.unique(e.source)) <= {"oracle", "noisy", "decoy", "lazy", "random"}
    assert e.success[e.source == "oracle"].all()
    assert not e.success[e.source == "decoy"].any() or e.success[e.source == "decoy"].mean() < 0.5
    for i in range(len(e)):
        n = e.length[i]
        assert (e.goal_object[i, :n] == e.goal_object[i, 0]).all()  # GoTo's target never changes
        assert np.abs(e.obs["proprio"][i, n:]).sum() == 0  # padding past the end
    target = e.goal_object[:, 0]
    np.testing.assert_allclose(  # GoTo's goal position is the target object's position (table frame)
        e.goal_position[:, 0], e.obs["objects"][np.arange(len(e)), 0, target, :3], atol=1e-5
    )


def test_episodes_round_trip_and_replay_conversion(tmp_path, goto_episodes):
    e = goto_episodes
    back = Episodes.load(e.save(tmp_path / "episodes.npz"))
    np.testing.assert_array_equal(back.action, e.action)
    np.testing.assert_array_equal(back.instruction, e.instruction)
    rows = e.to_replay().rows()
    assert len(rows["action"]) == e.length.sum()
    assert rows["is_last"].sum() == len(e) and rows["is_success"].sum() == e.success.sum()
    assert rows["is_terminal"].sum() == e.terminated.sum()
    first = np.flatnonzero(rows["is_first"])
    np.testing.assert_array_equal(rows["obs/proprio"][first], e.obs["proprio"][:, 0])
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a readable Groundworld episodes file"):
        Episodes.load(tmp_path / "bad.npz")


def test_repeats_attempt_the_same_scene_and_instruction():
    e = collect_episodes(GOTO, 6, seed=9, mix={"random": 1.0}, repeats=3)
    assert len(set(e.instruction[:3])) == 1 and len(set(e.instruction[3:])) == 1
    np.testing.assert_array_equal(e.obs["objects"][0, 0], e.obs["objects"][2, 0])


def test_decoy_leaves_the_true_goal_in_place():
    env = gym.make(GOTO)
    env.reset(seed=2)
    from world_model.judges.episodes import source_policy

    goal = env.unwrapped.goal
    before = list(goal.targets)
    policy = source_policy("decoy", env, np.random.default_rng(0))
    obs, info = env.reset(seed=2)
    policy = source_policy("decoy", env, np.random.default_rng(0))
    policy(obs, info)
    assert env.unwrapped.goal.targets == before


# ------------------------------------------------------------------ shaping
class Chain(gym.Env):
    """Positions 0..4; action 1 moves right, 0 left; reaching 4 ends with reward 1."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s, self.t = 1, 0
        return self.s, {}

    def step(self, action):
        self.s = int(np.clip(self.s + (1 if action == 1 else -1), 0, 4))
        self.t += 1
        done = self.s == 4
        return self.s, float(done), done, self.t >= 12 and not done, {}


class RandomPotential:
    """An arbitrary (seeded, history-dependent) potential: shaping must not care what it is."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def reset(self, obs, info):
        return float(self.rng.uniform())

    def step(self, obs, action, info):
        return float(self.rng.uniform() + obs)


def discounted(env: gym.Env, actions: list[int], gamma: float) -> tuple[float, bool]:
    env.reset(seed=0)
    total = 0.0
    for i, a in enumerate(actions):
        _, r, terminated, truncated, _ = env.step(a)
        total += gamma**i * r
        if terminated or truncated:
            return total, terminated
    raise AssertionError("episode did not end")


def test_potential_shaping_keeps_the_order_of_returns():
    gamma = 0.9
    policies = {"direct": [1] * 12, "detour": [0, 1, 1, 1, 1] + [1] * 7, "dawdle": [0, 0, 1, 1, 1, 1] + [1] * 6}
    plain = {k: discounted(Chain(), a, gamma)[0] for k, a in policies.items()}
    for seed in range(3):
        shaped_env = PotentialShaping(Chain(), RandomPotential(seed), gamma=gamma)
        shaped = {}
        for k, a in policies.items():
            shaped_env.potential = RandomPotential(seed)  # the same start potential for each policy
            phi0 = RandomPotential(seed).reset(1, {})
            shaped[k], terminated = discounted(shaped_env, a, gamma)
            assert terminated
            assert shaped[k] == pytest.approx(plain[k] - phi0)  # telescoping: a constant of the start
        assert sorted(plain, key=plain.get) == sorted(shaped, key=shaped.get)


def test_judge_shaping_wrapper_reports_its_terms_and_rejects_bad_actions():
    judge = Judge(gym.make(GOTO).observation_space, 2, 100, JudgeConfig(hidden=16))
    env = PotentialShaping(gym.make(GOTO), JudgePotential(judge), gamma=0.97)
    obs, info = env.reset(seed=0)
    prior = info["judge_success"]
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == pytest.approx(info["reward_success"] + info["reward_shaping"])
    assert info["reward_shaping"] == pytest.approx(0.97 * info["judge_success"] - prior)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0], dtype=np.float32))
    judge.head.weight.data.fill_(1.0)  # frozen means the wrapper never trains it
    assert all(not p.requires_grad for p in judge.parameters())


def test_native_training_with_judge_shaping_logs_the_goodhart_monitor(tmp_path):
    judge = Judge(gym.make(GOTO).observation_space, 2, 100, JudgeConfig(hidden=16))
    path = save_judge(tmp_path / "judge.pt", judge, GOTO)
    run = tmp_path / "run"
    agents.train(tiny(run, judge=str(path), reward_mode="sparse"))
    with open(run / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"judged_success", "goodhart_gap", "goodhart_flag"} <= set(rows[-1])
    assert float(rows[-1]["goodhart_gap"]) == pytest.approx(
        float(rows[-1]["judged_success"]) - float(rows[-1]["eval_success"])
    )
    with pytest.raises(ValueError, match="trained on"):
        agents.train(tiny(tmp_path / "other", env="Groundworld/Reach-v0", judge=str(path)))


# ------------------------------------------------------------------ Goodhart monitor
def test_goodhart_monitor_flags_only_gaps_above_threshold():
    monitor = GoodhartMonitor(threshold=0.2)
    ok = monitor.record(1, [True, False, False, False], [0.4, 0.2, 0.1, 0.1])  # judged 0.2 vs true 0.25
    bad = monitor.record(2, [False] * 4, [0.9, 0.8, 0.7, 0.6])  # judged 0.75 vs true 0
    assert ok["goodhart_flag"] == 0.0 and bad["goodhart_flag"] == 1.0
    assert bad["goodhart_gap"] == pytest.approx(0.75)
    assert [r.step for r in monitor.flagged] == [2]
    with pytest.raises(ValueError, match="one judge probability per"):
        monitor.record(3, [True], [0.1, 0.2])


# ------------------------------------------------------------------ learning through a frozen judge
def test_frozen_judge_actor_moves_only_the_actor(goto_episodes):
    env = gym.make(GOTO)
    model = EnsembleModel(env.observation_space, 2, EnsembleConfig(members=2, elites=2, hidden=32, layers=1))
    judge = Judge(env.observation_space, 2, 100, JudgeConfig(hidden=16))
    policy = BCPolicy(env.observation_space, env.action_space)
    frozen = {k: v.clone() for k, v in itertools.chain(model.state_dict().items(), judge.state_dict().items())}
    actor_before = [p.detach().clone() for p in policy.parameters()]
    starts = goto_episodes.first_observations()
    actor = JudgeActor(policy, model, judge, starts, JudgeActorConfig(horizon=4, batch_size=8))
    actor.update()
    after = dict(itertools.chain(model.state_dict().items(), judge.state_dict().items()))
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)
    assert all(p.grad is None for p in itertools.chain(model.parameters(), judge.parameters()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(actor_before, policy.parameters(), strict=True))


def test_frozen_judge_actor_raises_the_imagined_judgement():
    """A judge that learned "success iff the first action pushes right" teaches the actor to push right."""
    data = synthetic(160, "action", seed=6)
    judge, _ = train_judge(data, FAST)
    env = gym.make(GOTO)
    model = EnsembleModel(env.observation_space, 2, EnsembleConfig(members=2, elites=2, hidden=32, layers=1))
    policy = BCPolicy(env.observation_space, env.action_space)
    actor = JudgeActor(policy, model, judge, data.first_observations(), JudgeActorConfig(horizon=2, lr=3e-3))
    first = actor.update()["imagined_judgement"]
    for _ in range(30):
        last = actor.update()["imagined_judgement"]
    assert last > first + 0.2
    assert policy.act(data.first_observations())[:, 0].mean() > 0.5


# ------------------------------------------------------------------ rejection sampling
def test_filters_keep_exactly_what_they_accept(goto_episodes):
    e = goto_episodes
    np.testing.assert_array_equal(accept(e, "env"), e.success)
    judge = Judge(gym.make(GOTO).observation_space, 2, 100, JudgeConfig(hidden=16))
    final = final_judgements(judge, e)
    threshold = float(np.median(final))
    mask = accept(e, "judge", judge, threshold)
    np.testing.assert_array_equal(mask, final >= threshold)
    kept = e.subset(np.flatnonzero(mask))
    assert len(kept) == mask.sum() and set(kept.instruction) <= set(e.instruction[mask])
    with pytest.raises(ValueError, match="filter"):
        accept(e, "vibes")


def test_expert_iteration_runs_rounds_within_its_budget(tmp_path):
    rows = []
    config = RejectionConfig(steps=300, instructions=2, attempts=2, updates=5, eval_episodes=2)
    policy, history = expert_iteration(config, rows.append)
    assert rows == history and history[-1]["steps"] >= 300
    assert all(r["accepted"] <= 4 for r in history)  # never more than the episodes of a round
    assert history[-1]["kept_episodes"] == sum(r["accepted"] for r in history)
    with pytest.raises(ValueError, match="needs a judge"):
        expert_iteration(RejectionConfig(filter="judge"))


def test_calibration_rows_cover_each_fraction():
    probs = np.tile(np.linspace(0.1, 0.9, 10), (4, 1))
    rows = calibration_rows(probs, np.array([10, 10, 5, 5]), np.array([1, 0, 1, 0]), (0.25, 0.5))
    assert [r["fraction"] for r in rows] == [0.25, 0.5]
    assert {"auroc", "brier", "ece"} <= set(rows[0])


def test_rejection_cli_writes_a_run_that_evaluate_loads(tmp_path, capsys):
    from agents import rejection

    run = tmp_path / "rs"
    args = ["--steps", "200", "--instructions", "2", "--attempts", "2", "--updates", "3", "--eval-episodes", "1"]
    assert rejection.main([*args, "--run-dir", str(run)]) == 0
    policy, config = agents.load_policy(run)
    assert config.env == GOTO
    assert agents.evaluate(policy, GOTO, episodes=1).episodes
    assert rejection.main([*args, "--filter", "judge", "--run-dir", str(run)]) == 2
    assert "needs a judge" in capsys.readouterr().err


def test_judges_and_differential_clis_end_to_end(tmp_path, capsys):
    from agents import judges
    from world_model.judges import differential

    run = tmp_path / "judges"
    common = ["--episodes", "12", "--test-episodes", "8", "--epochs", "1", "--run-dir", str(run)]
    assert judges.main([*common, "--mix", "oracle=1", "random=1"]) == 0
    for name in ("privileged.pt", "blind.pt", "episodes.npz", "calibration.md", "reliability.png"):
        assert (run / name).exists(), name
    assert "AUROC@25%" in (run / "calibration.md").read_text()
    assert set(np.unique(Episodes.load(run / "episodes.npz").source)) <= {"oracle", "random"}
    assert differential.main(["--run-dir", str(run), "--videos", "1", "--video-dir", str(tmp_path / "v")]) == 0
    assert "## By behaviour policy" in (run / "differential.md").read_text()
    video = next((tmp_path / "v").glob("differential_*.mp4"))
    import imageio.v2 as imageio

    frames = imageio.mimread(video, memtest=False)
    assert frames[0].shape[0] > frames[0].shape[1]  # the curve strip sits under the square frame
    assert judges.main([*common, "--mix", "vibes=1"]) == 2
    assert "unknown episode source" in capsys.readouterr().err
