"""Groundworld world models: a language-conditioned dynamics ensemble, a dream env to train in, and judges.

    buffer = groundworld.replay.ReplayBuffer.load("runs/goto/replay-60000.npz")
    model, history = world_model.fit(buffer, world_model.WorldModelConfig())
    dream = world_model.DreamVecEnv(model, buffer, num_envs=64, horizon=15)

Judges (success predictors from unfinished episodes)::

    episodes = world_model.collect_episodes("Groundworld/GoTo-v0", 600)
    judge, history = world_model.train_judge(episodes, world_model.JudgeConfig(privileged=False))
    env = world_model.PotentialShaping(gym.make("Groundworld/GoTo-v0"), world_model.JudgePotential(judge))

Names load their module on first use: ``import world_model`` imports neither torch nor the judges.
"""

from groundworld.lazy import lazy_exports

_EXPORTS = {
    "DreamVecEnv": "world_model.dream",
    "sb3_vec_env": "world_model.dream",
    "EnsembleConfig": "world_model.ensemble",
    "EnsembleModel": "world_model.ensemble",
    "WorldModelConfig": "world_model.training",
    "fit": "world_model.training",
    "load_world_model": "world_model.training",
    "save_world_model": "world_model.training",
    "TaskOutcome": "world_model.outcomes",
    "Episodes": "world_model.judges.episodes",
    "collect_episodes": "world_model.judges.episodes",
    "GoodhartMonitor": "world_model.judges.goodhart",
    "Judge": "world_model.judges.judge",
    "JudgeConfig": "world_model.judges.judge",
    "judge_probabilities": "world_model.judges.judge",
    "load_judge": "world_model.judges.judge",
    "save_judge": "world_model.judges.judge",
    "train_judge": "world_model.judges.judge",
    "JudgePotential": "world_model.judges.shaping",
    "PotentialShaping": "world_model.judges.shaping",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
