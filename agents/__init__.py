"""Groundworld agents: a native SAC (and MBPO), behaviour cloning, rejection sampling, SB3 with our encoder.

    import agents

    policy = agents.train(agents.TrainConfig(env="Groundworld/GoTo-v0", algo="native", steps=60_000,
                                             run_dir="runs/goto"))
    print(agents.evaluate(policy, "Groundworld/GoTo-v0", split="heldout", episodes=100).summary())

Names load their module on first use: ``import agents`` does not import Stable-Baselines3.
"""

from groundworld.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "agents.config",
    "EvalResult": "agents.evaluation",
    "evaluate": "agents.evaluation",
    "load_policy": "agents.policies",
    "load_pretrained": "agents.pretrained",
    "GroundworldExtractor": "agents.sb3",
    "sb3_policy_kwargs": "agents.sb3",
    "train": "agents.training",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
