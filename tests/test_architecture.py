"""Structural rules of the package, read from its source (no import needed).

- No import cycle between modules of ``axionlab``, counting imports inside functions (a lazy
  import hides a cycle from the interpreter, not from a reader).
- No ``assert`` in the package: they vanish under ``python -O``, so they can neither validate
  input nor narrow types.
- Every protocol is a package of config, protocol, analysis and report; its orchestration module
  stays short, and neither its analysis nor its report imports the protocol module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "axionlab"
PROTOCOLS = ("exp01", "exp02", "exp03", "exp04", "continual")
MAX_PROTOCOL_LINES = 150


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str) -> set[str]:
    """Every ``axionlab`` module ``name`` imports, at any depth of its syntax tree."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule when there is one
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph = {name: imported_modules(name) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def test_cycle_finder_sees_lazy_imports(tmp_path: Path) -> None:
    tree = ast.parse("def f():\n    from axionlab.protocols import base\n")
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names == ["axionlab.protocols"]


def test_no_import_cycles() -> None:
    assert import_cycles() == []


def test_no_assert_in_the_package() -> None:
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_protocol_has_the_four_parts(protocol: str) -> None:
    base = f"axionlab.protocols.{protocol}"
    for part in ("config", "protocol", "analysis", "report"):
        assert f"{base}.{part}" in MODULES, f"{base}.{part} is missing"
    lines = len(MODULES[f"{base}.protocol"].read_text().splitlines())
    assert lines <= MAX_PROTOCOL_LINES, f"{base}.protocol has {lines} lines"
    for part in ("config", "analysis", "report"):
        assert f"{base}.protocol" not in imported_modules(f"{base}.{part}")
    assert f"{base}.report" not in imported_modules(f"{base}.analysis")
