"""Imports flow one way: envs <- groundworld <- world_model <- agents <- bench (<- the console script).

Every module's imports are read from its source, wherever they are (top level or inside a
function), together with ``importlib.import_module("...")`` calls and string constants that name
one of our modules (registry entries, lazy exports). A module may import its own layer or those
below it, never one above, and no chain of imports leads back to where it started.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("envs", "groundworld", "world_model", "agents", "bench")
"""Packages from the bottom up."""
CONSOLE = "groundworld.__main__"
"""The ``groundworld`` console script: the one module above every layer (it dispatches to each)."""
_MODULE_STRING = re.compile(r"(?:" + "|".join(LAYERS) + r")(?:\.\w+)+(?::\w+)?")
"""A string naming one of our modules (dotted: a bare "world_model" is more often a value than a module)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {module_name(p): p for top in LAYERS for p in (ROOT / top).rglob("*.py")}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of string constants that stand alone as statements (docstrings, field docstrings)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every edge out of module ``name``."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = _docstrings(tree)
    found: list[tuple[str, int]] = []

    def add(target: str, line: int) -> None:
        while target and target not in known:  # "agents.training.train" -> "agents.training"
            target = target.rpartition(".")[0]
        if target and target != name:
            found.append((target, line))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base, node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            target = node.value.partition(":")[0]  # "envs.goto:GoToEnv" names envs.goto
            if _MODULE_STRING.fullmatch(node.value) and target in known:  # not "world_model.pt"
                add(target, node.lineno)
    return found


def layer(module: str) -> int:
    if module == CONSOLE:
        return len(LAYERS)
    return LAYERS.index(module.split(".")[0])


def graph() -> dict[str, list[tuple[str, int]]]:
    modules = our_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def test_no_module_imports_a_layer_above_it():
    back = [
        f"{src} (line {line}) imports {dst}: {LAYERS[layer(dst)] if layer(dst) < len(LAYERS) else 'the console'}"
        f" is above {LAYERS[layer(src)]}"
        for src, edges in graph().items()
        for dst, line in edges
        if layer(dst) > layer(src)
    ]
    assert not back, "imports against the layering:\n" + "\n".join(sorted(back))


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """One import cycle (as a path that ends where it started), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    edges = {src: sorted({dst for dst, _ in out}) for src, out in graph().items()}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_function_imports_strings_and_cycles(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        '"""Docstrings that say agents.training do not count."""\n'
        "import importlib\n"
        "def f():\n"
        "    from agents.training import train\n"
        "    return importlib.import_module('bench.learning')\n"
        "ENTRY = 'world_model.dream:DreamVecEnv'\n"
    )
    known = {"agents.training", "bench.learning", "world_model.dream", "envs.m"}
    assert sorted(d for d, _ in imports_of("envs.m", source, known)) == [
        "agents.training",
        "bench.learning",
        "world_model.dream",
    ]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": []}) is None


@pytest.mark.parametrize(
    "module, absent",
    [
        ("envs", ("torch", "stable_baselines3")),
        ("world_model.judges.goodhart", ("torch", "stable_baselines3")),
        ("world_model.judges.calibration", ("torch", "stable_baselines3")),
        ("agents", ("stable_baselines3",)),
        ("world_model", ("torch",)),
    ],
)
def test_importing_a_package_loads_only_what_it_needs(module, absent):
    code = f"import sys, {module}; print(' '.join(m for m in {absent!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import {module} loaded {out.stdout.strip()}"
