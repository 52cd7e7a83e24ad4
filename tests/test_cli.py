"""Every command line: a user's mistake is one line naming it, exit status 2, nothing written; bugs keep tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import agents.demo
import agents.evaluation
import agents.judges
import agents.rejection
import agents.training
import envs.record
import world_model.judges.differential
import world_model.training
import world_model.visualize
from envs import cli
from envs.errors import UsageError
from groundworld.replay import ReplayBuffer

REPO = Path(__file__).resolve().parents[1]

MAINS = {
    "train": agents.training.main,
    "evaluate": agents.evaluation.main,
    "record": envs.record.main,
    "world-model": world_model.training.main,
    "judges": agents.judges.main,
    "rejection": agents.rejection.main,
    "differential": world_model.judges.differential.main,
    "visualize": world_model.visualize.main,
    "demo": agents.demo.main,
}

BAD = [
    # command, flags (RUN is replaced by a fresh folder that must stay unwritten), message fragment
    ("train", "--steps 0", "--steps must be > 0, got 0"),
    ("train", "--eval-every 0", "--eval-every must be > 0, got 0"),
    ("train", "--eval-every -100", "--eval-every must be > 0, got -100"),
    ("train", "--eval-episodes 0", "--eval-episodes must be > 0"),
    ("train", "--checkpoint-every 0", "--checkpoint-every must be > 0"),
    ("train", "--utd 0", "--utd must be > 0"),
    ("train", "--utd -1", "--utd must be > 0"),
    ("train", "--gamma 5", "--gamma must be in [0, 1), got 5.0"),
    ("train", "--gamma 1", "--gamma must be in [0, 1)"),
    ("train", "--gamma nan", "--gamma must be in [0, 1)"),
    ("train", "--lr 0", "--lr must be > 0"),
    ("train", "--tau 2", "--tau must be in (0, 1]"),
    ("train", "--batch-size 0", "--batch-size must be > 0"),
    ("train", "--num-envs 0", "--num-envs must be > 0"),
    ("train", "--learning-starts -5", "--learning-starts must be >= 0"),
    ("train", "--threads -1", "--threads must be >= 0"),
    ("train", "--hidden 0 64", "--hidden must be > 0"),
    ("train", "--hidden 64.5", "'64.5' is not an integer"),
    ("train", "--steps 1e4", "'1e4' is not an integer"),
    ("train", "--heads 0", "--heads must be > 0"),
    ("train", "--env Groundworld/Nope-v0", "unknown env id 'Groundworld/Nope-v0'"),
    ("train", "--algo dqn", "invalid choice: 'dqn'"),
    ("train", "--device tpu", "invalid choice: 'tpu'"),
    ("train", "--model-horizon 8 1", "--model-horizon takes two lengths"),
    ("train", "--model-horizon 1 2 3", "--model-horizon takes two lengths"),
    ("train", "--real-ratio 0", "--real-ratio must be in (0, 1]"),
    ("train", "--outcome-threshold 1.5", "--outcome-threshold must be in (0, 1)"),
    ("train", "--goodhart-threshold -0.1", "--goodhart-threshold must be in [0, 1]"),
    ("train", "--algo sac --judge judge.pt", "judge shaping is available for the native and mbpo agents"),
    ("train", "--preset fastest", "unknown preset 'fastest'"),
    ("train", "--eval-ever 5", "unrecognized arguments: --eval-ever"),
    ("train", "--resume", "has no checkpoint.pt to resume from"),
    ("evaluate", "--run RUN", "has no checkpoint.pt"),
    ("evaluate", "--run RUN --episodes 0", "--episodes must be > 0"),
    ("evaluate", "--run RUN --split test", "invalid choice: 'test'"),
    ("evaluate", "--run RUN --env Nope", "unknown env id 'Nope'"),
    ("evaluate", "--run RUN --video-episodes 0", "--video-episodes must be > 0"),
    ("evaluate", "", "give --run DIR (a run folder) or --pretrained ID (a shipped policy)"),
    ("evaluate", "--run RUN --pretrained Groundworld/GoTo-v0", "give --run DIR (a run folder) or --pretrained ID"),
    ("evaluate", "--pretrained Groundworld/Nope-v0", "no pretrained policy for 'Groundworld/Nope-v0'"),
    ("record", "--episodes 0", "--episodes must be > 0"),
    ("record", "--size 100.5", "'100.5' is not an integer"),
    ("record", "--size 5", "--size must be in [16, 4096]"),
    ("record", "--env Nope", "unknown env id 'Nope'"),
    ("record", "--policy smart", "invalid choice: 'smart'"),
    ("world-model", "--data DATA --run-dir RUN --epochs 0", "--epochs must be > 0"),
    ("world-model", "--data DATA --run-dir RUN --holdout 0", "--holdout must be in (0, 1)"),
    ("world-model", "--data DATA --run-dir RUN --holdout 1.5", "--holdout must be in (0, 1)"),
    ("world-model", "--data DATA --run-dir RUN --elites 6 --members 5", "--elites (6) cannot exceed --members (5)"),
    ("world-model", "--data DATA --run-dir RUN --hidden 2.5", "'2.5' is not an integer"),
    ("world-model", "--data DATA --run-dir RUN --batch-size 0", "--batch-size must be > 0"),
    ("world-model", "--data missing.npz --run-dir RUN", "not a readable Groundworld replay file"),
    ("world-model", "--data TRUNCATED --run-dir RUN", "not a readable Groundworld replay file"),
    ("world-model", "--data EMPTY --run-dir RUN", "holds no transitions"),
    ("world-model", "--data NAN --run-dir RUN", "non-finite value"),
    ("world-model", "--run-dir RUN", "the following arguments are required: --data"),
    ("judges", "--run-dir RUN --episodes 0", "--episodes must be >= 4"),
    ("judges", "--run-dir RUN --test-episodes 1", "--test-episodes must be >= 2"),
    ("judges", "--run-dir RUN --mix oracle=x", "--mix entries look like oracle=0.2"),
    ("judges", "--run-dir RUN --mix robot=1", "sources are oracle, noisy, decoy, lazy, random, agent"),
    ("judges", "--run-dir RUN --mix oracle=0", "--mix weights must not all be 0"),
    ("judges", "--run-dir RUN --mix agent=1", "the 'agent' source needs --agent RUN_DIR"),
    ("judges", "--run-dir RUN --td-lambda 2", "--td-lambda must be in [0, 1]"),
    ("judges", "--run-dir RUN --env Nope", "unknown env id 'Nope'"),
    ("judges", "--run-dir RUN --data missing.npz", "not a readable Groundworld episodes file"),
    ("judges", "--run-dir RUN --agent RUN", "has no checkpoint.pt"),
    ("rejection", "--run-dir RUN --steps 0", "--steps must be > 0"),
    ("rejection", "--run-dir RUN --filter judge", "filter='judge' needs a judge checkpoint"),
    ("rejection", "--run-dir RUN --filter oracle", "invalid choice: 'oracle'"),
    ("rejection", "--run-dir RUN --noise -1", "--noise must be >= 0"),
    ("rejection", "--run-dir RUN --threshold 2", "--threshold must be in [0, 1]"),
    ("rejection", "--run-dir RUN --env Nope", "unknown env id 'Nope'"),
    ("differential", "--run-dir RUN", "no checkpoint at"),
    ("differential", "--run-dir RUN --videos -1", "--videos must be >= 0"),
    (
        "demo",
        "--run-dir RUN --contact-env Groundworld/Nope-v0",
        "--contact-env 'Groundworld/Nope-v0' is not a task with a preset",
    ),
    (
        "demo",
        "--run-dir RUN --contact-env all",
        "--contact-env 'all' is not a task with a preset; one of: Groundworld/",
    ),
    ("demo", "--run-dir RUN --contact-steps 0", "--contact-steps must be > 0"),
    ("visualize", "--model missing.pt", "no checkpoint at"),
    ("visualize", "--model missing.pt --steps 0", "--steps must be > 0"),
]


def _files(tmp_path: Path) -> dict[str, str]:
    """Replay files for the data-file rows: good, truncated, empty, with a NaN."""
    from tests.test_agents import filled_replay

    _, replay = filled_replay(steps=40)
    good = replay.save(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = ReplayBuffer(replay_space(), 2, 1, "Groundworld/GoTo-v0").save(tmp_path / "empty.npz")
    replay.data["obs/proprio"][3, 0] = np.nan
    nan = replay.save(tmp_path / "nan.npz")
    return {"DATA": str(good), "TRUNCATED": str(truncated), "EMPTY": str(empty), "NAN": str(nan)}


def replay_space():
    import gymnasium as gym

    return gym.make("Groundworld/GoTo-v0").observation_space


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, str]:
    return _files(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("command, flags, message", BAD, ids=[f"{c} {f}" for c, f, _ in BAD])
def test_a_bad_input_is_one_line_exit_2_and_nothing_written(command, flags, message, tmp_path, data_files, capsys):
    run = tmp_path / "run"
    argv = [{**data_files, "RUN": str(run)}.get(word, word) for word in flags.split()]
    if command in ("train", "record") and "--run-dir" not in argv:
        argv += ["--run-dir", str(run)] if command == "train" else ["--out", str(run / "v.mp4")]
    monkey_cwd = Path.cwd()
    try:
        code = MAINS[command](argv)
    finally:
        assert Path.cwd() == monkey_cwd
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert message in err, err
    assert err.startswith("error: ") and "\n" not in err, err
    assert not run.exists() or not any(run.iterdir()), f"{command} wrote {sorted(p.name for p in run.iterdir())}"


def test_debug_shows_the_traceback_of_a_usage_error(tmp_path, capsys):
    code = agents.training.main(["--steps", "0", "--run-dir", str(tmp_path / "r"), "--debug"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.strip().endswith("error: --steps must be > 0, got 0")


def test_a_bug_is_not_caught(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("an internal error")

    monkeypatch.setattr(agents.training, "train", broken)
    with pytest.raises(ZeroDivisionError, match="an internal error"):
        agents.training.main(["--steps", "10", "--run-dir", str(tmp_path / "r")])


def test_the_python_m_entry_point_exits_2_with_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "agents.train", "--gamma", "5"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --gamma must be in [0, 1), got 5.0"


def test_the_console_script_dispatches_and_rejects_unknown_commands(capsys):
    from groundworld.__main__ import main

    assert main(["record", "--episodes", "0"]) == 2
    assert "--episodes must be > 0" in capsys.readouterr().err
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main(["bench", "nope"]) == 2
    assert main([]) == 0 and "train" in capsys.readouterr().out


def test_flat_and_dotted_flags_set_the_same_field_and_presets_yield_to_flags():
    parser = agents.training.build_parser()
    tree = cli.leaves(agents.config.TrainConfig)
    flat = cli.given_values(parser.parse_args(["--tau", "0.2", "--model-epochs", "3"]), tree)
    dotted = cli.given_values(parser.parse_args(["--sac.tau", "0.2", "--mbpo.model-epochs", "3"]), tree)
    assert flat == dotted == {("sac", "tau"): 0.2, ("mbpo", "model_epochs"): 3}
    config = agents.training.config_from_args({"utd": 2.0}, resume=False, preset="mbpo-task")
    assert config.utd == 2.0 and config.algo == "mbpo" and config.mbpo.model_outcome == "task"
    assert config.preset == "mbpo-task" and config.learning_starts == 1_000


def test_a_list_flag_takes_several_values_or_repeats():
    parser = agents.training.build_parser()
    tree = cli.leaves(agents.config.TrainConfig)
    once = cli.given_values(parser.parse_args(["--hidden", "64", "32"]), tree)
    repeated = cli.given_values(parser.parse_args(["--hidden", "64", "--hidden", "32"]), tree)
    assert once == repeated == {("sac", "hidden"): (64, 32)}


def test_every_knob_is_on_the_command_line():
    help_text = agents.training.build_parser().format_help()
    for flag in (
        "--tau",
        "--init-alpha",
        "--target-entropy-scale",
        "--model-epochs",
        "--rollout-batch",
        "--max-disagreement",
        "--outcome-threshold",
        "--model-horizon-ramp",
        "--model-buffer",
        "--bc-epochs",
        "--sac.encoder.heads",
    ):
        assert flag in help_text, flag
    for leaf in cli.leaves(agents.config.TrainConfig):
        assert leaf.doc, f"{leaf.dotted} has no docstring"


def test_the_python_api_checks_the_same_bounds():
    config = agents.config.TrainConfig()
    config.sac.gamma = 5.0
    with pytest.raises(UsageError, match="--gamma must be in"):
        config.validate()


def test_config_json_round_trips_and_reads_the_flat_layout(tmp_path):
    config = agents.training.config_from_args({"tau": 0.05, "hidden": [64, 64], "real_ratio": 0.5}, resume=False)
    config.save(tmp_path / "config.json")
    assert agents.config.TrainConfig.load(tmp_path / "config.json") == config
    old = {"env": "Groundworld/GoTo-v0", "hidden": [64, 64], "grounding": 0.5, "refit_every": 1000, "bc_epochs": 3}
    loaded = agents.config.TrainConfig.from_dict(old)
    assert loaded.sac.hidden == (64, 64) and loaded.sac.grounding == 0.5
    assert loaded.mbpo.refit_every == 1000 and loaded.bc.epochs == 3
    with pytest.raises(UsageError, match="unknown TrainConfig field"):
        agents.config.TrainConfig.from_dict({"colour": "red"})


def test_a_task_alone_trains_its_best_recipe_and_flags_still_win():
    from agents.presets import TASK_PRESETS
    from agents.training import config_from_args, task_preset

    assert task_preset({"env": "Groundworld/KnockOff-v0"}, resume=False) == TASK_PRESETS["Groundworld/KnockOff-v0"]
    assert task_preset({"env": "Groundworld/KnockOff-v0", "algo": "native"}, resume=False) == ""
    assert task_preset({"env": "Groundworld/KnockOff-v0"}, resume=True) == ""
    for env_id, preset in TASK_PRESETS.items():
        config = config_from_args({"env": env_id, "steps": 123}, resume=False, preset=preset)
        assert config.env == env_id and config.steps == 123 and config.preset == preset
