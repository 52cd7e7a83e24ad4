"""Behaviour cloning from oracle demonstrations: the supervised baseline.

Demonstrations are stored in the shared replay format (:mod:`groundworld.replay`), instruction
tokens included, so a dataset file is also world-model training data.

    buffer = collect_demonstrations("Groundworld/Push-v0", steps=20_000, seed=0)
    buffer.save("runs/push-bc/demos.npz")
    policy = BCPolicy(env.observation_space, env.action_space)
    train_bc(policy, buffer, epochs=30)
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from groundworld.nn import EncoderConfig, GroundedEncoder, mlp, obs_to_tensors
from groundworld.policy import batch1
from groundworld.replay import ReplayBuffer


def collect_demonstrations(
    env_id: str, steps: int, seed: int = 0, action_noise: float = 0.0, reward_mode: str = "dense", split: str = "train"
) -> ReplayBuffer:
    """Roll out the oracle for ``steps`` environment steps (whole episodes, the last one cut)."""
    env = gym.make(env_id, reward_mode=reward_mode, split=split)
    oracle = envs.make_oracle(env)
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(env.observation_space, env.action_space.shape[0], steps, env_id)
    episode, count = 0, 0
    while count < steps:
        obs, info = env.reset(seed=seed + episode)
        done, t = False, 0
        while not done and count < steps:
            action = oracle(obs, info)
            goal_object = info["goal"]["object"]  # the goal that came with obs
            if action_noise > 0:
                action = np.clip(action + rng.normal(0, action_noise, size=action.shape), -1, 1).astype(np.float32)
            next_obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            cut = not done and count + 1 == steps  # the budget ends mid-episode: mark it truncated
            buffer.add(
                batch1(obs),
                action[None],
                [reward],
                batch1(next_obs),
                [terminated],
                [truncated or cut],
                [t == 0],
                [episode],
                [t],
                [info["is_success"]],
                [goal_object],
            )
            obs, t, count = next_obs, t + 1, count + 1
        episode += 1
    env.close()
    return buffer


MAX_LOG_STD = -1.0
"""Widest mixture component (std 0.37 of an action range of 2): a component wide enough to cover two modes of an
action at once (passing an object on its left, on its right) is a local optimum of the likelihood that acts with
their mean, as regression does (a two-mode fit of 400 steps, as in ``tests/test_dagger.py``, missed a mode by more
than 0.1 from 3 of 4 seeds with a cap of 0.5, from none of 8 with this one)."""


class MixtureHead(nn.Module):
    """An MLP giving ``components`` diagonal Gaussians over the action (means squashed into [-1, 1]).

    Where a demonstrator's action has several modes for one observation (around an object on its left
    or on its right), regression onto their mean steers between them, into the object; a mixture keeps
    each mode and acts with the mean of the most probable one (robomimic's GMM policies)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], action_dim: int, components: int):
        super().__init__()
        self.k, self.a = components, action_dim
        self.net = mlp(in_dim, hidden, components * (1 + 2 * action_dim))

    def params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture logits (..., K), means (..., K, A) and log standard deviations (..., K, A)."""
        out = self.net(x)
        logits, rest = out[..., : self.k], out[..., self.k :].unflatten(-1, (self.k, 2 * self.a))
        return logits, torch.tanh(rest[..., : self.a]), rest[..., self.a :].clamp(-5.0, MAX_LOG_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of the most probable component: (..., A)."""
        logits, mean, _ = self.params(x)
        best = logits.argmax(-1, keepdim=True)[..., None].expand(*mean.shape[:-2], 1, self.a)
        return mean.gather(-2, best).squeeze(-2)

    def nll(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``target`` (..., A) per row (up to a constant)."""
        logits, mean, log_std = self.params(x)
        z = (target.unsqueeze(-2) - mean) / log_std.exp()
        component = -0.5 * z.pow(2).sum(-1) - log_std.sum(-1)
        return -torch.logsumexp(torch.log_softmax(logits, -1) + component, -1)


class BCPolicy(nn.Module):
    """Grounded encoder + MLP -> tanh action, trained by regression on demonstrated actions; with
    ``components`` > 0 the MLP is a :class:`MixtureHead` trained by likelihood."""

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        action_space: gym.spaces.Box,
        hidden: tuple[int, ...] = (256, 256),
        encoder: EncoderConfig | None = None,
        components: int = 0,
    ):
        super().__init__()
        self.encoder = GroundedEncoder(observation_space, encoder)
        self.components, self.hidden = components, tuple(hidden)
        self.head = self.make_head(self.encoder.out_dim, int(np.prod(action_space.shape)))

    def make_head(self, in_dim: int, action_dim: int) -> nn.Module:
        if self.components:
            return MixtureHead(in_dim, self.hidden, action_dim, self.components)
        return mlp(in_dim, self.hidden, action_dim)

    def action(self, x: torch.Tensor) -> torch.Tensor:
        """The action the head gives for its input ``x`` (encoder features, or features and memory)."""
        return self.head(x) if self.components else torch.tanh(self.head(x))

    def action_loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-row loss of the head against demonstrated actions: squared error, or the mixture's NLL."""
        if self.components:
            return self.head.nll(x, target)
        return (torch.tanh(self.head(x)) - target).pow(2).sum(-1)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.action(self.encoder(obs))

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of observations (BC policies are deterministic)."""
        device = next(self.parameters()).device
        return self(obs_to_tensors(self.encoder.adapt(obs), device)).cpu().numpy()


def train_bc(
    policy: BCPolicy,
    buffer: ReplayBuffer,
    epochs: int,
    batch_size: int = 256,
    lr: float = 3e-4,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Fit ``policy`` to the buffer's actions (mean squared error); return the loss per epoch."""
    device = next(policy.parameters()).device
    rows = buffer.rows()
    obs = {k: torch.as_tensor(rows["obs/" + k], device=device) for k in buffer.keys}
    obs = obs_to_tensors(obs, device)
    actions = torch.as_tensor(rows["action"], device=device)
    optim = torch.optim.Adam(policy.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for epoch in range(epochs):
        order = torch.randperm(len(actions), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss = (policy({k: v[idx] for k, v in obs.items()}) - actions[idx]).pow(2).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"behaviour-cloning loss became {loss.item()} in epoch {epoch}")
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += loss.item() * len(idx)
        losses.append(total / len(order))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses


class RecurrentBCPolicy(BCPolicy):
    """:class:`BCPolicy` with memory: a GRU between the encoder and the head, for tasks whose observation does not
    say which phase the episode is in (Sequence without its progress feature).

    ``act`` keeps one hidden state per row of the batch it is given and carries it to the next call;
    ``reset(rows)`` clears those rows (or all) at an episode's start. Training runs :meth:`sequence` over
    chunks of consecutive steps of one episode (:meth:`agents.dagger.Labels.chunks`)."""

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        action_space: gym.spaces.Box,
        hidden: tuple[int, ...] = (256, 256),
        encoder: EncoderConfig | None = None,
        memory: int = 128,
        components: int = 0,
    ):
        super().__init__(observation_space, action_space, hidden, encoder, components)
        self.memory = memory
        self.gru = nn.GRUCell(self.encoder.out_dim, memory)
        self.head = self.make_head(self.encoder.out_dim + memory, int(np.prod(action_space.shape)))
        self._state: torch.Tensor | None = None

    def sequence(self, features: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """The head's inputs (B, T, F + memory) for encoder ``features`` (B, T, F): features and memory; the state
        is cleared where ``start`` (B, T) is True (an episode's first step) and at the chunk's first step."""
        b, t, _ = features.shape
        h = features.new_zeros(b, self.memory)
        out = []
        for i in range(t):
            h = torch.where(start[:, i, None], torch.zeros_like(h), h)
            h = self.gru(features[:, i], h)
            out.append(torch.cat([features[:, i], h], -1))
        return torch.stack(out, 1)

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        device = next(self.parameters()).device
        features = self.encoder(obs_to_tensors(self.encoder.adapt(obs), device))
        if self._state is None or self._state.shape[0] != len(features):
            self._state = features.new_zeros(len(features), self.memory)
        self._state = self.gru(features, self._state)
        return self.action(torch.cat([features, self._state], -1)).cpu().numpy()

    def reset(self, rows: np.ndarray | None = None) -> None:
        """Clear the memory of ``rows`` (a boolean mask or indices), or of every row."""
        if self._state is None or rows is None:
            self._state = None
        else:
            self._state[torch.as_tensor(rows)] = 0.0
