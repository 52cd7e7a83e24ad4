"""Command lines from configuration dataclasses: one generator for every Groundworld command.

A configuration is a tree of dataclasses (``TrainConfig`` holds ``SACConfig``, ``MBPOConfig``, ...),
each field documented once, by the docstring under it. :func:`build_parser` turns the tree into
flags:

- every field gets its dotted name (``--sac.tau``, ``--mbpo.model-epochs``);
- a field whose name is unique in the tree also gets the flat name (``--tau``); a field may claim
  another flat name in its metadata (``field(metadata={"flat": "bc-epochs"})``) or none (``None``), and
  ``{"cli": False}`` keeps a field off the command line, and ``{"flat": None}`` on a nested config keeps
  all of its values to their dotted names;
- the type annotation gives the parsing: ``int``, ``float``, ``str``, ``bool``
  (``--compile``/``--no-compile``), ``tuple[int, ...]`` (several values), ``X | None`` (``none``
  gives None), ``Literal[...]`` (the choices), and ``Annotated[int, Positive]``-style bounds
  (:class:`Range`), which :func:`validate` checks for the Python API as well;
- ``--preset NAME`` applies a named set of values first; flags given after it win.

Mistakes raise :class:`~envs.errors.UsageError`; :func:`run` prints one line and returns 2
(``--debug`` shows the traceback). This module needs neither torch nor MuJoCo, so every layer's
command line (``envs.record`` included) uses it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import math
import sys
import textwrap
import traceback
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from envs.errors import UsageError

Path_ = tuple[str, ...]
"""A field's place in the tree, e.g. ("sac", "encoder", "heads")."""
REQUIRED = dataclasses.MISSING
"""The default of a field without one: its flag must be given."""


# -------------------------------------------------------------------- bounds
@dataclass(frozen=True)
class Range:
    """Allowed values of a number: ``low`` and ``high`` (None: unbounded), each end open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


Positive = Range(0, None, low_open=True)
NonNegative = Range(0, None)
Fraction = Range(0, 1)
"""[0, 1]."""
OpenFraction = Range(0, 1, low_open=True, high_open=True)
"""(0, 1)."""
Discount = Range(0, 1, high_open=True)
"""[0, 1): a discount factor."""


# -------------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Leaf:
    """One configurable value of a dataclass tree."""

    path: Path_
    kind: type
    """int, float, str or bool (the element type for tuples)."""
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    bound: Range | None = None
    sequence: bool = False
    """A tuple of values (``nargs="+"``)."""
    optional: bool = False
    """None is allowed (written ``none`` on the command line)."""
    flat: str | None = None
    """The flat flag name (without ``--``), if it has one."""

    @property
    def dotted(self) -> str:
        return ".".join(p.replace("_", "-") for p in self.path)

    @property
    def flag(self) -> str:
        """The name messages use: the flat flag where there is one."""
        return f"--{self.flat or self.dotted}"


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (and its bases), joined to one line."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (e.g. a frozen binary): fall back to metadata help
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:], strict=False):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                    docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def _unwrap(hint: Any) -> tuple[Any, Range | None]:
    if get_origin(hint) is typing.Annotated:
        base, *extra = get_args(hint)
        return base, next((e for e in extra if isinstance(e, Range)), None)
    return hint, None


def _leaf(path: Path_, hint: Any, default: Any, doc: str, metadata: Mapping[str, Any]) -> Leaf:
    hint, bound = _unwrap(hint)
    optional = False
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        optional = True
        (hint,) = (a for a in get_args(hint) if a is not type(None))
        hint, bound = _unwrap(hint) if bound is None else (hint, bound)
    choices, sequence = None, False
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        hint = type(choices[0])
    if get_origin(hint) is tuple:
        sequence = True
        hint, inner_bound = _unwrap(get_args(hint)[0])
        bound = bound or inner_bound
    if hint not in (int, float, str, bool):
        raise TypeError(
            f"config field {'.'.join(path)} has type {hint!r}; the command line reads int, float, str, bool"
        )
    return Leaf(path, hint, default, doc or metadata.get("help", ""), choices, bound, sequence, optional)


def leaves(cls: type, prefix: Path_ = ()) -> list[Leaf]:
    """Every configurable value under dataclass ``cls``, depth first, with flat names assigned."""
    found = _leaves(cls, prefix)
    counts: dict[str, int] = {}
    for leaf, meta in found:
        if "flat" not in meta:  # a field that names its own flat flag does not compete for its field name
            counts[leaf.path[-1]] = counts.get(leaf.path[-1], 0) + 1
    claimed = {meta["flat"] for _, meta in found if meta.get("flat")}
    out = []
    for leaf, meta in found:
        if "flat" in meta:
            flat = meta["flat"]
        else:
            name = leaf.path[-1].replace("_", "-")
            flat = name if counts[leaf.path[-1]] == 1 and name not in claimed else None
        if len(leaf.path) == 1 and flat is None and "flat" not in meta:
            flat = leaf.path[0].replace("_", "-")  # top-level fields always keep their own name
        out.append(dataclasses.replace(leaf, flat=flat))
    return out


def _leaves(cls: type, prefix: Path_, flat: bool = True) -> list[tuple[Leaf, Mapping[str, Any]]]:
    """(leaf, its field's metadata) under ``cls``; below a nested field with ``{"flat": None}`` no leaf
    gets a flat name (its values keep only their dotted names, and take no flat name from others)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = field_docs(cls)
    out: list[tuple[Leaf, Mapping[str, Any]]] = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_") or f.metadata.get("cli") is False:
            continue
        hint = hints[f.name]
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        if dataclasses.is_dataclass(_unwrap(hint)[0]):
            nested_flat = flat and not ("flat" in f.metadata and f.metadata["flat"] is None)
            out += _leaves(_unwrap(hint)[0], (*prefix, f.name), nested_flat)
        else:
            meta = f.metadata if flat else {**f.metadata, "flat": None}
            out.append((_leaf((*prefix, f.name), hint, default, docs.get(f.name, ""), meta), meta))
    return out


def get(config: Any, path: Path_) -> Any:
    for name in path:
        config = getattr(config, name)
    return config


def replace(config: Any, values: Mapping[Path_, Any]) -> Any:
    """A copy of ``config`` with the values at the given paths replaced (nested copies, no mutation)."""
    changes: dict[str, Any] = {}
    nested: dict[str, dict[Path_, Any]] = {}
    for path, value in values.items():
        if len(path) == 1:
            changes[path[0]] = value
        else:
            nested.setdefault(path[0], {})[path[1:]] = value
    for name, inner in nested.items():
        changes[name] = replace(getattr(config, name), inner)
    return dataclasses.replace(config, **changes)


# -------------------------------------------------------------------- checks and files
def validate(config: Any) -> None:
    """Check every value of the tree against its type, choices and bounds; raise :class:`UsageError`."""
    for leaf in leaves(type(config)):
        value = get(config, leaf.path)
        if value is None and leaf.optional:
            continue
        for item in value if leaf.sequence else (value,):
            _check(leaf, item)
        if leaf.sequence and not value and leaf.default:  # a list that may be empty has an empty default
            raise UsageError(f"{leaf.flag} needs at least one value")


def _check(leaf: Leaf, value: Any) -> None:
    kind = leaf.kind
    ok_type = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok_type = True
    if not ok_type:
        raise UsageError(f"{leaf.flag} must be {_kind_name(leaf)}, got {value!r}")
    if leaf.choices is not None and value not in leaf.choices:
        raise UsageError(f"{leaf.flag} must be one of {', '.join(map(str, leaf.choices))}; got {value!r}")
    if leaf.bound is not None and not leaf.bound.holds(value):
        raise UsageError(f"{leaf.flag} must be {leaf.bound.describe()}, got {value!r}")


def _kind_name(leaf: Leaf) -> str:
    name = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[leaf.kind]
    return f"{name} (or none)" if leaf.optional else name


def to_dict(config: Any) -> dict[str, Any]:
    """The tree as plain JSON-ready data (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(cls: type, data: Mapping[str, Any], source: str = "config") -> Any:
    """Dataclass ``cls`` from :func:`to_dict` data; unknown keys are a :class:`UsageError` naming ``source``.

    A field missing from ``data`` takes its value from ``cls.SAVED_DEFAULTS`` if that names it (a field added after
    configs were saved, whose new default would change what an old saved config means), else its default."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{source}: expected a mapping of config fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UsageError(f"{source}: unknown {cls.__name__} field(s) {unknown}; known: {sorted(names)}")
    values = {}
    data = {**getattr(cls, "SAVED_DEFAULTS", {}), **data}
    for name, value in data.items():
        base = _unwrap(hints[name])[0]
        if dataclasses.is_dataclass(base):
            values[name] = from_dict(base, value, f"{source}: {name}")
        else:
            values[name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


# -------------------------------------------------------------------- the command line
class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes raise :class:`UsageError` (printed as one line by :func:`run`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("allow_abbrev", False)  # "--eval" must not silently mean "--eval-every"
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", default=False, help="show tracebacks of usage errors")

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _parse_value(leaf: Leaf) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if leaf.optional and text.lower() == "none":
            return None
        if leaf.kind is int:
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if leaf.kind is float:
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        return text

    parse.__name__ = leaf.kind.__name__
    return parse


def _help(leaf: Leaf) -> str:
    first = leaf.doc.split(". ")[0].rstrip(".") if leaf.doc else ""
    if leaf.default is REQUIRED:
        return f"{first} (required)".replace("%", "%%")
    default = " ".join(map(str, leaf.default)) if leaf.sequence else leaf.default
    return f"{first} (default: {default})".replace("%", "%%")


def _metavar(leaf: Leaf) -> str | None:
    if leaf.choices:
        return None  # argparse shows the choices
    return {int: "INT", float: "X", str: "TEXT"}[leaf.kind]


def add_config(parser: argparse.ArgumentParser, cls: type, prefix: Path_ = ()) -> list[Leaf]:
    """Add a flag for every value under ``cls`` (absent from the parsed namespace unless given)."""
    tree = leaves(cls, prefix)
    for leaf in tree:
        names = [f"--{leaf.dotted}"] + ([f"--{leaf.flat}"] if leaf.flat and leaf.flat != leaf.dotted else [])
        names.sort(key=lambda n: "." in n)  # the flat name first in --help
        common: dict[str, Any] = {"dest": ".".join(leaf.path), "default": argparse.SUPPRESS, "help": _help(leaf)}
        if leaf.default is REQUIRED:
            common["required"] = True
        if leaf.kind is bool:
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
        elif leaf.sequence:
            parser.add_argument(  # "--x 1 2" or "--x 1 --x 2"
                *names, type=_parse_value(leaf), nargs="+", action="extend", metavar=_metavar(leaf), **common
            )
        else:
            choices = list(leaf.choices) + ([None] if leaf.optional else []) if leaf.choices else None
            parser.add_argument(*names, type=_parse_value(leaf), choices=choices, metavar=_metavar(leaf), **common)
    return tree


def given_values(namespace: argparse.Namespace, tree: Sequence[Leaf]) -> dict[Path_, Any]:
    """The values the user gave (flags not given are absent), by path; tuples for sequences."""
    args = vars(namespace)
    out = {}
    for leaf in tree:
        key = ".".join(leaf.path)
        if key in args:
            out[leaf.path] = tuple(args[key]) if leaf.sequence else args[key]
    return out


def preset_values(presets: Mapping[str, Mapping[str, Any]], name: str, tree: Sequence[Leaf]) -> dict[Path_, Any]:
    """The values of preset ``name``; its keys are flat or dotted field names ("utd", "sac.tau")."""
    if name not in presets:
        raise UsageError(f"unknown preset {name!r}; presets are {', '.join(sorted(presets))}")
    by_name = {leaf.flat: leaf for leaf in tree if leaf.flat}
    by_name.update({".".join(leaf.path): leaf for leaf in tree})
    out = {}
    for key, value in presets[name].items():
        leaf = by_name.get(key.replace("-", "_")) or by_name.get(key.replace("_", "-"))
        if leaf is None:
            raise UsageError(f"preset {name!r} sets {key!r}, which is not a config field")
        out[leaf.path] = tuple(value) if leaf.sequence else value
    return out


def build(cls: type, values: Mapping[Path_, Any], prefix: Path_ = ()) -> Any:
    """Dataclass ``cls`` with the given values (by path) over its defaults, nested dataclasses included."""
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        path = (*prefix, f.name)
        base = _unwrap(hints[f.name])[0]
        if dataclasses.is_dataclass(base) and path not in values:
            kwargs[f.name] = build(base, values, path)
        elif path in values:
            kwargs[f.name] = values[path]
    return cls(**kwargs)


def parse(
    cls: type,
    argv: Sequence[str] | None,
    prog: str,
    description: str = "",
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Any, dict[Path_, Any]]:
    """Parse ``argv`` into dataclass ``cls`` (defaults, then ``--preset``, then the flags given); validate it.

    Returns the config and the values the flags gave (by path)."""
    parser = Parser(prog=prog, description=description)
    if presets is not None:
        parser.add_argument("--preset", default="", help=f"start from a named set of values: {', '.join(presets)}")
    tree = add_config(parser, cls)
    namespace = parser.parse_args(argv)
    given = given_values(namespace, tree)
    values = dict(preset_values(presets, namespace.preset, tree)) if presets and namespace.preset else {}
    values.update(given)
    config = build(cls, values)
    validate(config)
    if hasattr(config, "validate"):
        config.validate()
    return config, given


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; a :class:`UsageError` becomes one ``error:`` line on stderr and status 2.

    With ``--debug`` in ``argv`` the usage error keeps its traceback. Any other exception is not
    caught: it is a bug, and its traceback is what a report needs."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return main(argv)
    except UsageError as exc:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
