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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from pressroom.config import redact_url
from pressroom.errors import SourceError, SourceUnavailable
from pressroom.store.bulk import refusal_reason

__all__ = ["SourceDatabase"]

Row = dict[str, Any]


class SourceDatabase:
    """A source's database, opened lazily, read with the source's own queries."""

    def __init__(self, name: str, url: str, password: str | None = None) -> None:
        """``url`` is a SQLAlchemy URL; ``password`` (from the environment) overrides its own."""
        self.name = name
        parsed = make_url(url)
        if password is not None:
            parsed = parsed.set(password=password)
        self.dialect = parsed.get_backend_name()
        self._url = parsed
        self._shown = redact_url(parsed.render_as_string(hide_password=False))
        self._engine: Engine | None = None

    def _opened(self) -> Engine:
        """The source's own engine (created on first use; a small pool, checked before use)."""
        if self._engine is None:
            args: dict[str, Any] = {}
            if self.dialect == "mysql":
                args = {"charset": "utf8mb4", "connect_timeout": 10}
            elif self.dialect == "postgresql":
                args = {"connect_timeout": 10}
            self._engine = (
                create_engine(self._url, pool_pre_ping=True, pool_size=2, connect_args=args)
                if self.dialect != "sqlite"
                else create_engine(self._url)
            )
        return self._engine

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
        try:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(
                text(query), dict(params)
            )
            if keys is not None:
                keys[:] = result.keys()
            yield from result.partitions(batch)
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

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
