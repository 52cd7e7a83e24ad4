"""The instruction grammar: goals as objects that render to text and verify success.

Every instruction is a :class:`Goal` built from :class:`ObjDesc` object descriptions.
A goal renders itself through one of several sentence templates (:meth:`Goal.surface`)
and checks the simulator state (:meth:`Goal.verify`), after the BabyAI ``surface`` /
``verify`` idea: the sentence is a view of the goal, never its definition. :func:`parse`
inverts the templates, so a user's sentence becomes the same goal object.

Splits
------
- ``"train"``: goals whose described (colour, shape) pairs are all training pairs for that
  goal kind, rendered with the training templates.
- ``"heldout"``: goals that describe at least one pair held out for that goal kind
  (:data:`HELDOUT_PAIRS`), rendered with the training templates. Every held-out pair's colour
  and shape appear in training with other partners: systematic generalisation.
- ``"paraphrase"``: training goals rendered with templates never used in training.

Success and failure are decided by :mod:`envs.rules`, the one definition of every task's rules
that the world model applies to imagined states as well: a goal's :meth:`Goal.verify` reads
the quantities a rule needs from a :class:`SceneView` and asks the rule. A goal succeeds at the
first step its condition holds.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from envs import rules, tokenizer
from envs.errors import UsageError
from envs.rules import RELATION_AXES as RELATION_AXES
from envs.rules import RELATION_BAND as RELATION_BAND
from envs.rules import RELATION_LATERAL as RELATION_LATERAL
from envs.rules import TOUCH_TOLERANCE as TOUCH_TOLERANCE
from envs.scene import COLOR_NAMES, SHAPES, SIZE_NAMES, TABLE_TOP, ObjectSpec, ZoneSpec

SPLITS = ("train", "heldout", "paraphrase")


class Status(enum.Enum):
    CONTINUE = 0
    SUCCESS = 1
    FAILURE = 2


@dataclass
class SceneView:
    """What a goal needs to verify itself: the episode's objects and live positions.

    Its accessors hand single positions to :mod:`envs.rules` as pairs of Python floats, the
    rules' fast form for one state.
    """

    objects: list[ObjectSpec]
    zones: list[ZoneSpec]
    object_pos: np.ndarray  # (len(objects), 3) world positions, updated in place every step
    effector_pos: np.ndarray  # (3,) agent ball centre or fingertip
    effector_radius: float

    def xy(self, index: int) -> tuple[float, float]:
        """Table-plane centre of object ``index``."""
        x, y = self.object_pos[index, :2].tolist()
        return x, y

    def effector_xy(self) -> tuple[float, float]:
        """Table-plane centre of the effector."""
        x, y = self.effector_pos[:2].tolist()
        return x, y

    def gap(self, index: int) -> float:
        """Distance in the table plane between the effector's and the object's surfaces."""
        return rules.surface_gap(self.effector_xy(), self.xy(index), self.objects[index].half, self.effector_radius)

    def off_table(self, index: int) -> bool:
        return rules.fallen(float(self.object_pos[index, 2]) - TABLE_TOP)


def _status(success, failure) -> Status:
    """The :class:`Status` of a rule's (success, failure) outcome for one state."""
    return Status.SUCCESS if success else Status.FAILURE if failure else Status.CONTINUE


@dataclass(frozen=True)
class ObjDesc:
    """A description of one object: colour and shape, optionally size."""

    color: str
    shape: str
    size: str | None = None

    def __post_init__(self) -> None:
        if self.color not in COLOR_NAMES or self.shape not in SHAPES or self.size not in (None, *SIZE_NAMES):
            raise UsageError(f"invalid object description {self}")

    @property
    def pair(self) -> tuple[str, str]:
        return (self.color, self.shape)

    def surface(self) -> str:
        return " ".join(w for w in (self.size, self.color, self.shape) if w)

    def matches(self, obj: ObjectSpec) -> bool:
        return obj.color == self.color and obj.shape == self.shape and self.size in (None, obj.size)


def _heldout_pairs(offset: int) -> frozenset[tuple[str, str]]:
    return frozenset(
        (c, s) for ci, c in enumerate(COLOR_NAMES) for si, s in enumerate(SHAPES) if (ci + si + offset) % 3 == 0
    )


ALL_PAIRS: tuple[tuple[str, str], ...] = tuple((c, s) for c in COLOR_NAMES for s in SHAPES)


@dataclass
class Goal:
    """Base of all goals. Subclasses declare ``kind``, templates and ``verify``."""

    kind: ClassVar[str]
    train_templates: ClassVar[tuple[str, ...]]
    paraphrase_templates: ClassVar[tuple[str, ...]]
    heldout_offset: ClassVar[int]
    _bound: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    # -- what the goal talks about --------------------------------------------------
    def descriptions(self) -> tuple[ObjDesc, ...]:
        raise NotImplementedError

    def fields(self) -> dict[str, str]:
        """Template fields and their text."""
        raise NotImplementedError

    @property
    def heldout(self) -> bool:
        """True when the goal describes a (colour, shape) pair held out for its kind."""
        return any(d.pair in HELDOUT_PAIRS[self.kind] for d in self.descriptions())

    # -- text -------------------------------------------------------------------------
    def surface(self, template: str | None = None) -> str:
        """The instruction's text through ``template`` (default: the first training one)."""
        return (template or self.train_templates[0]).format(**self.fields())

    def render(self, rng: np.random.Generator, split: str) -> str:
        templates = self.paraphrase_templates if split == "paraphrase" else self.train_templates
        return self.surface(templates[int(rng.integers(len(templates)))])

    # -- simulator ----------------------------------------------------------------------
    def bind(self, objects: list[ObjectSpec], zones: list[ZoneSpec]) -> None:
        """Resolve descriptions to object indices; raise if the scene cannot hold the goal."""
        self._bound = []
        for desc in self.descriptions():
            hits = [i for i, obj in enumerate(objects) if desc.matches(obj)]
            if len(hits) != 1:
                what = "no" if not hits else f"{len(hits)}"
                raise UsageError(f"the scene has {what} objects matching 'the {desc.surface()}'")
            self._bound.append(hits[0])
        if len(set(self._bound)) != len(self._bound):
            raise UsageError("an instruction must describe different objects")

    @property
    def targets(self) -> list[int]:
        """Indices of the described objects, in description order (after :meth:`bind`)."""
        return self._bound

    def reset(self) -> None:
        """Forget progress (for goals with memory)."""

    def verify(self, view: SceneView) -> Status:
        """The goal's status in the state ``view`` shows (by its rule in :mod:`envs.rules`)."""
        raise NotImplementedError

    def _fell(self, view: SceneView) -> bool:
        return any(view.off_table(i) for i in self._bound)


@dataclass(kw_only=True)
class GoTo(Goal):
    """Bring the agent ball into contact range of an object."""

    kind: ClassVar[str] = "goto"
    train_templates: ClassVar = ("go to the {o}", "move to the {o}", "navigate to the {o}", "get to the {o}")
    paraphrase_templates: ClassVar = ("find the {o}", "head over to the {o}", "your goal is the {o}")
    heldout_offset: ClassVar[int] = 0
    obj: ObjDesc

    def descriptions(self) -> tuple[ObjDesc, ...]:
        return (self.obj,)

    def fields(self) -> dict[str, str]:
        return {"o": self.obj.surface()}

    def verify(self, view: SceneView) -> Status:
        return _status(*rules.goto_outcome(view.gap(self._bound[0]), self._fell(view)))


@dataclass(kw_only=True)
class Touch(GoTo):
    """Bring the arm's fingertip into contact range of an object."""

    kind: ClassVar[str] = "touch"
    train_templates: ClassVar = ("touch the {o}", "reach the {o}", "reach for the {o}")
    paraphrase_templates: ClassVar = ("put your finger on the {o}", "make contact with the {o}")
    heldout_offset: ClassVar[int] = 2


@dataclass(kw_only=True)
class PushInto(Goal):
    """Move an object so that its centre lies inside a coloured zone."""

    kind: ClassVar[str] = "push"
    train_templates: ClassVar = (
        "push the {o} into the {z} zone",
        "move the {o} into the {z} zone",
        "put the {o} in the {z} zone",
    )
    paraphrase_templates: ClassVar = ("the {o} belongs in the {z} zone", "get the {o} to the {z} zone")
    heldout_offset: ClassVar[int] = 1
    obj: ObjDesc
    zone: str
    _zone_index: int = field(default=-1, init=False, repr=False, compare=False)

    def descriptions(self) -> tuple[ObjDesc, ...]:
        return (self.obj,)

    def fields(self) -> dict[str, str]:
        return {"o": self.obj.surface(), "z": self.zone}

    def bind(self, objects: list[ObjectSpec], zones: list[ZoneSpec]) -> None:
        super().bind(objects, zones)
        hits = [i for i, z in enumerate(zones) if z.color == self.zone]
        if len(hits) != 1:
            raise UsageError(f"the scene has {len(hits)} {self.zone} zones; the instruction needs exactly one")
        self._zone_index = hits[0]

    @property
    def zone_index(self) -> int:
        return self._zone_index

    def verify(self, view: SceneView) -> Status:
        zone = view.zones[self._zone_index]
        inside = rules.in_zone(view.xy(self._bound[0]), zone.xy, zone.radius)
        return _status(*rules.push_outcome(inside, self._fell(view)))


@dataclass(kw_only=True)
class Relate(Goal):
    """Place an object on one side of another (left of, right of, in front of, behind)."""

    kind: ClassVar[str] = "relate"
    train_templates: ClassVar = (
        "put the {o} {rel} the {r}",
        "move the {o} {rel} the {r}",
        "push the {o} {rel} the {r}",
    )
    paraphrase_templates: ClassVar = ("place the {o} {rel} the {r}", "the {o} should end up {rel} the {r}")
    heldout_offset: ClassVar[int] = 0
    obj: ObjDesc
    relation: str
    ref: ObjDesc

    def __post_init__(self) -> None:
        if self.relation not in RELATION_AXES:
            raise UsageError(f"unknown relation {self.relation!r}; expected one of {list(RELATION_AXES)}")

    def descriptions(self) -> tuple[ObjDesc, ...]:
        return (self.obj, self.ref)

    def fields(self) -> dict[str, str]:
        return {"o": self.obj.surface(), "rel": self.relation, "r": self.ref.surface()}

    @property
    def axis(self) -> tuple[float, float]:
        """Unit table-plane direction of the relation's side, from the reference."""
        return RELATION_AXES[self.relation]

    def offsets(self, view: SceneView) -> tuple[float, float]:
        """(along the relation's axis, sideways) offsets of the object from the reference."""
        obj, ref = self._bound
        return rules.relation_offsets(view.xy(obj), view.xy(ref), self.axis)

    def verify(self, view: SceneView) -> Status:
        return _status(*rules.relation_outcome(rules.relation_holds(*self.offsets(view)), self._fell(view)))


@dataclass(kw_only=True)
class Sequence(Goal):
    """Touch one object, then another; only that order counts."""

    kind: ClassVar[str] = "sequence"
    train_templates: ClassVar = (
        "touch the {a}, then the {b}",
        "go to the {a} and then to the {b}",
        "first touch the {a}, then touch the {b}",
    )
    paraphrase_templates: ClassVar = ("touch the {b} after the {a}", "visit the {a} before the {b}")
    heldout_offset: ClassVar[int] = 1
    first: ObjDesc
    second: ObjDesc
    progress: int = field(default=0, init=False, compare=False)

    def descriptions(self) -> tuple[ObjDesc, ...]:
        return (self.first, self.second)

    def fields(self) -> dict[str, str]:
        return {"a": self.first.surface(), "b": self.second.surface()}

    def reset(self) -> None:
        self.progress = 0

    def verify(self, view: SceneView) -> Status:
        """The status, advancing :attr:`progress` (0: first object pending, 1: second pending, 2: done)."""
        first, second = self._bound
        progress, success, failure = rules.sequence_outcome(
            self.progress,
            rules.touching(view.gap(first)),
            rules.touching(view.gap(second)),
            self._fell(view),
        )
        self.progress = int(progress)
        return _status(success, failure)


@dataclass(kw_only=True)
class KnockOff(Goal):
    """Make an object fall off the table; any other object falling is a failure."""

    kind: ClassVar[str] = "knockoff"
    train_templates: ClassVar = ("knock the {o} off the table", "push the {o} off the table")
    paraphrase_templates: ClassVar = ("make the {o} fall off the table", "get the {o} off the table")
    heldout_offset: ClassVar[int] = 2
    obj: ObjDesc

    def descriptions(self) -> tuple[ObjDesc, ...]:
        return (self.obj,)

    def fields(self) -> dict[str, str]:
        return {"o": self.obj.surface()}

    def verify(self, view: SceneView) -> Status:
        objects = range(len(view.objects))
        fell, is_target = [view.off_table(i) for i in objects], [i == self._bound[0] for i in objects]
        return _status(*rules.knockoff_outcome(fell, is_target))


GOAL_TYPES: tuple[type[Goal], ...] = (GoTo, Touch, PushInto, Relate, Sequence, KnockOff)
GOALS_BY_KIND: dict[str, type[Goal]] = {g.kind: g for g in GOAL_TYPES}
HELDOUT_PAIRS: dict[str, frozenset[tuple[str, str]]] = {g.kind: _heldout_pairs(g.heldout_offset) for g in GOAL_TYPES}


def train_pairs(kind: str) -> list[tuple[str, str]]:
    return [p for p in ALL_PAIRS if p not in HELDOUT_PAIRS[kind]]


def sample_pairs(rng: np.random.Generator, kind: str, split: str, n: int) -> list[tuple[str, str]]:
    """Distinct (colour, shape) pairs for ``n`` described objects, consistent with ``split``."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; expected one of {SPLITS}")
    train = train_pairs(kind)
    if split != "heldout":
        idx = rng.choice(len(train), size=n, replace=False)
        return [train[i] for i in idx]
    held = sorted(HELDOUT_PAIRS[kind])
    pairs = [held[int(rng.integers(len(held)))]]
    rest = [p for p in ALL_PAIRS if p != pairs[0]]
    pairs += [rest[i] for i in rng.choice(len(rest), size=n - 1, replace=False)]
    order = rng.permutation(n)  # the held-out pair may be any of the described objects
    return [pairs[i] for i in order]


def sample_description(rng: np.random.Generator, pair: tuple[str, str], size: str) -> ObjDesc:
    """Describe an object by its pair, naming its size a quarter of the time."""
    return ObjDesc(pair[0], pair[1], size if rng.random() < 0.25 else None)


# -- parsing ------------------------------------------------------------------------------
_OBJ = r"(?:(?P<{n}_size>{sizes}) )?(?P<{n}_color>{colors}) (?P<{n}_shape>{shapes})"
_FIELD_PATTERNS = {
    "rel": "(?P<rel>" + "|".join(RELATION_AXES) + ")",
    "z": "(?P<z>" + "|".join(COLOR_NAMES) + ")",
}


def _normal(text: str) -> str:
    return " ".join(tokenizer.words(text))


def _template_regex(template: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\{\w+\})", template):
        if piece.startswith("{"):
            name = piece[1:-1]
            default = _OBJ.format(
                n=name, sizes="|".join(SIZE_NAMES), colors="|".join(COLOR_NAMES), shapes="|".join(SHAPES)
            )
            parts.append(_FIELD_PATTERNS.get(name, default))
        elif piece.strip():
            parts.append(re.escape(_normal(piece)))
    return re.compile(" ".join(parts))


def _desc(m: re.Match[str], name: str) -> ObjDesc:
    return ObjDesc(m[f"{name}_color"], m[f"{name}_shape"], m[f"{name}_size"])


def _build(goal_type: type[Goal], m: re.Match[str]) -> Goal:
    if goal_type is PushInto:
        return PushInto(obj=_desc(m, "o"), zone=m["z"])
    if goal_type is Relate:
        return Relate(obj=_desc(m, "o"), relation=m["rel"], ref=_desc(m, "r"))
    if goal_type is Sequence:
        return Sequence(first=_desc(m, "a"), second=_desc(m, "b"))
    return goal_type(obj=_desc(m, "o"))  # type: ignore[call-arg]


_PATTERNS: list[tuple[type[Goal], re.Pattern[str]]] = [
    (g, _template_regex(t)) for g in GOAL_TYPES for t in (*g.train_templates, *g.paraphrase_templates)
]


def parse(text: str, kinds: tuple[str, ...] | None = None) -> Goal:
    """The goal a sentence describes; ``kinds`` restricts which goal kinds are accepted.

    Raises :class:`~envs.errors.UsageError` (a ``ValueError``) naming an unknown word, or
    listing sentences of the accepted kinds when no template matches.
    """
    try:
        tokenizer.encode(text, max_tokens=10_000)  # unknown words are named here
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    normal = _normal(text)
    allowed = [g for g in GOAL_TYPES if kinds is None or g.kind in kinds]
    for goal_type, pattern in _PATTERNS:
        m = pattern.fullmatch(normal)
        if m and goal_type in allowed:
            return _build(goal_type, m)
    examples = "; ".join(repr(g.train_templates[0]) for g in allowed)
    raise UsageError(
        f"cannot parse instruction {text!r} for goal kinds {[g.kind for g in allowed]}; sentences look like {examples}"
    )
