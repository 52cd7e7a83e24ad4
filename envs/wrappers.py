"""Observation wrappers for clients that want one flat vector (CleanRL, ``NormalizeObservation``, an MLP).

Gymnasium's ``FlattenObservation`` turns the whole ``Dict`` into float64 and the instruction's token ids into
floats that a normaliser then rescales. :class:`FlatObservation` instead flattens the numeric keys as float32
and keeps the words apart, in one of three forms::

    env = envs.FlatObservation(gym.make("Groundworld/Push-v0"))                      # Box: state + one-hot words
    env = gym.wrappers.NormalizeObservation(env)                                       # safe: every entry numeric
    env = envs.FlatObservation(gym.make("Groundworld/Push-v0"), instruction="keep")  # Dict(state=..., instruction=ids)
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import tokenizer
from envs.errors import UsageError

INSTRUCTION_FORMS = ("onehot", "keep", "drop")


class FlatObservation(gym.ObservationWrapper):
    """The observation's numeric keys (every key but ``instruction``, in sorted order) as one float32 vector.

    ``instruction="onehot"`` (default) appends the words as one one-hot row per token position (word order kept:
    "touch A, then B" is not "touch B, then A"), so the whole observation is one ``Box``; ``"keep"`` gives
    ``Dict(state=Box, instruction=token ids)``; ``"drop"`` leaves the words out (the task is then ambiguous).
    ``keys`` lists the flattened keys in order, ``slices`` where each one lies in the vector."""

    def __init__(self, env: gym.Env, instruction: Literal["onehot", "keep", "drop"] = "onehot"):
        super().__init__(env)
        if instruction not in INSTRUCTION_FORMS:
            raise UsageError(f"instruction={instruction!r}; expected one of {INSTRUCTION_FORMS}")
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or "instruction" not in space.spaces:
            raise UsageError("FlatObservation wraps a Groundworld env: a Dict observation with an 'instruction' key")
        self.form = instruction
        self.keys = tuple(sorted(k for k in space.spaces if k != "instruction"))
        self.slices: dict[str, slice] = {}
        start = 0
        for key in self.keys:
            size = int(np.prod(space[key].shape))
            self.slices[key] = slice(start, start + size)
            start += size
        low = np.concatenate([np.broadcast_to(space[k].low, space[k].shape).ravel() for k in self.keys])
        high = np.concatenate([np.broadcast_to(space[k].high, space[k].shape).ravel() for k in self.keys])
        state = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        words = tokenizer.MAX_TOKENS * tokenizer.VOCAB_SIZE
        if instruction == "keep":
            self.observation_space = spaces.Dict({"state": state, "instruction": space["instruction"]})
        elif instruction == "onehot":
            self.observation_space = spaces.Box(
                np.concatenate([state.low, np.zeros(words, np.float32)]),
                np.concatenate([state.high, np.ones(words, np.float32)]),
                dtype=np.float32,
            )
        else:
            self.observation_space = state

    def observation(self, observation: dict[str, np.ndarray]) -> Any:
        state = np.concatenate([np.asarray(observation[k], dtype=np.float32).ravel() for k in self.keys])
        if self.form == "keep":
            return {"state": state, "instruction": observation["instruction"]}
        if self.form == "drop":
            return state
        onehot = np.zeros((tokenizer.MAX_TOKENS, tokenizer.VOCAB_SIZE), dtype=np.float32)
        onehot[np.arange(tokenizer.MAX_TOKENS), observation["instruction"]] = 1.0
        onehot[:, 0] = 0.0  # padding is no word
        return np.concatenate([state, onehot.ravel()])
