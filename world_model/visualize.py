"""Real and imagined rollouts side by side: see where the world model drifts.

    python -m world_model.visualize --model runs/wm-goto/world_model.pt --policy oracle --steps 60

The same actions drive the real env and, open loop from the same first observation, the
world model; each imagined state is written into a copy of the MuJoCo scene and rendered.
The mp4 (in ``videos/`` by default) shows real on the left, imagined on the right, with the
instruction, a step counter and the elites' disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import gymnasium as gym
import mujoco
import numpy as np
import torch

import envs  # noqa: F401  (registers the environments)
from envs import cli
from envs.scene import TABLE_TOP
from envs.video import caption, check_writable
from groundworld.nn import obs_to_tensors
from world_model.ensemble import EnsembleModel
from world_model.training import load_world_model


def write_state(env: gym.Env, obs: dict[str, np.ndarray]) -> None:
    """Put an (imagined) observation's body and object positions into ``env``'s simulator."""
    base = env.unwrapped
    d, idx = base.data, base.index
    proprio = obs["proprio"]
    if base.embodiment == "ball":
        d.qpos[idx.agent_qpos] = proprio[:2]
    else:
        d.qpos[idx.agent_qpos] = np.arctan2(proprio[[1, 3]], proprio[[0, 2]])
    for slot in range(len(base.objects)):
        adr = idx.object_qpos[slot]
        d.qpos[adr : adr + 3] = obs["objects"][slot, :3] + np.array([0.0, 0.0, TABLE_TOP])
    mujoco.mj_forward(base.model, d)


def side_by_side(
    model: EnsembleModel, env_id: str, policy_name: str, steps: int, seed: int, out: Path, size: int = 320
) -> Path:
    import imageio.v2 as imageio

    from envs.record import make_policy

    check_writable(out)
    real = gym.make(env_id, render_mode="rgb_array", width=size, height=size)
    ghost = gym.make(env_id, render_mode="rgb_array", width=size, height=size)
    obs, info = real.reset(seed=seed)
    ghost.reset(seed=seed)
    policy = make_policy(policy_name, real, seed)
    imagined = obs_to_tensors({k: v[None] for k, v in obs.items()})
    text = info["instruction"]
    writer = imageio.get_writer(
        out, fps=real.metadata["render_fps"], codec="libx264", macro_block_size=2, format="FFMPEG"
    )
    try:
        disagreement = 0.0
        for t in range(steps + 1):
            write_state(ghost, {k: v[0].numpy() for k, v in imagined.items()})
            left = caption(real.render(), f"REAL: {text}", f"step {t}")
            right = caption(ghost.render(), "IMAGINED (open loop)", f"disagreement {disagreement:.2f}")
            writer.append_data(np.concatenate([left, right], axis=1))
            if t == steps:
                break
            action = policy(obs, info)
            out_step = model.step(imagined, torch.as_tensor(action[None], dtype=torch.float32), elite_mean=True)
            imagined, disagreement = out_step["next_obs"], float(out_step["disagreement"][0])
            obs, _, terminated, truncated, info = real.step(action)
            if terminated or truncated:
                steps = t + 1  # show the final state once more, then stop
    finally:
        writer.close()
    return out


@dataclass
class VisualizeArgs:
    """What ``python -m world_model.visualize`` films."""

    model: str = field(default=cli.REQUIRED)
    """world_model.pt written by world_model.train."""
    policy: Literal["oracle", "random"] = "oracle"
    """The actions that drive both the real env and the model."""
    steps: Annotated[int, cli.Positive] = 60
    """Steps to film (fewer if the real episode ends)."""
    seed: int = 0
    """Seed of the episode and the random policy."""
    out: str = ""
    """mp4 path (default: videos/world_model_<task>_<policy>_<seed>.mp4)."""


def main(argv: list[str] | None = None) -> int:
    """``python -m world_model.visualize``; a usage error prints one line and returns 2."""
    return cli.run(_main, argv)


def _main(argv: list[str]) -> int:
    args, _ = cli.parse(VisualizeArgs, argv, "python -m world_model.visualize", __doc__.split("\n")[0])
    model, env_id = load_world_model(args.model)
    out = (
        Path(args.out)
        if args.out
        else Path("videos") / f"world_model_{env_id.split('/')[-1]}_{args.policy}_{args.seed}.mp4"
    )
    print(f"wrote {side_by_side(model, env_id, args.policy, args.steps, args.seed, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
