"""The ``groundworld`` console script: one command with a subcommand per job.

    groundworld train --env Groundworld/Push-v0 --run-dir runs/push
    groundworld evaluate --run runs/push --split heldout --video
    groundworld record --env Groundworld/Push-v0 --policy oracle
    groundworld world-model --data runs/push/replay-50000.npz --run-dir runs/wm-push
    groundworld judges --env Groundworld/GoTo-v0 --run-dir runs/judges-goto
    groundworld bench learning --tasks GoTo --algos native

Each subcommand is the ``main`` of a ``python -m`` entry point, with the same flags
(``groundworld train --help``). This module imports every layer, so it sits above all of them.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("agents.training", "train an agent (python -m agents.train)"),
    "evaluate": ("agents.evaluation", "evaluate a trained agent, optionally with a video (python -m agents.evaluate)"),
    "record": ("envs.record", "record videos of the oracle or random actions (python -m envs.record)"),
    "demo": ("agents.demo", "the main job: oracle videos, GoTo learned, evaluated and filmed (python -m agents.demo)"),
    "world-model": ("world_model.training", "fit the world model on a replay file (python -m world_model.train)"),
    "visualize": ("world_model.visualize", "real and imagined rollouts side by side (python -m world_model.visualize)"),
    "judges": ("agents.judges", "train a privileged and a blind judge and measure them (python -m agents.judges)"),
    "differential": (
        "world_model.judges.differential",
        "where the two judges disagree (python -m world_model.judges.differential)",
    ),
    "rejection": ("agents.rejection", "rejection sampling / expert iteration (python -m agents.rejection)"),
}
BENCHMARKS: dict[str, str] = {
    "all": "bench.run_all",
    "env-speed": "bench.env_speed",
    "vec-speed": "bench.vec_speed",
    "render-speed": "bench.render_speed",
    "oracle-success": "bench.oracle_success",
    "agent-speed": "bench.agent_speed",
    "throughput": "bench.throughput",
    "learning": "bench.learning",
    "curves": "bench.curves",
    "world-model": "bench.world_model",
    "cuda": "bench.cuda_check",
    "calibration": "bench.experiments.calibration",
    "differential": "bench.experiments.differential",
    "shaping": "bench.experiments.shaping",
    "rejection": "bench.experiments.rejection",
    "frozen-judge": "bench.experiments.frozen_judge",
}
"""``groundworld bench NAME``: the benchmark scripts (from a checkout; they write bench/results/)."""


def usage() -> str:
    width = max(map(len, COMMANDS)) + 2
    lines = ["usage: groundworld COMMAND [flags]   (groundworld COMMAND --help for its flags)", "", "commands:"]
    lines += [f"  {name:<{width}}{text}" for name, (_, text) in COMMANDS.items()]
    lines += [f"  {'bench':<{width}}run a benchmark: groundworld bench {{{','.join(BENCHMARKS)}}} [flags]"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "bench":
        if not rest or rest[0] not in BENCHMARKS:
            got = f"unknown benchmark {rest[0]!r}; " if rest and rest[0] not in ("-h", "--help") else ""
            print(f"{'error: ' if got else ''}{got}benchmarks are {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2 if got else 0
        module = importlib.import_module(BENCHMARKS[rest[0]])
        sys.argv = [f"groundworld bench {rest[0]}", *rest[1:]]
        result = module.main(rest[1:])
        return result if isinstance(result, int) else 0
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; commands are {', '.join([*COMMANDS, 'bench'])}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
