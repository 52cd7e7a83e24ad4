"""Stable-Baselines3 integration: the grounded encoder as a features extractor.

    from stable_baselines3 import PPO, SAC
    import agents, envs, gymnasium as gym

    env = gym.make("Groundworld/GoTo-v0", reward_mode="dense")
    model = SAC("MultiInputPolicy", env, policy_kwargs=agents.sb3_policy_kwargs())

The same kwargs work for PPO and for sb3-contrib's ``RecurrentPPO("MultiInputLstmPolicy", ...)``
(the recurrent option for tasks that need memory).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from envs import cli
from groundworld.nn import EncoderConfig, GroundedEncoder


class GroundworldExtractor(BaseFeaturesExtractor):
    """SB3 features extractor wrapping :class:`groundworld.nn.GroundedEncoder`.

    ``encoder_kwargs`` are read as a saved config (``EncoderConfig.SAVED_DEFAULTS`` fill what they lack), since SB3
    rebuilds the extractor from the kwargs a model was saved with; :func:`sb3_policy_kwargs` names every field."""

    def __init__(self, observation_space: gym.spaces.Dict, **encoder_kwargs: Any):
        config = cli.from_dict(EncoderConfig, encoder_kwargs, "features_extractor_kwargs")
        encoder = GroundedEncoder(observation_space, config)
        super().__init__(observation_space, encoder.out_dim)
        self.encoder = encoder

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(observations)


def sb3_policy_kwargs(net_arch: list[int] | None = None, **encoder_kwargs: Any) -> dict[str, Any]:
    """``policy_kwargs`` for SB3's ``MultiInputPolicy`` (PPO, SAC) on any Groundworld task.

    ``encoder_kwargs`` are fields of :class:`groundworld.nn.EncoderConfig`.
    """
    return {
        "features_extractor_class": GroundworldExtractor,
        "features_extractor_kwargs": cli.to_dict(EncoderConfig(**encoder_kwargs)),
        "net_arch": list(net_arch or [256, 256]),
    }
