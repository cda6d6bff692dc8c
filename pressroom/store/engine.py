"""Opening the store: one engine per URL, SQLite tuned for a worker, schema kept current.

SQLite (the default) runs in WAL mode with a busy timeout, and :meth:`Store.write`
opens its transactions with ``BEGIN IMMEDIATE`` so two writers queue instead of failing
half-way with "database is locked". PostgreSQL uses the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from pressroom.errors import StoreError
from pressroom.store.migrate import SCHEMA_HEAD, current_revision, upgrade

__all__ = ["Store", "open_store"]

SQLITE_BUSY_TIMEOUT_S = 30


class Store:
    """An opened store: the engine plus read and write transactions."""

    def __init__(self, engine: Engine, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout
        """Seconds a statement may wait for a lock (SQLite's busy timeout) before failing."""

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, False on PostgreSQL."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection inside a read transaction (deferred on SQLite)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed on success.

        On SQLite the transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken
        up front, so concurrent writers wait (busy timeout) rather than deadlock.
        """
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _tune_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def open_store(
    url: str,
    *,
    migrate: bool = True,
    busy_timeout: float = SQLITE_BUSY_TIMEOUT_S,
    **engine_options: Any,
) -> Store:
    """Connect to the store at ``url`` and bring its schema up to date.

    Args:
        url: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
        migrate: run pending migrations (safe when several processes start at once).
        busy_timeout: seconds a SQLite statement waits for another writer's lock
            (``[store] busy_timeout``); the sender also bounds its store calls by it.
        engine_options: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        StoreError: the database cannot be reached or migrated.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            options = {"connect_args": {"timeout": busy_timeout}, **engine_options}
            engine = create_engine(url, **options)
            _tune_sqlite(engine, busy_timeout)
        else:
            engine = create_engine(url, pool_pre_ping=True, **engine_options)
        store = Store(engine, busy_timeout)
        if migrate:
            _migrate(store)
        return store
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store {_safe_url(url)}: {_first_line(exc)}") from exc


def _migrate(store: Store) -> None:
    """Bring the schema to :data:`SCHEMA_HEAD`; a no-op (one query) when it is current."""
    with store.read() as conn:
        if current_revision(conn) == SCHEMA_HEAD:
            return
    with store.write() as conn:
        upgrade(conn)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
