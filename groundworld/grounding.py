"""Teaching the goal pointer which entities an instruction names, on many fresh scenes, before anything else.

The pointer (:class:`groundworld.nn.GoalPointer`) learns from the privileged ``info["goal"]`` of the rows it is
trained on. A learner's own data starts as a few dozen scenes; there a colour-shape pair held out of the
instructions (the purple cube) is met only as a distractor, and the pointer fits "ball, but not orange" before
it has seen enough scenes to fit "ball" alone. It then reaches zero loss and never unlearns it. Trained from
the first labelled rows of a Push DAgger run as they arrive, a pointer picked the named object in 0.80-0.85 of
held-out scenes for most of training; trained first on :data:`SCENES` fresh first observations, in 1.00
throughout (``docs/results.md``).

A scene costs one ``reset`` (well under a millisecond of physics): no oracle, no environment step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from groundworld.nn import (
    GoalPointer,
    grounding_loss,
    obs_to_tensors,
    place_loss,
    reference_grounding_loss,
    zone_grounding_loss,
)

SCENES = 3000
"""Fresh training-split scenes the pointer is taught on."""

GOAL_KEYS = ("object", "zone", "reference", "second")
"""The privileged goal indices the pointer learns to pick (-1: none): the object the words name first, the zone,
the reference object (``info["goal"]``'s, whose place :meth:`~groundworld.nn.GoalPointer.place` learns), and the
object the words name second (the reference, or Sequence's second object). The words' objects come from
``info["goal"]["named"]``, fixed for an episode; ``info["goal"]["object"]`` is the one still to act on, which in
Sequence changes when the first is touched, and the pointer, which reads the words alone, could not follow it."""


def goal_arrays(info: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """((n, 4) goal indices in :data:`GOAL_KEYS` order, (n, 2) target x, y) from the ``info`` of a vector env of
    ``n`` envs or of one env (n = 1); -1 and 0 where it reports no goal."""
    if "goal" not in info:
        return np.full((n, len(GOAL_KEYS)), -1), np.zeros((n, 2), np.float32)
    goal = info["goal"]
    named = np.asarray(goal["named"]).reshape(n, 2)
    zone, reference = (np.asarray(goal[k]).reshape(n) for k in ("zone", "reference"))
    ids = np.stack([named[:, 0], zone, reference, named[:, 1]], -1)  # GOAL_KEYS' order
    return ids, np.asarray(goal["position"], dtype=np.float32).reshape(n, -1)[:, :2]


def first_scenes(
    make_env: Callable[[str], gym.Env], env_ids: Sequence[str], n: int, seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(first observations, (n, 4) goal indices, (n, 2) goal x, y) of ``n`` reset scenes, env ``env_ids[i % k]``
    for scene i, seeds ``seed``, ``seed + 1``, ..."""
    made = {env_id: make_env(env_id) for env_id in env_ids}
    rows, goals, places = [], [], []
    for i in range(n):
        obs, info = made[env_ids[i % len(env_ids)]].reset(seed=seed + i)
        ids, place = goal_arrays(info, 1)
        rows.append(obs)
        goals.append(ids[0])
        places.append(place[0])
    for env in made.values():
        env.close()
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}, np.stack(goals), np.stack(places)


def pointer_losses(
    scores: torch.Tensor,
    obs: dict[str, torch.Tensor],
    goal: torch.Tensor,
    place: torch.Tensor,
    pointer: GoalPointer | None = None,
    images: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The grounding losses of entity ``scores`` (``GroundedEncoder.match``) on a batch of ``goal`` rows
    (:data:`GOAL_KEYS`): object and zone against the privileged goal's, and with a ``reference`` ``pointer`` its
    second object and, where the goal has a reference, its place too (rows seen under the table symmetries
    ``images``, as :meth:`~groundworld.nn.GoalPointer.place` takes them)."""
    out = {
        "grounding_loss": grounding_loss(scores, obs["object_mask"], goal[:, 0]),
        "zone_grounding_loss": zone_grounding_loss(scores, obs["object_mask"], obs["zone_mask"], goal[:, 1]),
    }
    if pointer is not None and pointer.reference:
        out["reference_loss"] = reference_grounding_loss(scores, obs["object_mask"], obs["zone_mask"], goal[:, 3])
        out["place_loss"] = place_loss(pointer.place(obs, scores, images=images), place, goal[:, 2])
    return out


def pretrain_pointer(
    pointer: GoalPointer,
    scenes: tuple[dict[str, np.ndarray], np.ndarray, np.ndarray],
    steps: int,
    rng: np.random.Generator,
    batch_size: int = 256,
    lr: float = 3e-4,
    device: torch.device | str = "cpu",
    optim: torch.optim.Optimizer | None = None,
) -> dict[str, float]:
    """``steps`` Adam steps of :func:`pointer_losses` on random batches of ``scenes`` (:func:`first_scenes`),
    on the pointer's own parameters only (or ``optim``'s, to continue); returns the last losses."""
    obs_np, goal_np, place_np = scenes
    obs = obs_to_tensors(obs_np, device)
    goal, place = torch.as_tensor(goal_np, device=device), torch.as_tensor(place_np, device=device)
    optim = optim or torch.optim.Adam(pointer.parameters(), lr=lr)
    losses: dict[str, torch.Tensor] = {}
    for _ in range(steps):
        idx = torch.as_tensor(rng.integers(0, len(goal), batch_size), device=device)
        batch = {k: v[idx] for k, v in obs.items()}
        losses = pointer_losses(pointer.scores(batch), batch, goal[idx], place[idx], pointer)
        optim.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optim.step()
    return {k: float(v.detach()) for k, v in losses.items()}
