"""Trained policies that ship with Groundworld: ``agents.load_pretrained("Groundworld/Push-v0")`` acts at once.

Each shipped policy is a weights-only file in ``agents/weights/`` (the acting network: for the native
agent its encoder and actor, no critics or optimizer state), listed in ``agents/weights/index.json``
with the recipe that trained it and its measured success on the train and held-out splits.

    policy = agents.load_pretrained("Groundworld/GoTo-v0")
    agents.evaluate(policy, "Groundworld/GoTo-v0", split="heldout", episodes=100)

    python -m agents.pretrained --run runs/goto --name GoTo     # export a run folder's policy into the package
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.evaluation import evaluate
from agents.policies import INDEX, WEIGHTS, pretrained_policy, shipped
from envs import cli
from envs.errors import UsageError
from envs.files import atomic_path
from groundworld.checkpoint import load_checkpoint, save_checkpoint

_ACTING = ("encoder.", "actor.")


def load_pretrained(env_id: str, device: str = "cpu") -> Any:
    """The shipped policy for ``env_id`` (``policy.act(obs)``, ``policy.reset()``); ``"all"`` is the multi-task
    one, which also acts in every task's env."""
    return pretrained_policy(env_id, device)[0]


def export(run_dir: str | Path, name: str, episodes: int = 100) -> dict[str, Any]:
    """Write the acting weights of the run in ``run_dir`` into the package as ``weights/<name>.pt``, measure
    them on the train and held-out splits of each of its tasks, and list them in the index."""
    from agents.policies import load_policy

    run_dir = Path(run_dir)
    policy, config = load_policy(run_dir)
    payload = load_checkpoint(run_dir / "checkpoint.pt", expect={"algo": config.algo})
    weights: dict[str, Any] = {"kind": "policy", "algo": config.algo, "env": config.env, "config": config.to_dict()}
    if config.algo in ("native", "mbpo"):
        weights["agent"] = {k: v for k, v in payload["agent"].items() if k.startswith(_ACTING)}
        weights.update(sac_config=payload["sac_config"], acting_only=True)
    elif config.algo in ("dagger", "bc"):
        weights["policy"] = payload["policy"]
        if "policy_config" in payload:
            weights["policy_config"] = payload["policy_config"]
    else:
        raise UsageError(f"exporting {config.algo} runs is not supported; export native, mbpo, dagger or bc runs")
    success = {
        env_id: {
            split: evaluate(policy, env_id, split, episodes, seed=40_000_000).success_rate
            for split in ("train", "heldout")
        }
        for env_id in config.env_ids
    }
    WEIGHTS.mkdir(exist_ok=True)
    file = f"{name}.pt"
    save_checkpoint(WEIGHTS / file, weights)
    index = shipped()
    key = "all" if config.multitask else config.env
    index[key] = {
        "file": file,
        "algo": config.algo,
        "preset": config.preset,
        "steps": config.steps,
        "seed": config.seed,
        "success": success,
        "episodes_per_split": episodes,
    }
    with atomic_path(INDEX) as tmp:
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index[key]


@dataclass
class ExportArgs:
    """What ``python -m agents.pretrained`` exports."""

    run: str = field(default=cli.REQUIRED)
    """Run folder written by agents.train."""
    name: str = field(default=cli.REQUIRED)
    """File name (without .pt) in agents/weights/."""
    episodes: int = 100
    """Evaluation episodes per split and task for the index."""


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.pretrained``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(ExportArgs, argv, "python -m agents.pretrained", __doc__.split("\n")[0])
    entry = export(args.run, args.name, args.episodes)
    print(json.dumps(entry, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
