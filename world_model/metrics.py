"""Measuring hallucination: open-loop k-step error, disagreement vs error, imagined vs real success."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from groundworld.nn import obs_to_tensors
from groundworld.replay import ReplayBuffer
from world_model.codec import OBJECT_DYNAMIC
from world_model.ensemble import EnsembleModel
from world_model.outcomes import TaskOutcome


def by_episode(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows reordered by (episode, step): vector envs interleave episodes in a replay buffer."""
    order = np.lexsort((rows["step"], rows["episode"]))
    return {key: value[order] for key, value in rows.items()}


def episode_windows(rows: dict[str, np.ndarray], k: int) -> np.ndarray:
    """Row indices ``i`` such that rows i .. i+k-1 are consecutive steps of one episode
    (``rows`` ordered by episode, see :func:`by_episode`)."""
    episode, step = rows["episode"], rows["step"]
    ok = np.ones(len(episode) - k + 1, dtype=bool) if len(episode) >= k else np.zeros(0, dtype=bool)
    for j in range(1, k):
        ok &= (episode[j : len(episode) - k + 1 + j] == episode[: len(episode) - k + 1]) & (
            step[j : len(step) - k + 1 + j] == step[: len(step) - k + 1] + j
        )
    return np.flatnonzero(ok)


def _components(model: EnsembleModel) -> dict[str, np.ndarray]:
    p = model.codec.proprio_dim
    objects = np.arange(model.codec.dim - p).reshape(-1, OBJECT_DYNAMIC) + p
    return {
        "proprio": np.arange(p),
        "object position": objects[:, :3].ravel(),
        "object velocity": objects[:, 3:].ravel(),
    }


@torch.no_grad()
def open_loop_error(
    model: EnsembleModel, buffer: ReplayBuffer, ks: tuple[int, ...] = (1, 5, 15), max_windows: int = 2000, seed: int = 0
) -> dict[int, dict[str, float]]:
    """Mean squared error of k-step open-loop predictions (real actions, the elites' mean
    prediction fed back), divided by the variance of each feature over the data, averaged
    per component (proprio, object positions, object velocities) over present objects."""
    rows = by_episode(buffer.rows())
    codec = model.codec
    all_obs = obs_to_tensors({k: rows["obs/" + k] for k in buffer.keys})
    state = codec.dynamic(all_obs).numpy()
    mask = codec.dynamic_mask(all_obs).numpy()
    variance = np.maximum(
        ((state - (state * mask).sum(0) / mask.sum(0).clip(1)) ** 2 * mask).sum(0) / mask.sum(0).clip(1), 1e-8
    )
    rng = np.random.default_rng(seed)
    out: dict[int, dict[str, float]] = {}
    for k in ks:
        starts = episode_windows(rows, k)
        if len(starts) == 0:
            continue
        starts = rng.choice(starts, size=min(max_windows, len(starts)), replace=False)
        obs = obs_to_tensors({key: rows["obs/" + key][starts] for key in buffer.keys})
        for j in range(k):
            action = torch.as_tensor(rows["action"][starts + j])
            obs = model.step(obs, action, elite_mean=True)["next_obs"]
        real = obs_to_tensors({key: rows["next_obs/" + key][starts + k - 1] for key in buffer.keys})
        err = (codec.dynamic(obs).numpy() - codec.dynamic(real).numpy()) ** 2 / variance
        m = mask[starts]
        out[k] = {
            name: float((err[:, idx] * m[:, idx]).sum() / max(1.0, m[:, idx].sum()))
            for name, idx in _components(model).items()
        }
        out[k]["all"] = float((err * m).sum() / m.sum())
    return out


@torch.no_grad()
def disagreement_correlation(model: EnsembleModel, buffer: ReplayBuffer, samples: int = 4000, seed: int = 0) -> float:
    """Pearson correlation, over transitions, of the elites' disagreement with the real one-step error."""
    rows = buffer.rows()
    idx = np.random.default_rng(seed).choice(len(buffer), size=min(samples, len(buffer)), replace=False)
    obs = obs_to_tensors({k: rows["obs/" + k][idx] for k in buffer.keys})
    real = obs_to_tensors({k: rows["next_obs/" + k][idx] for k in buffer.keys})
    out = model.step(obs, torch.as_tensor(rows["action"][idx]), elite_mean=True)
    codec = model.codec
    mask = codec.dynamic_mask(obs)
    err = (
        (
            model.delta_norm(codec.dynamic(out["next_obs"]) - codec.dynamic(obs))
            - model.delta_norm(codec.dynamic(real) - codec.dynamic(obs))
        )
        ** 2
        * mask
    ).sum(-1) / mask.sum(-1)
    return float(np.corrcoef(out["disagreement"].numpy(), err.numpy())[0, 1])


def imagined_vs_real(model: EnsembleModel, policy, env_id: str, episodes: int = 50, seed: int = 30_000_000) -> dict:
    """Success of ``policy`` (``reset()``, ``act(obs)``) from the same start states in the real env
    and in imagination (the elites' mean prediction); an imagined episode's success probability
    is 1 - prod(1 - p_t) over its steps, since success is a rare, once-per-episode event."""
    """Success of ``policy`` (``reset()``, ``act(obs)``) from the same start states, in the real
    env and in imagination (the elites' mean prediction; success when predicted p > 0.5)."""
    env = gym.make(env_id)
    real_success, imagined_success = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        imagined = obs_to_tensors({k: v[None] for k, v in obs.items()})
        policy.reset()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            done = terminated or truncated
        real_success.append(bool(info["is_success"]))
        policy.reset()
        p_not_yet = 1.0  # probability that the imagined episode has not succeeded so far
        for _ in range(env.spec.max_episode_steps):
            action = policy.act({k: v[0].numpy() for k, v in imagined.items()})
            out = model.step(imagined, torch.as_tensor(action[None], dtype=torch.float32), elite_mean=True)
            imagined = out["next_obs"]
            p_not_yet *= 1.0 - float(out["success"][0])
            if float(out["terminal"][0]) > 0.5 or p_not_yet < 1e-3:
                break
        imagined_success.append(1.0 - p_not_yet)
    real, imag = np.array(real_success), np.array(imagined_success)
    return {
        "real success": float(real.mean()),
        "imagined success (mean p)": float(imag.mean()),
        "agreement (p > 0.5)": float((real == (imag > 0.5)).mean()),
    }


@torch.no_grad()
def outcome_prediction(model: EnsembleModel, buffer: ReplayBuffer, outcome: TaskOutcome | None = None) -> dict:
    """How well imagined rewards and successes match the real ones on ``buffer``'s transitions
    (real start, real action): the learned heads', and with ``outcome`` the task's rules applied
    to the imagined next state, from the elites' mean and from a sampled step (as MBPO imagines)."""
    rows = buffer.rows()
    obs = obs_to_tensors({k: rows["obs/" + k] for k in buffer.keys})
    action = torch.as_tensor(rows["action"])
    reward = rows["reward"]
    real_success = rows["is_success"]
    out = model.step(obs, action, elite_mean=True)
    report = {
        "success steps": int(real_success.sum()),
        "learned reward corr": _corr(out["reward"].numpy(), reward),
        "learned P(success) on success steps": float(out["success"].numpy()[real_success].mean())
        if real_success.any()
        else float("nan"),
        "learned P(success) elsewhere": float(out["success"].numpy()[~real_success].mean()),
    }
    if outcome is not None:
        goal = torch.as_tensor(rows["goal_object"])
        zone = torch.as_tensor(outcome.goal_zone_colors(rows["obs/instruction"]))
        sampled = model.step(obs, action, torch.Generator().manual_seed(0), sample=True)
        for name, step in (("elites' mean", out), ("sampled", sampled)):
            rule = outcome(obs, action, step["next_obs"], goal, zone)
            report[f"rule reward corr ({name})"] = _corr(rule["reward"].numpy(), reward)
            hit = rule["success"].numpy()
            report[f"rule success recall ({name})"] = float(hit[real_success].mean()) if real_success.any() else 0.0
            report[f"rule success precision ({name})"] = float(real_success[hit].mean()) if hit.any() else 0.0
    return report


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])
