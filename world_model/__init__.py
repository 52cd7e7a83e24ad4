"""Groundworld world models: a language-conditioned dynamics ensemble and a dream env to train in.

buffer = agents.replay.ReplayBuffer.load("runs/goto/replay-60000.npz", env.observation_space)
model, history = world_model.fit(buffer, world_model.WorldModelConfig())
dream = world_model.DreamVecEnv(model, buffer, num_envs=64, horizon=15)

Judges (success predictors from unfinished episodes)::

episodes = world_model.collect_episodes("Groundworld/GoTo-v0", 600)
judge, history = world_model.train_judge(episodes, world_model.JudgeConfig(privileged=False))
env = world_model.PotentialShaping(gym.make("Groundworld/GoTo-v0"), world_model.JudgePotential(judge))
"""

from world_model.dream import DreamVecEnv, sb3_vec_env
from world_model.ensemble import EnsembleConfig, EnsembleModel
from world_model.episodes import Episodes, collect_episodes
from world_model.goodhart import GoodhartMonitor
from world_model.judge import Judge, JudgeConfig, judge_probabilities, load_judge, save_judge, train_judge
from world_model.shaping import JudgePotential, PotentialShaping
from world_model.training import WorldModelConfig, fit, load_world_model, save_world_model

__all__ = [
    "DreamVecEnv",
    "EnsembleConfig",
    "EnsembleModel",
    "Episodes",
    "GoodhartMonitor",
    "Judge",
    "JudgeConfig",
    "JudgePotential",
    "PotentialShaping",
    "collect_episodes",
    "judge_probabilities",
    "load_judge",
    "save_judge",
    "train_judge",
    "WorldModelConfig",
    "fit",
    "load_world_model",
    "save_world_model",
    "sb3_vec_env",
]
