"""Named training recipes: ``python -m agents.train --preset NAME`` (flags given with it win).

Each preset sets some fields of :class:`~agents.config.TrainConfig` by their flag names (flat, such
as ``utd``, or dotted, such as ``mbpo.model_outcome``); everything else keeps its default. The
resolved values, and the preset's name, are saved in the run's ``config.json``.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "demo": {"env": "Groundworld/GoTo-v0", "algo": "native", "steps": 30_000, "eval_every": 5_000},
    # the main job of ``make demo``: GoTo learned in about five minutes on two cores
    "native-utd10": {"algo": "native", "utd": 10, "learning_starts": 1_000},
    # the model-free baseline at MBPO's update rate
    "mbpo": {"algo": "mbpo", "utd": 10, "learning_starts": 1_000, "refit_every": 1_000},
    # MBPO with the world model's learned reward, success and termination heads
    "mbpo-task": {"algo": "mbpo", "utd": 10, "learning_starts": 1_000, "refit_every": 1_000, "model_outcome": "task"},
    # MBPO with imagined outcomes by the task's own rules (goto, touch, push and knock-off tasks)
}

TASK_PRESETS: dict[str, str] = {
    "Groundworld/GoTo-v0": "goto",
    "Groundworld/Reach-v0": "reach",
    "Groundworld/Push-v0": "push",
    "Groundworld/KnockOff-v0": "knockoff",
    "Groundworld/Relation-v0": "relation",
    "Groundworld/Sequence-v0": "sequence",
    "all": "all",
}
"""Each task's best measured recipe (``docs/results.md``), and under ``all`` the multi-task run's: ``python -m
agents.train --env ID --run-dir DIR`` with neither ``--preset`` nor ``--algo`` trains it; other flags given with it
win."""

_CONTACT_DAGGER: dict[str, Any] = {
    "algo": "dagger",
    "eval_every": 5_000,
    "eval_episodes": 50,
    "relative": True,
    "readout_only": True,
    "pointer_pretrain": 6_000,
}
"""The recipe the contact tasks (Push, KnockOff, Relation) and Sequence share; each preset adds its task, its length,
``symmetry``, and ``pointer_reference`` where the words name a second object."""

PRESETS.update(
    {
        "goto": {"env": "Groundworld/GoTo-v0", "algo": "native", "steps": 30_000, "eval_every": 5_000},
        # native SAC: 90% of training-split episodes after about 15k real steps
        "knockoff": {"env": "Groundworld/KnockOff-v0", "steps": 30_000, "symmetry": True, **_CONTACT_DAGGER},
        # DAgger on the table's eight images of each labelled state, its head reading only what the pointer reads,
        # the pointer first taught on fresh scenes (plain DAgger: 0.72 at 15k, then 0.5-0.6)
        "push": {"env": "Groundworld/Push-v0", "steps": 60_000, "symmetry": True, **_CONTACT_DAGGER},
        # the same recipe (plain DAgger: 0.24 at 40k)
        "relation": {
            "env": "Groundworld/Relation-v0",
            "steps": 60_000,
            "pointer_reference": True,
            "symmetry": True,
            **_CONTACT_DAGGER,
        },
        # the pointer also reads the reference object and the place beside it that the words name, and that place's
        # side turns with each turned scene (without symmetry: 0.71 / 0.64 at 40k)
        "sequence": {
            "env": "Groundworld/Sequence-v0",
            "steps": 20_000,
            "pointer_reference": True,
            "symmetry": True,
            "memory": 64,
            "chunk": 64,
            "burn_in": 0,
            **_CONTACT_DAGGER,
        },
        # the pointer reads both objects the words name, in order, and a GRU remembers whether the first was
        # touched; chunks of 64 steps hold a whole oracle-paced episode from its start (the longest of 40 took 54).
        # It stops when the oracle stops acting (beta_steps): on the learner's own, longer episodes alone success fell
        # from 0.98 to 0.76-0.93 (seed 0, to 40k), with 200-step chunks from each episode's start too
        "reach": {
            "env": "Groundworld/Reach-v0",
            "algo": "dagger",
            "steps": 30_000,
            "eval_every": 5_000,
            "eval_episodes": 50,
            "relative": True,
        },
        # DAgger with the relative read-out: 90% of training-split episodes after 10k real steps (native SAC: 0.64
        # at 20k)
        "all": {
            "env": "all",
            "steps": 150_000,
            "num_envs": 12,
            "pointer_reference": True,
            "symmetry": True,
            "memory": 64,
            "chunk": 64,
            "burn_in": 0,
            "beta_steps": 60_000,
            **_CONTACT_DAGGER,
            "eval_every": 25_000,
        },
        # one DAgger policy for the six tasks, two envs of each: the Sequence recipe (a GRU, both named objects) with
        # the ball's rows turned and the arm's kept, the oracle acting for longer as each task has a sixth of the
        # steps. Not yet good enough (docs/results.md, train split): GoTo 0.98, Reach 0.96, KnockOff 0.68, Push 0.34,
        # Relation 0.11, Sequence 0.10
    }
)
