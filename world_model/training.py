"""Fit the ensemble world model on replay data, with early stopping on held-out episodes.

    python -m world_model.train --data runs/goto/replay-60000.npz --run-dir runs/wm-goto

From Python::

    model, history = world_model.fit(replay, WorldModelConfig())
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the environments)
from envs import cli
from envs.base import HALF_EXTENT, OBJECT_DYNAMIC, OBJECT_FEATURES
from envs.cli import NonNegative, OpenFraction, Positive
from envs.errors import UsageError
from envs.scene import TABLE_HALF
from groundworld.checkpoint import load_checkpoint, load_state, save_checkpoint
from groundworld.nn import obs_to_tensors
from groundworld.replay import ReplayBuffer
from groundworld.runs import CsvLog, RunLock
from world_model.ensemble import EnsembleConfig, EnsembleModel, Normalizer
from world_model.objects import object_inputs


@dataclass
class WorldModelConfig:
    """How to fit the world model."""

    epochs: Annotated[int, Positive] = 100
    """Most passes over the training episodes."""
    batch_size: Annotated[int, Positive] = 256
    """Transitions per gradient step."""
    lr: Annotated[float, Positive] = 1e-3
    """Adam learning rate."""
    weight_decay: Annotated[float, NonNegative] = 1e-5
    """Adam weight decay."""
    holdout: Annotated[float, OpenFraction] = 0.15
    """Fraction of episodes held out for early stopping and elite selection."""
    patience: Annotated[int, Positive] = 6
    """Epochs without a 1% held-out improvement before stopping."""
    seed: int = 0
    """Seed of the split, initialisation and batches."""
    correct_own_errors: bool = True
    """Also train on the model's own one-step predictions paired with the real step after them
    (Data as Demonstrator; Venkatraman et al., 2015): open-loop, the model feeds itself states a
    little off the data, and learns here to steer them back rather than compound the error
    (e.g. an object bouncing on the table, predicted a millimetre low, is not then imagined
    falling through it). Roughly doubles the cost of an epoch."""
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    """Sizes of the ensemble."""

    def validate(self) -> None:
        cli.validate(self)
        self.ensemble.validate()


class FitError(UsageError, FloatingPointError):
    """The fit diverged (a non-finite loss or held-out error): the data or the settings cannot fit a model."""


def transitions(buffer: ReplayBuffer, rows: np.ndarray | None = None) -> dict[str, Any]:
    """Tensors of the buffer's transitions (all, or the given row indices of ``buffer.rows()``)."""
    data = buffer.rows()
    idx = np.arange(len(buffer)) if rows is None else rows
    obs = obs_to_tensors({k: data["obs/" + k][idx] for k in buffer.keys})
    next_obs = obs_to_tensors({k: data["next_obs/" + k][idx] for k in buffer.keys})
    return {
        "obs": obs,
        "next_obs": next_obs,
        "action": torch.as_tensor(data["action"][idx]),
        "reward": torch.as_tensor(data["reward"][idx]),
        "success": torch.as_tensor(data["is_success"][idx]).float(),
        "terminal": torch.as_tensor(data["is_terminal"][idx]).float(),
        "goal_object": torch.as_tensor(data["goal_object"][idx]).long()
        if "goal_object" in data
        else torch.full((len(idx),), -1, dtype=torch.long),
    }


def split_episodes(episodes: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of training and held-out transitions; an episode is never split."""
    ids = np.unique(episodes)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(ids, size=max(1, int(round(holdout * len(ids)))), replace=False).tolist())
    is_held = np.array([e in held for e in episodes])
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


def _take(batch: dict[str, Any], idx: torch.Tensor) -> dict[str, Any]:
    return {k: ({kk: vv[idx] for kk, vv in v.items()} if isinstance(v, dict) else v[idx]) for k, v in batch.items()}


def _cat(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: (_cat(v, b[k]) if isinstance(v, dict) else torch.cat([v, b[k]])) for k, v in a.items()}


def successors(episode: np.ndarray, step: np.ndarray) -> np.ndarray:
    """For each row, the row holding the next step of its episode; -1 at an episode's last stored step."""
    order = np.lexsort((step, episode))
    follows = (episode[order][1:] == episode[order][:-1]) & (step[order][1:] == step[order][:-1] + 1)
    out = np.full(len(episode), -1, dtype=np.int64)
    out[order[:-1][follows]] = order[1:][follows]
    return out


@torch.no_grad()
def own_error_rows(model: EnsembleModel, data: dict[str, Any], idx: torch.Tensor, successor: torch.Tensor):
    """Data-as-Demonstrator rows for the batch ``idx`` of ``data``: where a row has a next step
    (``successor``, -1 if none), that step with its start state replaced by the ensemble's mean
    prediction of it. None if no row has a next step."""
    nxt = successor[idx]
    keep = nxt >= 0
    if not keep.any():
        return None
    first, second = _take(data, idx[keep]), _take(data, nxt[keep])
    pred = model(first["obs"], first["action"])
    moving = None if pred.move_logit is None else pred.move_logit.mean(0) > 0
    predicted = model.next_state(first["obs"], pred.delta_mean.mean(0), moving)
    return dict(second, obs=model.codec.compose(second["obs"], predicted))


def _loss_args(batch: dict[str, Any]) -> dict[str, Any]:
    keys = ("obs", "action", "next_obs", "reward", "success", "terminal", "goal_object")
    return {k: batch[k] for k in keys}


REWARD_STD_FLOOR = 0.01
"""Smallest reward scale the held-out score divides reward errors by."""


def fit_normalizers(model: EnsembleModel, data: dict[str, Any]) -> None:
    codec = model.codec
    mask = codec.dynamic_mask(data["obs"])
    state = codec.dynamic(data["obs"])
    delta = codec.dynamic(data["next_obs"]) - state
    model.state_norm.fit(state, mask)
    model.delta_norm.fit(delta, mask)
    fit_envelope(model, state, mask)
    fit_table_envelope(model, data["obs"])
    # a reward that never varies carries nothing to rank members by: at a 1e-3 floor its tiny errors
    # weighed 10^6 times a state error and drove elite choice and early stopping (held-out 450 -> 6
    # on a linear system fitted to 1e-3); the floor is below any Groundworld reward scale (~0.1)
    model.reward_std.fill_(float(data["reward"].std().clamp(min=REWARD_STD_FLOOR)))
    if model.config.factored:
        # one network serves every slot, so every slot gets the same statistics (slots are shuffled)
        _pool_object_slots(model.state_norm, state, mask, codec.proprio_dim)
        _pool_object_slots(model.delta_norm, delta, mask, codec.proprio_dim)
        rows = object_inputs(data["obs"]).flatten(0, 1)
        present = data["obs"]["object_mask"].reshape(-1, 1).expand_as(rows)
        # attributes get the context's floor (an unseen colour must not become a huge input)
        floor = torch.full((rows.shape[1],), 1e-3)
        floor[OBJECT_DYNAMIC:OBJECT_FEATURES] = 0.1
        model.object_norm.fit(rows, present, floor=floor)
    # the context (attributes, zone geometry) is constant within an episode: on a few episodes
    # an attribute never seen in training would be an input of 10^4 at a 1e-4 scale (held-out
    # scores of 600+ on 1k transitions); 0.1 keeps it O(10)
    model.context_norm.fit(codec.context(data["obs"]), floor=0.1)


def fit_envelope(model: EnsembleModel, state: torch.Tensor, mask: torch.Tensor, margin: float = 0.1) -> None:
    """The range of each dynamic feature over present rows (object slots pooled: an object may go
    wherever any object went), widened by ``margin`` of its width on both sides."""
    p = model.codec.proprio_dim
    present = mask > 0
    low = torch.where(present, state, torch.inf).amin(0)
    high = torch.where(present, state, -torch.inf).amax(0)
    low[p:] = low[p:].reshape(-1, OBJECT_DYNAMIC).amin(0).repeat(model.codec.num_objects)
    high[p:] = high[p:].reshape(-1, OBJECT_DYNAMIC).amax(0).repeat(model.codec.num_objects)
    seen = torch.isfinite(low)
    width = torch.where(seen, high - low, 0.0)
    model.state_low.copy_(torch.where(seen, low - margin * width, -torch.inf))
    model.state_high.copy_(torch.where(seen, high + margin * width, torch.inf))


def fit_table_envelope(model: EnsembleModel, obs: dict[str, torch.Tensor], margin: float = 0.1) -> None:
    """The range of elevation (height above resting on the table) and vertical velocity of the
    present objects over the table, widened by ``margin`` of its width on both sides."""
    objects = obs["objects"].flatten(0, 1)
    over = (obs["object_mask"].flatten() > 0.5) & (objects[:, :2].abs().amax(-1) <= TABLE_HALF)
    if not over.any():
        return
    vertical = torch.stack([objects[over, 2] - objects[over, HALF_EXTENT], objects[over, 5]], -1)
    low, high = vertical.amin(0), vertical.amax(0)
    model.table_low.copy_(low - margin * (high - low))
    model.table_high.copy_(high + margin * (high - low))


def _pool_object_slots(norm: Normalizer, x: torch.Tensor, mask: torch.Tensor, proprio_dim: int) -> None:
    """Overwrite ``norm``'s object-slot statistics with those of all present objects pooled."""
    slots = x[:, proprio_dim:].reshape(-1, OBJECT_DYNAMIC)
    present = mask[:, proprio_dim:].reshape(-1, OBJECT_DYNAMIC)
    pooled = Normalizer(OBJECT_DYNAMIC)
    pooled.fit(slots, present)
    repeats = (x.shape[1] - proprio_dim) // OBJECT_DYNAMIC
    norm.mean[proprio_dim:] = pooled.mean.repeat(repeats)
    norm.std[proprio_dim:] = pooled.std.repeat(repeats)


@torch.no_grad()
def heldout_scores(model: EnsembleModel, data: dict[str, Any], batch_size: int = 2048) -> torch.Tensor:
    """Per-member mean held-out error (normalised change MSE + reward MSE in units of the reward's scale)."""
    n = len(data["action"])
    total = torch.zeros(model.config.members)
    for start in range(0, n, batch_size):
        b = _take(data, torch.arange(start, min(n, start + batch_size)))
        _, score = model.loss(**_loss_args(b))
        total += score * len(b["action"])
    return total / n


def fit(
    buffer: ReplayBuffer, config: WorldModelConfig, observation_space: gym.spaces.Dict | None = None, on_epoch=None
) -> tuple[EnsembleModel, list[dict[str, float]]]:
    """Train a new ensemble on ``buffer``; return it (best held-out epoch, elites chosen) and the history."""
    torch.manual_seed(config.seed)
    space = observation_space or gym.make(buffer.env_id).observation_space
    model = EnsembleModel(space, buffer.action_dim, config.ensemble)
    rows = buffer.rows()
    train_idx, held_idx = split_episodes(rows["episode"], config.holdout, config.seed)
    if len(train_idx) < config.batch_size or len(held_idx) == 0:
        raise ValueError(
            f"too little data to fit a world model: {len(train_idx)} training and {len(held_idx)} held-out transitions"
        )
    train, held = transitions(buffer, train_idx), transitions(buffer, held_idx)
    position = np.full(len(rows["episode"]), -1, dtype=np.int64)
    position[train_idx] = np.arange(len(train_idx))
    after = successors(rows["episode"], rows["step"])[train_idx]
    successor = torch.as_tensor(np.where(after >= 0, position[after], -1))  # within ``train``
    fit_normalizers(model, train)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    best, best_state, stale, history = float("inf"), None, 0, []
    for epoch in range(config.epochs):
        order = torch.randperm(len(train_idx), generator=generator)
        losses = []
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
            idx = order[start : start + config.batch_size]
            b = _take(train, idx)
            if config.correct_own_errors and (extra := own_error_rows(model, train, idx, successor)) is not None:
                b = _cat(b, extra)
            loss, _ = model.loss(**_loss_args(b))
            if not torch.isfinite(loss):
                raise FitError(f"world-model loss became {loss.item()} in epoch {epoch}")
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            losses.append(loss.item())
        scores = heldout_scores(model, held)
        score = float(scores.sort().values[: config.ensemble.elites].mean())
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "heldout": score})
        if on_epoch is not None:
            on_epoch(history[-1])
        if score < best * 0.99:
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
            best_state["elite_index"] = scores.argsort()[: config.ensemble.elites].clone()
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is None:
        raise FitError(
            f"the held-out error was never finite in {len(history)} epochs (last: {history[-1]['heldout']}); "
            "the data or the learning rate cannot fit a model"
        )
    model.load_state_dict(best_state)
    return model, history


def save_world_model(path: str | Path, model: EnsembleModel, env_id: str, extra: dict[str, Any] | None = None) -> Path:
    return save_checkpoint(
        path,
        {
            "kind": "world_model",
            "env": env_id,
            "model": model.state_dict(),
            "ensemble": dataclasses.asdict(model.config),
            "action_dim": model.action_dim,
            **(extra or {}),
        },
    )


def load_world_model(path: str | Path) -> tuple[EnsembleModel, str]:
    """A saved world model and the env id it was trained on."""
    payload = load_checkpoint(path, expect={"kind": "world_model"})
    space = gym.make(payload["env"]).observation_space
    # checkpoints from before the move gate and the goal pointer existed were written without them
    saved = {"move_gate": False, "pointer": False, "factored": False, **payload["ensemble"]}
    config = cli.from_dict(EnsembleConfig, saved, f"the world-model config in {path}")
    model = EnsembleModel(space, payload["action_dim"], config)
    state = dict(payload["model"])
    for key in ("state_low", "state_high", "reward_std", "table_low", "table_high"):  # older: unbounded, unscaled
        state.setdefault(key, getattr(model, key))
    load_state(model, state, "world model")
    return model, payload["env"]


@dataclass
class FitArgs:
    """What ``python -m world_model.train`` fits, and where it writes."""

    data: str = field(default=cli.REQUIRED)
    """Replay file (.npz) written by agents.train, agents.bc or an episodes export."""
    run_dir: str = field(default=cli.REQUIRED)
    """Folder for world_model.pt and metrics.csv."""
    threads: Annotated[int, NonNegative] = 0
    """Torch CPU threads (0: torch's default)."""
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    """How to fit (every field is also a flat flag: --epochs, --members, ...)."""

    def validate(self) -> None:
        self.model.validate()


def main(argv: list[str] | None = None) -> int:
    """``python -m world_model.train``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    from tqdm import tqdm

    args, _ = cli.parse(FitArgs, argv, "python -m world_model.train", __doc__.split("\n")[0])
    if args.threads:
        torch.set_num_threads(args.threads)
    config = args.model
    buffer = ReplayBuffer.load(args.data)  # checked before the run folder is touched
    with RunLock(args.run_dir) as lock:
        run = lock.path.parent
        bar = tqdm(total=config.epochs, unit="epoch")
        metrics = CsvLog(run / "metrics.csv", keep=lambda row: False)  # a new fit starts a new log
        start = time.time()

        def on_epoch(row: dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(heldout=f"{row['heldout']:.4f}")
            metrics.append({**row, "wall_s": round(time.time() - start, 1)})

        model, history = fit(buffer, config, on_epoch=on_epoch)
        bar.close()
        path = save_world_model(run / "world_model.pt", model, buffer.env_id, {"history": history})
    print(f"best held-out error {min(h['heldout'] for h in history):.4f} after {len(history)} epochs; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
