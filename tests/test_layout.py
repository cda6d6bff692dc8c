"""The package layout holds: SQL and connections only in the store, layers kept, no leftovers
of old names.

``lint-imports`` (run by ``.ci/run``) checks the import-linter contracts in pyproject.toml;
these tests check what import-linter cannot see (SQL built outside the store) and run the
contracts too, so a plain ``pytest`` catches a broken layer.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pressroom"
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "and_", "or_", "func"}
# The one module that runs SQL text outside the store: a source's queries are the operator's
# SQL (or WordPress's tables) against the CMS's database, never pressroom's tables, on an
# engine of its own; it may use ``text`` and ``create_engine`` and nothing else of the kind
# (docs/ARCHITECTURE.md, ``sources/``).
CMS_READER = PACKAGE / "sources" / "reader.py"


def _modules_outside_store() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "store" not in p.relative_to(PACKAGE).parts[:1]]


def _sqlalchemy_names(tree: ast.Module) -> set[str]:
    """Names imported from sqlalchemy (or its submodules) by a module."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _imported_modules(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    "path", _modules_outside_store(), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_only_the_store_builds_sql(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert "pressroom.store.schema" not in _imported_modules(tree)
    allowed = {"text"} if path == CMS_READER else set()
    builders = _sqlalchemy_names(tree) & SQL_BUILDERS - allowed
    assert not builders, "SQL is built in pressroom/store/ only"


def test_the_cms_reader_never_reaches_the_store() -> None:
    tree = ast.parse(CMS_READER.read_text(encoding="utf-8"))
    reached = {m for m in _imported_modules(tree) if m.startswith("pressroom.store")}
    assert reached <= {"pressroom.store.bulk", "pressroom.store.bulk.refusal_reason"}


@pytest.mark.parametrize(
    "path", _modules_outside_store(), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_only_the_store_opens_and_sets_up_connections(path: Path) -> None:
    # Store.read(), Store.write() and Store.open_writer() set a connection up (BEGIN
    # IMMEDIATE, busy and statement timeouts); a module reaching past them would not.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if path != CMS_READER:
        assert "create_engine" not in _sqlalchemy_names(tree)
    reached = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"engine", "exec_driver_sql"}
    }
    assert not reached, "connections are opened and set up in pressroom/store/ only"


def test_the_old_mechanism_packages_are_gone() -> None:
    assert not (PACKAGE / "mailer").exists()
    assert not (PACKAGE / "setup.py").exists()


@pytest.mark.slow
def test_the_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("lint-imports (import-linter, in the test extra) is not installed")
    done = subprocess.run(
        [lint, "--no-cache"], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:]


COMPOSITION_ROOT = {
    "wiring.py",  # settings become each part's config
    "starter_config.py",  # `pressroom init` writes and validates a config
    "worker/scheduler.py",  # the worker's start-up
    "web/app.py",  # the web app's start-up
    "docs_reference.py",  # generates docs/reference/config.md from the settings models
}


def _imports_settings(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "pressroom.config"
        and any(alias.name == "Settings" for alias in node.names)
        for node in ast.walk(tree)
    )


def test_only_the_composition_root_imports_settings() -> None:
    # Everything else takes its own section or a config value built at the root (issue 18):
    # a module that reads one field must not be handed the whole configuration.
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _imports_settings(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert importers <= COMPOSITION_ROOT, sorted(importers - COMPOSITION_ROOT)
    assert len(COMPOSITION_ROOT) <= 6
