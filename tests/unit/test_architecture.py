"""The package's shape: imports point down the layers, no cycles, no module or function too long.

The import graph is read from the source (every ``import`` anywhere in a file, functions
included), independently of what happens to be imported at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dpcondense

ROOT = Path(dpcondense.__file__).parent
#: top to bottom; a module may import modules of its own layer and of the layers below it only
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("command line", ("dpcondense.cli", "dpcondense.commands")),
    ("Hydra app", ("dpcondense.benchmark.app", "dpcondense.benchmark.callbacks")),
    ("workflows", ("dpcondense.custodian", "dpcondense.reporting", "dpcondense.reference", "dpcondense.privacy.audit")),
    ("orchestration", ("dpcondense.benchmark",)),
    ("evaluation", ("dpcondense.evaluate",)),
    ("methods", ("dpcondense.methods",)),
    ("models and metrics", ("dpcondense.models", "dpcondense.metrics", "dpcondense.concordance")),
    ("data and privacy", ("dpcondense.datasets", "dpcondense.data", "dpcondense.privacy")),
    ("conventions", ("dpcondense.conventions", "dpcondense.registry", "dpcondense.paths", "dpcondense")),
]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """dpcondense modules ``name`` imports (resolved to the longest existing module name)."""
    path = MODULES[name]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{name} belongs to no layer: add it to LAYERS"
    return rank


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


def test_imports_point_down_the_layers():
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in GRAPH.items()
        for target in sorted(targets)
        if layer_of(target) < layer_of(name) and not _is_parent_package(target, name)
    ]
    assert not upward, "\n".join(upward)


def _is_parent_package(target: str, name: str) -> bool:
    # importing a submodule runs its package's __init__: that is not an upward dependency
    return name.startswith(target + ".")


def test_no_import_cycle():
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if _is_parent_package(nxt, node):
                continue
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_nothing_below_the_command_line_imports_it():
    cli = LAYERS[0][1]
    offenders = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if not name.startswith(cli)
        for target in targets
        if target.startswith(cli)
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_stay_readable(name):
    text = MODULES[name].read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{name}: split it by job"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{name}.{node.name} has {length} lines"


def test_the_checks_see_a_cycle_and_an_upward_import(monkeypatch):
    """The checks themselves can fail: a fake upward edge and a fake cycle are reported."""
    monkeypatch.setitem(GRAPH, "dpcondense.conventions", {"dpcondense.methods.base"})
    with pytest.raises(AssertionError, match="dpcondense.conventions .* imports dpcondense.methods.base"):
        test_imports_point_down_the_layers()
    monkeypatch.setitem(GRAPH, "dpcondense.methods.base", GRAPH["dpcondense.methods.base"] | {"dpcondense.conventions"})
    with pytest.raises(AssertionError, match="dpcondense.conventions -> dpcondense.methods.base"):
        test_no_import_cycle()
