"""How well the goal pointer alone finds what an instruction names in scenes whose colour-shape pairs it was never
told about.

Teaches a fresh pointer (``groundworld.grounding.pretrain_pointer``: the grounding losses only, no policy) on the
first observations of ``--scenes`` training-split scenes, then reports the share of held-out scenes (and of new
training-split scenes) in which its argmax is the named object, the named zone and, with ``--reference``, the
reference object, and its mean weight on the named object. ``--first-pointer`` probes the pointer of before
(``groundworld.nn.SharedGatePointer``).

    python -m bench.pointer_probe --task Push --steps 6000
    python -m bench.pointer_probe --task KnockOff --steps 6000 --first-pointer
"""

from __future__ import annotations

import argparse
import functools
import time

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the environments)
from envs.base import OBJECT_DYNAMIC, ZONE_GEOMETRY
from groundworld.grounding import first_scenes, pretrain_pointer
from groundworld.nn import GoalPointer, make_pointer, obs_to_tensors


def choices(pointer: GoalPointer, scenes: tuple) -> dict[str, float]:
    """Share of ``scenes`` whose argmax is the goal's object, zone (where named) and reference (where named)."""
    obs_np, goal, _ = scenes
    obs = obs_to_tensors(obs_np)
    with torch.no_grad():
        scores = pointer.scores(obs)
        objects, zones = pointer.weights(obs, scores)
    out = {"object": float((objects.argmax(1).numpy() == goal[:, 0]).mean())}
    out["weight"] = float(objects.numpy()[np.arange(len(goal)), goal[:, 0]].mean())
    if (goal[:, 1] >= 0).any():
        named = goal[:, 1] >= 0
        out["zone"] = float((zones.argmax(1).numpy() == goal[:, 1])[named].mean())
    if pointer.reference:
        out["reference"] = float((pointer.reference_weights(obs, scores).argmax(1).numpy() == goal[:, 3]).mean())
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="Push", help="task name, e.g. Push (Groundworld/<task>-v0)")
    p.add_argument("--steps", type=int, default=6000, help="Adam steps of the grounding losses")
    p.add_argument("--scenes", type=int, default=3000, help="training-split scenes to learn from")
    p.add_argument("--first-pointer", action="store_true", help="the first pointer (SharedGatePointer)")
    p.add_argument("--reference", action="store_true", help="a pointer that also picks the reference object")
    p.add_argument("--report-every", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    env_id = f"Groundworld/{args.task}-v0"
    space = gym.make(env_id).observation_space
    attrs = space["objects"].shape[-1] - OBJECT_DYNAMIC, space["zones"].shape[-1] - ZONE_GEOMETRY
    pointer = make_pointer(*attrs, groups=not args.first_pointer, reference=args.reference)
    train = first_scenes(gym.make, [env_id], args.scenes, seed=args.seed)
    fresh = first_scenes(gym.make, [env_id], 500, seed=10_000)
    heldout = first_scenes(functools.partial(gym.make, split="heldout"), [env_id], 500, seed=20_000)
    rng, start, done = np.random.default_rng(args.seed), time.perf_counter(), 0
    optim = torch.optim.Adam(pointer.parameters(), lr=3e-4)
    print(f"{env_id}: {type(pointer).__name__}, {args.scenes} training scenes")
    while done < args.steps:
        chunk = min(args.report_every, args.steps - done)
        losses = pretrain_pointer(pointer, train, chunk, rng, optim=optim)
        done += chunk
        fmt = lambda d: ", ".join(f"{k} {v:.3f}" for k, v in d.items())  # noqa: E731
        print(
            f"step {done}: loss {sum(losses.values()):.4f}; new training scenes: {fmt(choices(pointer, fresh))}; "
            f"held-out scenes: {fmt(choices(pointer, heldout))} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
