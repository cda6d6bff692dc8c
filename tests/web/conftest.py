"""Fixtures for the web app: settings, a store with sections, an outbox, a test client.

The ``clock`` fixture is the shared one (``tests/conftest.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webkit import SECTIONS, FakeClock, Outbox, make_settings, write_feeds

from pressroom.config import Settings
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store, open_store
from pressroom.web import create_app


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    write_feeds(settings.path(settings.feeds.output_dir))
    return settings


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the test sections, made once and copied per test."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    store = open_store(f"sqlite:///{path}")
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture
def web_store(web_settings: Settings, migrated_db: Path) -> Iterator[Store]:
    target = web_settings.store_url.removeprefix("sqlite:///")
    shutil.copyfile(migrated_db, target)
    store = open_store(web_settings.store_url, migrate=False)
    yield store
    store.dispose()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


CLIENT_IP = "192.0.2.10"
"""The test client's address (TestClient's own, "testclient", is no address)."""


@pytest.fixture
def client(
    web_settings: Settings, web_store: Store, clock: FakeClock, outbox: Outbox
) -> Iterator[TestClient]:
    app = create_app(web_settings, web_store, clock, send=outbox.send)
    with TestClient(app, client=(CLIENT_IP, 50000)) as test_client:
        yield test_client
