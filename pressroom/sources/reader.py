"""Reading a source's database: the operator's SQL against the CMS, never pressroom's tables.

This is the one module outside :mod:`pressroom.store` that runs SQL text. It is not
pressroom's schema: a ``kind = "sql"`` source's query is written by the operator for the
CMS's tables, and the WordPress preset's queries are WordPress's tables
(:mod:`pressroom.sources.wordpress`). Both run here, read-only, as bound parameters only,
on an engine of the source's own; pressroom's store is never reached from here
(``tests/test_layout.py`` holds this module to that).

Rows are streamed (a server-side cursor on MariaDB/MySQL and PostgreSQL) in batches, so
a first sync of a million posts keeps memory flat. Database errors become one sentence
naming the source and its URL with the password masked.

What a CMS holds is not trusted to be well formed, and one bad value must cost its row,
never the sync (every later sync would stop at the same row). So each connection is set
up, when it is opened, to hand over what the driver would otherwise choke on: SQLite text
that is not UTF-8 comes as bytes (the row is then refused as "must be a string"), and a
PostgreSQL time beyond what Python holds (``infinity``, year 10000 and after) comes as
its text (refused as "not an ISO 8601 date"). Each session is also read-only (SQLite
``query_only``, a read-only transaction on MariaDB/MySQL and PostgreSQL): a query that
would write is refused by the database, even on MyISAM tables, which cannot roll back;
the operator's read-only user (docs/articles.md) stays the first defence. And no read
waits longer than the source's ``timeout``: MariaDB/MySQL's socket read and write
timeouts, PostgreSQL's ``statement_timeout`` (each fetch of the server-side cursor is one
statement) and TCP keepalives, SQLite's busy timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from pressroom.config import redact_url
from pressroom.errors import SourceError, SourceUnavailable
from pressroom.store.bulk import refusal_reason

__all__ = ["SourceDatabase"]

Row = dict[str, Any]


class SourceDatabase:
    """A source's database, opened lazily, read with the source's own queries."""

    def __init__(
        self, name: str, url: str, password: str | None = None, *, timeout: float = 120.0
    ) -> None:
        """``url`` is a SQLAlchemy URL; ``password`` (from the environment) overrides its own;
        ``timeout``: the longest wait for one read, in seconds."""
        self.name = name
        self.timeout = timeout
        parsed = make_url(url)
        if password is not None:
            parsed = parsed.set(password=password)
        self.dialect = parsed.get_backend_name()
        self._url = parsed
        self._shown = redact_url(parsed.render_as_string(hide_password=False))
        self._engine: Engine | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its engine (a helper process opens its own connections)."""
        state = dict(self.__dict__)
        state["_engine"] = None
        return state

    def _opened(self) -> Engine:
        """The source's own engine (created on first use; a small pool, checked before use)."""
        if self._engine is None:
            wait = max(1, round(self.timeout))
            args: dict[str, Any] = {}
            if self.dialect == "mysql":
                args = {"charset": "utf8mb4", "connect_timeout": 10}
                args |= {"read_timeout": wait, "write_timeout": wait}
                if self._url.password is not None and self._url.get_driver_name() == "pymysql":
                    # PyMySQL sends a str password as Latin-1 (a 中 in it raised
                    # UnicodeEncodeError); the server hashed the UTF-8 the user was made with
                    args["password"] = str(self._url.password).encode("utf-8")
            elif self.dialect == "postgresql":
                args = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30}
                args |= {"keepalives_interval": 10, "keepalives_count": 3}
            elif self.dialect == "sqlite":
                args = {"timeout": self.timeout}
            engine = (
                create_engine(self._url, pool_pre_ping=True, pool_size=2, connect_args=args)
                if self.dialect != "sqlite"
                else create_engine(self._url, connect_args=args)
            )
            event.listen(engine, "connect", self._set_up)
            self._engine = engine
        return self._engine

    def _set_up(self, dbapi_conn: Any, _record: Any) -> None:
        """A new connection made read-only and lenient (see the module docstring)."""
        if self.dialect == "sqlite":
            dbapi_conn.text_factory = _text_or_bytes
            dbapi_conn.execute("PRAGMA query_only = ON")
            return
        cursor = dbapi_conn.cursor()
        if self.dialect == "mysql":
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
        elif self.dialect == "postgresql":
            _lenient_times(dbapi_conn)
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")
        cursor.close()
        dbapi_conn.commit()

    def close(self) -> None:
        """Close every connection to the source."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to the source; database errors become :class:`SourceError`."""
        try:
            with self._opened().connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def stream(
        self, conn: Connection, query: str, params: Mapping[str, Any], batch: int
    ) -> Iterator[list[Row]]:
        """The rows of ``query`` in lists of ``batch`` (a server-side cursor where there is one)."""
        keys: list[str] = []
        for rows in self.stream_tuples(conn, query, params, batch, keys):
            yield [dict(zip(keys, row, strict=True)) for row in rows]

    def stream_tuples(
        self,
        conn: Connection,
        query: str,
        params: Mapping[str, Any],
        batch: int,
        keys: list[str] | None = None,
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """As :meth:`stream`, each row a sequence in the query's column order (no dict per
        row: what a reader that knows its columns takes); ``keys`` receives their names."""
        result = None
        try:
            with self._watched(conn):
                result = conn.execution_options(stream_results=True, yield_per=batch).execute(
                    text(query), dict(params)
                )
            names = list(result.keys())
            twice = sorted({k for k in names if names.count(k) > 1})
            if twice:
                raise SourceError(
                    f"source {self.name}: the query returns column {twice[0]!r} twice; "
                    "give each column its own name with AS"
                )
            if keys is not None:
                keys[:] = names
            parts = result.partitions(batch)
            while True:
                with self._watched(conn):
                    part = next(parts, None)
                if part is None:
                    return
                yield part
        except SQLAlchemyError as exc:
            raise self._error(exc) from None
        finally:
            if result is not None:
                _close_quietly(result)

    @contextmanager
    def _watched(self, conn: Connection) -> Iterator[None]:
        """On PostgreSQL, cut the connection when one read outlasts the timeout.

        ``statement_timeout`` ends a query the server is slow to run, and keepalives a
        connection whose peer is gone, but libpq has no read timeout: a peer that stays
        connected and sends nothing (a stuck proxy, a frozen server) would hold the sync for
        ever. After twice the timeout (the server's ``statement_timeout`` speaks first when
        it can) a timer shuts the socket down, the blocked read fails, and the sync stops
        with one sentence; MariaDB/MySQL's driver has its own read timeout.
        """
        if self.dialect != "postgresql":
            yield
            return
        fired = threading.Event()

        def cut() -> None:
            fired.set()
            _shut_down(conn.connection.dbapi_connection)

        timer = threading.Timer(2 * self.timeout, cut)  # the server's own timeout first
        timer.daemon = True
        timer.start()
        try:
            yield
        except SQLAlchemyError:
            if fired.is_set():
                raise SourceUnavailable(
                    f"source {self.name}: {self._shown} sent nothing for {2 * self.timeout:g} "
                    "s (twice the source's timeout); the next sync connects afresh"
                ) from None
            raise
        finally:
            timer.cancel()

    def fetch(self, conn: Connection, query: str, params: Mapping[str, Any]) -> list[Row]:
        """Every row of a small ``query`` (a batch's lookups)."""
        try:
            return [dict(row) for row in conn.execute(text(query), dict(params)).mappings()]
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def _error(self, exc: SQLAlchemyError) -> SourceError:
        reason = refusal_reason(exc)
        unreachable = isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
        if unreachable:
            return SourceUnavailable(f"source {self.name}: cannot read {self._shown}: {reason}")
        return SourceError(f"source {self.name}: the database refused the query: {reason}")


def _text_or_bytes(value: bytes) -> str | bytes:
    """SQLite's text as ``str``, or as the bytes themselves when they are not UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _lenient_times(dbapi_conn: Any) -> None:
    """Make psycopg hand over a time it cannot hold as a ``datetime`` as its text."""
    from psycopg import DataError
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    adapters = dbapi_conn.adapters
    for name in ("timestamptz", "timestamp", "date"):
        base = adapters.get_loader(adapters.types[name].oid, Format.TEXT)

        class Lenient(Loader):
            strict = base

            def __init__(self, oid: int, context: Any = None) -> None:
                super().__init__(oid, context)
                self.loader = self.strict(oid, context)

            def load(self, data: Any) -> Any:
                try:
                    return self.loader.load(data)
                except DataError:  # infinity, or a year past 9999
                    return bytes(data).decode("utf-8", "replace")

        adapters.register_loader(name, Lenient)


def _shut_down(dbapi_conn: Any) -> None:
    """Shut down the socket under a psycopg connection (its blocked read returns)."""
    try:
        fd = dbapi_conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError, ValueError):
        pass  # already closed: nothing waits on it


def _close_quietly(result: Any) -> None:
    """Close a streamed result (its server-side cursor) even when its connection was cut."""
    cursor = getattr(result, "cursor", None)  # the driver's own, while the result holds it
    with contextlib.suppress(SQLAlchemyError):  # the connection is gone, and its cursor
        result.close()
    # PyMySQL's unbuffered cursor reads the rest of its result when it is closed or
    # collected; on a cut connection that raises, later, in __del__ (printed to stderr by
    # whichever code runs then). There is nothing left to read: say so.
    pending = getattr(cursor, "_result", None)
    if pending is not None and getattr(pending, "unbuffered_active", False):
        pending.unbuffered_active = False
        cursor.connection = None  # type: ignore[union-attr]
