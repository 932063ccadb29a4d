"""The package's import graph: no cycles, no library module importing an entry point, and the
packages layered so that arrows only point down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "imbalance_gan"
#: the commands: ``python -m imbalance_gan.<name>``; nothing may import them
ENTRY_POINTS = {
    "imbalance_gan.train",
    "imbalance_gan.classify",
    "imbalance_gan.study",
    "imbalance_gan.report",
    "imbalance_gan.generate",
}
#: sub-packages, lowest first: a package may import only those before it
LAYERS = [
    "runtime",
    "record",
    "nets",
    "data",
    "generators",
    "scenarios",
    "classifier",
    "reporting",
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at any depth (function-level imports too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import mod`` imports pkg.mod when mod is a module, else a name of pkg
                subs = [f"{node.module}.{a.name}" for a in node.names]
                found = [t for t in subs if t in modules]
                if len(found) < len(subs):
                    found.append(node.module)
            else:
                continue
            targets |= {t for t in found if t in modules and t != name}
        graph[name] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def test_there_is_no_import_cycle():
    assert _cycle(import_graph()) is None, " -> ".join(_cycle(import_graph()) or [])


def test_no_module_imports_an_entry_point():
    offenders = {
        (name, target)
        for name, targets in import_graph().items()
        for target in targets & ENTRY_POINTS
    }
    assert not offenders


def test_packages_import_only_packages_below_them():
    upward = []
    for name, targets in import_graph().items():
        here = _package(name)
        if here is None:  # the package root and the entry points may import anything
            continue
        for target in targets:
            there = _package(target)
            if there is None or (there != here and LAYERS.index(there) > LAYERS.index(here)):
                upward.append(f"{name} -> {target}")
    assert not upward, upward


def test_every_sub_package_is_in_a_layer():
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(LAYERS)


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_entry_points_exist(module):
    assert module in _modules()


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
