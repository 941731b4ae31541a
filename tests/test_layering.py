"""The store is a seam: who may import a backend, read from the source (``ast``), not from a run.

- The command line (``esctl/cli``) opens stores through ``open_store`` and talks to them through
  ``EventStore``: it imports no backend and no database driver.
- In the whole package, only ``open_store`` (``esctl/store/__init__.py``) and each backend's own
  package import a backend. ``esctl/__init__.py`` names ``InMemoryEventStore`` and
  ``SQLiteEventStore`` in its lazy facade table as strings (not imports) and imports them only for
  type checkers (``if TYPE_CHECKING:``), which is allowed there alone. The contract suites
  (``esctl.testing``) build stores through ``open_store`` and ``make_store``: no allowance.
- Nothing but ``esctl.testing`` imports ``esctl.testing`` or the test-time libraries (pytest,
  hypothesis): they are not dependencies of esctl.

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``, relative ones,
``from esctl.store import sqlite``, and ``importlib.import_module``/``__import__`` of a literal.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "esctl"

BACKENDS = ("esctl.store.sqlite", "esctl.store.postgres", "esctl.store.memory")
DRIVERS = ("sqlite3", "psycopg", "psycopg2", "psycopg_pool", "asyncpg")
TEST_ONLY = ("esctl.testing", "pytest", "pytest_asyncio", "_pytest", "hypothesis")

KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}
"""Backend imports outside the allowed places that exist today, each to be removed by moving the
code behind the seam (then deleted here: the test fails while a listed import is gone, so this
list never claims more than there is)."""


@dataclass(frozen=True)
class Import:
    """One import statement (or ``import_module`` call) of a module."""

    module: str
    line: int
    type_checking: bool


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, root: Path = SRC) -> list[Import]:
    """Every module ``path`` imports, with the line and whether only type checkers see it."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def resolve(level: int, module: str | None) -> str:
        if level == 0:
            return module or ""
        base = package.split(".")
        base = base[: len(base) - (level - 1)]
        return ".".join([*base, module] if module else base)

    def visit(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_checking)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, type_checking) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.level, node.module)
            found.append(Import(base, node.lineno, type_checking))
            # ``from esctl.store import sqlite`` imports the module esctl.store.sqlite.
            folder = root.joinpath(*base.split("."))
            found.extend(
                Import(f"{base}.{alias.name}", node.lineno, type_checking)
                for alias in node.names
                if (folder / f"{alias.name}.py").is_file() or (folder / alias.name / "__init__.py").is_file()
            )
        elif isinstance(node, ast.Call) and _imports_a_literal(node):
            literal = node.args[0]
            assert isinstance(literal, ast.Constant)
            found.append(Import(str(literal.value), node.lineno, type_checking))
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def _imports_a_literal(call: ast.Call) -> bool:
    function = call.func
    called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return (
        called in ("import_module", "__import__")
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def names(module: str, prefixes: tuple[str, ...]) -> bool:
    """True when ``module`` is one of ``prefixes`` or inside one."""
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def where(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def backend_of(path: Path) -> str | None:
    """The backend package ``path`` belongs to, if any."""
    name = module_name(path)
    return next((backend for backend in BACKENDS if names(name, (backend,))), None)


def backend_violations() -> list[tuple[str, str, int]]:
    """``(file, imported module, line)`` of every backend import outside the allowed places."""
    found = []
    for path in sources(PACKAGE):
        if where(path) == "esctl/store/__init__.py":
            continue  # open_store: the one place that picks a backend
        own = backend_of(path)
        for imported in imports_of(path):
            if not names(imported.module, BACKENDS):
                continue
            if own is not None and names(imported.module, (own,)):
                continue  # a backend's own modules
            if where(path) == "esctl/__init__.py" and imported.type_checking:
                continue  # the lazy facade's names, for type checkers only
            found.append((where(path), imported.module, imported.line))
    return found


# -- the checker itself ------------------------------------------------------------------------------


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "esctl" / "cli"
    for folder in (package, tmp_path / "esctl" / "store" / "sqlite"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    (package / "spec.py").write_text("")
    module = package / "probe.py"
    module.write_text(
        "from __future__ import annotations\n"
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "import sqlite3 as db\n"
        "from ..store import sqlite\n"
        "if TYPE_CHECKING:\n"
        "    from esctl.store.memory.store import InMemoryEventStore\n"
        "else:\n"
        "    import json\n"
        "def later() -> None:\n"
        "    import psycopg.rows\n"
        "    from . import spec\n"
        "    importlib.import_module('esctl.store.postgres')\n"
        "    __import__('esctl.store.sqlite.reads')\n"
        "    importlib.import_module(name_in_a_variable)\n"
        "TABLE = {'InMemoryEventStore': 'esctl.store.memory'}\n"
    )
    found = {(i.module, i.type_checking) for i in imports_of(module, tmp_path)}
    assert {
        ("sqlite3", False),
        ("esctl.store.sqlite", False),
        ("esctl.store.memory.store", True),
        ("json", False),
        ("psycopg.rows", False),
        ("esctl.cli.spec", False),
        ("esctl.store.postgres", False),
        ("esctl.store.sqlite.reads", False),
    } <= found
    assert not [module for module, _ in found if module == "esctl.store.memory"]  # a string is not an import
    assert not [module for module, _ in found if module.endswith("InMemoryEventStore")]  # a name, not a module


# -- the rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sources(PACKAGE / "cli"), ids=where)
def test_the_command_line_imports_no_backend_and_no_driver(path: Path) -> None:
    bad = [(i.module, i.line) for i in imports_of(path) if names(i.module, BACKENDS + DRIVERS)]
    assert bad == [], f"{where(path)} imports a backend or a driver (open_store and EventStore are the way)"


def test_only_open_store_and_the_backends_import_a_backend() -> None:
    found = backend_violations()
    unexpected = [v for v in found if (v[0], v[1]) not in KNOWN_VIOLATIONS]
    assert unexpected == [], "only esctl/store/__init__.py (open_store) and a backend's own package may import it"
    gone = sorted(set(KNOWN_VIOLATIONS) - {(file, module) for file, module, _ in found})
    assert gone == [], "fixed: remove these from KNOWN_VIOLATIONS"


def test_the_facade_names_the_backends_as_strings_and_imports_them_for_type_checkers_only() -> None:
    facade = PACKAGE / "__init__.py"
    backends = [i for i in imports_of(facade) if names(i.module, BACKENDS)]
    assert backends, "the facade's TYPE_CHECKING imports moved: review this test's allowance"
    assert all(i.type_checking for i in backends), backends
    assert '"esctl.store.sqlite"' in facade.read_text()


@pytest.mark.parametrize(
    "path", [p for p in sources(PACKAGE) if not names(module_name(p), ("esctl.testing",))], ids=where
)
def test_nothing_but_the_test_kit_imports_the_test_kit_or_test_libraries(path: Path) -> None:
    bad = [(i.module, i.line) for i in imports_of(path) if names(i.module, TEST_ONLY)]
    assert bad == [], f"{where(path)} imports test-time code: esctl.testing, pytest and hypothesis are not dependencies"


def test_the_test_kit_builds_stores_through_open_store() -> None:
    kit = [i.module for path in sources(PACKAGE / "testing") for i in imports_of(path)]
    assert not [module for module in kit if names(module, BACKENDS + DRIVERS)]
    tree = ast.parse((PACKAGE / "testing" / "base.py").read_text())
    opened = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "esctl.store"
        for alias in node.names
    ]
    assert opened == ["open_store"]  # the reference store
