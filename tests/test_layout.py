"""The layout of ``dpt_core`` stays walkable: no module over 300 lines, no function over 60, and
no import cycle among its modules (module-level and function-level imports alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dpt_core"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``package``."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement of ``module`` brings in (absolute, submodules named)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest module of ``modules`` that ``name`` is or lies in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` it imports (anywhere in its file).

    ``from pkg import sub`` counts as an import of ``pkg.sub`` when that is a module, and of
    ``pkg`` only otherwise, so a package's ``__init__`` re-exporting its submodules' names is
    no cycle with them.
    """
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = _imported(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):
                *subs, base = names
                names = [s if s in modules else base for s in subs]
            for name in names:
                target = _resolve(name, modules)
                if target is not None and target != module:
                    edges.add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def long_functions(modules: dict[str, Path]) -> list[str]:
    """``module.function (N lines)`` for every function longer than MAX_FUNCTION_LINES."""
    found = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{module}.{node.name} ({lines} lines)")
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_import_graph_sees_submodules_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.sub import thing\n")
    (package / "sub" / "__init__.py").write_text("from .leaf import thing\n")
    (package / "sub" / "leaf.py").write_text("def thing():\n    from pkg import other\n")
    (package / "other.py").write_text("from pkg.sub import leaf\n")
    graph = import_graph(module_files(package))
    assert graph == {"pkg": {"pkg.sub"}, "pkg.other": {"pkg.sub.leaf"},
                     "pkg.sub": {"pkg.sub.leaf"}, "pkg.sub.leaf": {"pkg.other"}}  # fmt: skip
    assert find_cycles(graph) == [["pkg.other", "pkg.sub.leaf"]]


def test_no_import_cycle_in_dpt_core() -> None:
    assert find_cycles(import_graph(module_files())) == []


def test_no_module_over_300_lines() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in module_files().items()}
    assert {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_over_60_lines() -> None:
    assert long_functions(module_files()) == []


@pytest.mark.parametrize("stage", ["studio", "data", "densepose", "textures", "train", "render",
                                   "evaluate", "reid"])  # fmt: skip
def test_stage_packages_have_the_same_shape(stage: str) -> None:
    assert {"__init__.py", "cli.py", "stage.py"} <= {p.name for p in (PACKAGE / stage).iterdir()}
