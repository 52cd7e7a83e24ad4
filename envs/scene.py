"""Scene construction with :class:`mujoco.MjSpec`.

A Groundworld scene is a table standing on a floor, one embodiment (a force-actuated
ball or a planar two-link arm with a fingertip), ``MAX_OBJECTS`` object slots and
``MAX_ZONES`` coloured zones. The model is compiled once per environment; each episode
then writes model and data fields (which geom of a slot is active, its size, colour and
mass, zone positions) instead of recompiling.

Frame convention: x to the right and y away from the default camera, z up; the table
top is the plane ``z = TABLE_TOP`` and spans ``|x|, |y| <= TABLE_HALF``. "Left of" means
smaller x, "behind" means larger y, "in front of" means smaller y (closer to the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# --- vocabulary of attributes -----------------------------------------------------------
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.12, 0.12),
    "green": (0.15, 0.75, 0.25),
    "blue": (0.15, 0.35, 0.95),
    "yellow": (0.95, 0.85, 0.10),
    "purple": (0.60, 0.25, 0.85),
    "orange": (1.00, 0.55, 0.05),
}
SHAPES: tuple[str, ...] = ("cube", "ball", "cylinder")
SIZES: dict[str, float] = {"small": 0.03, "large": 0.045}  # half-extent in metres
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
SIZE_NAMES: tuple[str, ...] = tuple(SIZES)

# --- geometry -----------------------------------------------------------------------------
TABLE_HALF = 0.5
TABLE_TOP = 0.4
MAX_OBJECTS = 5
MAX_ZONES = 2
ZONE_RADIUS = 0.1
BALL_RADIUS = 0.05
BALL_RANGE = 0.47  # the agent ball's centre stays within |x|, |y| <= BALL_RANGE
ARM_BASE = np.array([0.0, -0.62])
ARM_LINKS = (0.42, 0.42)
FINGER_RADIUS = 0.015
OBJECT_MASS = 0.2
TIMESTEP = 0.002

_SHAPE_GEOM = {
    "cube": mujoco.mjtGeom.mjGEOM_BOX,
    "ball": mujoco.mjtGeom.mjGEOM_SPHERE,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
}
# collision bits: table/floor = 1, embodiment = 2, objects collide with both
_BIT_WORLD, _BIT_AGENT = 1, 2
_PARK = np.array([3.0, 3.0, 0.1])


@dataclass(frozen=True)
class ObjectSpec:
    """Attributes of one object in an episode."""

    color: str
    shape: str
    size: str

    @property
    def half(self) -> float:
        """Half-extent (radius, half side or half-height) in metres."""
        return SIZES[self.size]

    @property
    def pair(self) -> tuple[str, str]:
        return (self.color, self.shape)


@dataclass(frozen=True)
class ZoneSpec:
    color: str
    xy: tuple[float, float]
    radius: float = ZONE_RADIUS


def _add_object_slot(spec: mujoco.MjSpec, slot: int) -> None:
    body = spec.worldbody.add_body(name=f"object{slot}", pos=_PARK + [0.2 * slot, 0, 0])
    body.add_freejoint(name=f"object{slot}")
    body.gravcomp = 1.0  # parked slots float; active slots get 0 at reset
    large = SIZES["large"]
    sizes = {"cube": [large] * 3, "ball": [large, 0, 0], "cylinder": [large, large, 0]}
    for shape in SHAPES:
        geom = body.add_geom(
            name=f"object{slot}_{shape}",
            type=_SHAPE_GEOM[shape],
            size=sizes[shape],
            mass=OBJECT_MASS / len(SHAPES),
            rgba=[1, 1, 1, 0],
            contype=0,
            conaffinity=0,
            friction=[0.6, 0.005, 0.0001],
        )
        if shape == "ball":  # rolling friction so a pushed ball does not roll forever
            geom.condim = 6
            geom.friction = [0.6, 0.005, 0.004]


def _add_ball(spec: mujoco.MjSpec) -> None:
    z = TABLE_TOP + BALL_RADIUS + 0.002
    body = spec.worldbody.add_body(name="agent", pos=[0, 0, z])
    for axis, name in (([1, 0, 0], "agent_x"), ([0, 1, 0], "agent_y")):
        body.add_joint(
            name=name,
            type=mujoco.mjtJoint.mjJNT_SLIDE,
            axis=axis,
            range=[-BALL_RANGE, BALL_RANGE],
            limited=mujoco.mjtLimited.mjLIMITED_TRUE,
            damping=12.0,
        )
        spec.add_actuator(
            name=name,
            target=name,
            trntype=mujoco.mjtTrn.mjTRN_JOINT,
            gear=[8.0, 0, 0, 0, 0, 0],
            ctrlrange=[-1, 1],
            ctrllimited=mujoco.mjtLimited.mjLIMITED_TRUE,
        )
    body.add_geom(
        name="agent",
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[BALL_RADIUS, 0, 0],
        mass=0.5,
        rgba=[0.92, 0.92, 0.92, 1],
        contype=_BIT_AGENT,
        conaffinity=_BIT_AGENT,
    )


def _add_arm(spec: mujoco.MjSpec) -> None:
    z = TABLE_TOP + 0.16
    l1, l2 = ARM_LINKS
    spec.worldbody.add_geom(
        name="arm_base",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[0.04, 0.08, 0],
        pos=[ARM_BASE[0], ARM_BASE[1], z - 0.08],
        rgba=[0.3, 0.3, 0.35, 1],
        contype=0,
        conaffinity=0,
    )
    link1 = spec.worldbody.add_body(name="link1", pos=[ARM_BASE[0], ARM_BASE[1], z])
    link1.add_joint(name="shoulder", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1], damping=0.08)
    link1.add_geom(
        name="link1",
        type=mujoco.mjtGeom.mjGEOM_CAPSULE,
        fromto=[0, 0, 0, 0, l1, 0],
        size=[0.02, 0, 0],
        mass=0.15,
        rgba=[0.55, 0.55, 0.6, 1],
        contype=0,
        conaffinity=0,
    )
    link2 = link1.add_body(name="link2", pos=[0, l1, 0])
    link2.add_joint(
        name="elbow",
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=[0, 0, 1],
        range=[-2.9, 2.9],
        limited=mujoco.mjtLimited.mjLIMITED_TRUE,
        damping=0.08,
    )
    link2.add_geom(
        name="link2",
        type=mujoco.mjtGeom.mjGEOM_CAPSULE,
        fromto=[0, 0, 0, 0, l2, 0],
        size=[0.018, 0, 0],
        mass=0.1,
        rgba=[0.55, 0.55, 0.6, 1],
        contype=0,
        conaffinity=0,
    )
    finger_bottom = TABLE_TOP + 0.03 - z
    link2.add_geom(
        name="finger",
        type=mujoco.mjtGeom.mjGEOM_CAPSULE,
        fromto=[0, l2, 0, 0, l2, finger_bottom],
        size=[FINGER_RADIUS, 0, 0],
        mass=0.02,
        rgba=[0.95, 0.95, 0.95, 1],
        contype=_BIT_AGENT,
        conaffinity=_BIT_AGENT,
    )
    link2.add_site(name="fingertip", pos=[0, l2, finger_bottom])
    for joint, gear in (("shoulder", 0.6), ("elbow", 0.3)):
        spec.add_actuator(
            name=joint,
            target=joint,
            trntype=mujoco.mjtTrn.mjTRN_JOINT,
            gear=[gear, 0, 0, 0, 0, 0],
            ctrlrange=[-1, 1],
            ctrllimited=mujoco.mjtLimited.mjLIMITED_TRUE,
        )


def _add_world(spec: mujoco.MjSpec) -> None:
    spec.compiler.degree = False  # joint ranges below are in radians
    spec.option.timestep = TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.visual.quality.shadowsize = 0
    # coarser tessellation: software GL (Mesa on CPU) pays per triangle; 16x8 still looks round
    spec.visual.quality.numslices = 16
    spec.visual.quality.numstacks = 8
    spec.visual.quality.numquads = 2
    # no multisample anti-aliasing: 3x cheaper at 480 px in software GL; set
    # model.vis.quality.offsamples = 4 before the first render for smoother edges
    spec.visual.quality.offsamples = 0
    spec.visual.headlight.ambient = [0.3, 0.3, 0.3]
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    spec.visual.headlight.specular = [0.05, 0.05, 0.05]
    world = spec.worldbody
    world.add_light(
        name="sun",
        pos=[0, -0.3, 2.5],
        dir=[0, 0.1, -1],
        castshadow=False,
        diffuse=[0.45, 0.45, 0.45],
        specular=[0.1, 0.1, 0.1],
    )
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[3, 3, 0.1],
        rgba=[0.32, 0.34, 0.38, 1],
        contype=_BIT_WORLD,
        conaffinity=_BIT_WORLD,
    )
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[TABLE_HALF, TABLE_HALF, TABLE_TOP / 2],
        pos=[0, 0, TABLE_TOP / 2],
        rgba=[0.78, 0.70, 0.58, 1],
        contype=_BIT_WORLD,
        conaffinity=_BIT_WORLD,
        friction=[0.6, 0.005, 0.0001],
    )
    # "overview": the whole table from the front, above; "top": straight down.
    world.add_camera(name="overview", pos=[0, -1.05, 1.3], xyaxes=[1, 0, 0, 0, 1.0, 1.05], fovy=52)
    world.add_camera(name="top", pos=[0, 0, 1.7], xyaxes=[1, 0, 0, 0, 1, 0], fovy=40)
    for i in range(MAX_ZONES):
        zone = world.add_body(name=f"zone{i}", mocap=True, pos=_PARK + [0, 0.3 * (i + 1), 0])
        zone.add_geom(
            name=f"zone{i}",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[ZONE_RADIUS, 0.0015, 0],
            rgba=[1, 1, 1, 0],
            contype=0,
            conaffinity=0,
        )


def build_model(embodiment: str) -> mujoco.MjModel:
    """Build and compile the scene for ``embodiment`` ("ball" or "arm")."""
    if embodiment not in ("ball", "arm"):
        raise ValueError(f"unknown embodiment {embodiment!r}; expected 'ball' or 'arm'")
    spec = mujoco.MjSpec()
    spec.modelname = f"groundworld_{embodiment}"
    _add_world(spec)
    (_add_ball if embodiment == "ball" else _add_arm)(spec)
    for slot in range(MAX_OBJECTS):
        _add_object_slot(spec, slot)
    return spec.compile()


def box_inertia(shape: str, half: float, mass: float = OBJECT_MASS) -> np.ndarray:
    """Principal moments of inertia of a solid object of the given shape."""
    if shape == "cube":
        i = mass * (2 * half) ** 2 / 6
        return np.array([i, i, i])
    if shape == "ball":
        i = 0.4 * mass * half**2
        return np.array([i, i, i])
    ixx = mass * (3 * half**2 + (2 * half) ** 2) / 12
    return np.array([ixx, ixx, 0.5 * mass * half**2])


def object_geom_size(shape: str, half: float) -> np.ndarray:
    return {"cube": np.array([half] * 3), "ball": np.array([half, 0, 0]), "cylinder": np.array([half, half, 0])}[shape]


class SceneIndex:
    """Ids and address arrays of a compiled scene, for fast reads and writes."""

    def __init__(self, model: mujoco.MjModel, embodiment: str):
        name = mujoco.mj_name2id
        obj = mujoco.mjtObj
        self.object_body = np.array([name(model, obj.mjOBJ_BODY, f"object{i}") for i in range(MAX_OBJECTS)])
        self.object_geoms = np.array(
            [[name(model, obj.mjOBJ_GEOM, f"object{i}_{s}") for s in SHAPES] for i in range(MAX_OBJECTS)]
        )
        joints = [name(model, obj.mjOBJ_JOINT, f"object{i}") for i in range(MAX_OBJECTS)]
        self.object_qpos = np.array([model.jnt_qposadr[j] for j in joints])
        self.object_qvel = np.array([model.jnt_dofadr[j] for j in joints])
        self.object_pos_idx = (self.object_qpos[:, None] + np.arange(3)).ravel()
        self.object_vel_idx = (self.object_qvel[:, None] + np.arange(3)).ravel()
        self.zone_mocap = np.array(
            [model.body_mocapid[name(model, obj.mjOBJ_BODY, f"zone{i}")] for i in range(MAX_ZONES)]
        )
        self.zone_geom = np.array([name(model, obj.mjOBJ_GEOM, f"zone{i}") for i in range(MAX_ZONES)])
        self.embodiment = embodiment
        if embodiment == "ball":
            self.agent_qpos = np.array(
                [model.jnt_qposadr[name(model, obj.mjOBJ_JOINT, j)] for j in ("agent_x", "agent_y")]
            )
            self.agent_qvel = np.array(
                [model.jnt_dofadr[name(model, obj.mjOBJ_JOINT, j)] for j in ("agent_x", "agent_y")]
            )
            self.agent_body = name(model, obj.mjOBJ_BODY, "agent")
        else:
            self.agent_qpos = np.array(
                [model.jnt_qposadr[name(model, obj.mjOBJ_JOINT, j)] for j in ("shoulder", "elbow")]
            )
            self.agent_qvel = np.array(
                [model.jnt_dofadr[name(model, obj.mjOBJ_JOINT, j)] for j in ("shoulder", "elbow")]
            )
            self.fingertip = name(model, obj.mjOBJ_SITE, "fingertip")
        self.park = _PARK
