"""The instruction grammar, splits and tokenizer."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import language, tokenizer
from envs.errors import UsageError
from envs.language import (
    GOAL_TYPES,
    HELDOUT_PAIRS,
    GoTo,
    KnockOff,
    ObjDesc,
    PushInto,
    Relate,
    SceneView,
    Sequence,
    Status,
    Touch,
    parse,
)
from envs.scene import COLOR_NAMES, SHAPES, SIZE_NAMES, TABLE_TOP, ObjectSpec, ZoneSpec

descs = st.builds(ObjDesc, st.sampled_from(COLOR_NAMES), st.sampled_from(SHAPES), st.sampled_from((None, *SIZE_NAMES)))


@st.composite
def goals(draw):
    goal_type = draw(st.sampled_from(GOAL_TYPES))
    a = draw(descs)
    b = draw(descs.filter(lambda d: d.pair != a.pair))  # a sentence names two different objects
    if goal_type is PushInto:
        return PushInto(obj=a, zone=draw(st.sampled_from(COLOR_NAMES)))
    if goal_type is Relate:
        return Relate(obj=a, relation=draw(st.sampled_from(list(language.RELATION_AXES))), ref=b)
    if goal_type is Sequence:
        return Sequence(first=a, second=b)
    return goal_type(obj=a)


def all_templates(goal_type):
    return (*goal_type.train_templates, *goal_type.paraphrase_templates)


@settings(max_examples=300, deadline=None)
@given(goals(), st.data())
def test_parse_inverts_every_template(goal, data):
    template = data.draw(st.sampled_from(all_templates(type(goal))))
    text = goal.surface(template)
    assert parse(text) == goal
    assert parse(text.upper() + ".") == goal  # case and a full stop do not matter


@settings(max_examples=200, deadline=None)
@given(goals(), st.data())
def test_tokenizer_round_trip(goal, data):
    text = goal.surface(data.draw(st.sampled_from(all_templates(type(goal)))))
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (tokenizer.MAX_TOKENS,)
    assert tokenizer.decode(ids) == text


def test_every_template_word_is_in_the_vocabulary_and_fits():
    longest = ObjDesc("purple", "cylinder", "large")
    for goal_type in GOAL_TYPES:
        for template in all_templates(goal_type):
            for word in tokenizer.words(template.replace("{", " ").replace("}", " ")):
                if word not in {"o", "z", "r", "rel", "a", "b"}:
                    assert word in tokenizer.WORD_TO_ID, (template, word)
    for text in (Relate(obj=longest, relation="in front of", ref=longest).surface(t) for t in all_templates(Relate)):
        assert len(tokenizer.words(text)) <= tokenizer.MAX_TOKENS


def test_tokenizer_is_versioned_and_fixed():
    assert tokenizer.TOKENIZER_VERSION == 1
    assert tokenizer.VOCAB[0] == tokenizer.PAD and len(set(tokenizer.VOCAB)) == tokenizer.VOCAB_SIZE
    # ids are part of saved models: the vocabulary of v1 must never change without a version bump
    assert hashlib.sha256("\n".join(tokenizer.VOCAB).encode()).hexdigest()[:16] == "80b82540c8191c08"


def test_unknown_words_and_characters_are_named():
    with pytest.raises(ValueError, match="unknown word 'teal'"):
        tokenizer.encode("go to the teal cube")
    with pytest.raises(ValueError, match=r"cannot read: \['3'\]"):
        tokenizer.encode("go to cube 3")
    with pytest.raises(ValueError, match="at most 16 fit"):
        tokenizer.encode("the " * 17)
    with pytest.raises(ValueError, match="cannot follow 'cube the red to go'; understood: <\\?> the <\\?> to go"):
        parse("cube the red to go")


def test_parse_restricted_to_kinds():
    assert isinstance(parse("touch the red cube", kinds=("touch",)), Touch)
    with pytest.raises(ValueError, match="that is a touch goal .*; this task takes a go-to goal"):
        parse("touch the red cube", kinds=("goto",))


def test_paraphrase_order_is_understood():
    goal = parse("touch the red cube after the blue ball")
    assert goal == Sequence(first=ObjDesc("blue", "ball"), second=ObjDesc("red", "cube"))


# ---------------------------------------------------------------- splits
def _goal_of(goal_type, d):
    if goal_type is PushInto:
        return PushInto(obj=d[0], zone="green")
    if goal_type is Relate:
        return Relate(obj=d[0], relation="behind", ref=d[1])
    if goal_type is Sequence:
        return Sequence(first=d[0], second=d[1])
    return goal_type(obj=d[0])


def _instructions(kind_type, split, seeds=300):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(seeds):
        pairs = language.sample_pairs(rng, kind_type.kind, split, 2 if kind_type in (Relate, Sequence) else 1)
        goal = _goal_of(kind_type, [ObjDesc(c, s) for c, s in pairs])
        out.append((goal, goal.render(rng, split)))
    return out


@pytest.mark.parametrize("goal_type", GOAL_TYPES, ids=lambda g: g.kind)
def test_train_and_heldout_goal_sets_are_disjoint(goal_type):
    train = {g.descriptions() for g, _ in _instructions(goal_type, "train")}
    heldout = {g.descriptions() for g, _ in _instructions(goal_type, "heldout")}
    assert train.isdisjoint(heldout)
    assert all(not any(d.pair in HELDOUT_PAIRS[goal_type.kind] for d in ds) for ds in train)
    assert all(any(d.pair in HELDOUT_PAIRS[goal_type.kind] for d in ds) for ds in heldout)


@pytest.mark.parametrize("goal_type", GOAL_TYPES, ids=lambda g: g.kind)
def test_heldout_vocabulary_is_covered_by_training(goal_type):
    train_words = {w for _, text in _instructions(goal_type, "train") for w in tokenizer.words(text)}
    heldout_words = {w for _, text in _instructions(goal_type, "heldout") for w in tokenizer.words(text)}
    assert heldout_words <= train_words


@pytest.mark.parametrize("goal_type", GOAL_TYPES, ids=lambda g: g.kind)
def test_heldout_attributes_appear_in_training_with_other_partners(goal_type):
    held = HELDOUT_PAIRS[goal_type.kind]
    train = set(language.train_pairs(goal_type.kind))
    assert held and held.isdisjoint(train)
    for color, shape in held:
        assert any(c == color for c, _ in train) and any(s == shape for _, s in train)


@pytest.mark.parametrize("goal_type", GOAL_TYPES, ids=lambda g: g.kind)
def test_paraphrase_sentence_forms_are_never_trained(goal_type):
    train_texts = {text for _, text in _instructions(goal_type, "train")}
    for goal, text in _instructions(goal_type, "paraphrase", seeds=50):
        assert not goal.heldout
        assert text not in {goal.surface(t) for t in goal_type.train_templates}
        assert text not in train_texts


# ---------------------------------------------------------------- verification
def _view(positions, objects, effector=(0.0, 0.0), zones=()):
    pos = np.array([[x, y, z] for x, y, z in positions], dtype=float)
    return SceneView(
        objects=objects,
        zones=list(zones),
        object_pos=pos,
        effector_pos=np.array([effector[0], effector[1], TABLE_TOP + 0.05]),
        effector_radius=0.05,
    )


RED_CUBE, BLUE_BALL = ObjectSpec("red", "cube", "small"), ObjectSpec("blue", "ball", "large")
ON = TABLE_TOP + 0.03


def test_goto_verifies_contact_range():
    goal = GoTo(obj=ObjDesc("red", "cube"))
    goal.bind([BLUE_BALL, RED_CUBE], [])
    assert goal.targets == [1]
    far = _view([(0.3, 0.3, ON), (0.3, 0.0, ON)], [BLUE_BALL, RED_CUBE])
    near = _view([(0.3, 0.3, ON), (0.09, 0.0, ON)], [BLUE_BALL, RED_CUBE])  # gap 0.09-0.03-0.05 = 0.01
    assert goal.verify(far) is Status.CONTINUE and goal.verify(near) is Status.SUCCESS
    fallen = _view([(0.3, 0.3, ON), (0.6, 0.0, 0.1)], [BLUE_BALL, RED_CUBE])
    assert goal.verify(fallen) is Status.FAILURE


def test_sequence_only_succeeds_in_order():
    goal = Sequence(first=ObjDesc("red", "cube"), second=ObjDesc("blue", "ball"))
    objects = [RED_CUBE, BLUE_BALL]
    goal.bind(objects, [])
    at_blue = _view([(0.3, 0.0, ON), (-0.3, 0.0, ON)], objects, effector=(-0.2, 0.0))
    at_red = _view([(0.3, 0.0, ON), (-0.3, 0.0, ON)], objects, effector=(0.22, 0.0))
    assert goal.verify(at_blue) is Status.CONTINUE  # second first: does not count
    assert goal.verify(at_red) is Status.CONTINUE and goal.progress == 1
    assert goal.verify(at_blue) is Status.SUCCESS
    goal.reset()
    assert goal.progress == 0 and goal.verify(at_blue) is Status.CONTINUE


def test_push_and_relation_and_knockoff_verify():
    zone = ZoneSpec("green", (0.2, 0.2))
    push = PushInto(obj=ObjDesc("red", "cube"), zone="green")
    push.bind([RED_CUBE], [zone])
    assert push.verify(_view([(0.25, 0.25, ON)], [RED_CUBE], (0.4, 0.4), [zone])) is Status.SUCCESS
    assert push.verify(_view([(0.0, 0.0, ON)], [RED_CUBE], (0.4, 0.4), [zone])) is Status.CONTINUE
    with pytest.raises(ValueError, match="0 yellow zones"):
        PushInto(obj=ObjDesc("red", "cube"), zone="yellow").bind([RED_CUBE], [zone])

    rel = Relate(obj=ObjDesc("red", "cube"), relation="left of", ref=ObjDesc("blue", "ball"))
    rel.bind([RED_CUBE, BLUE_BALL], [])
    objs = [RED_CUBE, BLUE_BALL]
    assert rel.verify(_view([(-0.2, 0.02, ON), (0.0, 0.0, ON)], objs, effector=(0.4, 0.4))) is Status.SUCCESS
    assert rel.verify(_view([(0.2, 0.0, ON), (0.0, 0.0, ON)], objs, effector=(0.4, 0.4))) is Status.CONTINUE
    assert rel.verify(_view([(-0.2, 0.2, ON), (0.0, 0.0, ON)], objs, effector=(0.4, 0.4))) is Status.CONTINUE

    knock = KnockOff(obj=ObjDesc("red", "cube"))
    knock.bind(objs, [])
    assert knock.verify(_view([(0.6, 0.0, 0.2), (0.0, 0.0, ON)], objs, effector=(0.4, 0.4))) is Status.SUCCESS
    assert knock.verify(_view([(0.0, 0.0, ON), (0.6, 0.0, 0.2)], objs, effector=(0.4, 0.4))) is Status.FAILURE


def test_bind_rejects_scenes_that_cannot_hold_the_goal():
    with pytest.raises(ValueError, match="no objects matching 'the green cube'"):
        GoTo(obj=ObjDesc("green", "cube")).bind([RED_CUBE], [])
    with pytest.raises(ValueError, match="different objects"):
        Sequence(first=ObjDesc("red", "cube"), second=ObjDesc("red", "cube")).bind([RED_CUBE], [])


def test_size_words_restrict_matches():
    assert ObjDesc("red", "cube", "small").matches(RED_CUBE)
    assert not ObjDesc("red", "cube", "large").matches(RED_CUBE)
    assert ObjDesc("red", "cube").matches(RED_CUBE)


def test_every_pair_is_heldout_for_some_kind_and_trained_for_another():
    for pair in itertools.product(COLOR_NAMES, SHAPES):
        kinds_held = [k for k, pairs in HELDOUT_PAIRS.items() if pair in pairs]
        assert 0 < len(kinds_held) < len(HELDOUT_PAIRS)


def test_grammar_errors_are_usage_errors():
    """A user's bad sentence or description is a UsageError (a ValueError) with one clear message."""
    with pytest.raises(UsageError, match="'dragon' is not a shape Groundworld knows: cube, ball, cylinder"):
        parse("go to the red dragon")
    with pytest.raises(UsageError, match="cannot follow 'go to the'; understood: go to the; no object is named"):
        parse("go to the", kinds=("goto",))
    with pytest.raises(UsageError, match="invalid object description"):
        ObjDesc("pink", "cube")
    with pytest.raises(UsageError, match="unknown relation 'above'"):
        Relate(obj=ObjDesc("red", "cube"), relation="above", ref=ObjDesc("blue", "ball"))
