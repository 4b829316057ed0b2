"""The package's shape, checked from its source: no import cycle, one place that chooses a
sink, and the Spool as the only door to durable state; and the tests': shared code comes from
tests/support, never from another test module."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sr2fhir"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imported(name: str) -> set[str]:
    """The sr2fhir modules `name` imports (at module level or inside functions), and the
    packages whose __init__ that runs (but its own ancestors, which run before it)."""
    tree = ast.parse(MODULES[name].read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).rstrip(".")
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    found: set[str] = set()
    for target in targets:
        parts = target.split(".")
        for n in range(1, len(parts) + 1):
            candidate = ".".join(parts[:n])
            own_ancestor = name == candidate or name.startswith(candidate + ".")
            if candidate in MODULES and not own_ancestor:
                found.add(candidate)
    return found


def cycles() -> Iterator[list[str]]:
    graph = {name: imported(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> Iterator[list[str]]:
        if name in path:
            yield [*path[path.index(name) :], name]
            return
        if name in done:
            return
        for target in sorted(graph[name]):
            yield from visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        yield from visit(name, [])


def test_the_import_graph_has_no_cycle_even_through_imports_inside_functions() -> None:
    assert list(cycles()) == []


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    names = [n for n in MODULES if not n.endswith("__main__")]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'sr2fhir']:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def sources(outside: str) -> Iterator[tuple[str, ast.AST]]:
    """Every AST node of the package's modules outside the folder `outside`."""
    for name, path in MODULES.items():
        if not path.is_relative_to(PACKAGE / outside):
            for node in ast.walk(ast.parse(path.read_text())):
                yield name, node


def called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return None


def test_a_sink_is_chosen_and_built_only_by_delivery_build_sink() -> None:
    builders = {"OutboxSink", "FhirSink", "build_fhir_sink"}
    built = [
        (name, called_name(n)) for name, n in sources("delivery") if called_name(n) in builders
    ]
    reads = [
        name
        for name, node in sources("delivery")
        if isinstance(node, ast.Attribute)
        and node.attr == "sink"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "delivery"
        and not name.startswith("sr2fhir.config")
    ]
    assert (built, reads) == ([], [])
    inside = [
        name
        for name, node in sources("nowhere")
        if name.startswith("sr2fhir.delivery.")
        and isinstance(node, ast.Attribute)
        and node.attr == "sink"
        and ast.unparse(node).endswith("delivery.sink")
    ]
    assert inside == []  # delivery/__init__.py (build_sink) is the one reader


@pytest.mark.parametrize("door", ["jobs", "files", "space"])
def test_nothing_outside_the_spool_reaches_behind_it(door: str) -> None:
    behind = [
        f"{name}: {ast.unparse(node)}"
        for name, node in sources("spool")
        if isinstance(node, ast.Attribute)
        and node.attr == door
        and "spool" in ast.unparse(node.value)
    ]
    assert behind == []


def test_nothing_outside_the_spool_imports_its_back_ends() -> None:
    inner = [
        f"{name}: {node.module}"
        for name, node in sources("spool")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sr2fhir.spool.")
    ]
    assert inner == []


def imported_test_modules(path: Path) -> Iterator[str]:
    """What `path` imports from a test module or a conftest (`tests.….test_x`, `conftest`)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            last = name.rsplit(".", 1)[-1]
            if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                yield name


def test_shared_test_code_comes_from_support_never_from_a_test_module() -> None:
    """Shared test code lives in tests/support (fixtures in conftest.py, which pytest loads):
    a test module or conftest imported by another file is a helper in the wrong place."""
    root = PACKAGE.parent
    files = [*sorted((root / "tests").rglob("*.py")), *sorted((root / "benchmarks").rglob("*.py"))]
    wrong = [
        f"{path.relative_to(root)}: {name}"
        for path in files
        for name in imported_test_modules(path)
    ]
    assert wrong == []
