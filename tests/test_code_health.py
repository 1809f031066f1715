"""The package's shape: no import cycle among its modules, every checkpoint read weights-only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str], src: Path = SRC) -> set[str]:
    """The project modules `path` imports anywhere (also inside functions), as module names: `from a.b import
    c` names a.b.c when that is a module, else a.b. Imports under `if TYPE_CHECKING:` never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    name = module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package `level - 1` steps up
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {name for name in found if name in modules}


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    files = sorted(src.rglob("*.py"))
    modules = {module_name(f, src) for f in files}
    return {module_name(f, src): imports(f, modules, src) - {module_name(f, src)} for f in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan): each holds an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path):
    package = tmp_path / "labelsmooth"
    (package / "tasks").mkdir(parents=True)
    for name in ("__init__.py", "outputs.py", "tasks/__init__.py", "tasks/base.py"):
        (package / name).write_text("")
    (package / "m.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "def f():\n    from labelsmooth.tasks import base\n"
        "from . import outputs\n"
        "if TYPE_CHECKING:\n    import labelsmooth.tasks\n"
    )
    graph = import_graph(tmp_path)
    assert graph["labelsmooth.m"] == {"labelsmooth.tasks.base", "labelsmooth.outputs"}


def test_no_import_cycle_among_the_modules_of_src():
    graph = import_graph()
    assert "labelsmooth.checkpoints" in graph and graph["labelsmooth.train"], "the graph is empty"
    assert cycles(graph) == []


def test_checkpoints_and_smoothing_import_no_task():
    """checkpoints.py reads files for every task, smoothing/ is the math: neither knows a task module."""
    graph = import_graph()
    leaves = ["labelsmooth.checkpoints", *(m for m in graph if m.startswith("labelsmooth.smoothing"))]
    for module in leaves:
        assert not {m for m in graph[module] if m.startswith("labelsmooth.tasks")}, module


def test_every_torch_load_in_src_is_weights_only():
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                weights_only = {k.arg: k.value for k in node.keywords}.get("weights_only")
                ok = isinstance(weights_only, ast.Constant) and weights_only.value is True
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", ok))
    assert calls, "no torch.load found: the scan looks at the wrong files"
    assert [where for where, ok in calls if not ok] == []
