"""Report how much a world model hallucinates.

    python -m world_model.report --model runs/wm-goto/world_model.pt --data runs/goto/replay-60000.npz \\
        [--policy-run runs/goto]

Prints the open-loop error at k = 1, 5, 15 per component, the correlation of ensemble
disagreement with real error, and (with a policy) success predicted in imagination against
success achieved in the real env from the same start states.
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym

from agents.replay import ReplayBuffer
from world_model.metrics import disagreement_correlation, imagined_vs_real, open_loop_error
from world_model.training import load_world_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m world_model.report", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="replay file to measure on (ideally not the training data)")
    parser.add_argument("--policy-run", default=None)
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args(argv)
    model, env_id = load_world_model(args.model)
    replay = ReplayBuffer.load(args.data, gym.make(env_id).observation_space)
    report = {
        "open_loop_error": open_loop_error(model, replay),
        "disagreement_error_correlation": disagreement_correlation(model, replay),
    }
    if args.policy_run:
        from agents.policies import load_policy

        policy, _ = load_policy(args.policy_run)
        report["success"] = imagined_vs_real(model, policy, env_id, args.episodes)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
