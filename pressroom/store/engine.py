"""Opening the store: one engine per URL, SQLite tuned for a worker, schema kept current.

SQLite (the default) runs in WAL mode with a busy timeout, and :meth:`Store.write`
opens its transactions with ``BEGIN IMMEDIATE`` so two writers queue instead of failing
half-way with "database is locked". PostgreSQL uses the same code.

Errors are translated here, once: a store that cannot serve a transaction (unreachable,
locked beyond the busy timeout, read-only, full) raises
:class:`~pressroom.errors.StoreUnavailable` with one sentence and no SQL; the engine hides
statement parameters (subscribers' addresses) from every error message.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError, SQLAlchemyError

from pressroom.config import redact_url
from pressroom.errors import StoreError, StoreUnavailable
from pressroom.store.migrate import SCHEMA_HEAD, current_revision, upgrade

__all__ = ["SQLITE_BUSY_TIMEOUT_S", "Store", "describe_store_error", "open_store"]

SQLITE_BUSY_TIMEOUT_S = 30

_UNAVAILABLE = (OperationalError, InterfaceError, InternalError)
"""What the server or file says when it cannot serve (as opposed to a refused row)."""


class Store:
    """An opened store: the engine plus read and write transactions."""

    def __init__(self, engine: Engine, *, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout

    @property
    def label(self) -> str:
        """The store's URL with any password masked (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def url(self) -> str:
        """The store's URL, password included: what another process opens it with (the
        helpers of a source's full pass). Never for messages: see :attr:`label`."""
        return self.engine.url.render_as_string(hide_password=False)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(
                describe_store_error(self.label, exc, self.busy_timeout)
            ) from exc

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, False on PostgreSQL."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection inside a read transaction (deferred on SQLite)."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, busy_timeout: float | None = None) -> Iterator[Connection]:
        """A connection inside a write transaction, committed on success.

        On SQLite the transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken
        up front, so concurrent writers wait (busy timeout) rather than deadlock.

        Args:
            busy_timeout: wait at most this long for the lock instead of the store's busy
                timeout (the web's rate limiter must not hold a request for 30 s).

        Raises:
            StoreUnavailable: the store is unreachable, locked beyond the busy timeout,
                read-only or full (also when the commit fails).
        """
        with self._translated(), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with self._waiting(conn, busy_timeout), conn.begin():
                yield conn

    @contextmanager
    def _waiting(self, conn: Connection, seconds: float | None) -> Iterator[None]:
        if seconds is None or not self.is_sqlite:
            yield
            return
        cursor = conn.connection.cursor()  # the driver's own: no SQLAlchemy BEGIN
        cursor.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
        try:
            yield
        finally:
            cursor.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            cursor.close()

    def open_writer(self) -> Connection:
        """A connection of the caller's own, for a run of write transactions on one thread.

        Set up as :meth:`write` sets up its connections: ``BEGIN IMMEDIATE`` on SQLite;
        on PostgreSQL a statement waits at most the busy timeout (``statement_timeout``),
        as a SQLite transaction waits at most that long for the lock. The sender's ledger
        thread (:class:`pressroom.delivery.group_commit.DbThread`) holds one: reusing a
        connection halves a small commit's cost. The caller closes it.
        """
        conn = self.engine.connect().execution_options(sqlite_immediate=True)
        if not self.is_sqlite:
            conn.exec_driver_sql(f"SET statement_timeout = {int(self.busy_timeout * 1000)}")
            conn.commit()
        return conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


# Pages the WAL grows to before a commit copies it into the database (SQLite's default is
# 1,000: 4 MB). A bulk write (a source's first sync, an import) commits a batch of several
# MB at a time, so at the default nearly every commit also checkpointed, rewriting the
# same index pages each time; at 64 MB the pages a run of batches touches are copied once.
_WAL_PAGES = 16_384


def _tune_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner alone (0600): it holds every
    subscriber's address. SQLite gives its WAL and shared-memory files the same mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    # an existing file keeps its mode; a missing folder is SQLite's to report
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


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
        busy_timeout: seconds a SQLite transaction waits for another process's write lock.
        engine_options: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        StoreError: the URL is malformed, or the database cannot be reached or migrated
            (:class:`StoreUnavailable` when it is unreachable, locked, read-only or full).
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    options: dict[str, Any] = {"hide_parameters": True, **engine_options}
    try:
        if url.startswith("sqlite"):
            options["connect_args"] = {"timeout": busy_timeout, **options.get("connect_args", {})}
            engine = create_engine(url, **options)
            _create_private(engine.url.database)
            _tune_sqlite(engine, busy_timeout)
        else:
            engine = create_engine(url, pool_pre_ping=True, **options)
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        # make_url's own errors (a port that is not a number, an unknown driver)
        raise StoreError(
            f"the store URL {redact_url(url)} is not valid: {_first_line(exc)}"
        ) from exc
    store = Store(engine, busy_timeout=busy_timeout)
    if migrate:
        try:
            _migrate(store)
        except StoreError:
            store.dispose()
            raise
        except (SQLAlchemyError, ValueError) as exc:
            store.dispose()
            raise StoreError(f"cannot open the store {store.label}: {_first_line(exc)}") from exc
    return store


def _migrate(store: Store) -> None:
    """Bring the schema to :data:`SCHEMA_HEAD`; a no-op (one query) when it is current."""
    with store.read() as conn:
        if current_revision(conn) == SCHEMA_HEAD:
            return
    if store.is_sqlite:
        _migrate_sqlite(store)
        return
    with store.write() as conn:
        upgrade(conn)


def describe_store_error(label: str, exc: BaseException, busy_timeout: float) -> str:
    """One sentence for a store that could not serve a transaction (no SQL, no values)."""
    reason = _first_line(exc)
    lowered = reason.lower()
    if "lock timeout" in lowered or "could not obtain lock" in lowered:  # PostgreSQL's
        return (
            f"the store {label} is locked by another transaction ({reason}); "
            "try again when it is free"
        )
    if "locked" in lowered or "busy" in lowered:
        return (
            f"the store {label} is locked by another process (waited {busy_timeout:g} s); "
            "try again when it is free"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return f"the store {label} is read-only ({reason}); make it writable"
    if "full" in lowered or "no space" in lowered or "disk i/o" in lowered:
        return f"the store {label} cannot write to its disk ({reason}); is the disk full?"
    if "connect" in lowered or "server closed" in lowered or "timeout expired" in lowered:
        return f"cannot reach the store {label}: {reason}"
    if "unable to open" in lowered:
        return (
            f"cannot open the store {label}: {reason} (does its folder exist and is it writable?)"
        )
    return f"the store {label} cannot be used: {reason}"


def _migrate_sqlite(store: Store) -> None:
    """Migrate with foreign keys off, checked once at the end.

    Batch migrations rebuild a SQLite table (copy, drop, rename), and dropping a table that
    other rows reference fails while foreign keys are on (even deferred: the rename does
    not undo the count). The pragma is a no-op inside a transaction, so it is set on the
    connection before ``BEGIN``, and set back before the connection returns to the pool.
    """
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a live pooled connection
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            immediate = conn.execution_options(sqlite_immediate=True)
            with immediate.begin():
                upgrade(immediate)
                broken = immediate.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise StoreError(f"migrating left a dangling reference in {broken[0]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    """The database's own first line of ``exc``; SQLAlchemy's "[SQL: ...]" part never."""
    text = str(getattr(exc, "orig", None) or exc)
    text = text.split("[SQL:")[0].split("(Background on this error")[0]
    return text.strip().splitlines()[0].strip() if text.strip() else type(exc).__name__
