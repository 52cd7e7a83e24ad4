"""Groundworld world models: a language-conditioned dynamics ensemble and a dream env to train in.

buffer = agents.replay.ReplayBuffer.load("runs/goto/replay-60000.npz", env.observation_space)
model, history = world_model.fit(buffer, world_model.WorldModelConfig())
dream = world_model.DreamVecEnv(model, buffer, num_envs=64, horizon=15)
"""

from world_model.dream import DreamVecEnv, sb3_vec_env
from world_model.ensemble import EnsembleConfig, EnsembleModel
from world_model.training import WorldModelConfig, fit, load_world_model, save_world_model

__all__ = [
    "DreamVecEnv",
    "EnsembleConfig",
    "EnsembleModel",
    "WorldModelConfig",
    "fit",
    "load_world_model",
    "save_world_model",
    "sb3_vec_env",
]
