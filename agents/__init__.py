"""Groundworld agents: language-grounded encoders, SB3 integration, a native SAC, behaviour cloning.

import agents
policy = agents.train(agents.TrainConfig(env="Groundworld/GoTo-v0", algo="native", steps=60_000,
                                         run_dir="runs/goto"))
print(agents.evaluate(policy, "Groundworld/GoTo-v0", split="heldout", episodes=100).summary())
"""

from agents.config import TrainConfig
from agents.evaluation import EvalResult, evaluate
from agents.policies import load_policy
from agents.sb3 import GroundworldExtractor, sb3_policy_kwargs
from agents.training import train

__all__ = ["EvalResult", "GroundworldExtractor", "TrainConfig", "evaluate", "load_policy", "sb3_policy_kwargs", "train"]
