"""PPO for the RL Zoo (``--conf-file agents.zoo.ppo``): the rollout and batch sizes ``agents.train --algo ppo`` uses."""

from agents.zoo import for_every_task

hyperparams = for_every_task(
    {"n_envs": 8, "n_timesteps": 200_000, "n_steps": 256, "batch_size": 256, "n_epochs": 10, "learning_rate": 3e-4}
)
