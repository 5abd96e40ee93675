"""The api/ package has no import cycle, counting imports inside functions (which import-linter's layers miss)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules():
    found = {}
    for path in (ROOT / "api").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph():
    """module -> the api modules it imports anywhere in its body (a package's implicit parent import is not counted)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in known)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        edges.add(f"{base}.{alias.name}")
                    elif base in known:
                        edges.add(base)
        edges.discard(name)
        graph[name] = edges
    return graph


def _reachable(graph, start):
    """Every module an import chain from `start` reaches."""
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def cycles(graph):
    """Groups of more than one module that import each other, directly or through others."""
    reach = {node: _reachable(graph, node) for node in graph}
    found, placed = [], set()
    for node in sorted(graph):
        if node in placed:
            continue
        component = {node} | {other for other in reach[node] if node in reach.get(other, ())}
        placed |= component
        if len(component) > 1:
            found.append(sorted(component))
    return found


def test_cycle_finder_sees_an_import_inside_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    source = "def f():\n    from api.services import events\n"
    assert any(isinstance(node, ast.ImportFrom) for node in ast.walk(ast.parse(source)))


def test_api_modules_import_no_cycle_even_inside_functions():
    found = cycles(import_graph())
    assert not found, "import cycles among api/ modules: " + "; ".join(" <-> ".join(c) for c in found)


def test_queue_infrastructure_and_providers_import_no_service():
    graph = import_graph()
    for name, edges in graph.items():
        if name in ("api.jobs", "api.metrics") or name.startswith("api.trackers"):
            assert not {edge for edge in edges if edge.startswith(("api.services", "api.tasks", "api.pipeline"))}, name


def test_nothing_in_the_app_imports_the_worker_composition_root():
    assert [name for name, edges in import_graph().items() if "api.tasks" in edges] == []
