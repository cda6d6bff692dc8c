"""The package layout holds: SQL only in the store, layers kept, no leftovers of old names.

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
# SQL (or WordPress's tables) against the CMS's database, never pressroom's tables; it may
# use ``text`` and nothing else (docs/ARCHITECTURE.md, "Sources").
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


def test_the_old_mechanism_packages_are_gone() -> None:
    assert not (PACKAGE / "mailer").exists()
    assert not (PACKAGE / "setup.py").exists()


def test_the_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("lint-imports (import-linter, in the test extra) is not installed")
    done = subprocess.run(
        [lint, "--no-cache"], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:]
