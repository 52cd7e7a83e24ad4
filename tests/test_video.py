"""Videos: written with imageio-ffmpeg, readable, captioned, and bad paths refused up front."""

from __future__ import annotations

import os

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

import envs
from envs import record
from envs.video import caption, outcome_mark


def small_env(env_id="Groundworld/GoTo-v0"):
    return gym.make(env_id, render_mode="rgb_array", width=96, height=96)


def test_record_video_writes_a_readable_mp4(tmp_path):
    env = small_env()
    path = tmp_path / "sub" / "goto.mp4"
    results = envs.record_video(env, envs.make_oracle(env), path, episodes=2, seed=3, fps=25, hold_seconds=0.2)
    assert path.exists() and not list(path.parent.glob(".*partial*"))
    frames = [f for f in imageio.get_reader(path)]
    expected = sum(r["steps"] + 1 + 5 for r in results)  # first frame, one per step, the held end frame
    assert len(frames) == expected
    assert frames[0].shape == (96, 96, 3)
    assert [r["success"] for r in results] == [True, True]
    assert results[0]["instruction"] != results[1]["instruction"] or results[0]["steps"] != results[1]["steps"]
    # the caption band is drawn over the top of every frame
    assert frames[0][:4].mean() < 60 and frames[0][40:60].mean() > 60


def test_outcome_mark_colours_the_border():
    frame = np.full((64, 64, 3), 128, dtype=np.uint8)
    good, bad = outcome_mark(frame, True), outcome_mark(frame, False)
    assert good[0, 32, 1] > 150 > good[0, 32, 0]
    assert bad[0, 32, 0] > 150 > bad[0, 32, 1]
    assert caption(frame, "go to the red cube").shape == frame.shape


def test_unwritable_path_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = small_env()
    calls = []

    def policy(obs, info):
        calls.append(1)
        return np.zeros(2)

    with pytest.raises(OSError, match="cannot write video"):
        envs.record_video(env, policy, blocker / "video.mp4")
    assert calls == []


def test_record_video_needs_rgb_array():
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        envs.record_video(gym.make("Groundworld/GoTo-v0"), lambda o, i: np.zeros(2), "videos/x.mp4")


def test_record_cli(tmp_path, capsys):
    out = tmp_path / "push.mp4"
    code = record.main(
        ["--env", "Groundworld/Reach-v0", "--policy", "random", "--episodes", "1", "--size", "64", "--out", str(out)]
    )
    assert code == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "wrote" in printed and ("SUCCESS" in printed or "FAILURE" in printed)
    assert len([f for f in imageio.get_reader(out)]) > 10


def test_record_cli_default_path():
    assert str(record.default_video_path("Groundworld/Push-v0", "oracle", "heldout")) == os.path.join(
        "videos", "Push-v0_oracle_heldout.mp4"
    )
