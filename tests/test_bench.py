"""Benchmark helpers that turn logs into reported figures."""

from __future__ import annotations

from bench.curves import curve, first_reaching


def test_curves_add_up_the_clock_of_a_resumed_run_and_find_the_first_evaluation_over_the_bar(tmp_path):
    (tmp_path / "progress.csv").write_text(
        "step,wall_s,train_success,eval_success\n"
        "1000,10.0,0.1,0.2\n"
        "2000,30.0,0.5,0.95\n"
        "3000,5.0,0.9,0.85\n"  # resumed: the clock restarted
        "4000,20.0,0.9,\n"  # a row without an evaluation
        "5000,40.0,1.0,0.97\n"
    )
    points = curve(tmp_path)
    assert [p["step"] for p in points] == [1000, 2000, 3000, 5000]
    assert [p["wall"] for p in points] == [10.0, 30.0, 35.0, 70.0]
    assert first_reaching(points, 0.9)["step"] == 2000
    assert first_reaching(points, 0.96)["wall"] == 70.0
    assert first_reaching(points, 0.99) is None


def test_ninety_percent_at_is_the_first_of_two_consecutive_evaluations_when_asked(tmp_path):
    from bench.report import steps_to

    (tmp_path / "progress.csv").write_text(
        "step,wall_s,eval_success\n5000,50.0,0.92\n10000,100.0,0.88\n12000,110.0,\n15000,150.0,0.90\n20000,200.0,0.96\n"
    )
    assert steps_to(tmp_path / "progress.csv") == (5000, 50.0)
    assert steps_to(tmp_path / "progress.csv", consecutive=2) == (15000, 150.0)  # the row without one is skipped
    assert steps_to(tmp_path / "progress.csv", 0.95, consecutive=2) == (None, None)


def test_label_probe_holds_out_whole_episodes(tmp_path):
    import gymnasium as gym
    import numpy as np
    import pytest

    import envs  # noqa: F401
    from bench.label_probe import load_labels, split_episodes

    episode = np.repeat(np.arange(50), 7)
    trained, held = split_episodes(episode, np.random.default_rng(0))
    assert len(np.unique(episode[held])) == 10 and len(trained) + len(held) == len(episode)
    assert not set(episode[trained]) & set(episode[held])  # no episode on both sides
    with pytest.raises(SystemExit, match="no labels-\\*.npz: not a DAgger run folder"):
        load_labels(tmp_path, gym.make("Groundworld/GoTo-v0").observation_space, 2)
