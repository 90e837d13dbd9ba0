"""No import cycle in ctrip_core, counting imports inside functions (issue 16).

Every `import` and `from ... import` of a ctrip_core module anywhere in a module's body, at any
depth, is an edge; a name imported from a package that is one of its submodules is an edge to the
submodule. Tarjan's algorithm finds the strongly connected components; any with more than one
module (or a module importing itself) is a cycle, printed as its members.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ctrip_core

PACKAGE = Path(ctrip_core.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["ctrip_core", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in modules:
                        graph[name].add(target)
                    elif base in modules:
                        graph[name].add(base)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, or of one that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_finder_sees_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["e"]]
    # and the graph of ctrip_core counts imports inside functions, wherever ctrip_core has one
    graph = import_graph()
    assert "ctrip_core.notifiers" in graph["ctrip_core.plugins"]
    lazy = _function_level_imports()
    assert lazy, "ctrip_core has no function-level import left to check the finder with"
    for module, targets in lazy:
        assert targets & graph[module], (module, targets)


def _function_level_imports() -> list[tuple[str, set[str]]]:
    """(module, the ctrip_core module or submodules it names) per `from ctrip_core.x import` in a function."""
    modules = _modules()
    found = []
    for name, path in modules.items():
        for func in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, ast.ImportFrom) and not node.level and node.module in modules:
                        found.append((name, {node.module} | {f"{node.module}.{a.name}" for a in node.names}))
    return found


#: The modules a plugin builds on; the plugin manager imports them, so none may reach it back.
PLUGIN_BASES = ("ctrip_core.hookspecs", "ctrip_core.chains", "ctrip_core.chains.evm", "ctrip_core.matching",
                "ctrip_core.notifiers", "ctrip_core.wallet", "ctrip_core.wallet_plugin")


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_plugin_boundary_has_no_back_edge():
    graph = import_graph()
    for base in ("ctrip_core.chains", "ctrip_core.matching", "ctrip_core.notifiers", "ctrip_core.wallet"):
        assert base in graph["ctrip_core.plugins"], f"plugins.py checks registrations against {base}"
    for base in PLUGIN_BASES:
        assert "ctrip_core.plugins" not in _reachable(graph, base), f"{base} reaches ctrip_core.plugins"


def test_ctrip_core_has_no_import_cycle():
    assert cycles(import_graph()) == []
