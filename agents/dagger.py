"""DAgger: the oracle labels the states the learner visits, and the learner clones the labels.

Behaviour cloning trains on the states the oracle visits; the clone's small errors take it to
states the oracle never saw, where it has no data, and it drifts (our BC of the oracle reaches
0.99 on GoTo but 0.01 on Push). DAgger (Ross, Gordon and Bagnell, 2011) collects instead with
the learner itself: at every step the oracle, a reactive function of the simulator state, says
what it would do there, and that label joins the data. With probability ``beta`` (decaying to 0
over ``beta_steps`` real steps) the oracle's action is the one executed, so early data stays
near success.

The acting policy is one network that sees only the observation; the oracle runs only to label,
at training time. Each update regresses the policy's action onto the labels of a random batch
of everything labelled so far, plus the grounding loss (the encoder's match against the
privileged goal object, as the native agent's). ``--pointer-pretrain`` first teaches the pointer on fresh
scenes (:mod:`groundworld.grounding`).

    python -m agents.train --env Groundworld/Push-v0 --algo dagger --steps 60000 --run-dir runs/push-dagger
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import envs
from agents.bc import BCPolicy, RecurrentBCPolicy
from agents.config import DAggerConfig, TrainConfig
from agents.evaluation import evaluate
from agents.loop import CHECKPOINT, Schedule, rng_state, stopped
from agents.policies import TorchPolicy
from envs import symmetry
from envs.files import atomic_path
from groundworld.checkpoint import load_checkpoint, load_state, save_checkpoint
from groundworld.grounding import GOAL_KEYS, SCENES, first_scenes, goal_arrays, pointer_losses, pretrain_pointer
from groundworld.layout import EMBODIMENTS, CommonLayout
from groundworld.nn import GoalPointer, obs_to_tensors
from groundworld.runs import RunLogger


class Labels:
    """A ring buffer of (observation, oracle action, goal) rows, saved as one ``.npz``. The goal is the privileged
    goal's indices in :data:`~groundworld.grounding.GOAL_KEYS` (-1: none) and its target position's x, y
    (``place``), which train the encoder's pointer."""

    def __init__(self, observation_space: gym.spaces.Dict, action_dim: int, capacity: int):
        self.keys = tuple(observation_space.spaces)
        self.obs = {k: np.zeros((capacity, *s.shape), dtype=s.dtype) for k, s in observation_space.spaces.items()}
        self.action = np.zeros((capacity, action_dim), dtype=np.float32)
        self.goal = np.full((capacity, len(GOAL_KEYS)), -1, dtype=np.int64)
        self.place = np.zeros((capacity, 2), dtype=np.float32)
        self.episode = np.full(capacity, -1, dtype=np.int64)
        self.prev = np.full(capacity, -1, dtype=np.int64)
        """Row of the same episode's previous step (-1 at an episode's first step)."""
        self.capacity, self.pos, self.size = capacity, 0, 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: dict[str, np.ndarray],
        action: np.ndarray,
        goal: np.ndarray,
        episode: np.ndarray | None = None,
        prev: np.ndarray | None = None,
        place: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add rows (a leading batch axis), each of ``episode`` after row ``prev`` (-1: its first step); ``goal`` is
        (n, k) the first k of :data:`GOAL_KEYS`, or (n,) objects alone, and ``place`` (n, 2) the goal's target
        x, y. Past ``capacity`` the oldest rows are overwritten. Returns the rows written."""
        idx = (self.pos + np.arange(len(action))) % self.capacity
        for k in self.keys:
            self.obs[k][idx] = obs[k]
        self.action[idx] = action
        goal = np.asarray(goal).reshape(len(action), -1)
        self.goal[idx] = -1
        self.goal[idx, : goal.shape[1]] = goal
        self.place[idx] = 0.0 if place is None else place
        self.episode[idx] = -1 if episode is None else episode
        self.prev[idx] = -1 if prev is None else prev
        self.pos = int((self.pos + len(action)) % self.capacity)
        self.size = min(self.size + len(action), self.capacity)
        return idx

    def chunks(self, batch_size: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(rows (B, length), start (B, length)): runs of ``length`` consecutive steps of one episode each, ending
        at random rows, earliest first. A run that would reach before its episode's first step begins there
        instead: the positions before it repeat that first row and are marked ``start``, as is the first step."""
        rows = np.empty((batch_size, length), dtype=np.int64)
        rows[:, -1] = rng.integers(0, self.size, size=batch_size)
        for j in range(length - 2, -1, -1):
            nxt = rows[:, j + 1]
            before = self.prev[nxt]
            same = (before >= 0) & (self.episode[np.maximum(before, 0)] == self.episode[nxt])
            rows[:, j] = np.where(same, before, nxt)  # at the first step, stay there
        start = np.ones((batch_size, length), dtype=bool)
        start[:, 1:] = rows[:, 1:] == rows[:, :-1]
        start |= self.prev[rows] < 0
        return rows, start

    def sequence_sample(self, batch_size: int, length: int, rng: np.random.Generator):
        """:meth:`chunks` as arrays to train on: observations (B * length rows), labels (B, length, A), goals and
        places (B * length rows), ``start`` and ``counted`` (False on the repeated positions before an episode's first
        step)."""
        rows, start = self.chunks(batch_size, length, rng)
        counted = np.ones_like(start)
        counted[:, :-1] = rows[:, :-1] != rows[:, 1:]
        flat = rows.reshape(-1)
        obs = {k: v[flat] for k, v in self.obs.items()}
        return obs, self.action[rows], self.goal[flat], self.place[flat], start, counted

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple:
        """(observations, labels, goals, places) of ``batch_size`` random rows."""
        idx = rng.integers(0, self.size, size=batch_size)
        return {k: v[idx] for k, v in self.obs.items()}, self.action[idx], self.goal[idx], self.place[idx]

    def save(self, path: Path) -> Path:
        n = self.size
        arrays = {f"obs/{k}": v[:n] for k, v in self.obs.items()}
        arrays.update(action=self.action[:n], goal_place=self.place[:n])
        arrays.update({f"goal_{name}": self.goal[:n, i] for i, name in enumerate(GOAL_KEYS)})
        arrays.update(episode=self.episode[:n])
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, prev=self.prev[:n], pos=self.pos, **arrays)
        return path

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as archive:
            n = len(archive["action"])
            for k in self.keys:
                self.obs[k][:n] = archive[f"obs/{k}"]
            self.action[:n] = archive["action"]
            for i, name in enumerate(GOAL_KEYS):  # labels saved before zones or references were kept: -1
                self.goal[:n, i] = archive[f"goal_{name}"] if f"goal_{name}" in archive else -1
            if "goal_second" not in archive:  # saved before the words' second object was kept: the reference
                self.goal[:n, GOAL_KEYS.index("second")] = self.goal[:n, GOAL_KEYS.index("reference")]
            self.place[:n] = archive["goal_place"] if "goal_place" in archive else 0.0
            if "episode" in archive:  # labels saved before episodes were kept load as one-step episodes
                self.episode[:n], self.prev[:n] = archive["episode"], archive["prev"]
            self.pos = int(archive["pos"])
        self.size = n


def make_train_env(config: TrainConfig) -> Callable[[str], gym.Env]:
    """A maker of the run's training-split envs by id; for several tasks, each in the common observation layout
    (:mod:`groundworld.layout`) so that they batch together."""

    def make(env_id: str) -> gym.Env:
        env = gym.make(env_id, reward_mode=config.reward_mode, split="train")
        return CommonLayout(env) if config.multitask else env

    return make


def training_envs(config: TrainConfig) -> gym.vector.VectorEnv:
    """``config.num_envs`` envs of the run's task; for several tasks, env i runs task i mod n."""
    ids = config.env_ids
    if len(ids) == 1:
        return gym.make_vec(
            ids[0], num_envs=config.num_envs, vectorization_mode="sync", reward_mode=config.reward_mode, split="train"
        )
    make = make_train_env(config)
    return gym.vector.SyncVectorEnv([functools.partial(make, ids[i % len(ids)]) for i in range(config.num_envs)])


def beta_at(config: DAggerConfig, step: int) -> float:
    """Probability of executing the oracle's action at real step ``step``."""
    if config.beta_steps <= 0:
        return 0.0
    return config.beta * max(0.0, 1.0 - step / config.beta_steps)


def label_and_act(
    oracles: list, policy: BCPolicy, obs: dict[str, np.ndarray], beta: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(the oracle's label of each env's current state, the action each env executes): the oracle's with
    probability ``beta``, else the learner's. The oracles read their own env's simulator state."""
    expert = np.stack([oracle(None, None) for oracle in oracles]).astype(np.float32)
    learner = policy.act(obs)
    take_expert = rng.random(len(expert)) < beta
    return expert, np.where(take_expert[:, None], expert, learner).astype(np.float32)


def in_random_images(batch: tuple, rng: np.random.Generator) -> tuple[tuple, np.ndarray]:
    """(``batch`` (observations, labels, goals, places, ...) with each label's row, or each chunk of rows of a
    sequence batch, in a random one of the table's eight images (:mod:`envs.symmetry`), the label and place turned
    with its state, the arm's rows of a multi-task batch left as they are; each observation row's image, which
    turns the words' place offset in the pointer too)."""
    obs, actions, goal, place, *rest = batch
    g = rng.integers(0, symmetry.SYMMETRIES, size=len(actions))
    rows_per = len(obs["proprio"]) // len(actions)
    if "embodiment" in obs:  # a multi-task batch: the arm's rows stay as they are (its base breaks the symmetry)
        g = np.where(obs["embodiment"][::rows_per, EMBODIMENTS.index("ball")] > 0.5, g, 0)
    per_row = np.repeat(g, rows_per)  # a chunk of a sequence batch keeps one image
    turned = symmetry.transform_observation(obs, per_row), symmetry.transform_action(actions, g)
    return (*turned, goal, symmetry.transform_xy(place, per_row), *rest), per_row


def optimize(
    optim: torch.optim.Optimizer,
    bc_loss: torch.Tensor,
    match: torch.Tensor | None,
    obs: dict[str, torch.Tensor],
    goal: np.ndarray,
    place: np.ndarray,
    grounding: float,
    device: torch.device,
    pointer: GoalPointer | None = None,
    images: torch.Tensor | None = None,
) -> dict[str, float]:
    """Add the grounding losses (the encoder's match against the goal's object, and against its zone where it names
    one; with a ``reference`` pointer, against its reference object and its target place, the rows seen under the
    table symmetries ``images``) to ``bc_loss`` and take one optimizer step; returns the losses."""
    out = {"bc_loss": bc_loss}
    loss = bc_loss
    if grounding > 0 and match is not None:
        goal_t, place_t = torch.as_tensor(goal, device=device), torch.as_tensor(place, device=device)
        out.update(pointer_losses(match, obs, goal_t, place_t, pointer, images))
        loss = loss + grounding * sum(v for k, v in out.items() if k != "bc_loss")
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    return {k: float(v.detach()) for k, v in out.items()}


def update(
    policy: BCPolicy,
    optim: torch.optim.Optimizer,
    batch: tuple,
    grounding: float,
    device: torch.device,
    images: np.ndarray | None = None,
) -> dict[str, float]:
    """One regression step of the policy's action onto the oracle's labels (plus the grounding loss); ``images``:
    the table symmetry each row was turned by (:func:`in_random_images`)."""
    obs_np, labels, goal, place = batch
    obs, turns = obs_to_tensors(obs_np, device), _images(images, device)
    features, match = policy.encoder.encode(obs, turns)
    loss = policy.action_loss(features, torch.as_tensor(labels, device=device)).mean()
    return optimize(optim, loss, match, obs, goal, place, grounding, device, policy.encoder.pointer, turns)


def _images(images: np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    return None if images is None else torch.as_tensor(images, device=device)


def update_recurrent(
    policy: RecurrentBCPolicy,
    optim: torch.optim.Optimizer,
    batch: tuple,
    burn_in: int,
    grounding: float,
    device: torch.device,
    images: np.ndarray | None = None,
) -> dict[str, float]:
    """One regression step of a policy with memory on chunks of consecutive steps (:meth:`Labels.sequence_sample`);
    the first ``burn_in`` steps of each chunk only warm its memory up."""
    obs_np, labels, goal, place, start, counted = batch
    b, t = start.shape
    obs, turns = obs_to_tensors(obs_np, device), _images(images, device)
    features, match = policy.encoder.encode(obs, turns)
    inputs = policy.sequence(features.view(b, t, -1), torch.as_tensor(start, device=device))
    weight = torch.as_tensor(counted, device=device).float()
    weight[:, :burn_in] = 0.0
    error = policy.action_loss(inputs, torch.as_tensor(labels, device=device))
    loss = (error * weight).sum() / weight.sum().clamp(min=1.0)
    return optimize(optim, loss, match, obs, goal, place, grounding, device, policy.encoder.pointer, turns)


def train_dagger(config: TrainConfig, run_dir: Path, resume: bool, device: torch.device) -> TorchPolicy:
    """The ``--algo dagger`` trainer (see the module docstring)."""
    c = config.dagger
    vec = training_envs(config)
    oracles = [envs.make_oracle(env) for env in vec.envs]
    obs_space, act_space = vec.single_observation_space, vec.single_action_space
    if c.memory:
        learner = RecurrentBCPolicy(obs_space, act_space, c.hidden, config.sac.encoder, c.memory, c.components)
        learner = learner.to(device)
    else:
        learner = BCPolicy(obs_space, act_space, c.hidden, config.sac.encoder, c.components).to(device)
    optim = torch.optim.Adam(learner.parameters(), lr=config.sac.lr)
    policy = copy.deepcopy(learner).requires_grad_(False) if c.ema > 0 else learner  # the weights that act
    labels = Labels(obs_space, act_space.shape[0], config.buffer_size)
    rng = np.random.default_rng(config.seed)
    step, episodes, wall = 0, 0, 0.0
    if c.pointer_pretrain and learner.encoder.pointer is not None and not resume:  # counted in the run's wall-clock
        start = time.perf_counter()
        scenes = first_scenes(make_train_env(config), config.env_ids, SCENES, seed=config.seed + 50_000_000)
        pretrain_pointer(learner.encoder.pointer, scenes, c.pointer_pretrain, rng, config.sac.batch_size, config.sac.lr)
        if c.ema > 0:
            policy.load_state_dict(learner.state_dict())
        wall = time.perf_counter() - start
    if resume:
        payload = load_checkpoint(run_dir / CHECKPOINT, expect={"algo": "dagger", "env": config.env})
        load_state(policy, payload["policy"], "policy")
        if c.ema > 0:
            load_state(learner, payload["learner"], "learner")
        optim.load_state_dict(payload["optim"])
        labels.load(run_dir / payload["labels_file"])
        step, episodes, wall = payload["step"], payload.get("episodes", 0), payload.get("wall_s", 0.0)
        rng.bit_generator.state = payload["rng"]
        torch.set_rng_state(payload["torch_rng"])
    logger = RunLogger(run_dir, config.steps, step, config.progress, episodes, wall)
    evals, checkpoints = Schedule(config.eval_every, step), Schedule(config.checkpoint_every, step)
    wrapped = TorchPolicy(policy)

    def checkpoint() -> None:
        labels_file = f"labels-{step}.npz"
        labels.save(run_dir / labels_file)
        save_checkpoint(
            run_dir / CHECKPOINT,
            {
                "algo": "dagger",
                "env": config.env,
                "step": step,
                "episodes": logger.episodes,
                "wall_s": logger.wall,
                "policy": policy.state_dict(),
                **({"learner": learner.state_dict()} if c.ema > 0 else {}),
                "optim": optim.state_dict(),
                "policy_config": {
                    "hidden": list(c.hidden),
                    "encoder": asdict(config.sac.encoder),
                    "memory": c.memory,
                    "components": c.components,
                },
                "labels_file": labels_file,
                "rng": rng_state(rng),
                "torch_rng": torch.get_rng_state(),
                "config": config.to_dict(),
            },
        )
        for old in run_dir.glob("labels-*.npz"):
            if old.name != labels_file:
                old.unlink()

    obs, info = vec.reset(seed=config.seed + step)
    after_reset = np.zeros(vec.num_envs, dtype=bool)
    episode_id = np.arange(vec.num_envs) + logger.episodes  # ids of the episodes the envs are in
    last_row = np.full(vec.num_envs, -1, dtype=np.int64)  # each env's row of its episode's previous step
    if c.memory:
        policy.reset()
    update_credit, losses = 0.0, {}
    while step < config.steps:
        expert, action = label_and_act(oracles, policy, obs, beta_at(c, step), rng)
        live = ~after_reset  # a row that just ended shows its last state until the next step resets it
        rows = np.flatnonzero(live)
        goal, place = goal_arrays(info, vec.num_envs)
        written = labels.add(
            {k: v[rows] for k, v in obs.items()},
            expert[rows],
            goal[rows],
            episode_id[rows],
            last_row[rows],
            place[rows],
        )
        last_row[rows] = written
        obs, _, terminated, truncated, info = vec.step(action)
        if c.memory and after_reset.any():  # these envs just reset: their next observation starts an episode
            policy.reset(after_reset)
        done = (terminated | truncated) & live
        for i in np.flatnonzero(done):
            logger.episode(bool(info["is_success"][i]), step)
        episode_id[done] = episode_id.max() + 1 + np.arange(int(done.sum()))
        last_row[done] = -1
        after_reset = done
        step += len(rows)
        logger.advance(len(rows))
        if step >= config.learning_starts:
            update_credit += config.utd * len(rows)
            while update_credit >= 1.0:
                if c.memory:
                    batch = labels.sequence_sample(config.sac.batch_size // 8, c.chunk + c.burn_in, rng)
                else:
                    batch = labels.sample(config.sac.batch_size, rng)
                images = None
                if c.symmetry:
                    batch, images = in_random_images(batch, rng)
                if c.memory:
                    losses = update_recurrent(learner, optim, batch, c.burn_in, c.grounding, device, images)
                else:
                    losses = update(learner, optim, batch, c.grounding, device, images)
                if c.ema > 0:
                    with torch.no_grad():
                        torch._foreach_lerp_(list(policy.parameters()), list(learner.parameters()), 1.0 - c.ema)
                update_credit -= 1.0
                if not all(np.isfinite(v) for v in losses.values()):
                    raise stopped(run_dir, step, losses)
        if evals.due(step) or step >= config.steps:
            judged = TorchPolicy(copy.deepcopy(policy)) if c.memory else wrapped  # the envs' memories stay as they are
            per_task = {
                env_id: evaluate(judged, env_id, "train", config.eval_episodes, seed=10_000_000 + step).success_rate
                for env_id in config.env_ids
            }
            extra = {**losses, "beta": beta_at(c, step), "labels": len(labels)}
            if config.multitask:
                extra.update({f"eval_success/{env_id.split('/')[-1]}": rate for env_id, rate in per_task.items()})
            logger.log(step, float(np.mean(list(per_task.values()))), extra)
        if checkpoints.due(step) or step >= config.steps:
            checkpoint()
    logger.close()
    vec.close()
    return wrapped
