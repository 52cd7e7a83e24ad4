"""Run folders: one writer at a time, configs never silently replaced by defaults, atomic files with unique names."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import agents
from agents.config import TrainConfig
from envs.errors import UsageError
from envs.files import atomic_path
from groundworld.runs import CsvLog, RunBusy, RunLock, up_to_step
from tests.test_agents import tiny

REPO = Path(__file__).resolve().parents[1]


def test_a_second_process_on_a_busy_run_folder_fails_at_once_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    with RunLock(run):
        out = subprocess.run(
            [sys.executable, "-m", "agents.train", "--run-dir", str(run), "--steps", "100"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2
        assert f"in use by PID {os.getpid()} on {socket.gethostname()}" in out.stderr
        assert not (run / "config.json").exists()  # nothing of the holder's was touched
    assert not (run / ".lock").exists()


def test_a_stale_lock_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "since": "-"}))
    with RunLock(tmp_path) as lock:
        assert lock.holder()["pid"] == os.getpid()


def test_a_lock_held_on_another_host_is_respected(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "2026-12-01 10:00:00"}))
    with pytest.raises(RunBusy, match="in use by PID 1 on elsewhere since 2026-12-01 10:00:00"):
        RunLock(tmp_path).acquire()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_resume_takes_the_config_stored_in_the_checkpoint(tmp_path, damage):
    run = tmp_path / "run"
    agents.train(tiny(run, steps=200, num_envs=2, eval_every=200, checkpoint_every=200, learning_starts=100))
    saved = TrainConfig.load(run / "config.json")
    if damage == "missing":
        (run / "config.json").unlink()
    else:
        (run / "config.json").write_text("{not json")
    from agents.training import config_from_args

    resumed = config_from_args({"run_dir": str(run), "steps": 300}, resume=True)
    assert resumed.num_envs == 2 and resumed.sac.batch_size == saved.sac.batch_size == 32  # not the defaults
    assert resumed.steps == 300


def test_the_nan_message_names_a_checkpoint_only_if_one_exists(tmp_path):
    from agents.loop import stopped as _stopped

    assert "no checkpoint was written yet" in str(_stopped(tmp_path, 10, {"q": float("nan")}))
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    assert f"the last good checkpoint is {tmp_path / 'checkpoint.pt'}" in str(_stopped(tmp_path, 10, {}))


def test_atomic_writes_use_unique_temporary_names_and_leave_nothing_on_failure(tmp_path):
    target = tmp_path / "file.csv"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_text("a")
        second.write_text("b")
    assert target.read_text() == "a"  # the outer writer finished last
    assert target.stat().st_mode & 0o044  # readable by others, as a plain open() would make it
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "a" and sorted(p.name for p in tmp_path.iterdir()) == ["file.csv"]


def test_a_resumed_log_drops_the_rows_after_its_checkpoint(tmp_path):
    log = CsvLog(tmp_path / "progress.csv")
    for step in (100, 200, 300):
        log.append({"step": step, "eval_success": 0.5})
    resumed = CsvLog(tmp_path / "progress.csv", keep=up_to_step(200))
    resumed.append({"step": 300, "eval_success": 0.6, "new_column": 1})
    rows = CsvLog(tmp_path / "progress.csv").rows
    assert [r["step"] for r in rows] == ["100", "200", "300"] and rows[-1]["new_column"] == "1"


def test_an_unknown_env_id_is_rejected_before_the_run_folder_exists(tmp_path):
    with pytest.raises(UsageError, match="unknown env id"):
        agents.train(tiny(tmp_path / "run", env="Groundworld/Nope-v0"))
    assert not (tmp_path / "run").exists()


def test_async_envs_give_the_same_data_as_sync_ones_for_the_same_seeds_and_lag(tmp_path):
    import numpy as np

    from agents.training import config_from_args
    from groundworld.checkpoint import load_checkpoint
    from groundworld.replay import ReplayBuffer

    rows = {}
    for mode in ("sync", "async"):
        run = tmp_path / mode
        flags = {
            "steps": 240, "num_envs": 2, "learning_starts": 80, "batch_size": 16, "eval_every": 240,
            "eval_episodes": 1, "checkpoint_every": 240, "progress": False, "run_dir": str(run),
            "vectorization": mode, "policy_lag": 1, "compile": False,
        }  # fmt: skip
        agents.train(config_from_args(flags, resume=False))
        payload = load_checkpoint(run / "checkpoint.pt")
        rows[mode] = ReplayBuffer.load(run / payload["replay_file"]).rows()
    for key, value in rows["sync"].items():
        np.testing.assert_array_equal(rows["async"][key], value, err_msg=key)
