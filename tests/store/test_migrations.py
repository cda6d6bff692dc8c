"""Migrations: from empty to head, idempotent, and safe when processes start together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from pressroom.store import migrate
from pressroom.store.engine import open_store
from pressroom.store.migrate import SCHEMA_HEAD, current_revision

OWN_TABLES = {
    "sections",
    "articles",
    "subscribers",
    "consent_events",
    "websub_pings",
    "bounce_events",
    "digests",
    "deliveries",
    "job_runs",
    "feed_state",
    "leases",
    "workers",
    "alembic_version",
}


def test_schema_head_matches_alembic() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_migrates_from_empty_and_is_idempotent(store_url: str) -> None:
    first = open_store(store_url)
    assert set(inspect(first.engine).get_table_names()) >= OWN_TABLES
    with first.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
    first.dispose()
    again = open_store(store_url)
    with again.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
    again.dispose()


@pytest.mark.slow
def test_concurrent_starts_do_not_race(store_url: str) -> None:
    script = (
        "import sys\nfrom pressroom.store.engine import open_store\n"
        "open_store(sys.argv[1]).dispose()\nprint('ok')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    store = open_store(store_url, migrate=False)
    with store.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
    store.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    store.dispose()
