"""The package layering of ARCHITECTURE.md, checked on the source: no import circle among the project's
modules, reports never import the runner, the sweep or the executors, and importing the report
builder does not import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("benchmark", "baselines", "ablations", "reports")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path], top_level_only: bool = False) -> set[str]:
    """Project modules ``path`` imports (``top_level_only``: at import time, not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in nodes:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    found.discard(module_name(path))
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None (iterative DFS, three colours)."""
    colour: dict[str, int] = {}
    for root in sorted(graph):
        if colour.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        path = [root]
        colour[root] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if colour.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not colour.get(nxt):
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_find_cycle_finds_a_planted_circle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_circle_among_the_projects_modules():
    modules = project_modules()
    # any import, also inside functions: a deferred import that closes a circle is still a circle
    graph = {name: {m for m in imports_of(path, modules) if m != name and not name.startswith(m + ".")}
             for name, path in modules.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_reports_import_neither_the_runner_nor_the_sweep_nor_the_executors():
    modules = project_modules()
    banned = {"benchmark.runner", "benchmark.sweep", "benchmark.sweep_cli", "benchmark.executors",
              "benchmark.training", "benchmark.engine"}
    for name, path in modules.items():
        if name.startswith("reports"):
            assert not imports_of(path, modules) & banned, (name, imports_of(path, modules) & banned)


def test_importing_the_report_builder_does_not_import_torch():
    code = "import sys, reports.build, reports.sweep; print(sorted(m for m in ('torch', 'benchmark.runner', " \
           "'benchmark.sweep', 'benchmark.executors') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_sweep_module_stays_study_management():
    assert len((REPO / "benchmark" / "sweep.py").read_text().splitlines()) <= 460
