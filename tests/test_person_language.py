"""Instructions as a person types them: how many the parser understands, and that it guesses at none.

The word lists and sentence frames below are written independently of the parser's lexicon (the test
never imports it): they are how people phrase these instructions. The bars are rates, so each grammar
is sampled a fixed number of times with a seeded generator; hypothesis checks the properties that must
hold for every sentence (an accepted sentence sets the goal it names; a refusal names the unknown word).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.errors import UsageError
from envs.language import GoTo, KnockOff, ObjDesc, PushInto, Relate, Sequence, Touch, parse, understand

KINDS = ("goto", "touch", "push", "relate", "sequence", "knockoff")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("cube", "ball", "cylinder")
SIZES = (None, None, "small", "large")

# -- how people say it -------------------------------------------------------------------------------
SHAPE_WORDS = {"cube": ("cube", "box", "block"), "ball": ("ball", "sphere"), "cylinder": ("cylinder", "can")}
SIZE_WORDS = {None: ("",), "small": ("small", "little", "tiny"), "large": ("large", "big")}
ARTICLES = ("the", "the", "the", "a", "")
ZONE_WORDS = ("zone", "area", "circle", "region")


def some(text: str) -> tuple[str, ...]:
    """The ``|``-separated phrases of ``text``, kept as typed (spaces and punctuation included)."""
    return tuple(text.split("|"))


OPENERS = some("||||please, |now, |ok, |okay, |hey, |hey robot, |robot, |next, |alright, ")  # before any sentence
PREFIXES = (
    *OPENERS,
    *some(
        "please |now |could you |could you please |can you |would you |i want you to "
        "|i'd like you to |go ahead and |let's |try to "
    ),
)  # only before a leading verb
SUFFIXES = some(
    "||| please|, please|!|.|?| now| now please| for me| for me, please| thanks|, thanks!| thank you"
    "| please!| right now|..."
)
FRONTED = some("with|after|before|into|in|to|onto|inside|left|right|on|behind")  # a clause's first words
CASES = (lambda s: s, lambda s: s, lambda s: s[:1].upper() + s[1:], str.upper)

GO_VERBS = some(
    "go to|go over to|go up to|go towards|head to|head over to|head toward|head towards|drive to"
    "|drive over to|drive up to|roll to|roll over to|move to|move towards|move over to|approach"
    "|navigate to|make your way to|get close to"
)
GO_FRAMES = (("{v} {o}", GO_VERBS), ("{v} where {o} is", some("go to|head to|drive to|move to")))

TOUCH_VERBS = tuple(
    tuple(verb.split("/"))
    for verb in some(  # the verb, and its -ing form
        "touch/touching|tap/tapping|poke/poking|reach/reaching|reach for/reaching for"
        "|reach out and touch/reaching out and touching|put your finger on/putting your finger on"
        "|make contact with/making contact with"
    )
)
FINGER_VERBS = TOUCH_VERBS[:3]
TOUCH_FRAMES = tuple(
    (frame, TOUCH_VERBS if frame == "{v} {o}" else FINGER_VERBS)
    for frame in some(
        "{v} {o}|{v} {o} with your finger|{v} {o} with your fingertip|with your fingertip, {v} {o}"
        "|use your finger to {v} {o}|reach out and {v} {o}"
    )
)

PUSH_VERBS = some("push|shove|nudge|roll|move|slide|put|get|bring|take")
SLIDE_VERBS = PUSH_VERBS[:6]
INTO = some("into|in|to|onto|inside")
PUSH_FRAMES = (("{v} {o} {p} {z}", PUSH_VERBS), ("{p} {z}, {v} {o}", PUSH_VERBS), ("{v} {o} over {p} {z}", SLIDE_VERBS))

RELATE_VERBS = (*PUSH_VERBS, "place", "position")
RELATIONS = {
    "left of": some("left of|to the left of|on the left of|on the left side of|to the left side of"),
    "right of": some("right of|to the right of|on the right of|on the right side of|to the right side of"),
    "in front of": some("in front of|to the front of"),
    "behind": some("behind|in back of|to the back of"),
}
RELATE_FRAMES = (
    *(
        (frame, RELATE_VERBS)
        for frame in some(
            "{v} {o} {rel} {r}|{rel} {r}, {v} {o}|{v} {o} so that it is {rel} {r}|{v} {o} so it's {rel} {r}"
        )
    ),
    ("{v} {o} until it is {rel} {r}", SLIDE_VERBS),
)

SEQUENCE_FRAMES = some(  # {t}, {t2}: touch verbs; {t2g}: the second one's -ing form
    "{t} {a}, then {b}|{t} {a} then {b}|{t} {a}, then {t2} {b}|{t} {a} and then {b}|{t} {a} and then {t2} {b}"
    "|{t} {a} first, then {b}|first {t} {a}, then {t2} {b}|first {t} {a} and then {b}|{t} {a}, and after that {b}"
    "|{t} {a}, after that {t2} {b}|{t} {a} followed by {b}|{t} {a} first and {b} second"
    "|{t} {a} and {b}, in that order|{t} {b} after {a}|{t} {b} after {t2g} {a}|{t} {b} after you {t2} {a}"
    "|after {a}, {t} {b}|after {t2g} {a}, {t} {b}|after you {t2} {a}, {t} {b}|{t} {a} before {b}"
    "|{t} {a} before {t2g} {b}|{t} {a} before you {t2} {b}|before {b}, {t} {a}|before {t2g} {b}, {t} {a}"
    "|before you {t2} {b}, {t} {a}"
)

KNOCK_VERBS = some("knock|push|shove|nudge|roll|slide|sweep|bump|tip")
OFF = some(
    "off the table|off the edge|off the edge of the table|off the side of the table|off of the table"
    "|onto the floor|to the floor|off the table onto the floor|off the tabletop"
)
KNOCK_FRAMES = (
    ("{v} {o} {off}", KNOCK_VERBS),
    *((frame, ("",)) for frame in some("knock off {o}|knock {o} off|make {o} fall {off}")),
)

# -- what Groundworld does not have (the negative set) ------------------------------------------------
ODD_COLORS = some(
    "crimson|pink|teal|black|white|brown|grey|gray|cyan|magenta|maroon|navy|scarlet|turquoise"
    "|indigo|beige|gold|silver|lime"
)
ODD_SHAPES = some("pyramid|cone|star|torus|ring|disc|prism|triangle|tetrahedron|donut|capsule|egg|plate|hexagon|heart")
ODD_ACTIONS = some(  # the first word is the one the refusal must name
    "pick up {o}|lift {o}|stack {o} on {r}|stack {o} on top of {r}|rotate {o}|paint {o} blue|grab {o}|throw {o}"
    "|spin {o}|flip {o}|squeeze {o}|kick {o}|hide {o}|hold {o}|open {o}|shake {o}|carry {o} to {z}"
    "|lift {o} into {z}|pick up {o} and put it in {z}|wash {o}|look at {o}|balance {o} on {r}|turn {o} around"
)


def join(*words: str) -> str:
    return " ".join(w for w in words if w)


def obj(pick, desc: ObjDesc, swap: tuple[str, str] | None = None) -> str:
    color, shape = desc.color, pick(SHAPE_WORDS[desc.shape])
    if swap:
        color, shape = (swap[1], shape) if swap[0] == "color" else (color, swap[1])
    noun = join(pick(SIZE_WORDS[desc.size]), color, shape)
    article = pick(ARTICLES)
    return join("an" if article == "a" and noun[0] in "aeiou" else article, noun)


def zone(pick, color: str) -> str:
    return join(pick(("the", "the", "")), color, pick(ZONE_WORDS))


def describe(pick, other: ObjDesc | None = None) -> ObjDesc:
    pairs = [(c, s) for c in COLORS for s in SHAPES if other is None or (c, s) != other.pair]
    return ObjDesc(*pick(pairs), pick(SIZES))


def sentence(kind: str, pick, swap: tuple[str, str] | None = None) -> tuple[str, object]:
    """A person's sentence for a goal of ``kind``, and that goal; ``swap`` replaces the (first) object's colour or
    shape word (or, as ``("zone", word)``, a push's zone colour) with a word Groundworld lacks."""
    a = describe(pick)
    b = describe(pick, a)
    o = obj(pick, a, swap if swap and swap[0] != "zone" else None)
    if kind in ("goto", "touch", "knockoff"):
        frame, verbs = pick({"goto": GO_FRAMES, "touch": TOUCH_FRAMES, "knockoff": KNOCK_FRAMES}[kind])
        verb = pick(verbs)
        text = frame.format(v=verb[0] if kind == "touch" else verb, o=o, off=pick(OFF))
        goal = {"goto": GoTo, "touch": Touch, "knockoff": KnockOff}[kind](obj=a)
    elif kind == "push":
        frame, verbs = pick(PUSH_FRAMES)
        color = pick(COLORS)
        z = zone(pick, swap[1] if swap and swap[0] == "zone" else color)
        text, goal = frame.format(v=pick(verbs), o=o, p=pick(INTO), z=z), PushInto(obj=a, zone=color)
    elif kind == "relate":
        frame, verbs = pick(RELATE_FRAMES)
        relation = pick(tuple(RELATIONS))
        text = frame.format(v=pick(verbs), o=o, rel=pick(RELATIONS[relation]), r=obj(pick, b))
        goal = Relate(obj=a, relation=relation, ref=b)
    else:
        frame, (t, _), (t2, t2g) = pick(SEQUENCE_FRAMES), pick(TOUCH_VERBS), pick(TOUCH_VERBS)
        text, goal = frame.format(t=t, t2=t2, t2g=t2g, a=o, b=obj(pick, b)), Sequence(first=a, second=b)
    return person(pick, text), goal


def person(pick, text: str) -> str:
    """``text`` as a person types it: an opener or a polite lead-in, a sign-off, any case."""
    fronted = text.split(" ")[0] in FRONTED  # "into the green zone, push ...": no "could you" before it
    return pick(CASES)(pick(OPENERS if fronted else PREFIXES) + text + pick(SUFFIXES))


def odd_sentence(pick) -> tuple[str, str | None, tuple[str, ...] | None]:
    """A sentence that must be refused: (text, the word it must name or None, the kinds it is parsed under)."""
    what = pick(("color", "shape", "zone", "action", "other task"))
    if what in ("color", "shape", "zone"):
        word = pick({"color": ODD_COLORS, "shape": ODD_SHAPES, "zone": ODD_COLORS}[what])
        text, _ = sentence("push" if what == "zone" else pick(KINDS), pick, (what, word))
        return text, word, None
    if what == "action":
        frame = pick(ODD_ACTIONS)
        word = frame.split(" ")[0]
        a = describe(pick)
        text = frame.format(o=obj(pick, a), r=obj(pick, describe(pick, a)), z=zone(pick, pick(COLORS)))
        return person(pick, text), word, None
    kind = pick(KINDS)
    text, _ = sentence(kind, pick)
    return text, None, (pick(tuple(k for k in KINDS if k != kind)),)


def reading(text: str, kinds=None):
    """The goal ``text`` is read as, or the refusal's message."""
    try:
        return understand(text, kinds), None
    except UsageError as error:
        return None, str(error)


def rng_pick(seed: int):
    rng = np.random.default_rng(seed)
    return lambda seq: seq[int(rng.integers(len(seq)))]


def draw_pick(draw):
    return lambda seq: draw(st.sampled_from(tuple(seq)))


def report(misses: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {text!r}: {why}" for text, why in dict(misses).items())


# -- the bars -----------------------------------------------------------------------------------------
N_PER_GRAMMAR = 400
N_NEGATIVE = 1500


@pytest.mark.parametrize("kind", KINDS)
def test_person_sentences_are_understood(kind):
    pick = rng_pick(KINDS.index(kind) + 1)
    misses = []
    for _ in range(N_PER_GRAMMAR):
        text, goal = sentence(kind, pick)
        read, why = reading(text)
        if read is None or read.goal != goal:
            misses.append((text, why or f"read as {read.goal}"))
    rate = 1 - len(misses) / N_PER_GRAMMAR
    assert rate >= 0.90, f"{kind}: {rate:.1%} understood; missed:\n{report(misses[:40])}"


def test_nothing_groundworld_lacks_is_accepted():
    pick = rng_pick(99)
    accepted = []
    for _ in range(N_NEGATIVE):
        text, _, kinds = odd_sentence(pick)
        read, _ = reading(text, kinds)
        if read is not None:
            accepted.append((text, f"accepted under {kinds} as {read.goal}"))
    rate = len(accepted) / N_NEGATIVE
    assert rate <= 0.02, f"{rate:.1%} accepted:\n{report(accepted[:40])}"


# -- properties of every sentence ---------------------------------------------------------------------
@st.composite
def person_sentences(draw):
    pick = draw_pick(draw)
    kind = pick(KINDS)
    return (kind, *sentence(kind, pick))


@settings(max_examples=300, deadline=None)
@given(person_sentences())
def test_an_accepted_sentence_sets_the_goal_it_names(case):
    kind, text, goal = case
    read, _ = reading(text)
    if read is not None:
        assert read.goal == goal, text
        assert parse(read.words) == goal, (text, read.words)  # the observation's words say the same
        assert understand(text, (kind,)).goal == goal  # naming the task's kind changes nothing


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_refusal_names_the_word_it_could_not_place(data):
    text, word, kinds = odd_sentence(draw_pick(data.draw))
    read, why = reading(text, kinds)
    if read is None:
        assert "\n" not in why
        if word is not None:  # the word itself, not only inside the quoted sentence
            rest = why.replace(repr(text.strip()), "").lower()
            assert word in rest, (text, why)
