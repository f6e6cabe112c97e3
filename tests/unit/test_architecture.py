"""The layout rules of docs/ARCHITECTURE.md, checked on the source: no import cycle between
modules nor between the stages (packages), no ``import exbert`` inside the package, small
modules, functions with few parameters."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "exbert"
MAX_LINES = 400
MAX_PARAMS = 8
# Public signatures that are a contract (README, docs/API.md): they keep their keyword
# arguments and hand them on as one options object.
PUBLIC_SIGNATURES = {
    "exbert.search.search",
    "exbert.search.corpus.Corpus.search_embedding",
    "exbert.search.corpus.Corpus.search_context",
    "exbert.corpus.build.build",
    "exbert.export.html.export_html",
    "exbert.export.render.export_svg",
    "exbert.export.render.export_png",
    "exbert.notebook.show",
    "exbert.notebook.widget.ExbertWidget.create",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The exbert modules ``name`` imports anywhere (module level, in functions, and for
    type checking alike)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node, path.name == "__init__.py")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.startswith("exbert")}
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules(graph: dict[str, set[str]]) -> None:
    edges = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    assert _cycles(edges) == []


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "exbert"


def test_no_import_cycle_between_stages(graph: dict[str, set[str]]) -> None:
    """Packages (models, analysis, corpus, search, server, ...) depend on each other one way;
    the package root ``exbert`` (a lazy facade) is left out."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        if module == "exbert":
            continue
        for t in targets:
            if t != "exbert" and _stage(t) != _stage(module):
                edges[_stage(module)].add(_stage(t))
    assert _cycles(dict(edges)) == []


def test_no_import_of_the_package_root_inside_the_package(graph: dict[str, set[str]]) -> None:
    offenders = sorted(m for m, targets in graph.items() if m != "exbert" and "exbert" in targets)
    assert offenders == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_modules_are_small() -> None:
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_functions_take_few_parameters() -> None:
    many = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope, node in _functions(tree, name):
            a = node.args
            params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            params = [p for p in params if p not in ("self", "cls")]
            if len(params) > MAX_PARAMS and scope not in PUBLIC_SIGNATURES:
                many.append(f"{scope} ({len(params)})")
    assert many == []


def _functions(tree: ast.AST, prefix: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    out: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((f"{prefix}.{node.name}", node))
            out += _functions(node, f"{prefix}.{node.name}")
        elif isinstance(node, ast.ClassDef):
            out += _functions(node, f"{prefix}.{node.name}")
    return out


def test_test_file_names_are_unique() -> None:
    """pytest imports test files by basename (tests/ has no __init__.py): two files of one name
    in different folders stop the whole run at collection."""
    tests = SRC.parents[1] / "tests"
    seen: dict[str, list[str]] = defaultdict(list)
    for path in tests.rglob("test_*.py"):
        seen[path.name].append(str(path.relative_to(tests)))
    assert not {name: where for name, where in seen.items() if len(where) > 1}
