"""Shipped policies load in seconds and act; a task without one is named in a clear error."""

from __future__ import annotations

import pytest

import agents
import envs
from agents.evaluation import main as evaluate_main
from agents.evaluation import task_for
from agents.pretrained import shipped
from envs.errors import UsageError


def test_every_shipped_policy_loads_and_acts_as_its_index_says():
    index = shipped()
    assert index, "agents/weights/index.json lists no policy"
    for env_id, entry in index.items():
        policy = agents.load_pretrained(env_id)
        tasks = list(entry["success"])
        result = agents.evaluate(policy, tasks[0], "train", episodes=10, seed=123)
        assert result.success_rate >= entry["success"][tasks[0]]["train"] - 0.3, (env_id, result.success_rate)
        for task in tasks[1:]:  # the multi-task policy acts in every task's own env
            assert len(agents.evaluate(policy, task, "train", episodes=1, seed=123).episodes) == 1, task


def test_a_task_without_a_shipped_policy_is_named():
    with pytest.raises(UsageError, match="no pretrained policy for 'Groundworld/Nope-v0'; shipped: "):
        agents.load_pretrained("Groundworld/Nope-v0")


def test_evaluate_follows_a_persons_instructions_and_films_each(tmp_path, capsys):
    videos = tmp_path / "videos"
    argv = ["--pretrained", "Groundworld/GoTo-v0", "--episodes", "2", "--video", "--video-episodes", "1"]
    argv += ["--instruction", "Please head to the big blue sphere!", "--instruction", "go to a little red box"]
    assert evaluate_main([*argv, "--video-dir", str(videos)]) == 0
    out = capsys.readouterr().out
    assert "'Please head to the big blue sphere!'; the policy reads 'head to the large blue ball'" in out
    assert "[instruction 'go to a little red box']" in out and "| go to the small red cube | " in out
    assert sorted(p.name for p in videos.glob("*.mp4")) == [
        "GoTo_GoTo-v0_go-to-a-little-red-box.mp4",
        "GoTo_GoTo-v0_please-head-to-the-big-blue-sphere.mp4",
    ]


def test_every_episode_of_an_instruction_is_a_scene_that_holds_it():
    policy = agents.load_pretrained("Groundworld/Push-v0")
    text = "into the green area, nudge the big red block"
    result = agents.evaluate(policy, "Groundworld/Push-v0", episodes=3, instruction=text)
    assert [e["instruction"] for e in result.episodes] == [text] * 3
    assert {e["goal"] for e in result.episodes} == {"push the large red cube into the green zone"}


def test_an_instruction_that_cannot_be_followed_is_refused_before_any_episode(tmp_path, capsys):
    argv = ["--pretrained", "Groundworld/GoTo-v0", "--video", "--video-dir", str(tmp_path)]
    assert evaluate_main([*argv, "--instruction", "go to the red ball", "--instruction", "go to the crimson ball"]) == 2
    captured = capsys.readouterr()
    assert "'crimson' is not a colour Groundworld knows: red, green" in captured.err and captured.out == ""
    assert evaluate_main([*argv, "--instruction", "push the red cube into the green zone"]) == 2
    assert "that is a push goal (an object into a zone); this task takes a go-to goal" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp4"))


def test_a_multi_task_policy_follows_each_sentence_in_the_task_that_takes_it():
    assert task_for("please knock the red box off the table", envs.TASKS) == "Groundworld/KnockOff-v0"
    assert task_for("tap the blue ball, then the red cube", envs.TASKS) == "Groundworld/Sequence-v0"
    assert task_for("put your finger on the red cube", envs.TASKS) == "Groundworld/Reach-v0"
    with pytest.raises(UsageError, match="this task takes a go-to goal .* or push goal"):
        task_for("knock the red cube off the table", ("Groundworld/GoTo-v0", "Groundworld/Push-v0"))
