"""Training configuration: one tree of dataclasses, each field documented once, every value on the command line.

:class:`TrainConfig` holds the run (task, budget, evaluation, folder) and one nested config per
part of the learner: :class:`SACConfig` (the native agent), :class:`MBPOConfig` (its imagination),
:class:`ShapingConfig` (judge-shaped rewards) and :class:`BCConfig`. Defaults live here and only
here; ``python -m agents.train`` has a flag for every field (``envs.cli``: the flat name such as
``--tau`` and the dotted one such as ``--sac.tau``), and ``--preset NAME`` starts from a named set
(:mod:`agents.presets`). A run's ``config.json`` is :meth:`TrainConfig.to_dict`, every value resolved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from envs import cli
from envs.cli import Discount, Fraction, NonNegative, OpenFraction, Positive, Range
from envs.errors import UsageError
from envs.files import atomic_path
from groundworld.nn import DEVICES, PRECISIONS, EncoderConfig
from world_model.judges.goodhart import GOODHART_THRESHOLD
from world_model.training import WorldModelConfig

ALGOS = ("native", "mbpo", "sac", "ppo", "rppo", "bc", "dagger")
"""Every ``--algo``: native (our SAC), mbpo (native + world model), sac, ppo (Stable-Baselines3),
rppo (sb3-contrib's recurrent PPO), bc (behaviour cloning of the oracle), dagger (the oracle labels
the learner's own states)."""
MODEL_OUTCOMES = ("learned", "task")
"""Sources of imagined reward, success and termination for mbpo (see :attr:`MBPOConfig.model_outcome`)."""
MODEL_STEPS = ("sample", "elite", "mean")
"""How mbpo draws an imagined step from the ensemble (see :attr:`MBPOConfig.model_step`)."""

PositiveInt = Annotated[int, Positive]
PositiveFloat = Annotated[float, Positive]


@dataclass
class SACConfig:
    """Hyperparameters of the native soft actor-critic (:class:`agents.sac.SACAgent`)."""

    hidden: tuple[PositiveInt, ...] = (128, 128)
    """Hidden layer widths of the actor and of each Q head. Half SB3's (256, 256): on GoTo and Reach the
    narrower heads learn as well, at about 1.3x the update rate."""
    lr: PositiveFloat = 3e-4
    """Adam learning rate of actor, critic and temperature (also the SB3 algorithms' and BC's)."""
    gamma: Annotated[float, Discount] = 0.97
    """Discount factor (also the SB3 algorithms' and the judge-shaping term's)."""
    tau: Annotated[float, Range(0, 1, low_open=True)] = 0.01
    """Polyak rate of the target critic."""
    batch_size: PositiveInt = 128
    """Transitions per gradient update (also the SB3 algorithms' and BC's minibatch)."""
    init_alpha: PositiveFloat = 0.1
    """Initial entropy temperature."""
    target_entropy_scale: float = 1.0
    """Target entropy = -scale x action dimension."""
    grounding: Annotated[float, NonNegative] = 1.0
    """Weight of the auxiliary grounding loss: cross-entropy of the encoder's instruction-attribute match over
    the objects against the goal's object (``goal_object`` in replay, from the privileged ``info["goal"]``;
    training time only, never an input). 0 turns it off."""
    layer_norm: bool = False
    """LayerNorm in the Q heads before each ReLU (RLPD: it keeps Q values bounded where actions leave the
    data, which lets high update-to-data ratios and demonstration data work)."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Sizes of the grounded encoder."""
    precision: Literal[PRECISIONS] = "auto"
    """Matmul precision of the hidden layers of the actor and Q heads: bf16 (autocast; master weights, output
    layers, losses and the encoder stay fp32), fp32, or auto: bf16 on a CPU with bf16 dot-product instructions
    (AVX512-BF16 or AMX), fp32 elsewhere (CUDA included)."""
    compile: bool = True
    """torch.compile the loss, forward and backward, as one graph at the first update (under a minute on CPU,
    once per machine: Inductor caches it on disk; with bf16 heads, updates run about 1.2x faster). Falls back
    to eager with a warning if compilation fails; TORCH_COMPILE_DISABLE=1 turns it off everywhere."""

    @classmethod
    def from_dict(cls, raw: dict) -> SACConfig:
        """A config saved in a checkpoint. Checkpoints written before the encoder config or the widths were
        saved used the defaults of that time (no goal pointer, (256, 256) heads)."""
        raw = dict(raw)
        raw.setdefault("encoder", {"pointer": False})
        raw.setdefault("hidden", (256, 256))
        return cli.from_dict(cls, raw, "the checkpoint's SAC config")


@dataclass
class MBPOConfig:
    """The imagination half of the model-based agent (``--algo mbpo``, :mod:`agents.mbpo`)."""

    refit_every: PositiveInt = 2_500
    """Real environment steps between world-model refits (the first fit is at ``learning_starts``)."""
    real_ratio: Annotated[float, Range(0, 1, low_open=True)] = 0.25
    """Fraction of each update's batch drawn from real transitions."""
    model_outcome: Literal[MODEL_OUTCOMES] = "learned"
    """Where imagined reward, success and termination come from: learned (the world model's heads) or task
    (the task's own rules on the imagined states; goto, touch, push and knock-off tasks)."""
    model_horizon: tuple[PositiveInt, ...] = (1, 8)
    """Imagined rollout length at the first refit and after ``model_horizon_ramp`` real steps, linear between."""
    model_horizon_ramp: PositiveInt = 30_000
    """Real steps by which the rollout length reaches the second ``model_horizon``."""
    model_step: Literal[MODEL_STEPS] = "sample"
    """How an imagined step is drawn: sample (a random elite's Gaussian, as MBPO), elite (a random elite's
    mean) or mean (the elites' average)."""
    model_epochs: PositiveInt = 25
    """Most epochs per refit (early stopping usually ends sooner)."""
    rollout_batch: PositiveInt = 256
    """Imagined rows stepped per real step."""
    model_buffer: PositiveInt = 200_000
    """Capacity of the imagined-transition replay."""
    max_disagreement: PositiveFloat = 2.0
    """Imagined rollouts stop where the elites disagree more than this."""
    model_penalty: Annotated[float, NonNegative] = 0.0
    """MOPO's penalty: imagined rewards minus this times the elites' disagreement (0: off)."""
    model: WorldModelConfig = field(default_factory=WorldModelConfig, metadata={"flat": None})
    """How each refit fits the world model (dotted flags only, e.g. --mbpo.model.ensemble.members;
    ``model_epochs`` above caps its epochs)."""
    outcome_threshold: Annotated[float, OpenFraction] | None = 0.5
    """Imagined success and termination happen only where the model predicts them with more than this
    probability (none: drawn with the predicted probability). Fitted on a few thousand transitions with a
    handful of successes, the success head is barely above the base rate everywhere; drawing from it scatters
    successes (+1 and an ending) over random states."""

    def validate(self) -> None:
        cli.validate(self)
        self.model.validate()
        first, *rest = self.model_horizon
        if len(rest) != 1 or rest[0] < first:
            raise UsageError(
                f"--model-horizon takes two lengths, the second >= the first (e.g. 1 8); got {list(self.model_horizon)}"
            )


@dataclass
class ShapingConfig:
    """Reward shaping with a learned judge (native and mbpo), watched by the Goodhart monitor."""

    judge: str = ""
    """Judge checkpoint (``python -m agents.judges``) whose potential shapes the reward; empty: no shaping."""
    shaping_scale: float = 1.0
    """Scale of the shaping term gamma * P(h') - P(h)."""
    goodhart_threshold: Annotated[float, Fraction] = GOODHART_THRESHOLD
    """Flag evaluations where the judge's success estimate exceeds the true success by more than this."""


@dataclass
class BCConfig:
    """Behaviour cloning of the oracle (``--algo bc``)."""

    epochs: PositiveInt = field(default=30, metadata={"flat": "bc-epochs"})
    """Passes over the demonstrations."""


@dataclass
class DemoConfig:
    """Oracle demonstrations for the native agent (RLPD / Newt style; :mod:`agents.demos`)."""

    demo_episodes: Annotated[int, NonNegative] = 0
    """Oracle episodes collected before training, kept in their own replay (0: none). Counted in the
    real-step budget's report beside ``step``, never in ``step``."""
    demo_ratio: Annotated[float, Fraction] = 0.5
    """Share of every update's batch drawn from the demonstrations (RLPD: half)."""
    bc_weight: Annotated[float, NonNegative] = 0.0
    """Weight of the action-supervision term: the actor's deterministic action regressed onto the demonstrated
    one on demo rows (0: off)."""
    bc_decay_steps: Annotated[int, NonNegative] = 0
    """Real steps over which ``bc_weight`` falls linearly to 0 (0: it stays)."""
    pretrain_updates: Annotated[int, NonNegative] = 0
    """Gradient updates on the demonstrations alone before the first real step."""
    demo_seed: int = 1_000_000
    """Seed of the first demonstration episode (episode i: demo_seed + i), away from evaluation seeds."""


@dataclass
class DAggerConfig:
    """DAgger (``--algo dagger``, :mod:`agents.dagger`): the oracle labels the states the learner visits."""

    beta: Annotated[float, Fraction] = 1.0
    """Probability, at the first step, of executing the oracle's action instead of the learner's."""
    beta_steps: Annotated[int, NonNegative] = 20_000
    """Real steps over which that probability falls linearly to 0 (0: the learner acts from the start)."""
    hidden: tuple[PositiveInt, ...] = field(default=(256, 256), metadata={"flat": "dagger-hidden"})
    """Hidden layer widths of the policy head."""
    grounding: Annotated[float, NonNegative] = field(default=1.0, metadata={"flat": "dagger-grounding"})
    """Weight of the grounding loss (the encoder's match against the privileged goal object)."""
    components: Annotated[int, NonNegative] = 0
    """Gaussians of a mixture action head trained by likelihood (0: a tanh head trained by squared error). The
    oracle's action can have two modes for one state (around an object on either side); regression averages them."""
    memory: Annotated[int, NonNegative] = 0
    """Width of a GRU memory between the encoder and the head (0: none). For tasks whose phase is not in the
    observation (Sequence without ``progress``); trained on chunks of consecutive steps of one episode."""
    chunk: PositiveInt = 32
    """Steps of each training chunk whose actions count (with ``memory``); the batch holds batch_size / 8 chunks."""
    burn_in: Annotated[int, NonNegative] = 16
    """Steps before each chunk that only warm the memory up (R2D2's burn-in)."""
    ema: Annotated[float, Range(0, 1, high_open=True)] = 0.0
    """Decay of an exponential moving average of the policy's weights, which then acts, is evaluated and is
    saved (0: the trained weights themselves). Averaging smooths the update-to-update swings of cloning."""
    pointer_pretrain: Annotated[int, NonNegative] = 0
    """Steps of training the encoder's goal pointer alone on ``groundworld.grounding.SCENES`` fresh training-split
    scenes (their first observations and privileged goals; no oracle, no env step) before the first real step. On
    the learner's first few dozen scenes alone it learns which objects are never named, not what the words mean."""
    symmetry: bool = False
    """Train on each labelled state in a random one of the table's eight images (turned, mirrored; its label
    turned with it, :mod:`envs.symmetry`): eight scenes per visited state. For ball tasks that name no direction."""


@dataclass
class TrainConfig:
    """Everything ``agents.train`` needs; saved as ``config.json`` in the run folder."""

    env: str = "Groundworld/GoTo-v0"
    """Environment id (``envs.TASKS``); several ids joined by commas, or ``all``, train one multi-task policy
    (dagger) on all of them at once."""
    algo: Literal[ALGOS] = "native"
    """native (our SAC), mbpo (native + world model), sac, ppo (Stable-Baselines3), rppo (recurrent PPO), bc."""
    steps: PositiveInt = 50_000
    """Real environment steps (for bc: oracle demonstration steps)."""
    seed: int = 0
    """Seed of environments, networks and sampling."""
    run_dir: str = "runs/default"
    """Folder for config, logs, checkpoints and plots."""
    reward_mode: Literal["dense", "sparse"] = "dense"
    """Reward of the training env."""
    num_envs: PositiveInt = 8
    """Parallel environments (native, mbpo, ppo, rppo, dagger)."""
    utd: PositiveFloat = 0.5
    """Gradient updates per environment step (native, mbpo, sac, dagger)."""
    learning_starts: Annotated[int, NonNegative] = 2_000
    """Steps before updates start (native, mbpo, sac: random actions; mbpo's first world-model fit; dagger)."""
    buffer_size: PositiveInt = 300_000
    """Replay capacity in transitions (native, mbpo, sac; dagger's labelled states)."""
    relabel: Annotated[int, NonNegative] = 0
    """Hindsight instruction relabelling (native, mbpo): each finished episode is stored again under up to this
    many training-split instructions its states satisfied, with the reward recomputed (0: off)."""
    vectorization: Literal["sync", "async"] = "sync"
    """How the training envs step (native, mbpo): sync (in this process) or async (Gymnasium's AsyncVectorEnv,
    a worker process per env, stepping while the learner updates; use it with ``policy_lag`` 1)."""
    policy_lag: Literal[0, 1] = 0
    """0: the updates a step earns run after it. 1: they run while the next step is taken, so the envs (async)
    and the learner work at the same time; the policy then acts one step's updates behind. The same seeds
    and lag give the same data sync or async."""
    eval_every: PositiveInt = 10_000
    """Environment steps between evaluations."""
    eval_episodes: PositiveInt = 30
    """Episodes per evaluation (train split, deterministic policy)."""
    checkpoint_every: PositiveInt = 10_000
    """Environment steps between checkpoints."""
    device: Literal[DEVICES] = "auto"
    """auto (cuda if available), cpu or cuda."""
    threads: Annotated[int, NonNegative] = 1
    """Torch CPU threads (1 leaves a core to the environments; 0: torch's default)."""
    progress: bool = True
    """Show a progress bar."""
    preset: str = field(default="", metadata={"cli": False})
    """The preset this config started from (``--preset``; recorded, not applied again)."""
    sac: SACConfig = field(default_factory=SACConfig)
    """The native agent (also lr, gamma and batch size of the SB3 algorithms and BC)."""
    mbpo: MBPOConfig = field(default_factory=MBPOConfig)
    """Imagination of the model-based agent."""
    shaping: ShapingConfig = field(default_factory=ShapingConfig)
    """Judge-shaped rewards."""
    bc: BCConfig = field(default_factory=BCConfig)
    """Behaviour cloning."""
    dagger: DAggerConfig = field(default_factory=DAggerConfig)
    """DAgger."""
    demos: DemoConfig = field(default_factory=DemoConfig)
    """Oracle demonstrations for the native agent."""

    def validate(self) -> None:
        """Raise :class:`UsageError` for any value a run cannot use, before anything is written."""
        import envs

        cli.validate(self)
        if not self.env_ids:
            raise UsageError("--env names no environment; give an id such as Groundworld/GoTo-v0, several, or all")
        for env_id in self.env_ids:
            envs.check_env_id(env_id, also="all")
        if self.relabel and self.algo not in ("native", "mbpo"):
            raise UsageError(f"--relabel is for the native and mbpo agents, not --algo {self.algo}")
        if self.vectorization == "async" and not self.policy_lag:
            raise UsageError("--vectorization async needs --policy-lag 1 (the envs step while the learner updates)")
        if self.dagger.symmetry:
            self._check_symmetry()
        if self.multitask and self.algo != "dagger":
            raise UsageError(f"a multi-task run (--env {self.env}) is available for --algo dagger, not {self.algo}")
        self.mbpo.validate()
        if self.demos.demo_episodes and self.algo not in ("native", "mbpo"):
            raise UsageError(f"--demo-episodes is for the native and mbpo agents, not --algo {self.algo}")
        if self.shaping.judge and self.algo not in ("native", "mbpo"):
            raise UsageError(f"--judge shaping is available for the native and mbpo agents, not --algo {self.algo}")

    def _check_symmetry(self) -> None:
        """``--symmetry``: DAgger on ball tasks whose instructions name no direction, or name one that the pointer
        reads as a vector (``--pointer-reference``); in a multi-task run the arm's rows stay as they are."""
        from envs.symmetry import arm_tasks, symmetric_tasks

        if self.algo != "dagger":
            raise UsageError(f"--symmetry is for --algo dagger, not {self.algo}")
        turned_words = self.sac.encoder.pointer and self.sac.encoder.pointer_reference
        usable = symmetric_tasks(turned_words)
        kept = arm_tasks() if self.multitask else ()
        refused = [t for t in self.env_ids if t not in usable and t not in kept]
        if refused:
            extra = [t for t in symmetric_tasks(True) if t not in usable]
            also = f" (with --pointer-reference also {', '.join(extra)})" if extra else ""
            raise UsageError(
                f"--symmetry needs tasks whose scenes can be turned and mirrored ({', '.join(usable)}){also}, or in "
                f"a multi-task run the arm's; {', '.join(refused)} {'is' if len(refused) == 1 else 'are'} not"
            )

    @property
    def env_ids(self) -> tuple[str, ...]:
        """The ids ``env`` names (``all``: every task)."""
        import envs

        if self.env == "all":
            return tuple(envs.TASKS)
        return tuple(part.strip() for part in self.env.split(",") if part.strip())

    @property
    def multitask(self) -> bool:
        return len(self.env_ids) > 1

    def to_dict(self) -> dict[str, Any]:
        return cli.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """A config from :meth:`to_dict`; also reads the flat layout that runs written before the nested
        configs saved (``{"hidden": ..., "refit_every": ..., "bc_epochs": ...}``)."""
        data = dict(data)
        top = {f for f in cls.__dataclass_fields__}
        flat = {leaf.flat.replace("-", "_"): leaf.path for leaf in cli.leaves(cls) if leaf.flat and len(leaf.path) > 1}
        nested: dict[str, dict[str, Any]] = {}
        for key in [k for k in data if k not in top]:
            path = flat.get(key)
            if path is None:
                continue  # from_dict names it below
            value = data.pop(key)
            inner = nested.setdefault(path[0], {})
            for name in path[1:-1]:
                inner = inner.setdefault(name, {})
            inner[path[-1]] = value
        for name, values in nested.items():
            data[name] = {**values, **data.get(name, {})}
        return cli.from_dict(cls, data, source)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_run(cls, run_dir: str | Path) -> TrainConfig:
        """The config of the run in ``run_dir``: its ``config.json`` or, if that is missing or unreadable, the one
        stored in its checkpoint (never the defaults)."""
        from groundworld.checkpoint import CheckpointError, load_checkpoint

        run_dir = Path(run_dir)
        try:
            return cls.load(run_dir / "config.json")
        except UsageError as unreadable:
            if not (run_dir / "checkpoint.pt").exists():
                raise CheckpointError(f"{run_dir} has no checkpoint.pt, and {unreadable}") from unreadable
            payload = load_checkpoint(run_dir / "checkpoint.pt")
            if not isinstance(payload.get("config"), dict):
                raise CheckpointError(f"{run_dir / 'checkpoint.pt'} stores no config, and {unreadable}") from unreadable
            return cls.from_dict(payload["config"], f"the config stored in {run_dir / 'checkpoint.pt'}")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """The config saved at ``path``; a :class:`UsageError` naming the file if it cannot be read."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: not a readable config file ({exc})") from exc
        return cls.from_dict(data, str(path))
