"""Stable-Baselines3 integration: the grounded encoder as a features extractor.

    from stable_baselines3 import PPO, SAC
    import agents, envs, gymnasium as gym

    env = gym.make("Groundworld/GoTo-v0", reward_mode="dense")
    model = SAC("MultiInputPolicy", env, policy_kwargs=agents.sb3_policy_kwargs())

The same kwargs work for PPO and for sb3-contrib's ``RecurrentPPO("MultiInputLstmPolicy", ...)``
(the recurrent option for tasks that need memory). With ``VecNormalize``, normalise the numeric keys only:
``VecNormalize(venv, norm_obs_keys=["proprio", "objects", "zones"])`` (the token ids must stay ids).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from envs import cli, tokenizer
from envs.errors import UsageError
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
        self._checked = False

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self._checked:  # the first batch: a wrapper that rescaled the token ids is named before F.embedding
            check_token_ids(observations["instruction"], sorted(set(observations) - {"instruction"}))
            self._checked = True
        return self.encoder(observations)


def check_token_ids(tokens: torch.Tensor, numeric_keys: list[str]) -> None:
    """Raise :class:`~envs.errors.UsageError` unless ``tokens`` are whole numbers in tokenizer v1's range (SB3 hands
    them over as floats): an observation normaliser applied to every key turns them into other numbers."""
    if not tokens.numel():
        return
    whole = bool(torch.isfinite(tokens).all()) and bool((tokens == tokens.round()).all())
    if whole and 0 <= float(tokens.min()) and float(tokens.max()) < tokenizer.VOCAB_SIZE:
        return
    keys = [k for k in numeric_keys if not k.endswith("_mask")]
    raise UsageError(
        f"the observation's 'instruction' token ids are not whole numbers in [0, {tokenizer.VOCAB_SIZE - 1}] (got "
        f"{float(tokens.min()):.3g} to {float(tokens.max()):.3g}): an observation normaliser rescaled them. "
        f"Normalise the numeric keys only, e.g. VecNormalize(venv, norm_obs_keys={keys})"
    )


def sb3_policy_kwargs(net_arch: list[int] | None = None, **encoder_kwargs: Any) -> dict[str, Any]:
    """``policy_kwargs`` for SB3's ``MultiInputPolicy`` (PPO, SAC) on any Groundworld task.

    ``encoder_kwargs`` are fields of :class:`groundworld.nn.EncoderConfig`.
    """
    return {
        "features_extractor_class": GroundworldExtractor,
        "features_extractor_kwargs": cli.to_dict(EncoderConfig(**encoder_kwargs)),
        "net_arch": list(net_arch or [256, 256]),
    }
