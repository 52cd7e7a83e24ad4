"""Behaviour of every registered task, after Gymnasium's and dm_control's suite tests."""

from __future__ import annotations

import copy
import pickle
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import language, tokenizer, window
from envs.errors import UnknownArgument, UsageError
from envs.language import HELDOUT_PAIRS
from envs.vector import CheckedSyncVectorEnv
from tests.conftest import TASK_IDS, random_policy, run_episode

OBS_MODES = ["state", "pixels", "state+pixels"]


def make(env_id: str, **kwargs) -> gym.Env:
    kwargs.setdefault("pixel_size", 32)
    return gym.make(env_id, **kwargs)


# ---------------------------------------------------------------- registration and API checks
def test_every_task_is_registered_with_a_time_limit():
    assert len(TASK_IDS) >= 6
    for env_id in TASK_IDS:
        spec = gym.spec(env_id)
        assert env_id.startswith("Groundworld/") and spec.max_episode_steps > 0


def test_two_embodiments_are_covered():
    embodiments = {gym.make(i).unwrapped.embodiment for i in TASK_IDS}
    assert embodiments == {"ball", "arm"}


@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_gymnasium_check_env(env_id, obs_mode):
    env = make(env_id, obs_mode=obs_mode, render_mode="rgb_array", width=64, height=64)
    if not window.display():  # the checker opens every render mode; "human" needs a display (test_interop: Xvfb)
        env.unwrapped.metadata = {**env.unwrapped.metadata, "render_modes": ["rgb_array"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Gymnasium's checker only warns; a warning here is a defect
        gym_check_env(env.unwrapped)


@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_sb3_check_env(env_id, obs_mode):
    env = make(env_id, obs_mode=obs_mode, pixel_size=64)  # SB3's CnnPolicy needs >= 36 px
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env.unwrapped, warn=True)
    # The only expected remark: the (objects, features) array is neither an image nor a vector;
    # Groundworld's own features extractor reads it as a set.
    unexpected = [str(w.message) for w in caught if "unconventional shape" not in str(w.message)]
    assert unexpected == []


def test_unknown_id_and_kwargs_fail_clearly():
    with pytest.raises(gym.error.Error):
        gym.make("Groundworld/Nope-v0")
    with pytest.raises(TypeError, match="unknown argument.*'colour'.*valid arguments are .*split"):
        gym.make("Groundworld/GoTo-v0", colour="red")
    with pytest.raises(ValueError, match="split='test' is not one of"):
        gym.make("Groundworld/GoTo-v0", split="test")
    with pytest.raises(TypeError, match="expose_progress"):
        gym.make("Groundworld/GoTo-v0", expose_progress=True)  # only Sequence takes it


# ---------------------------------------------------------------- observations and rewards
@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_observations_are_in_space_and_finite(env_id, obs_mode):
    env = make(env_id, obs_mode=obs_mode)
    observations, _, infos = run_episode(env, random_policy(env, 0), seed=1, max_steps=30)
    for obs in observations:
        assert env.observation_space.contains(obs)
        for key, value in obs.items():
            assert np.all(np.isfinite(value)), key
    assert "instruction" in obs and obs["instruction"].dtype == np.int64
    assert all(not isinstance(space, gym.spaces.Text) for space in env.observation_space.spaces.values())
    if obs_mode != "state":
        assert obs["pixels"].std() > 5.0  # a real picture, not a blank frame
    info = infos[-1]
    assert isinstance(info["instruction"], str) and tokenizer.decode(obs["instruction"]) == " ".join(
        tokenizer.words(info["instruction"])
    ).replace(" ,", ",")
    assert set(info["goal"]) == {"object", "position", "zone", "reference", "named"}
    reference = info["goal"]["reference"]
    assert reference == -1 or (reference != info["goal"]["object"] and reference < len(env.unwrapped.objects))
    first, second = info["goal"]["named"]  # the words' objects, in order: the goal's object among them
    assert info["goal"]["object"] in (first, second) and first != second and -1 <= second < len(env.unwrapped.objects)
    assert second == reference or env_id.startswith("Groundworld/Sequence")
    zone = info["goal"]["zone"]
    if zone >= 0 and "zones" in obs:  # the zone the goal names is the one at its target position
        np.testing.assert_allclose(obs["zones"][zone, :2], info["goal"]["position"][:2], atol=1e-6)
    assert "goal" not in obs


def test_object_features_describe_the_scene(env_id):
    env = make(env_id)
    obs, info = env.reset(seed=3)
    base = env.unwrapped
    n = len(base.objects)
    assert obs["object_mask"].sum() == n and 2 <= n <= 5
    assert np.all(obs["objects"][n:] == 0)
    for i, spec in enumerate(base.objects):
        row = obs["objects"][i]
        assert row[6:12].argmax() == list(envs.scene.COLORS).index(spec.color)
        assert row[12:15].argmax() == envs.scene.SHAPES.index(spec.shape)
        assert row[2] == pytest.approx(spec.half, abs=1e-3)  # resting on the table top
    target = info["goal"]["object"]
    assert obs["object_mask"][target] == 1


def test_initial_state_is_randomised(env_id):
    env = make(env_id)
    first = [env.reset(seed=s)[0]["objects"] for s in range(5)]
    texts = {env.reset(seed=s)[1]["instruction"] for s in range(10)}
    assert not all(np.array_equal(first[0], f) for f in first[1:])
    assert len(texts) >= 3


@pytest.mark.parametrize("reward_mode", ["sparse", "dense"])
def test_reward_is_the_sum_of_its_terms(env_id, reward_mode):
    env = make(env_id, reward_mode=reward_mode)
    oracle = envs.make_oracle(env)
    for seed in range(2):
        _, rewards, infos = run_episode(env, oracle, seed=seed)
        for reward, info in zip(rewards, infos[1:], strict=True):
            terms = {k: v for k, v in info.items() if k.startswith("reward_")}
            assert terms and reward == pytest.approx(sum(terms.values()))
        assert infos[-1]["is_success"]
        if reward_mode == "sparse":
            assert rewards[-1] == 1.0 and sum(rewards) == 1.0
        else:
            assert sum(rewards) > 0  # the oracle makes progress


def test_dense_progress_telescopes(env_id):
    """Progress terms are potential differences: they sum to the total change of potential."""
    env = make(env_id, reward_mode="dense")
    oracle = envs.make_oracle(env)
    obs, info = env.reset(seed=4)
    start = env.unwrapped.potential()
    total = 0.0
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(oracle(obs, info))
        total += info["reward_progress"]
        done = terminated or truncated
    assert total == pytest.approx(5.0 * (env.unwrapped.potential() - start), abs=1e-6)


# ---------------------------------------------------------------- determinism and vectorisation
def test_same_seed_same_episode(env_id):
    a, b = make(env_id), make(env_id)
    obs_a, _, info_a = run_episode(a, random_policy(a, 7), seed=11, max_steps=40)
    obs_b, _, info_b = run_episode(b, random_policy(b, 7), seed=11, max_steps=40)
    assert info_a[0]["instruction"] == info_b[0]["instruction"]
    assert len(obs_a) == len(obs_b)
    for x, y in zip(obs_a, obs_b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def test_sync_and_async_vector_envs_agree(env_id):
    """Gymnasium's sync and async vector envs and make_vec's default (the row-checking
    CheckedSyncVectorEnv) step the same episodes."""
    actions = np.random.default_rng(0).uniform(-1, 1, size=(12, 2, 2)).astype(np.float32)
    results = []
    for mode in ("sync", "async", None):
        vec = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
        assert isinstance(vec, CheckedSyncVectorEnv) == (mode is None)
        assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
        obs, _ = vec.reset(seed=[5, 6])
        trace = [obs]
        for action in actions:
            trace.append(vec.step(action)[0])
        vec.close()
        results.append(trace)
    for x, *others in zip(*results, strict=True):
        for y in others:
            for key in x:
                np.testing.assert_array_equal(x[key], y[key])


def test_env_pickles_and_continues_identically(env_id):
    """Envs hold no global state: a pickled copy (as sent to another process) continues identically."""
    env = make(env_id, render_mode="rgb_array", width=32, height=32)
    env.reset(seed=2)
    env.render()  # a live GL context must not stop pickling
    env.step(np.array([0.3, 0.3], dtype=np.float32))
    clone = pickle.loads(pickle.dumps(env))
    _assert_steps_alike(env, clone, np.random.default_rng(1).uniform(-1, 1, size=(10, 2)))
    assert clone.render().shape == (32, 32, 3)


def _assert_steps_alike(a: gym.Env, b: gym.Env, actions: np.ndarray) -> None:
    """Envs ``a`` and ``b`` give the same rewards and observations under ``actions``."""
    for action in actions:
        obs_a, reward_a, *_ = a.step(action)
        obs_b, reward_b, *_ = b.step(action)
        assert reward_a == reward_b
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])


# ---------------------------------------------------------------- bad input
def _state(env):
    d = env.unwrapped.data
    return d.qpos.copy(), d.qvel.copy(), d.time


@pytest.mark.parametrize(
    "action, message",
    [
        (np.array([np.nan, 0.0]), "NaN or inf"),
        (np.array([np.inf, 0.0]), "NaN or inf"),
        (np.zeros(3), r"shape \(3,\); expected \(2,\)"),
        (np.zeros((1, 2)), r"shape \(1, 2\)"),
        ("left", "not numeric"),
    ],
)
def test_bad_action_raises_and_leaves_state_unchanged(env_id, action, message):
    env = make(env_id)
    env.reset(seed=0)
    env.step(np.zeros(2))
    before = _state(env)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    after = _state(env)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2] == after[2]
    env.step(np.zeros(2))  # still usable


def test_out_of_range_actions_are_clipped(env_id):
    a, b = make(env_id), make(env_id)
    a.reset(seed=1)
    b.reset(seed=1)
    obs_a = a.step(np.array([5.0, -7.0]))[0]
    obs_b = b.step(np.array([1.0, -1.0]))[0]
    np.testing.assert_array_equal(obs_a["proprio"], obs_b["proprio"])


def test_physics_error_truncates_without_nan(env_id):
    env = make(env_id)
    obs, _ = env.reset(seed=0)
    env.unwrapped.data.qvel[:] = 1e12  # MuJoCo flags this as unstable and resets its data
    obs, reward, terminated, truncated, info = env.step(np.zeros(2))
    assert truncated and not terminated and info["physics_error"]
    assert all(np.all(np.isfinite(v)) for v in obs.values())
    assert np.isfinite(reward)


def test_step_before_reset_is_an_error():
    env = gym.make("Groundworld/GoTo-v0", disable_env_checker=True).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))


def test_observation_outside_its_space_truncates_as_a_physics_error(env_id):
    env = make(env_id)
    env.reset(seed=0)
    last, *_ = env.step(np.zeros(2))
    base = env.unwrapped
    base.data.qvel[base.index.object_vel_idx[0]] = 1e5  # a struck object: MuJoCo finds nothing unstable
    obs, reward, terminated, truncated, info = env.step(np.zeros(2))
    assert truncated and not terminated and info["physics_error"] and reward == 0.0
    assert env.observation_space.contains(obs)
    for key in last:  # the last observation inside the space
        np.testing.assert_array_equal(obs[key], last[key])


# ---------------------------------------------------------------- bad input, one table
def _snapshot(env: gym.Env) -> dict:
    """Everything a rejected call must leave as it was: the generator, the simulator, the episode."""
    base = env.unwrapped
    d = base.data
    return {
        "rng": copy.deepcopy(base.np_random.bit_generator.state),
        "seed": base.np_random_seed,
        "qpos": d.qpos.copy(),
        "qvel": d.qvel.copy(),
        "ctrl": d.ctrl.copy(),
        "time": d.time,
        "goal": base.goal,
        "targets": list(base.goal.targets),
        "progress": getattr(base.goal, "progress", None),
        "instruction": base.instruction,
        "tokens": base._tokens.copy(),
        "objects": list(base.objects),
        "zones": list(base.zones),
        "potential": base._potential,
    }


def _assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[key], err_msg=key)
        elif key == "goal":
            assert after[key] is value
        else:
            assert after[key] == value, key


def _step(action):
    return lambda env: env.step(action)


def _reset(**kwargs):
    return lambda env: env.reset(**kwargs)


BAD_INPUTS = [
    # (name, env id, call, exception type, message fragment)
    ("nan action", "GoTo", _step(np.array([np.nan, 0.0])), UsageError, "has NaN or inf entries"),
    ("inf action", "Reach", _step(np.array([0.0, -np.inf])), UsageError, "has NaN or inf entries"),
    ("long action", "GoTo", _step(np.zeros(3)), UsageError, "action has shape (3,); expected (2,)"),
    ("batched action", "Push", _step(np.zeros((1, 2))), UsageError, "action has shape (1, 2)"),
    ("text action", "GoTo", _step("left"), UsageError, "action 'left' is not numeric"),
    ("unknown reset option", "Push", _reset(seed=9, options={"instrucion": "x"}), UsageError, "unknown reset option"),
    (
        "unknown word",
        "Push",
        _reset(seed=9, options={"instruction": "push the red dragon into the green zone"}),
        UsageError,
        "'dragon' is not a shape Groundworld knows",
    ),
    (
        "another task's sentence",
        "Push",
        _reset(seed=9, options={"instruction": "go to the red cube"}),
        UsageError,
        "Groundworld/Push-v0: cannot follow 'go to the red cube'; understood: go to the red cube; that is a go-to goal",
    ),
    (
        "a goal no scene can hold",
        "Sequence",
        _reset(seed=9, options={"instruction": "touch the red cube, then the red cube"}),
        UsageError,
        "'the red cube' is named twice",
    ),
    ("negative seed", "KnockOff", _reset(seed=-1), UsageError, "seed must be a non-negative integer or None, got -1"),
    ("float seed", "GoTo", _reset(seed=1.5), UsageError, "seed must be a non-negative integer or None, got 1.5"),
]


@pytest.mark.parametrize("name, task, call, error, message", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_raises_one_clear_error_and_changes_nothing(name, task, call, error, message):
    env_id = f"Groundworld/{task}-v0"
    env, twin = make(env_id), make(env_id)
    for e in (env, twin):
        e.reset(seed=3)
        e.step(np.full(2, 0.4))
    before = _snapshot(env)
    with pytest.raises(error, match=re.escape(message)):
        call(env)
    _assert_same(before, _snapshot(env))
    _assert_steps_alike(env, twin, np.random.default_rng(0).uniform(-1, 1, size=(5, 2)))  # the episode goes on


BAD_ARGUMENTS = [
    # (keyword arguments, exception type, message fragment)
    ({"colour": "red"}, UnknownArgument, "GoToEnv.__init__() got an unexpected keyword argument 'colour'"),
    ({"split": "train", "sizes": 2, "colour": 1}, UnknownArgument, "unknown argument(s) ['sizes', 'colour']"),
    ({"width": 100.5}, UsageError, "GoToEnv: width=100.5 must be an integer"),
    ({"height": True}, UsageError, "height=True must be an integer"),
    ({"pixel_size": 64.0}, UsageError, "pixel_size=64.0 must be an integer"),
    ({"width": "480"}, UsageError, "width='480' must be an integer"),
    ({"min_objects": 2.5}, UsageError, "min_objects=2.5 must be an integer"),
    ({"width": 8}, UsageError, "width must be between 16 and 4096 pixels"),
    ({"min_objects": 4, "max_objects": 2}, UsageError, "need 1 <= min_objects <= max_objects <= 5"),
    ({"split": "test"}, UsageError, "split='test' is not one of"),
    ({"camera": "side"}, UsageError, "camera='side' is not one of"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_ARGUMENTS, ids=[str(row[0]) for row in BAD_ARGUMENTS])
def test_bad_arguments_are_rejected_at_construction(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)) as caught:
        gym.make("Groundworld/GoTo-v0", **kwargs)
    assert isinstance(caught.value, UsageError) and isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TypeError) == (error is UnknownArgument)


def test_unknown_argument_is_worded_as_python_words_it():
    """Wrappers (TorchRL's GymEnv) retry without a keyword when the error says Python's words."""

    class GoToEnv:
        def __init__(self, *, split: str = "train"):
            pass

    with pytest.raises(TypeError) as python:
        GoToEnv(colour="red")
    with pytest.raises(UnknownArgument) as ours:
        gym.make("Groundworld/GoTo-v0", colour="red")
    words = str(python.value).rpartition(".")[2]  # "__init__() got an unexpected keyword argument 'colour'"
    assert str(ours.value).startswith(f"GoToEnv.{words}")
    assert re.search(r"valid arguments are \[.*'split'", str(ours.value))


def test_integral_sizes_of_any_integer_type_are_accepted():
    env = gym.make("Groundworld/GoTo-v0", width=np.int64(64), pixel_size=np.int32(32))
    assert env.unwrapped.config.width == 64 and type(env.unwrapped.config.width) is int
    assert type(env.unwrapped.config.pixel_size) is int


@pytest.mark.parametrize(
    "actions, message",
    [
        ([[0, 0], [0, 0], [np.nan, 0], [0, 0]], r"action row 2: .*NaN or inf"),
        ([[0, 0], [0, 0], [0, 0], [0]], r"action row 3: .*shape \(1,\)"),
        (np.zeros((4, 3)), r"action row 0: .*shape \(3,\); expected \(2,\)"),
        (np.zeros((3, 2)), r"actions of shape \(3, 2\) for 4 envs"),
        ("left", r"actions of shape \(\) for 4 envs"),
    ],
)
def test_vector_env_steps_no_env_when_one_row_is_bad(actions, message):
    vec = gym.make_vec("Groundworld/GoTo-v0", num_envs=4)
    vec.reset(seed=0)
    vec.step(np.full((4, 2), 0.5))
    before = [_snapshot(env) for env in vec.envs]
    with pytest.raises(UsageError, match=message):
        vec.step(actions)
    for env, snapshot in zip(vec.envs, before, strict=True):
        _assert_same(snapshot, _snapshot(env))
    vec.step(np.zeros((4, 2)))  # still usable
    vec.close()


# ---------------------------------------------------------------- instructions and splits
@pytest.mark.parametrize("split", ["train", "heldout", "paraphrase"])
def test_split_instructions(env_id, split):
    env = make(env_id, split=split)
    base = env.unwrapped
    templates = base.goal_type.paraphrase_templates if split == "paraphrase" else base.goal_type.train_templates
    for seed in range(15):
        _, info = env.reset(seed=seed)
        goal = base.goal
        assert goal.heldout == (split == "heldout")
        assert info["instruction"] in {goal.surface(t) for t in templates}


def test_person_split_draws_training_goals_in_a_persons_words(env_id):
    env = make(env_id, split="person")
    base = env.unwrapped
    forms = set()
    for seed in range(15):
        obs, info = env.reset(seed=seed)
        goal, text = base.goal, info["instruction"]
        assert not goal.heldout
        templates = (*base.goal_type.train_templates, *base.goal_type.paraphrase_templates)
        assert text not in {goal.surface(t) for t in templates}
        assert language.parse(text, kinds=(goal.kind,)) == goal
        np.testing.assert_array_equal(obs["instruction"], tokenizer.encode(language.understand(text).words))
        assert language.parse(tokenizer.decode(obs["instruction"])) == goal  # the policy reads the same goal
        forms.add(tokenizer.decode(obs["instruction"]).split()[0])
    assert len(forms) > 2  # the sentences vary


def test_a_persons_instruction_is_shown_in_the_vocabulary_and_kept_in_info():
    env = gym.make("Groundworld/GoTo-v0")
    obs, info = env.reset(seed=0, options={"instruction": "Please, drive over to the big blue sphere!"})
    assert info["instruction"] == "Please, drive over to the big blue sphere!"
    assert tokenizer.decode(obs["instruction"]) == "go over to the large blue ball"
    target = env.unwrapped.objects[env.unwrapped.goal.targets[0]]
    assert (target.color, target.shape, target.size) == ("blue", "ball", "large")


def test_user_instruction_is_used(env_id):
    env = make(env_id)
    env.reset(seed=0)
    goal = env.unwrapped.goal
    text = goal.surface(type(goal).train_templates[-1])
    for seed in range(3):
        obs, info = env.reset(seed=seed, options={"instruction": text})
        assert info["instruction"] == text
        np.testing.assert_array_equal(obs["instruction"], tokenizer.encode(text))
        assert env.unwrapped.goal.descriptions() == goal.descriptions()
        named = [env.unwrapped.objects[i] for i in env.unwrapped.goal.targets]
        assert [(o.color, o.shape) for o in named] == [d.pair for d in goal.descriptions()]


def test_user_instruction_errors():
    env = gym.make("Groundworld/Push-v0")
    with pytest.raises(ValueError, match="'dragon' is not a shape"):
        env.reset(options={"instruction": "push the red dragon into the green zone"})
    with pytest.raises(ValueError, match="this task takes a push goal"):
        env.reset(options={"instruction": "go to the red cube"})  # a GoTo sentence given to Push
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"instrucion": "push the red cube into the green zone"})
    obs, info = env.reset(seed=1, options={"instruction": "Push the small red cube into the green zone."})
    base = env.unwrapped
    target = base.objects[base.goal.targets[0]]
    assert (target.color, target.shape, target.size) == ("red", "cube", "small")
    assert base.zones[base.goal.zone_index].color == "green"


def test_heldout_pairs_are_never_trained(env_id):
    env = make(env_id, split="train")
    kind = env.unwrapped.goal_type.kind
    for seed in range(30):
        env.reset(seed=seed)
        assert not any(d.pair in HELDOUT_PAIRS[kind] for d in env.unwrapped.goal.descriptions())


# ---------------------------------------------------------------- oracles
@pytest.mark.parametrize("split", ["train", "heldout", "paraphrase"])
def test_oracle_solves_the_task(env_id, split):
    env = make(env_id, split=split)
    oracle = envs.make_oracle(env)
    successes = sum(run_episode(env, oracle, seed=100 + s)[2][-1]["is_success"] for s in range(8))
    assert successes >= 7


def test_sequence_goal_object_moves_on_while_the_named_objects_stay():
    """info["goal"]["object"] is the object still to touch; info["goal"]["named"] is what the words name, in order."""
    env = make("Groundworld/Sequence-v0")
    _, _, infos = run_episode(env, envs.make_oracle(env), seed=3)
    first, second = infos[0]["goal"]["named"]
    assert infos[-1]["is_success"] and first != second
    assert all(tuple(i["goal"]["named"]) == (first, second) for i in infos)
    targets = [i["goal"]["object"] for i in infos]
    switch = targets.index(second)
    assert set(targets[:switch]) == {first} and set(targets[switch:]) == {second}


def test_random_policy_rarely_succeeds(env_id):
    """The instruction matters: acting at random seldom completes the named goal."""
    env = make(env_id)
    successes = sum(run_episode(env, random_policy(env, s), seed=s)[2][-1]["is_success"] for s in range(10))
    assert successes <= 4


def test_make_oracle_rejects_other_envs():
    with pytest.raises(TypeError, match="no oracle"):
        envs.make_oracle(gym.make("Pendulum-v1"))


# ---------------------------------------------------------------- rendering
def test_render_rgb_array(env_id):
    env = make(env_id, render_mode="rgb_array", width=96, height=64)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8 and frame.std() > 5.0
    env.close()
