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
LAYERS = (
    ("cli",),
    ("protocols",),
    ("continual", "collapse"),
    ("landscape", "phi", "capacity"),
    ("models",),
    ("data", "stats", "train", "topology", "quantum", "spectra", "report", "track", "robustness"),
    ("runs", "execute"),
    ("config",),
    ("checks", "registry", "repro", "progress"),
    ("errors",),
)
"""The package's layers, top to bottom (README's layer line): a module imports only from layers
below its own; packages of one layer do not import each other."""
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


def test_imports_inside_functions_are_counted() -> None:
    # cli imports the runner only inside its command functions
    assert "axionlab.protocols.runner" in imported_modules("axionlab.cli")
    assert "axionlab.protocols.catalog" in imported_modules("axionlab.protocols.runner")


def test_no_import_cycles() -> None:
    assert import_cycles() == []


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for depth, layer in enumerate(LAYERS):
        if top in layer:
            return depth
    raise AssertionError(f"{module}: package '{top}' is in no layer of LAYERS; add it")


def test_layers_import_only_downwards() -> None:
    upward = [
        f"{name} -> {target}"
        for name in MODULES
        if name != "axionlab"
        for target in imported_modules(name)
        if target != "axionlab"
        and name.split(".")[1] != target.split(".")[1]
        and _layer(target) <= _layer(name)
    ]
    assert upward == []


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
