"""The house's imports: no cycle, and nothing reaches back up the flow.

Every ``import`` of the project's own modules is read from the source, those inside functions
and those under ``if TYPE_CHECKING`` too: a lazy import is an import all the same, and a
type-only import between two modules still ties them together (each needs the other to be read).
Cycles are looked for between modules, and between packages (a package imports another when
one of its modules does).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import modules_loaded_by

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data_prep", "vae", "studies", "search")
# Down the flow: a module may import its own layer and the layers before it, never later ones.
LAYERS = (
    "data_prep",
    "vae",
    "studies",
    "search.space",
    "search.execution",
    "search.evaluation",
    "search.outputs",
    "search",  # the public API: search/__init__.py
    "search.cli",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports (a name imported from a package that is a module
    of its own counts as that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module in modules:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _package(module: str, modules: dict[str, Path]) -> str:
    """The package ``module`` lies in (a package's ``__init__`` lies in the package itself)."""
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def _package_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, imported in _graph().items():
        package = _package(module, modules)
        others = {_package(m, modules) for m in imported} - {package}
        graph.setdefault(package, set()).update(others)
    return graph


def _layer(module: str) -> int:
    """The index of the most specific layer ``module`` belongs to."""
    matches = [
        i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")
    ]
    return max(matches, key=lambda i: len(LAYERS[i]))


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the path around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_graph_is_read_from_the_source():
    graph = _graph()
    assert "search.execution.ledger" in graph["search.execution.worker"]
    assert "search.execution.trial" in graph["search.execution.job_server"]  # a lazy import counts
    assert "search.space.spec" in graph["search"]  # so does one under TYPE_CHECKING
    assert len(graph) > 40


def test_no_import_cycle_between_modules():
    assert _cycle(_graph()) is None


def test_no_import_cycle_between_packages():
    graph = _package_graph()
    assert {"search.evaluation", "vae"} <= graph["search.outputs"]
    assert _cycle(graph) is None


def test_a_cycle_is_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_nothing_imports_up_the_flow():
    upward = [
        f"{module} imports {imported}"
        for module, imported_modules in _graph().items()
        for imported in imported_modules
        if _layer(imported) > _layer(module)
    ]
    assert upward == []


def test_importing_the_packages_imports_no_tensorflow_and_every_public_name_resolves():
    import data_prep
    import search
    import studies
    import vae

    heavy = ("tensorflow", "keras", "sklearn")
    assert modules_loaded_by("import search, studies, data_prep, vae", heavy) == []
    packages = (search, studies, data_prep, vae)
    assert [n for p in packages for n in p.__all__ if getattr(p, n, None) is None] == []
