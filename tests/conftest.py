"""Shared fixtures: stores on SQLite and PostgreSQL, settings in a temp dir, a fixed clock,
real SMTP servers on 127.0.0.1 and TLS material.

The kits beside this file (``smtpkit``, ``deliverykit``, ``digestkit``) are importable from
every test folder: ``pythonpath = ["tests"]`` in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from smtpkit import Recorder, SmtpServer
from sqlalchemy import create_engine, text
from support import FakeClock, make_settings

from pressroom.config import Settings
from pressroom.store.engine import Store, open_store

PG_ENV = "PRESSROOM_TEST_PG_URL"
MYSQL_ENV = "PRESSROOM_TEST_MYSQL_URL"  # MariaDB for the [sources] tests (tests/sources/)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's PRESSROOM_* settings (but keep the PG test URL)."""
    for name in list(os.environ):
        if name.startswith("PRESSROOM_") and name not in (PG_ENV, MYSQL_ENV):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    """The PostgreSQL URL from $PRESSROOM_TEST_PG_URL, or skip."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need ${PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    return url


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_base_url else "?"
    yield f"{pg_base_url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend (the contract suites run on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened, migrated store on each backend."""
    opened = open_store(store_url)
    yield opened
    opened.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An opened, migrated SQLite store (for tests that need only one backend)."""
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.dispose()


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a pressroom.toml with the given text into tmp_path and return its path."""

    def _write(body: str, name: str = "pressroom.toml") -> Path:
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings rooted in tmp_path (store, public/ and outbox/ live there)."""
    return make_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    """A clock standing at :data:`support.NOW` until the test moves it."""
    return FakeClock()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers on 127.0.0.1:0 with a given handler; all stopped afterwards."""
    started: list[SmtpServer] = []

    def start(handler: Recorder | None = None, **options: object) -> SmtpServer:
        server = SmtpServer(handler or Recorder(), **options).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (made with the openssl program)."""
    if shutil.which("openssl") is None:
        pytest.skip("the TLS tests need the openssl program")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """The server side of the self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts only the self-signed certificate."""
    return ssl.create_default_context(cafile=str(tls_files[0]))
