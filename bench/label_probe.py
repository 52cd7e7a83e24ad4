"""How well does a cloned policy generalise to episodes it never saw? An offline probe on a DAgger run's labels.

A DAgger run saves every state it labelled (``labels-<step>.npz``, with its episode). This trains a fresh
policy head by regression on the labels of 80% of those episodes and reports the squared label error on a
random sample of its own rows and on the other 20% of episodes: the generalisation gap that decides whether
the learner acts well in a scene it has not visited. Variants of the encoder and of the data (``--relative``,
``--readout-only``, ``--symmetry``) are compared on the same rows in minutes, without a learning run each.

    python -m bench.label_probe --run runs/dagger/Push-s0 --steps 4000 --relative --symmetry --readout-only
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from agents.bc import BCPolicy
from agents.config import TrainConfig
from agents.dagger import Labels, in_random_images, update
from groundworld.nn import EncoderConfig, obs_to_tensors


def load_labels(run: Path, space: gym.spaces.Dict, action_dim: int) -> Labels:
    """The run's last saved label file."""
    files = sorted(run.glob("labels-*.npz"), key=lambda p: int(p.stem.split("-")[1]))
    if not files:
        raise SystemExit(f"{run} has no labels-*.npz: not a DAgger run folder (python -m agents.train --algo dagger)")
    with np.load(files[-1]) as z:
        capacity = len(z["action"])
    labels = Labels(space, action_dim, capacity)
    labels.load(files[-1])
    return labels


def split_episodes(episode: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of 80% of the episodes (to train on) and of the other 20% (held out)."""
    ids = rng.permutation(np.unique(episode))
    held = ids[: len(ids) // 5]
    out = np.isin(episode, held)
    return np.flatnonzero(~out), np.flatnonzero(out)


def label_error(policy: BCPolicy, obs: dict, labels: np.ndarray, rows: np.ndarray) -> float:
    """Mean squared error (summed over action dimensions) of the policy's action against the labels."""
    errors = []
    with torch.no_grad():
        for lo in range(0, len(rows), 4096):
            idx = rows[lo : lo + 4096]
            action = policy(obs_to_tensors({k: v[idx] for k, v in obs.items()})).numpy()
            errors.append(((action - labels[idx]) ** 2).sum(1))
    return float(np.concatenate(errors).mean())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="a DAgger run folder")
    p.add_argument("--steps", type=int, default=4000, help="gradient steps")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--relative", action="store_true", help="EncoderConfig.relative")
    p.add_argument("--readout-only", action="store_true", help="EncoderConfig.readout_only")
    p.add_argument("--symmetry", action="store_true", help="train on random images of the table (envs.symmetry)")
    p.add_argument("--report-every", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    env = gym.make(TrainConfig.from_run(args.run).env_ids[0])
    store = load_labels(args.run, env.observation_space, env.action_space.shape[0])
    obs, labels = {k: v[: len(store)] for k, v in store.obs.items()}, store.action[: len(store)]
    train_rows, held_rows = split_episodes(store.episode[: len(store)], rng)
    encoder = EncoderConfig(relative=args.relative, readout_only=args.readout_only)
    policy = BCPolicy(env.observation_space, env.action_space, (256, 256), encoder)
    optim = torch.optim.Adam(policy.parameters(), lr=3e-4)
    print(f"{args.run}: {len(train_rows)} rows to train on, {len(held_rows)} rows of held-out episodes")
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = train_rows[rng.integers(0, len(train_rows), args.batch_size)]
        batch = ({k: v[idx] for k, v in obs.items()}, labels[idx], store.goal[idx], store.place[idx])
        if args.symmetry:
            batch = in_random_images(batch, rng)
        update(policy, optim, batch, grounding=1.0, device=torch.device("cpu"))  # DAgger's own update step
        if step % args.report_every == 0 or step == args.steps:
            seen = np.sort(rng.choice(train_rows, min(8000, len(train_rows)), replace=False))
            print(
                f"step {step}: label error on trained episodes {label_error(policy, obs, labels, seen):.3f}, "
                f"on held-out episodes {label_error(policy, obs, labels, held_rows):.3f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
