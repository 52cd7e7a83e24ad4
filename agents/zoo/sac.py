"""SAC for the RL Zoo (``--conf-file agents.zoo.sac``): the values ``agents.train --algo sac`` uses."""

from agents.zoo import for_every_task

hyperparams = for_every_task(
    {"n_timesteps": 100_000, "learning_starts": 2_000, "batch_size": 256, "buffer_size": 300_000, "learning_rate": 3e-4}
)
