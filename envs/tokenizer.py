"""A fixed, versioned word-level tokenizer for Groundworld instructions.

The vocabulary is written out here, not derived from the templates, so token ids never
change silently: a change to it bumps :data:`TOKENIZER_VERSION`, and checkpoints that store
the version can refuse to load against another one. Id 0 is padding. Text is lower-cased
and split into words and commas; any other character or an unknown word is an error that
names it.
"""

from __future__ import annotations

import re

import numpy as np

TOKENIZER_VERSION = 1
MAX_TOKENS = 16
PAD = "<pad>"

VOCAB: tuple[str, ...] = (
    PAD,
    ",",
    # attributes
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "cube",
    "ball",
    "cylinder",
    "small",
    "large",
    # function words
    "the",
    "to",
    "into",
    "in",
    "of",
    "off",
    "on",
    "with",
    "and",
    "then",
    "first",
    "before",
    "after",
    "your",
    "it",
    "is",
    "over",
    "up",
    "should",
    "end",
    # verbs and nouns
    "go",
    "move",
    "navigate",
    "get",
    "find",
    "head",
    "goal",
    "push",
    "put",
    "place",
    "shove",
    "belongs",
    "zone",
    "touch",
    "reach",
    "for",
    "finger",
    "make",
    "contact",
    "visit",
    "left",
    "right",
    "front",
    "behind",
    "knock",
    "fall",
    "table",
)
WORD_TO_ID: dict[str, int] = {w: i for i, w in enumerate(VOCAB)}
VOCAB_SIZE = len(VOCAB)
_TOKEN = re.compile(r"[a-z]+|,")
_ALLOWED = re.compile(r"[a-z,.!\s]*")


def words(text: str) -> list[str]:
    """Split ``text`` into lower-case words and commas; other punctuation is an error."""
    lowered = text.lower().strip()
    if not _ALLOWED.fullmatch(lowered):
        bad = sorted({c for c in lowered if not _ALLOWED.fullmatch(c)})
        raise ValueError(f"instruction {text!r} has characters the tokenizer cannot read: {bad}")
    return _TOKEN.findall(lowered)


def encode(text: str, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Token ids of ``text`` as int64, padded with 0 to ``max_tokens``."""
    ids = np.zeros(max_tokens, dtype=np.int64)
    tokens = words(text)
    if len(tokens) > max_tokens:
        raise ValueError(f"instruction {text!r} has {len(tokens)} tokens; at most {max_tokens} fit")
    for i, word in enumerate(tokens):
        if word not in WORD_TO_ID:
            raise ValueError(
                f"unknown word {word!r} in instruction {text!r}; "
                f"tokenizer v{TOKENIZER_VERSION} knows {VOCAB_SIZE - 1} words"
            )
        ids[i] = WORD_TO_ID[word]
    return ids


def decode(ids: np.ndarray) -> str:
    """Text of token ids (padding dropped); commas attach to the previous word."""
    out = " ".join(VOCAB[int(i)] for i in np.asarray(ids).ravel() if int(i) != 0)
    return out.replace(" ,", ",")
