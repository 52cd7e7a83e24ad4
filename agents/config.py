"""Training configuration: one dataclass, a documented field each, mirrored on the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALGOS = ("native", "mbpo", "sac", "ppo", "rppo", "bc")
MODEL_OUTCOMES = ("learned", "task")
"""Sources of imagined reward, success and termination for mbpo (see ``agents.mbpo.MBPOConfig.outcome``)."""
MODEL_STEPS = ("sample", "elite", "mean")
"""How mbpo draws an imagined step from the ensemble (see ``agents.mbpo.MBPOConfig.model_step``)."""
PRECISIONS = ("auto", "bf16", "fp32")
"""Matmul precisions of the native agent's heads (resolved by :func:`agents.sac.uses_bf16`)."""


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """Everything ``agents.train`` needs; saved as ``config.json`` in the run folder."""

    env: str = _f("Groundworld/GoTo-v0", "environment id")
    algo: str = _f(
        "native",
        "native (our SAC) | mbpo (native + world model) | sac | ppo (Stable-Baselines3) | rppo (recurrent PPO) | bc",
    )
    steps: int = _f(50_000, "real environment steps (for bc: oracle demonstration steps)")
    seed: int = _f(0, "seed of environments, networks and sampling")
    run_dir: str = _f("runs/default", "folder for config, logs, checkpoints and plots")
    reward_mode: str = _f("dense", "reward of the training env: dense | sparse")
    num_envs: int = _f(8, "parallel environments (native, ppo, rppo)")
    utd: float = _f(0.5, "gradient updates per environment step (native, sac)")
    learning_starts: int = _f(2_000, "random-action steps before updates start (native, sac)")
    buffer_size: int = _f(300_000, "replay capacity in transitions (native, sac)")
    batch_size: int = _f(128, "minibatch size")
    lr: float = _f(3e-4, "learning rate")
    hidden: tuple[int, ...] = _f((128, 128), "hidden layer widths of the native agent's actor and Q heads")
    compile: bool = _f(
        True,
        "torch.compile the native agent's loss (under a minute once, cached on disk; with bf16 heads, ~1.2x faster)",
    )
    precision: str = _f(
        "auto", "matmuls of the native heads' hidden layers: auto (bf16 on CPUs with bf16 instructions) | bf16 | fp32"
    )
    gamma: float = _f(0.97, "discount factor")
    bc_epochs: int = _f(30, "passes over the demonstrations (bc)")
    grounding: float = _f(
        1.0,
        "weight of the auxiliary loss teaching the encoder which object the instruction names, from the "
        "privileged info['goal'] at training time only (native, mbpo; 0 turns it off)",
    )
    refit_every: int = _f(2_500, "real steps between world-model refits (mbpo; the first fit is at learning_starts)")
    real_ratio: float = _f(0.25, "fraction of each batch drawn from real transitions (mbpo)")
    model_outcome: str = _f(
        "learned",
        "imagined reward, success and termination: learned (world-model heads) | task (the task's rules "
        "on imagined states, goto/touch/push tasks) (mbpo)",
    )
    model_horizon: tuple[int, ...] = _f(
        (1, 8), "imagined rollout length at the first refit and after 30k real steps, linear between (mbpo)"
    )
    model_step: str = _f(
        "sample",
        "how an imagined step is drawn: sample (a random elite's Gaussian, as MBPO) | elite (a random "
        "elite's mean) | mean (the elites' average) (mbpo)",
    )
    judge: str = _f("", "judge checkpoint (world_model.judges) whose potential shapes the reward (native, mbpo)")
    shaping_scale: float = _f(1.0, "scale of the judge-shaping term gamma*P(h') - P(h)")
    goodhart_threshold: float = _f(0.15, "flag evaluations where judged success exceeds true success by this")
    eval_every: int = _f(10_000, "environment steps between evaluations")
    eval_episodes: int = _f(30, "episodes per evaluation (train split, deterministic policy)")
    checkpoint_every: int = _f(10_000, "environment steps between checkpoints")
    device: str = _f("auto", "auto (cuda if available) | cpu | cuda")
    threads: int = _f(1, "torch CPU threads (1 leaves a core to the environments)")
    progress: bool = _f(True, "show a progress bar")

    def validate(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"unknown algo {self.algo!r}; choose one of {ALGOS}")
        if self.steps <= 0 or self.num_envs <= 0 or self.batch_size <= 0:
            raise ValueError("steps, num_envs and batch_size must be positive")
        if not self.hidden or any(int(h) <= 0 for h in self.hidden):
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden!r}")
        if self.reward_mode not in ("dense", "sparse"):
            raise ValueError(f"reward_mode must be dense or sparse, got {self.reward_mode!r}")
        if self.judge and self.algo not in ("native", "mbpo"):
            raise ValueError(f"judge shaping is available for the native and mbpo agents, not {self.algo!r}")
        if self.model_outcome not in MODEL_OUTCOMES:
            raise ValueError(f"model_outcome must be one of {MODEL_OUTCOMES}, got {self.model_outcome!r}")
        if len(self.model_horizon) != 2 or not 1 <= self.model_horizon[0] <= self.model_horizon[1]:
            raise ValueError(
                f"model_horizon must be two lengths, first >= 1, second >= first; got {self.model_horizon!r}"
            )
        if self.model_step not in MODEL_STEPS:
            raise ValueError(f"model_step must be one of {MODEL_STEPS}, got {self.model_step!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}")
        for key in ("hidden", "model_horizon"):  # JSON has lists
            if key in data:
                data = {**data, key: tuple(data[key])}
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def add_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig) -> None:
    """One ``--flag`` per dataclass field, with its type and help; flags not given are absent
    from the parsed namespace when the parser uses ``argument_default=argparse.SUPPRESS``."""
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=f"{f.metadata['help']} (default: {f.default})"
            )
        elif f.type in ("tuple[int, ...]", tuple[int, ...]):
            parser.add_argument(
                flag, type=int, nargs="+", help=f"{f.metadata['help']} (default: {' '.join(map(str, f.default))})"
            )
        else:
            kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            parser.add_argument(flag, type=kind, help=f"{f.metadata['help']} (default: {f.default})")


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device")
    return torch.device(name)
