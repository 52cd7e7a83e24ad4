"""The shared machinery of every Groundworld task.

A task is a small subclass of :class:`GroundworldEnv` that says which embodiment it uses,
which goal it asks for, where objects may start, and what its dense-reward potential is.
Everything else (scene writing, observations, rewards, termination, bad-input checks,
rendering) lives here once. The rules that decide success, failure and the potential are
in :mod:`envs.rules`; goals (:mod:`envs.language`) and tasks read their inputs from the
simulator and ask them.

Bad input raises :class:`~envs.errors.UsageError` (a ``ValueError``) and changes nothing: an
unknown keyword argument (:class:`~envs.errors.UnknownArgument`, also a ``TypeError``), a bad
argument value, a bad action (the simulator is not stepped), a rejected ``reset`` (the random
generator and the current episode stay as they were).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from envs import _gl, language, scene, tokenizer
from envs.errors import UnknownArgument, UsageError
from envs.language import Goal, SceneView, Status
from envs.scene import MAX_OBJECTS, MAX_ZONES, TABLE_TOP, ObjectSpec, ZoneSpec
from envs.window import Window

OBJECT_FEATURES = 16  # position (3), velocity (3), colour one-hot (6), shape one-hot (3), half-extent (1)
HALF_EXTENT = OBJECT_FEATURES - 1  # index of an object's half-extent (its resting height) among its features
OBJECT_DYNAMIC = 6  # the first OBJECT_DYNAMIC object features change within an episode, the rest are attributes
_COLOURS, _SHAPES = len(scene.COLOR_NAMES), len(scene.SHAPES)
OBJECT_ATTRIBUTE_GROUPS = ((0, _COLOURS), (_COLOURS, _COLOURS + _SHAPES), (_COLOURS + _SHAPES, _COLOURS + _SHAPES + 1))
"""Where an object's colour one-hot, shape one-hot and size lie among its attributes (its features after
``OBJECT_DYNAMIC``): what one word of an instruction may describe."""
ZONE_FEATURES = 9  # x, y, radius, colour one-hot (6)
ZONE_GEOMETRY = 3  # the first ZONE_GEOMETRY zone features are geometry, the rest its colour
FRAME_SKIP = 20
DT = scene.TIMESTEP * FRAME_SKIP
OBS_MODES = ("state", "pixels", "state+pixels")
_BADQPOS, _BADQVEL, _BADQACC = (
    int(w)
    for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL, mujoco.mjtWarning.mjWARN_BADQACC)
)
BOUND = 100.0  # bound of continuous features (metres, m/s, rad/s): far beyond any stable state
_INTEGERS = ("width", "height", "pixel_size", "min_objects", "max_objects")  # EnvConfig fields that count things
REWARD_MODES = ("sparse", "dense")


def effector_xy(proprio):
    """The effector's table-plane position inside a batch of ``proprio`` rows (ball: x, y
    first; arm: fingertip x, y last), in the frame of the objects' positions."""
    return proprio[..., :2] if proprio.shape[-1] == 4 else proprio[..., 6:8]


@dataclass
class EnvConfig:
    """Keyword arguments every task accepts: ``gym.make("Groundworld/GoTo-v0", **kwargs)``."""

    split: str = "train"
    """Which instructions episodes draw: "train", "heldout" (unseen attribute/goal
    combinations), "paraphrase" (training goals in unseen sentence forms) or "person" (training
    goals as people type them: synonyms, fillers, other word orders; ``envs.language``)."""
    reward_mode: str = "sparse"
    """"sparse": 1 on the success step, else 0. "dense": shaped progress plus success,
    failure and control terms, each reported in ``info`` as ``reward_<term>``."""
    obs_mode: str = "state"
    """"state", "pixels" (camera image and instruction only) or "state+pixels"."""
    render_mode: str | None = None
    """None, "rgb_array" (``render()`` returns a frame) or "human" (a window, drawn at every step; needs a
    display)."""
    width: int = 480
    """Width of frames from :meth:`render`."""
    height: int = 480
    """Height of frames from :meth:`render`."""
    camera: str = "overview"
    """Camera used by :meth:`render`: "overview" (whole table, from the front) or "top"."""
    pixel_size: int = 64
    """Side of the square ``pixels`` observation."""
    pixel_camera: str = "top"
    """Camera of the ``pixels`` observation."""
    min_objects: int = 2
    """Fewest objects in an episode (raised to what the goal needs)."""
    max_objects: int = MAX_OBJECTS
    """Most objects in an episode (at most 5)."""

    def validate(self, env_name: str) -> None:
        """Raise :class:`~envs.errors.UsageError` naming the first bad value; integer fields become ``int``."""
        for name in _INTEGERS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise UsageError(f"{env_name}: {name}={value!r} must be an integer")
            setattr(self, name, int(value))
        choices = {
            "split": language.SPLITS,
            "reward_mode": REWARD_MODES,
            "obs_mode": OBS_MODES,
            "render_mode": (None, "rgb_array", "human"),
            "camera": ("overview", "top"),
            "pixel_camera": ("overview", "top"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UsageError(f"{env_name}: {name}={getattr(self, name)!r} is not one of {list(allowed)}")
        if not 1 <= self.min_objects <= self.max_objects <= MAX_OBJECTS:
            raise UsageError(f"{env_name}: need 1 <= min_objects <= max_objects <= {MAX_OBJECTS}")
        for name in ("width", "height", "pixel_size"):
            if not 16 <= getattr(self, name) <= 4096:
                raise UsageError(f"{env_name}: {name} must be between 16 and 4096 pixels")

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], env_name: str) -> EnvConfig:
        """The config of ``kwargs``; an unknown keyword raises :class:`~envs.errors.UnknownArgument`
        worded as Python words it (wrappers such as TorchRL's retry on that wording), then the valid ones."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = [name for name in kwargs if name not in valid]
        if unknown:
            raise UnknownArgument(
                f"{env_name}.__init__() got an unexpected keyword argument {unknown[0]!r} "
                f"({env_name}: unknown argument(s) {unknown}; valid arguments are {valid})"
            )
        config = cls(**kwargs)
        config.validate(env_name)
        return config


class GroundworldEnv(gym.Env):
    """Base class; see the task classes for the documentation of each task."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array", "human"],
        "render_fps": int(round(1 / DT)),
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }
    config_class: ClassVar[type[EnvConfig]] = EnvConfig
    embodiment: ClassVar[str] = "ball"
    table_symmetric: ClassVar[bool] = False
    """Whether turning or mirroring a scene gives a scene of the same task (:mod:`envs.symmetry`): a ball
    task whose instructions name no direction."""
    names_direction: ClassVar[bool] = False
    """A ball task whose instructions name a side of the table ("left of"): a turned or mirrored scene is a scene of
    the task only with that side turned too, which a learner can do where it reads the side as a vector
    (``GoalPointer.place``, ``--symmetry --pointer-reference``)."""
    goal_type: ClassVar[type[Goal]]
    min_described: ClassVar[int] = 1
    object_margin: ClassVar[float] = 0.37  # objects start within |x|, |y| <= this (ball tasks)
    success_bonus: ClassVar[float] = 1.0
    progress_scale: ClassVar[float] = 5.0
    ctrl_cost: ClassVar[float] = 0.01
    approach_weight: ClassVar[float] = 0.3  # weight of the effector-object gap in object-moving potentials

    def __init__(self, **kwargs: Any):
        self.config = self.config_class.from_kwargs(kwargs, type(self).__name__)
        self.render_mode = self.config.render_mode
        self.model = scene.build_model(self.embodiment)
        self.data = mujoco.MjData(self.model)
        self.index = scene.SceneIndex(self.model, self.embodiment)
        self.frame_skip = FRAME_SKIP
        self.dt = DT
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.model.nu,), dtype=np.float32)
        self.observation_space = self._make_observation_space()
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._window: Window | None = None
        self.goal: Goal | None = None
        self.instruction = ""
        self._tokens = np.zeros(tokenizer.MAX_TOKENS, dtype=np.int64)
        self._objects: list[ObjectSpec] = []
        self._zones: list[ZoneSpec] = []
        self._view: SceneView | None = None
        self._last_obs: dict[str, np.ndarray] | None = None
        self._potential = 0.0

    # ------------------------------------------------------------------ spaces
    def _proprio_size(self) -> int:
        return 4 if self.embodiment == "ball" else 8

    def _make_observation_space(self) -> spaces.Dict:
        state = {
            "proprio": spaces.Box(-BOUND, BOUND, shape=(self._proprio_size(),), dtype=np.float32),
            "objects": spaces.Box(-BOUND, BOUND, shape=(MAX_OBJECTS, OBJECT_FEATURES), dtype=np.float32),
            "object_mask": spaces.Box(0.0, 1.0, shape=(MAX_OBJECTS,), dtype=np.float32),
            "zones": spaces.Box(-BOUND, BOUND, shape=(MAX_ZONES, ZONE_FEATURES), dtype=np.float32),
            "zone_mask": spaces.Box(0.0, 1.0, shape=(MAX_ZONES,), dtype=np.float32),
        }
        state.update(self._extra_observation_space())
        out: dict[str, spaces.Space] = {}
        if self.config.obs_mode in ("state", "state+pixels"):
            out.update(state)
        if self.config.obs_mode in ("pixels", "state+pixels"):
            side = self.config.pixel_size
            out["pixels"] = spaces.Box(0, 255, shape=(side, side, 3), dtype=np.uint8)
        out["instruction"] = spaces.Box(0, tokenizer.VOCAB_SIZE - 1, shape=(tokenizer.MAX_TOKENS,), dtype=np.int64)
        return spaces.Dict(out)

    def _extra_observation_space(self) -> dict[str, spaces.Space]:
        """Task-specific state observations (none by default)."""
        return {}

    # ------------------------------------------------------------------ task hooks
    def _make_goal(self, rng: np.random.Generator, described: list[ObjectSpec]) -> Goal:
        raise NotImplementedError

    def _sample_zones(self, rng: np.random.Generator, goal: Goal) -> list[str]:
        """Colours of the episode's zones (none by default)."""
        return []

    def _feasible(self, positions: np.ndarray, zones: list[ZoneSpec], goal: Goal) -> bool:
        """Task-specific check that a sampled layout can be solved."""
        return True

    def potential(self) -> float:
        """Dense-reward potential of the current state (higher is closer to success)."""
        raise NotImplementedError

    def goal_target(self) -> tuple[int, np.ndarray]:
        """(object index to act on, world position it should reach) - privileged."""
        raise NotImplementedError

    def goal_zone(self) -> int:
        """Index of the zone the goal names (-1: it names none) - privileged."""
        return -1

    def goal_reference(self) -> int:
        """Index of the object the goal places its object relative to (-1: none) - privileged."""
        return -1

    def goal_named(self) -> tuple[int, int]:
        """Indices of the objects the instruction names, in its order (-1: it names no second) - privileged.
        Fixed for the episode, unlike ``goal_target``'s object in Sequence (the one still to touch): what a
        learner that reads the words alone, with no memory of the episode, can be taught to pick. Read off the goal's
        bound descriptions (``Goal.targets``), which every task's goal object and reference are the first two of."""
        named = self.goal.targets
        return int(named[0]), int(named[1]) if len(named) > 1 else -1

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise UsageError(f"seed must be a non-negative integer or None, got {seed!r}")
        forced, text, words = self._requested_goal(options)
        rng_before = self._rng_snapshot()
        super().reset(seed=seed)
        try:
            goal, episode = self._sample_episode(self.np_random, forced)
        except BaseException:
            self._rng_restore(rng_before)  # a rejected reset leaves the generator as it was
            raise
        self._write_episode(*episode)
        self.goal = goal
        if forced is None:
            text = goal.render(self.np_random, self.config.split)
            person = self.config.split == "person"
            words = language.understand(text, kinds=(self.goal_type.kind,)).words if person else text
        self.instruction = text
        self._tokens = tokenizer.encode(words)
        self._potential = self.potential()
        obs = self._get_obs()
        self._last_obs = obs
        info = self._info(Status.CONTINUE, physics_error=False)
        info.update(_float32(self._reward_terms(Status.CONTINUE, np.zeros(self.action_space.shape), unstable=True)))
        if self.render_mode == "human":
            self.render()
        return obs, info  # the step's keys, reward terms at 0 (a recorder of infos needs the same keys throughout)

    def _requested_goal(self, options: dict[str, Any] | None) -> tuple[Goal | None, str | None, str | None]:
        """The goal, text and observed words (:attr:`envs.language.Reading.words`) of ``options["instruction"]``
        (all None without one), checked before anything changes: unknown options, or a sentence this task cannot
        follow, raise :class:`~envs.errors.UsageError` naming what was understood and what was not."""
        options = dict(options or {})
        text = options.pop("instruction", None)
        if options:
            raise UsageError(f"unknown reset option(s) {sorted(options)}; the only option is 'instruction'")
        if text is None:
            return None, None, None
        try:
            reading = language.understand(str(text), kinds=(self.goal_type.kind,))
        except UsageError as exc:
            raise UsageError(f"{self.spec.id if self.spec else type(self).__name__}: {exc}") from None
        return reading.goal, str(text).strip(), reading.words

    def _rng_snapshot(self) -> tuple[Any, Any, Any]:
        rng = self._np_random
        return rng, self._np_random_seed, None if rng is None else rng.bit_generator.state

    def _rng_restore(self, snapshot: tuple[Any, Any, Any]) -> None:
        rng, seed, state = snapshot
        self._np_random, self._np_random_seed = rng, seed
        if rng is not None:
            rng.bit_generator.state = state

    def _sample_episode(self, rng: np.random.Generator, forced: Goal | None) -> tuple[Goal, tuple]:
        """A goal and the episode (objects, zones, positions, agent start) it is bound to, drawn
        from ``rng``; nothing is written to the simulator, so a failure leaves the current episode."""
        for _ in range(200):
            goal = forced
            if forced is not None:
                described = [
                    ObjectSpec(d.color, d.shape, d.size or str(rng.choice(scene.SIZE_NAMES)))
                    for d in forced.descriptions()
                ]
            else:
                pairs = language.sample_pairs(rng, self.goal_type.kind, self.config.split, self.min_described)
                described = [ObjectSpec(c, s, str(rng.choice(scene.SIZE_NAMES))) for c, s in pairs]
            low = max(self.config.min_objects, len(described))
            n = int(rng.integers(low, max(low, self.config.max_objects) + 1))
            used = {o.pair for o in described}
            free = [p for p in language.ALL_PAIRS if p not in used]
            picks = rng.choice(len(free), size=n - len(described), replace=False)
            objects = described + [ObjectSpec(*free[i], str(rng.choice(scene.SIZE_NAMES))) for i in picks]
            objects = [objects[i] for i in rng.permutation(n)]  # no slot is special
            if goal is None:
                goal = self._make_goal(rng, described)
            zone_colors = self._sample_zones(rng, goal)
            layout = self._sample_layout(rng, objects, zone_colors)
            if layout is None:
                continue
            positions, zones, agent_qpos = layout
            goal.bind(objects, zones)
            if not self._feasible(positions, zones, goal):
                continue
            goal.reset()
            if goal.verify(self._start_view(objects, zones, positions, agent_qpos)) is Status.CONTINUE:
                return goal, (objects, zones, positions, agent_qpos)
        raise RuntimeError(f"{type(self).__name__}: could not sample a valid episode in 200 tries")

    def _start_view(self, objects, zones, positions: np.ndarray, agent_qpos: np.ndarray) -> SceneView:
        """The scene a sampled layout starts in, as :meth:`_write_episode` would put it in the simulator."""
        height = TABLE_TOP + np.array([o.half for o in objects])
        if self.embodiment == "ball":
            effector = np.array([agent_qpos[0], agent_qpos[1], TABLE_TOP + scene.BALL_RADIUS])
        else:
            effector = np.array([*arm_fingertip(agent_qpos), TABLE_TOP])
        return SceneView(
            objects=list(objects),
            zones=list(zones),
            object_pos=np.column_stack((positions, height)),
            effector_pos=effector,
            effector_radius=self._effector_radius(),
        )

    def _sample_layout(self, rng, objects: list[ObjectSpec], zone_colors: list[str]):
        """Object xy positions, zones and the embodiment's start, or None to resample."""
        zones: list[ZoneSpec] = []
        for color in zone_colors:
            for _ in range(50):
                xy = rng.uniform(-0.33, 0.33, size=2)
                if all(np.hypot(*(xy - z.xy)) > 2 * scene.ZONE_RADIUS + 0.06 for z in zones):
                    zones.append(ZoneSpec(color, (float(xy[0]), float(xy[1]))))
                    break
            else:
                return None
        positions = np.zeros((len(objects), 2))
        for i, obj in enumerate(objects):
            for _ in range(100):
                xy = self._sample_object_xy(rng)
                clear = all(np.hypot(*(xy - positions[j])) > obj.half + objects[j].half + 0.07 for j in range(i))
                out_of_zones = all(np.hypot(*(xy - z.xy)) > z.radius + obj.half for z in zones)
                if clear and out_of_zones:
                    positions[i] = xy
                    break
            else:
                return None
        agent = self._sample_agent(rng, objects, positions)
        if agent is None:
            return None
        return positions, zones, agent

    def _sample_object_xy(self, rng: np.random.Generator) -> np.ndarray:
        if self.embodiment == "ball":
            return rng.uniform(-self.object_margin, self.object_margin, size=2)
        while True:  # arm: inside its reach, on the table
            r = rng.uniform(0.35, 0.76)
            angle = rng.uniform(-0.95, 0.95)
            xy = scene.ARM_BASE + r * np.array([-np.sin(angle), np.cos(angle)])
            if abs(xy[0]) <= 0.42 and -0.4 <= xy[1] <= 0.42:
                return xy

    def _sample_agent(self, rng, objects, positions) -> np.ndarray | None:
        for _ in range(100):
            if self.embodiment == "ball":
                qpos = rng.uniform(-0.4, 0.4, size=2)
                tip = qpos
                clearance = scene.BALL_RADIUS + 0.08
            else:
                qpos = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-1.2, 1.2)])
                tip = arm_fingertip(qpos)
                clearance = scene.FINGER_RADIUS + 0.08
            if all(np.hypot(*(tip - positions[i])) > objects[i].half + clearance for i in range(len(objects))):
                return qpos
        return None

    def _write_episode(self, objects, zones, positions, agent_qpos) -> None:
        m, d, idx = self.model, self.data, self.index
        mujoco.mj_resetData(m, d)
        for slot in range(MAX_OBJECTS):
            body = idx.object_body[slot]
            qpos = idx.object_qpos[slot]
            active = slot < len(objects)
            m.body_gravcomp[body] = 0.0 if active else 1.0
            m.body_contype[body] = m.body_conaffinity[body] = 3 if active else 0  # broadphase filter
            for k, shape in enumerate(scene.SHAPES):
                geom = idx.object_geoms[slot, k]
                on = active and objects[slot].shape == shape
                m.geom_contype[geom] = 3 if on else 0
                m.geom_conaffinity[geom] = 3 if on else 0
                m.geom_rgba[geom, 3] = 1.0 if on else 0.0
                if on:
                    m.geom_rgba[geom, :3] = scene.COLORS[objects[slot].color]
                    m.geom_size[geom] = scene.object_geom_size(shape, objects[slot].half)
            if active:
                m.body_inertia[body] = scene.box_inertia(objects[slot].shape, objects[slot].half)
                d.qpos[qpos : qpos + 3] = [positions[slot, 0], positions[slot, 1], TABLE_TOP + objects[slot].half]
            else:
                d.qpos[qpos : qpos + 3] = idx.park + [0.2 * slot, 0, 0]
            d.qpos[qpos + 3 : qpos + 7] = [1, 0, 0, 0]
        for k in range(MAX_ZONES):
            geom = idx.zone_geom[k]
            if k < len(zones):
                d.mocap_pos[idx.zone_mocap[k]] = [zones[k].xy[0], zones[k].xy[1], TABLE_TOP + 0.0015]
                m.geom_rgba[geom] = [*scene.COLORS[zones[k].color], 1.0]  # opaque: blending costs on CPU
                m.geom_size[geom, 0] = zones[k].radius
            else:
                d.mocap_pos[idx.zone_mocap[k]] = idx.park + [0, 0.3 * (k + 1), 0]
                m.geom_rgba[geom, 3] = 0.0
        d.qpos[idx.agent_qpos] = agent_qpos
        mujoco.mj_forward(m, d)
        self._objects, self._zones = list(objects), list(zones)
        self._static_objects = self._static_object_features()
        self._zone_obs, self._zone_mask = self._zone_features()
        self._object_mask = np.zeros(MAX_OBJECTS, dtype=np.float32)
        self._object_mask[: len(objects)] = 1.0
        n = len(objects)
        self._pos_idx = idx.object_pos_idx[: 3 * n]
        self._vel_idx = idx.object_vel_idx[: 3 * n]
        self._view = SceneView(
            objects=self._objects,
            zones=self._zones,
            object_pos=np.zeros((n, 3)),
            effector_pos=np.zeros(3),
            effector_radius=self._effector_radius(),
        )
        self._sync_view()

    def _effector_radius(self) -> float:
        return scene.BALL_RADIUS if self.embodiment == "ball" else scene.FINGER_RADIUS

    def _static_object_features(self) -> np.ndarray:
        feats = np.zeros((MAX_OBJECTS, OBJECT_FEATURES), dtype=np.float32)
        for i, obj in enumerate(self._objects):
            feats[i, 6 + scene.COLOR_NAMES.index(obj.color)] = 1.0
            feats[i, 12 + scene.SHAPES.index(obj.shape)] = 1.0
            feats[i, HALF_EXTENT] = obj.half
        return feats

    def _zone_features(self) -> tuple[np.ndarray, np.ndarray]:
        feats = np.zeros((MAX_ZONES, ZONE_FEATURES), dtype=np.float32)
        mask = np.zeros(MAX_ZONES, dtype=np.float32)
        for k, zone in enumerate(self._zones):
            feats[k, :3] = (zone.xy[0], zone.xy[1], zone.radius)
            feats[k, 3 + scene.COLOR_NAMES.index(zone.color)] = 1.0
            mask[k] = 1.0
        return feats, mask

    # ------------------------------------------------------------------ step
    def _check_action(self, action: Any) -> np.ndarray:
        """``action`` as a new float64 array; :class:`~envs.errors.UsageError` if it is not numeric,
        has the wrong shape or a NaN or inf entry (the simulator is then not stepped)."""
        try:
            a = np.array(action, dtype=np.float64)  # a copy: clipping never writes to the caller's array
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{type(self).__name__}: action {action!r} is not numeric") from exc
        if a.shape != self.action_space.shape:
            raise UsageError(f"{type(self).__name__}: action has shape {a.shape}; expected {self.action_space.shape}")
        if not np.isfinite(a).all():
            raise UsageError(f"{type(self).__name__}: action {a.tolist()} has NaN or inf entries; state left unchanged")
        return a

    def step(self, action: Any):
        if self.goal is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        d = self.data
        np.maximum(a, -1.0, out=a)  # out-of-range actions are clipped to [-1, 1]
        np.minimum(a, 1.0, out=a)
        d.ctrl[:] = a
        time_before = d.time
        first = time_before == 0.0
        warnings_before = self._instability_count() if first else 0
        mujoco.mj_step(self.model, d, nstep=self.frame_skip)
        # On a bad position, velocity or acceleration MuJoCo warns and resets its data (time
        # restarts at 0); only a reset on the very first substep keeps the time, so the
        # warning counters are read on the first step of an episode only (they are slow to read).
        if d.time < time_before + 0.5 * self.dt or (first and self._instability_count() != warnings_before):
            return self._physics_error(a)
        self._sync_view()
        state = self._state_features()
        if not (_within_bound(state[0]) and _within_bound(state[1])):  # e.g. an object struck to 1e5 m/s
            return self._physics_error(a)
        status = self.goal.verify(self._view)
        terms = self._reward_terms(status, a)
        obs = self._get_obs(state)
        self._last_obs = obs
        info = self._info(status, physics_error=False)
        info.update(_float32(terms))
        if self.render_mode == "human":
            self.render()
        return obs, float(sum(terms.values())), status is not Status.CONTINUE, False, info

    def _physics_error(self, action: np.ndarray):
        """The step result after MuJoCo found the state unstable or it left the observation space:
        the last in-space observation, no reward, truncated, ``info["physics_error"]``."""
        info = self._info(Status.CONTINUE, physics_error=True)
        info.update(_float32(self._reward_terms(Status.CONTINUE, action, unstable=True)))
        last = {key: value.copy() for key, value in self._last_obs.items()}
        return last, 0.0, False, True, info

    def _instability_count(self) -> int:
        w = self.data.warning
        return w[_BADQPOS].number + w[_BADQVEL].number + w[_BADQACC].number

    def _reward_terms(self, status: Status, action: np.ndarray, unstable: bool = False) -> dict[str, np.float64]:
        """The reward's terms, which sum to the reward (``info`` shows them as float32, the reward's own dtype in
        clients that type it); all 0 with ``unstable`` (and at reset)."""
        success = float(status is Status.SUCCESS)
        if self.config.reward_mode == "sparse":
            return {"reward_success": np.float64(success)}
        if unstable:
            return dict.fromkeys(("reward_progress", "reward_success", "reward_failure", "reward_ctrl"), np.float64(0))
        potential = self.potential()
        progress = self.progress_scale * (potential - self._potential)
        self._potential = potential
        return {
            "reward_progress": np.float64(progress),
            "reward_success": np.float64(self.success_bonus * success),
            "reward_failure": np.float64(-1.0 * float(status is Status.FAILURE)),
            "reward_ctrl": np.float64(-self.ctrl_cost * float(np.dot(action, action))),
        }

    def _sync_view(self) -> None:
        view, d = self._view, self.data
        view.object_pos[:] = d.qpos[self._pos_idx].reshape(-1, 3)
        if self.embodiment == "ball":
            view.effector_pos[:2] = d.qpos[self.index.agent_qpos]
            view.effector_pos[2] = TABLE_TOP + scene.BALL_RADIUS
        else:
            view.effector_pos[:] = d.site_xpos[self.index.fingertip]

    def _state_features(self) -> tuple[np.ndarray, np.ndarray]:
        """The observation's ``proprio`` and ``objects`` arrays of the current state."""
        objects = self._static_objects.copy()
        n = len(self._objects)
        objects[:n, 0:3] = self._view.object_pos
        objects[:n, 2] -= TABLE_TOP
        objects[:n, 3:6] = self.data.qvel[self._vel_idx].reshape(n, 3)
        return self._proprio(), objects

    def _get_obs(self, state: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """The observation; ``state`` is :meth:`_state_features` when the caller already has it."""
        obs: dict[str, np.ndarray] = {}
        mode = self.config.obs_mode
        if mode != "pixels":
            proprio, objects = self._state_features() if state is None else state
            obs["proprio"] = proprio
            obs["objects"] = objects
            obs["object_mask"] = self._object_mask.copy()
            obs["zones"] = self._zone_obs.copy()
            obs["zone_mask"] = self._zone_mask.copy()
            obs.update(self._extra_obs())
        if mode != "state":
            obs["pixels"] = self._render_pixels()
        obs["instruction"] = self._tokens.copy()
        return obs

    def _proprio(self) -> np.ndarray:
        d, idx = self.data, self.index
        q = d.qpos[idx.agent_qpos]
        qd = d.qvel[idx.agent_qvel]
        if self.embodiment == "ball":
            return np.concatenate((q, qd)).astype(np.float32)
        out = np.empty(8, dtype=np.float32)
        out[0:4:2] = np.cos(q)
        out[1:4:2] = np.sin(q)
        out[4:6] = qd
        out[6:8] = self._view.effector_pos[:2]
        return out

    def _extra_obs(self) -> dict[str, np.ndarray]:
        return {}

    def _info(self, status: Status, physics_error: bool) -> dict[str, Any]:
        """The step's info; its flags and indices are numpy scalars, as clients that type every entry expect
        (TorchRL's info reader, Minari's recorder)."""
        target, position = self.goal_target()
        return {
            "instruction": self.instruction,
            "is_success": np.bool_(status is Status.SUCCESS),
            "is_failure": np.bool_(status is Status.FAILURE),
            "goal": {
                "object": np.int64(target),
                "position": position,
                "zone": np.int64(self.goal_zone()),
                "reference": np.int64(self.goal_reference()),
                "named": np.array(self.goal_named(), dtype=np.int64),
            },
            "physics_error": np.bool_(physics_error),
        }

    # ------------------------------------------------------------------ rendering
    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        key = (width, height)
        if key not in self._renderers:
            self._renderers[key] = _gl.make_renderer(self.model, width, height)
        return self._renderers[key]

    def _draw(self, camera: str, width: int, height: int) -> np.ndarray:
        renderer = self._renderer(width, height)
        renderer.update_scene(self.data, camera=camera)
        return renderer.render()

    def _render_pixels(self) -> np.ndarray:
        side = self.config.pixel_size
        return self._draw(self.config.pixel_camera, side, side)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array' to gym.make")
            return None
        if self.render_mode == "human":
            if self._window is None:
                self._window = Window(self.model, self.data, self.dt)
            self._window.show()
            return None
        return self._draw(self.config.camera, self.config.width, self.config.height)

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
        if self._window is not None:
            self._window.close()
            self._window = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_renderers"] = {}  # GL contexts and windows do not pickle; they are made again on demand
        state["_window"] = None
        return state

    # ------------------------------------------------------------------ helpers for tasks and oracles
    @property
    def scene_view(self) -> SceneView:
        """Live positions of the episode's objects and effector (privileged)."""
        return self._view

    @property
    def objects(self) -> list[ObjectSpec]:
        return self._objects

    @property
    def zones(self) -> list[ZoneSpec]:
        return self._zones


def _within_bound(features: np.ndarray) -> bool:
    """Whether every entry of ``features`` is finite and within the observation bound."""
    return bool(np.abs(features).max() <= BOUND)


def arm_fingertip(qpos: np.ndarray) -> np.ndarray:
    """Fingertip xy of the arm at joint angles ``qpos`` (forward kinematics)."""
    l1, l2 = scene.ARM_LINKS
    a1, a12 = qpos[0], qpos[0] + qpos[1]
    return scene.ARM_BASE + np.array([-l1 * np.sin(a1) - l2 * np.sin(a12), l1 * np.cos(a1) + l2 * np.cos(a12)])


def _float32(terms: dict[str, np.float64]) -> dict[str, np.float32]:
    return {key: np.float32(value) for key, value in terms.items()}
