"""The instruction grammar: goals as objects that render to text and verify success.

Every instruction is a :class:`Goal` built from :class:`ObjDesc` object descriptions.
A goal renders itself through one of several sentence templates (:meth:`Goal.surface`)
and checks the simulator state (:meth:`Goal.verify`), after the BabyAI ``surface`` /
``verify`` idea: the sentence is a view of the goal, never its definition. :func:`parse`
reads a person's sentence (any template, and the synonyms, fillers and word orders of the
lexicon below) into the same goal object, or refuses it in one line naming the words it could not place.

Splits
------
- ``"train"``: goals whose described (colour, shape) pairs are all training pairs for that
  goal kind, rendered with the training templates.
- ``"heldout"``: goals that describe at least one pair held out for that goal kind
  (:data:`HELDOUT_PAIRS`), rendered with the training templates. Every held-out pair's colour
  and shape appear in training with other partners: systematic generalisation.
- ``"paraphrase"``: training goals rendered with templates never used in training.
- ``"person"``: training goals as a person might type them (:func:`person_sentence`): synonyms, fillers,
  articles dropped, other word orders. The observation shows the sentence in tokenizer v1's words
  (:attr:`Reading.words`: the person's own where the vocabulary has them), ``info["instruction"]`` the sentence
  itself; so this split measures the parser and the policy together.

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

SPLITS = ("train", "heldout", "paraphrase", "person")


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
    person_templates: ClassVar[tuple[str, ...]]
    """Sentence forms a person uses (split "person"), with ``{v}`` for one of :attr:`person_verbs`; their words
    are drawn from the lexicon's synonyms (:func:`person_sentence`)."""
    person_verbs: ClassVar[tuple[str, ...]]
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
        if split == "person":
            return person_sentence(self, rng)
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
    person_templates: ClassVar = ("{v} to {o}", "{v} over to {o}", "{v} toward {o}", "approach {o}", "{o}, {v} to it")
    person_verbs: ClassVar = ("go", "head", "drive", "roll", "move", "travel", "get", "navigate")
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
    person_templates: ClassVar = ("{v} {o}", "{o}, {v} it", "{v} {o} with your finger")
    person_verbs: ClassVar = ("touch", "tap", "poke", "reach", "contact", "hit")
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
    person_templates: ClassVar = (
        "{v} {o} into {z}",
        "{v} {o} to {z}",
        "into {z}, {v} {o}",
        "{v} {o} over to {z}",
        "{v} {o} onto {z}",
        "{v} {o} inside {z}",
    )
    person_verbs: ClassVar = ("push", "shove", "nudge", "roll", "move", "slide", "bring", "get", "put", "drag")
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
    person_templates: ClassVar = ("{v} {o} {rel} {r}", "{rel} {r}, {v} {o}", "{o} should end up {rel} {r}")
    person_verbs: ClassVar = ("put", "place", "move", "push", "set", "slide", "shove", "position", "nudge")
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
    person_templates: ClassVar = (
        "{v} {a}, then {b}",
        "{v} {a} and then {b}",
        "first {v} {a}, then {v} {b}",
        "{v} {b} after {a}",
        "{v} {a} first, then {b}",
        "before {b}, {v} {a}",
        "after {a}, {v} {b}",
        "{v} {a}, followed by {b}",
    )
    person_verbs: ClassVar = ("touch", "tap", "visit", "hit", "reach", "go to")
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
    person_templates: ClassVar = (
        "{v} {o} off the table",
        "{v} {o} off the edge",
        "{v} {o} onto the floor",
        "make {o} fall off the table",
        "{v} {o} off",
        "{v} {o} over the edge",
    )
    person_verbs: ClassVar = ("knock", "push", "shove", "nudge", "throw", "tip", "kick", "topple", "send")
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


# -- how people say it: the lexicon ---------------------------------------------------------------
# Data, not code: each entry maps the words a person may use to the grammar's own value. Phrases are
# written with their articles for reading; "the", "a" and "an" are optional wherever they stand.

FILLERS: tuple[str, ...] = (
    "please", "pls", "plz", "kindly", "now", "right now", "just", "quickly", "slowly", "carefully", "gently",
    "ok", "okay", "alright", "hey", "hi", "robot", "thanks", "thank you", "could you", "can you", "would you",
    "will you", "would you mind", "i want you to", "i need you to", "i would like you to", "id like you to",
    "try to", "go ahead and", "lets", "let us", "for me", "if you can", "if you could", "simply", "all the way",
    "then please", "with your finger", "with your hand", "using your finger", "with your fingertip",
    "using your fingertip", "use your finger to", "use your fingertip to", "reach out and", "you", "i", "youve",
    "yourself", "lightly", "softly", "firmly", "directly", "right", "exactly", "straight", "immediately",
    "somewhere", "clean", "across", "once", "and stop", "and stop there", "then stop", "stop there", "go and",
    "come and", "try and", "start by", "begin by", "start with", "your job is to", "your task is to",
    "your goal is to", "the goal is to", "move your arm and", "colored", "coloured", "goal", "use", "them",
    "down", "with the tip of your finger", "with your arm", "with the arm", "using the arm", "using your arm",
    "um", "uh", "er", "erm", "hmm", "well", "your task", "your job", "would you be so kind as to", "be so kind as to",
    "by",
)  # fmt: skip
"""Words and phrases that ask politely or fill, dropped wherever they stand."""

COLOR_WORDS: dict[str, tuple[str, ...]] = {c: (c,) for c in COLOR_NAMES}
"""Each colour and the words for it; no near miss is guessed ("crimson" is not red, "violet" not purple)."""

SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "cube": ("cube", "box", "block"),
    "ball": ("ball", "sphere", "orb"),
    "cylinder": ("cylinder", "can"),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny", "smaller", "mini"),
    "large": ("large", "big", "huge", "bigger", "larger", "giant"),
}
ZONE_WORDS: tuple[str, ...] = (
    "zone", "area", "circle", "region", "spot", "patch", "pad", "target", "disc", "disk", "goal area", "goal zone",
    "target zone", "target area", "goal region",
)  # fmt: skip
"""Nouns for a coloured zone: "the green area" is the green zone."""

RELATION_WORDS: dict[str, tuple[str, ...]] = {
    **{
        f"{side} of": (
            f"{side} of", f"to the {side} of", f"on the {side} of", f"at the {side} of", f"{side} side of",
            f"to the {side} side of", f"on the {side} side of", f"on the {side} hand side of",
            f"to the {side} hand side of",
        )
        for side in ("left", "right")
    },
    "in front of": ("in front of", "ahead of", "at the front of", "to the front of", "in the front of"),
    "behind": ("behind", "in back of", "at the back of", "to the back of", "in the back of", "at the rear of"),
}  # fmt: skip
"""Each relation and the phrases for it."""

NEAR_WORDS: tuple[str, ...] = ("next to", "beside", "near", "close to", "up close to", "alongside")
"""Places beside an object: where the ball goes ("get close to the red ball" is a go-to), but no relation."""
UNKNOWN_RELATIONS: tuple[str, ...] = (
    "on top of", "under", "underneath", "beneath", "above", "below", "between", "around", "across from", "opposite",
    "through", "past",
)  # fmt: skip
"""Places a person may name that Groundworld's goals do not hold: refused by name."""

VERBS: dict[str, tuple[str, ...]] = {
    # moving the ball (or visiting objects in order)
    "go": ("goto", "sequence"), "goto": ("goto", "sequence"), "head": ("goto", "sequence"),
    "drive": ("goto", "sequence"),
    "navigate": ("goto", "sequence"), "travel": ("goto", "sequence"), "come": ("goto", "sequence"),
    "run": ("goto", "sequence"), "steer": ("goto", "sequence"), "find": ("goto", "sequence"),
    "approach": ("goto", "touch", "sequence"), "visit": ("goto", "touch", "sequence"),
    "reach": ("touch", "goto", "sequence"),
    # the fingertip on an object
    "touch": ("touch", "sequence"), "tap": ("touch", "sequence"), "poke": ("touch", "sequence"),
    "press": ("touch", "sequence"), "give": ("touch", "sequence", "push", "relate", "knockoff"),
    "contact": ("touch", "sequence"), "tag": ("touch", "sequence"),
    "hit": ("touch", "sequence", "knockoff"), "bump": ("touch", "sequence", "knockoff"),
    # moving an object somewhere (and, for some, off the table)
    "move": ("goto", "push", "relate", "knockoff", "sequence"), "get": ("goto", "push", "relate", "knockoff"),
    "roll": ("goto", "push", "relate", "knockoff"), "push": ("push", "relate", "knockoff"),
    "shove": ("push", "relate", "knockoff"), "nudge": ("push", "relate", "knockoff"),
    "slide": ("push", "relate", "knockoff"), "drag": ("push", "relate", "knockoff"),
    "send": ("push", "relate", "knockoff"), "kick": ("push", "relate", "knockoff"),
    "put": ("push", "relate"), "place": ("push", "relate"), "bring": ("push", "relate"),
    "take": ("push", "relate"), "set": ("push", "relate"), "position": ("push", "relate"),
    "guide": ("push", "relate"), "arrange": ("push", "relate"), "deliver": ("push",),
    "sweep": ("push", "relate", "knockoff"),
    "belong": ("push", "relate"), "end": ("push", "relate", "knockoff"),
    # off the table
    "knock": ("knockoff",), "throw": ("knockoff",), "tip": ("knockoff",), "topple": ("knockoff",),
    "drop": ("knockoff",), "flick": ("knockoff",), "make": ("knockoff",), "fall": ("knockoff",),
}  # fmt: skip
"""Each verb (any of its forms: "push", "pushes", "pushing") and the goal kinds it can ask for; the rest of the
sentence (a zone, a relation, "then", "off the table") says which one it does."""

VERB_PHRASES: dict[str, tuple[str, ...]] = {
    **{f"{verb} your finger on": ("touch", "sequence") for verb in ("put", "putting", "place", "placing")},
    **{f"{verb} contact with": ("touch", "sequence") for verb in ("make", "making", "makes")},
    **{f"{verb} your way to": ("goto", "sequence") for verb in ("make", "making", "makes")},
    **{f"{verb} your {part} on": ("touch", "sequence") for verb in ("put", "place") for part in ("fingertip", "hand")},
    **{f"{verb} {part} on": ("touch", "sequence") for verb in ("put", "place") for part in ("finger", "fingertip")},
    **{f"press your {part} against": ("touch", "sequence") for part in ("finger", "fingertip")},
    "your goal is": ("goto", "touch"),
    **{p: ("push", "relate", "knockoff") for p in ("i want", "i would like", "id like", "i need", "make sure")},
    **{p: ("push", "relate", "knockoff") for p in ("should be", "must be", "needs to be", "has to be", "want")},
    **{p: ("push", "relate") for p in ("goes", "sits", "sit", "lies", "rests", "stays")},
    **{f"{m} go": ("push", "relate") for m in ("needs to", "has to", "should", "must", "ought to")},
    **{p: ("push", "relate", "knockoff") for p in ("make it so", "make it so that", "make sure that")},
}
"""Verbs of several words, and sentences that ask for a state ("make sure the red cube is left of ...")."""
SEQUENCE_WORDS: dict[str, str] = {
    "then": "then", "and then": "then", "next": "then", "afterwards": "then", "afterward": "then",
    "after that": "then", "and after that": "then", "followed by": "then", "later": "then", "finally": "then",
    "in that order": "then", "in this order": "then", "in order": "then", "second": "then", "secondly": "then",
    "last": "then", "lastly": "then", "first": "first", "firstly": "first", "before": "before", "after": "after",
    **{f"{w} {have}": "after" for w in ("once", "when", "after") for have in ("youve", "you have")},
    **{f"{w} {have} done that": "then" for w in ("once", "when", "after") for have in ("youve", "you have")},
    "when youre done": "then", "when you are done": "then", "once done": "then",
}  # fmt: skip
"""Words that order two objects: "then" (in the order named), "before" / "after" (the object after the word is
touched second / first)."""

OFF_WORDS: tuple[str, ...] = (
    "off", "off of", "off the table", "off of the table", "off the edge", "off the edge of the table",
    "off the side", "off the side of the table", "over the edge", "over the edge of the table", "overboard",
    "onto the floor", "to the floor", "on the floor", "on to the floor", "down to the floor", "onto the ground",
    "to the ground", "on the ground", "off the table onto the floor", "off the tabletop", "off of the tabletop",
    "off the top of the table",
)  # fmt: skip
"""Phrases that send an object off the table (the knock-off goal)."""

GLUE: dict[str, str] = {
    **{w: w for w in ("to", "into", "in", "on", "over", "up", "of", "with", "it", "is", "for", "should", "your")},
    "onto": "into", "inside": "in", "within": "in", "toward": "to", "towards": "to",
    **{w: "" for w in ("at", "there", "so", "that", "its", "be", "will", "until", "this", "one", "way", "ends")},
    "where": "", "have": "", "which": "", "thats": "", "against": "",
    **{w: "" for w in ("finger", "fingertip", "arm", "hand", "tip")},
    **{w: "table" for w in ("table", "edge", "tabletop", "top", "floor", "ground")},
}  # fmt: skip
"""Words that join the parts of a sentence, and what each is in the tokenizer's words ("": dropped)."""

ARTICLES: tuple[str, ...] = ("the", "a", "an")
"""Optional everywhere; in the observation every article is "the"."""

_KIND_VERB: dict[str, str] = {
    "goto": "go", "touch": "touch", "push": "push", "relate": "put", "knockoff": "knock", "sequence": "touch",
}  # fmt: skip
"""The verb the observation shows for a person's verb the tokenizer does not have."""

_DOUBLED = ("put", "get", "hit", "tap", "drop", "run", "set", "tip", "tag")


def _forms(verb: str) -> tuple[str, ...]:
    """A verb's base, third-person, -ing and -ed forms."""
    stem = verb[:-1] if verb.endswith("e") and not verb.endswith("ee") else verb
    ing = verb + verb[-1] + "ing" if verb in _DOUBLED else stem + "ing"
    past = verb + verb[-1] + "ed" if verb in _DOUBLED else stem + "ed"
    third = verb + "es" if verb.endswith(("sh", "ch", "s", "x", "o")) else verb + "s"
    return verb, third, ing, past


# -- parsing a person's sentence --------------------------------------------------------------------
@dataclass(frozen=True)
class _Lexeme:
    """One meaningful unit of a sentence: a word or phrase, its role and its value in the grammar."""

    role: str  # filler, article, color, shape, size, zone, rel, near, badrel, verb, seq, and, off, glue, comma, unknown
    value: str  # the grammar's word: colour, shape, size, relation, verb, order word; for glue its token ("": none)
    text: str  # the person's words
    kinds: tuple[str, ...] = ()  # for verbs: the goal kinds they can ask for


def _phrase_table() -> dict[tuple[str, ...], _Lexeme]:
    table: dict[tuple[str, ...], _Lexeme] = {}

    def add(phrase: str, role: str, value: str, kinds: tuple[str, ...] = ()) -> None:
        key = tuple(w for w in phrase.split() if w not in ARTICLES)
        table.setdefault(key, _Lexeme(role, value, phrase, kinds))

    for phrase in VERB_PHRASES:
        add(phrase, "verb", _KIND_VERB[VERB_PHRASES[phrase][0]], VERB_PHRASES[phrase])
    for phrase in FILLERS:
        add(phrase, "filler", "")
    for rel, phrases in RELATION_WORDS.items():
        for phrase in phrases:
            add(phrase, "rel", rel)
    for phrase in NEAR_WORDS:
        add(phrase, "near", phrase)
    for phrase in UNKNOWN_RELATIONS:
        add(phrase, "badrel", phrase)
    for phrase, order in SEQUENCE_WORDS.items():
        add(phrase, "seq", order)
    for phrase in OFF_WORDS:
        add(phrase, "off", "off")
    for verb, kinds in VERBS.items():
        for form in _forms(verb):
            add(form, "verb", verb, kinds)
    for role, words in (("color", COLOR_WORDS), ("shape", SHAPE_WORDS), ("size", SIZE_WORDS)):
        for value, synonyms in words.items():
            for word in synonyms:
                add(word, role, value)
    for word in ZONE_WORDS:
        add(word, "zone", "zone")
    for word, token in GLUE.items():
        add(word, "glue", token)
    add("and", "and", "and")
    return table


_PHRASES = _phrase_table()
_LONGEST = max(len(k) for k in _PHRASES)
_WORD = re.compile(r"[a-z0-9]+|,|[^\sa-z0-9,]")


def _lex(text: str) -> list[_Lexeme]:
    """The sentence as lexemes: longest phrases first, articles skipped inside a phrase, unknown words kept."""
    cleaned = re.sub(r"['\u2019]", "", text.lower())  # "let's" -> "lets", "I'd" -> "id"
    cleaned = re.sub(r"[.!?;:\"()\-]", " ", cleaned)
    words = _WORD.findall(cleaned)
    out: list[_Lexeme] = []
    i = 0
    while i < len(words):
        if words[i] in ARTICLES:
            out.append(_Lexeme("article", "the", words[i]))
            i += 1
            continue
        if words[i] == ",":
            out.append(_Lexeme("comma", ",", ","))
            i += 1
            continue
        content = [j for j in range(i, len(words)) if words[j] not in ARTICLES][:_LONGEST]
        for n in range(len(content), 0, -1):
            key = tuple(words[j] for j in content[:n])
            if key in _PHRASES and "," not in key:
                out.append(_PHRASES[key])
                i = content[n - 1] + 1
                break
        else:
            out.append(_Lexeme("unknown", words[i], words[i]))
            i += 1
    return _colour_first([lx for lx in out if lx.role != "filler"])  # fillers hold no place ("green-colored ball")


def _colour_first(lexemes: list[_Lexeme]) -> list[_Lexeme]:
    """ "the cube that is green" / "the zone which is red" as "the green cube" / "the red zone": a colour (and
    size) named after its noun by a relative clause moves before it."""
    out = list(lexemes)
    i = 0
    while i < len(out):
        if out[i].role in ("shape", "zone"):
            j = i + 1
            while j < len(out) and out[j].role == "glue" and out[j].text in ("that", "which", "thats", "is"):
                j += 1
            k = j
            while k < len(out) and out[k].role in ("size", "color"):
                k += 1
            if j > i + 1 and k > j and out[k - 1].role == "color":
                out[i:k] = [*out[j:k], out[i]]
        i += 1
    return out


_KNOWS = {
    "color": ("colour", ", ".join(COLOR_NAMES)),
    "shape": ("shape", ", ".join(SHAPES)),
    "size": ("size", ", ".join(SIZE_NAMES)),
    "action": ("action", "go, touch, push, put, knock"),
}


def _unknown_slot(lexemes: list[_Lexeme], i: int) -> str:
    """What an unknown word most likely stands for, from its neighbours: a colour before a shape or zone noun,
    a size before a colour, a shape after a colour, an action where no verb came before."""
    prev = lexemes[i - 1].role if i > 0 else ""
    nxt = lexemes[i + 1].role if i + 1 < len(lexemes) else ""
    no_verb_yet = not any(lx.role == "verb" for lx in lexemes[:i])
    if no_verb_yet and prev in ("", "comma") and nxt in ("article", "glue", "color", "size"):
        return "action"
    if nxt in ("shape", "zone") and prev != "color":
        return "color"
    if nxt == "color":
        return "size"
    if prev in ("color", "size"):
        return "shape"
    if no_verb_yet and nxt in ("article", "glue", "color", "size", ""):
        return "action"
    return ""


@dataclass
class _Parts:
    objects: list[tuple[int, ObjDesc]] = field(default_factory=list)  # (lexeme index, description)
    zones: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unplaced: set[int] = field(default_factory=set)  # lexeme indices shown as <?>
    bare_zones: list[str] = field(default_factory=list)  # zone nouns without a colour


_MODIFIERS = ("color", "shape", "size")


def _group(lexemes: list[_Lexeme]) -> _Parts:
    """Objects ([size] colour [size] shape) and zones (colour + zone noun), and a problem for every word or run of
    words that fits neither (a run beside an unknown word is left to that word's own problem)."""
    parts, n, i = _Parts(), len(lexemes), 0
    while i < n:
        lx = lexemes[i]
        if lx.role == "zone":  # a zone noun without its colour ("a spot left of ..."): named if a zone is needed
            parts.bare_zones.append(lx.text)
            i += 1
            continue
        if lx.role == "unknown":
            parts.problems.append(_problem(lexemes, i))
            parts.unplaced.add(i)
            i += 1
            continue
        if lx.role not in _MODIFIERS:
            i += 1
            continue
        j = i
        while j < n and lexemes[j].role in _MODIFIERS:
            j += 1
        run = lexemes[i:j]
        colors, shapes, sizes = ([x.value for x in run if x.role == r] for r in _MODIFIERS)
        if j < n and lexemes[j].role == "zone" and len(colors) == 1 and not shapes and not sizes:
            parts.zones.append(colors[0])
            i = j + 1
            continue
        if len(colors) == 1 and len(shapes) == 1 and len(sizes) <= 1 and run[-1].role == "shape":
            parts.objects.append((i, ObjDesc(colors[0], shapes[0], sizes[0] if sizes else None)))
        else:
            beside_unknown = (i > 0 and lexemes[i - 1].role == "unknown") or (j < n and lexemes[j].role == "unknown")
            if not beside_unknown:
                parts.unplaced.update(range(i, j))
                words = " ".join(x.text for x in run)
                if not colors:
                    parts.problems.append(f"{words!r} needs a colour: {', '.join(COLOR_NAMES)}")
                elif not shapes:
                    parts.problems.append(f"{words!r} names no shape ({', '.join(SHAPES)}) and no zone")
                else:
                    parts.problems.append(f"{words!r} is not one object: [size] colour shape, such as 'small red ball'")
        i = j
    return parts


def _problem(lexemes: list[_Lexeme], i: int) -> str:
    """Why the unknown word at lexeme ``i`` has no place: the slot its neighbours suggest, and what that slot knows."""
    lx = lexemes[i]
    slot = _unknown_slot(lexemes, i)
    if slot in _KNOWS:
        name, known = _KNOWS[slot]
        return f"{lx.text!r} is not a{'n' if name == 'action' else ''} {name} Groundworld knows: {known}"
    return f"{lx.text!r} is not a word Groundworld knows"


_KIND_TEXT: dict[str, str] = {
    "goto": "go-to goal (the ball to an object)",
    "touch": "touch goal (the arm's fingertip on an object)",
    "push": "push goal (an object into a zone)",
    "relate": "relation goal (an object beside another)",
    "sequence": "sequence goal (two objects in order)",
    "knockoff": "knock-off goal (an object off the table)",
}
EXAMPLES: dict[str, str] = {
    "goto": "go to the red cube",
    "touch": "touch the red cube",
    "push": "push the red cube into the green zone",
    "relate": "put the red cube left of the blue ball",
    "sequence": "touch the red cube, then the blue ball",
    "knockoff": "knock the red cube off the table",
}
"""One sentence of each goal kind, for refusals."""


_NO_ACTION = "no action is named: say what to do, such as go, touch, push, put or knock"


class _Refusal(Exception):
    """Why a sentence sets no goal (turned into one :class:`UsageError` line by :func:`understand`)."""


def _goal(lexemes: list[_Lexeme], parts: _Parts, kinds: tuple[str, ...] | None) -> Goal:
    """The goal the sentence's parts describe: its kind from its structure (a relation, an order word, "off the
    table", a zone, else the verb), checked against every verb and against ``kinds``."""
    objects = [d for _, d in parts.objects]
    verbs = [lx for lx in lexemes if lx.role == "verb"]
    rels = [(i, lx) for i, lx in enumerate(lexemes) if lx.role == "rel"]
    orders = [(i, lx.value) for i, lx in enumerate(lexemes) if lx.role == "seq" or lx.role == "and"]
    off = any(lx.role == "off" for lx in lexemes)
    near = [lx for lx in lexemes if lx.role == "near"]  # "next to", "near": only going to one object says it
    if near and (len(objects) != 1 or off or parts.zones or rels or not any("goto" in v.kinds for v in verbs)):
        raise _Refusal(f"{near[0].text!r} is not a place Groundworld knows: {', '.join(RELATION_AXES)} another object")
    bad = [lx for lx in lexemes if lx.role == "badrel"]
    if bad:
        raise _Refusal(f"{bad[0].text!r} is not a place Groundworld knows: {', '.join(RELATION_AXES)} another object")
    if not objects:
        raise _Refusal("no object is named: a colour and a shape, such as 'the red ball'")
    if len(objects) > 2:
        raise _Refusal(f"{len(objects)} objects are named; an instruction names one or two")
    if len(parts.zones) > 1:
        raise _Refusal(f"{len(parts.zones)} zones are named; a push names one")
    if len(rels) > 1:
        raise _Refusal(f"{len(rels)} places are named ({', '.join(repr(lx.text) for _, lx in rels)}); give one")
    if rels:
        ((at, rel),) = rels
        if len(objects) != 2:
            raise _Refusal(f"{rel.text!r} needs two objects: the one to move and the one to put it beside")
        after = [k for k, (i, _) in enumerate(parts.objects) if i > at]
        if not after:
            raise _Refusal(f"{rel.text!r} names no object after it to put the other beside")
        ref = after[0]
        goal: Goal = Relate(obj=objects[1 - ref], relation=rel.value, ref=objects[ref])
    elif len(objects) == 2:
        if not verbs:
            raise _Refusal(_NO_ACTION)
        if not orders:
            raise _Refusal("two objects are named but not how: 'then' to touch them in order, or a side such as "
                           "'left of' to put one beside the other")  # fmt: skip
        goal = Sequence(first=objects[0], second=objects[1])
        for at, word in orders:
            pointed = at + 1 < len(lexemes) and lexemes[at + 1].role in _MODIFIERS and lexemes[at].text == "after that"
            if (
                pointed
                and not any(w == "first" for _, w in orders)
                and (at == 0 or lexemes[at - 1].role not in ("and", "comma"))
            ):
                word = "after"  # "touch the cube after that purple ball": "that" points at the ball
            later = [k for k, (i, _) in enumerate(parts.objects) if i > at]
            if word in ("after", "before") and later:
                first = later[0] if word == "after" else 1 - later[0]
                goal = Sequence(first=objects[first], second=objects[1 - first])
                break
    elif off:
        goal = KnockOff(obj=objects[0])
    elif parts.zones:
        goal = PushInto(obj=objects[0], zone=parts.zones[0])
    else:
        if not verbs:
            raise _Refusal(_NO_ACTION)
        reach = [k for k in verbs[0].kinds if k in ("goto", "touch") and all(k in v.kinds for v in verbs)]
        if (
            not reach
            and any("touch" in v.kinds for v in verbs)
            and all({"goto", "touch"} & set(v.kinds) for v in verbs)
        ):
            reach = ["touch"]  # "find the blue ball and touch it"
        if kinds is not None:
            reach = [k for k in reach if k in kinds] or reach
        if not reach and parts.bare_zones:
            word = parts.bare_zones[0]
            raise _Refusal(f"{word!r} needs its colour, such as 'the green {word}'")
        if not reach:
            raise _Refusal(
                f"{verbs[0].text!r} needs somewhere to go: a zone ('into the green zone'), a side of another object "
                "('left of the blue ball') or 'off the table'"
            )
        goal = GOALS_BY_KIND[reach[0]](obj=objects[0])  # type: ignore[call-arg]
    a, b = objects[0], objects[-1]
    if len(objects) == 2 and a.pair == b.pair and (a.size is None or b.size is None or a.size == b.size):
        raise _Refusal(f"'the {objects[0].surface()}' is named twice; a {_KIND_TEXT[goal.kind]} needs two objects")
    if parts.zones and goal.kind != "push":
        raise _Refusal(f"a zone has no place in a {_KIND_TEXT[goal.kind]}")
    if off and goal.kind != "knockoff":
        raise _Refusal(f"'off the table' has no place in a {_KIND_TEXT[goal.kind]}")
    for verb in verbs:
        if goal.kind not in verb.kinds and not (goal.kind == "touch" and "goto" in verb.kinds):
            raise _Refusal(f"{verb.text!r} does not ask for a {_KIND_TEXT[goal.kind]}")
    if kinds is not None and goal.kind not in kinds:
        wanted = " or ".join(_KIND_TEXT[k] for k in kinds)
        raise _Refusal(f"that is a {_KIND_TEXT[goal.kind]}; this task takes a {wanted}, such as {EXAMPLES[kinds[0]]!r}")
    return goal


def _in_vocab(text: str) -> bool:
    return all(w in tokenizer.WORD_TO_ID for w in text.split())


def _token_words(lexemes: list[_Lexeme], kind: str) -> str:
    """The sentence in tokenizer v1's words (see :attr:`Reading.words`)."""
    out: list[str] = []
    for i, lx in enumerate(lexemes):  # a sentence read whole: no unknown word is left
        if lx.role == "near":  # "get close to the red ball": going to it
            out.append("to")
        elif lx.role in ("color", "shape", "size", "rel", "article", "and", "glue"):
            out.append(lx.value)
        elif lx.role == "zone":
            out.append("zone" if i > 0 and lexemes[i - 1].role == "color" else "")
        elif lx.role == "comma":
            out.append(",")
        elif lx.role == "off":
            out.append(lx.text if _in_vocab(lx.text) else "off the table")
        elif lx.role == "seq":
            out.append(lx.text if _in_vocab(lx.text) else lx.value)
        elif lx.role == "verb":
            if _in_vocab(lx.text) or _in_vocab(lx.value):
                out.append(lx.text if _in_vocab(lx.text) else lx.value)
            else:
                out.append(_KIND_VERB[kind])
                following = lexemes[i + 1] if i + 1 < len(lexemes) else None
                if _KIND_VERB[kind] == "go" and not (following and following.value in ("to", "over", "up")):
                    out.append("to")
    text = " ".join(w for w in out if w)
    text = re.sub(r"(, )+,", ",", text.replace(" ,", ",")).strip(", ")
    return re.sub(r",(?=\S)", ", ", text)


def _understood(lexemes: list[_Lexeme], unplaced: set[int]) -> str:
    shown = ["<?>" if i in unplaced else lx.text for i, lx in enumerate(lexemes)]
    return " ".join(shown).replace(" ,", ",").strip(", ") or "nothing"


@dataclass
class Reading:
    """What :func:`understand` made of a sentence: the goal, and the words the observation shows for it."""

    goal: Goal
    words: str
    """The sentence in tokenizer v1's words: the person's own where the vocabulary has them (their word order,
    "into" or "in", "head" or "go"), the grammar's for the rest (a synonym's canonical word, "the" for every
    article, "go to" or "push" for a verb the vocabulary lacks), fillers dropped; the goal's canonical sentence
    (:meth:`Goal.surface`) when those words would not fit the instruction observation."""


def _read(text: str, kinds: tuple[str, ...] | None) -> tuple[Goal, list[_Lexeme]]:
    lexemes = _lex(text)
    parts = _group(lexemes)
    try:
        if parts.problems:
            raise _Refusal("; ".join(parts.problems))
        return _goal(lexemes, parts, kinds), lexemes
    except _Refusal as why:
        raise UsageError(
            f"cannot follow {text.strip()!r}; understood: {_understood(lexemes, parts.unplaced)}; {why}"
        ) from None


def understand(text: str, kinds: tuple[str, ...] | None = None) -> Reading:
    """The goal a person's sentence names, and the words the observation shows for it.

    Case, punctuation and fillers ("please", "could you", "now") do not matter; articles are optional; every
    verb, shape, colour, size, zone and relation word of the lexicon above is understood, in the orders people
    use ("into the green zone, push the red cube", "touch the blue ball after the red cube"). ``kinds`` restricts
    the goal kinds accepted. A sentence that cannot be understood raises :class:`~envs.errors.UsageError` (a
    ``ValueError``) in one line: what was understood, with ``<?>`` for each word that has no place, and why each
    one has none. Nothing is guessed: a word outside the lexicon is refused, never read as its nearest word.
    """
    goal, lexemes = _read(text, kinds)
    words = _token_words(lexemes, goal.kind)
    try:
        fits = len(tokenizer.words(words)) <= tokenizer.MAX_TOKENS and _read(words, kinds)[0] == goal
    except (UsageError, ValueError):
        fits = False
    return Reading(goal, words if fits else goal.surface())


def parse(text: str, kinds: tuple[str, ...] | None = None) -> Goal:
    """The goal a sentence describes (:func:`understand`'s goal); ``kinds`` restricts which kinds are accepted."""
    return understand(text, kinds).goal


# -- a person's sentences (split "person") ----------------------------------------------------------
_DESCRIBED = {"o": "obj", "r": "ref", "a": "first", "b": "second"}
_PREFIXES = ("please ", "could you ", "now ", "ok, ", "hey robot, ", "can you ")
_SUFFIXES = (" please", "!", ".", " now", " for me", "?")


def _person_object(desc: ObjDesc, rng: np.random.Generator) -> str:
    article = ("the", "the", "the", "a", "")[int(rng.integers(5))]
    size = "" if desc.size is None else str(rng.choice(SIZE_WORDS[desc.size]))
    words = [size, str(rng.choice(COLOR_WORDS[desc.color])), str(rng.choice(SHAPE_WORDS[desc.shape]))]
    words = [w for w in words if w]
    if article:
        words.insert(0, "an" if article == "a" and words[0][0] in "aeiou" else article)
    return " ".join(words)


def person_sentence(goal: Goal, rng: np.random.Generator) -> str:
    """``goal`` as a person might type it: one of its :attr:`~Goal.person_templates` with a verb, object, zone and
    relation words drawn from the lexicon's synonyms, articles sometimes dropped, a polite prefix or an ending
    sometimes added; never one of the goal's training or paraphrase sentences."""
    seen = {goal.surface(t) for t in (*goal.train_templates, *goal.paraphrase_templates)}
    for _ in range(20):
        template = str(rng.choice(goal.person_templates))
        fields = {"v": str(rng.choice(goal.person_verbs))}
        for key in re.findall(r"\{(\w+)\}", template):
            if key in _DESCRIBED:
                fields[key] = _person_object(getattr(goal, _DESCRIBED[key]), rng)
            elif key == "z":
                article = ("the ", "the ", "")[int(rng.integers(3))]
                fields[key] = f"{article}{rng.choice(COLOR_WORDS[goal.zone])} {rng.choice(ZONE_WORDS[:6])}"  # type: ignore[attr-defined]
            elif key == "rel":
                fields[key] = str(rng.choice(RELATION_WORDS[goal.relation]))  # type: ignore[attr-defined]
        text = template.format(**fields)
        if template.startswith("{v}") and rng.random() < 0.4:
            text = str(rng.choice(_PREFIXES)) + text
        if rng.random() < 0.4:
            text += str(rng.choice(_SUFFIXES))
        if rng.random() < 0.5:
            text = text[0].upper() + text[1:]
        if " ".join(tokenizer.words(re.sub(r"[!?.]", "", text))) not in seen:
            return text
    raise RuntimeError(f"no person sentence for {goal} differs from its training sentences")  # pragma: no cover
