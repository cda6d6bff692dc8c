"""Bulk writes that never lose a good row: a batch the database refuses is split in halves,
recursively, until the refused rows are found; they are reported, the others committed.

Like :mod:`pressroom.store.migrate`, this module opens its own transactions (one per
attempt): a refused statement spoils the transaction it ran in, on PostgreSQL at once.

Only row-level refusals are split (a constraint, a value the column cannot hold). A
failure of the store itself (locked, unreachable, full) ends the import with a
:class:`~pressroom.errors.StoreError`: splitting would only report every row as bad.
Messages never carry SQL or parameters (SQLAlchemy puts both into ``str(exc)``).

:class:`LineIndex` remembers which line of a file last held each key (a URL, a mailbox)
on a private temporary SQLite database, so finding duplicates over a file of a million
rows keeps memory flat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError, StatementError
from sqlalchemy.sql.dml import Insert

from pressroom.errors import StoreError
from pressroom.store.engine import Store
from pressroom.store.schema import UTCDateTime

__all__ = [
    "KeySet",
    "LineIndex",
    "bind_processor",
    "execute_many",
    "insert_many",
    "refusal_reason",
    "write_bisecting",
]

Item = TypeVar("Item")
Result = TypeVar("Result")

# SQLSTATE classes that mean the store, not the row, failed: connection, resources,
# operator intervention, system errors, transaction rollbacks (deadlock, serialisation).
_STORE_FAILURES = ("08", "40", "53", "57", "58", "XX", "HV")
_ROW_ERRORS = (SQLAlchemyError, ValueError, OverflowError, TypeError, UnicodeError)
_REASON_CHARS = 120
_INDEX_CACHE_KB = 16 * 1024  # ~700,000 keys in memory; beyond, pages spill to the file


def write_bisecting(
    store: Store,
    items: Sequence[Item],
    write: Callable[[Connection, Sequence[Item]], Result],
    refused: Callable[[Item, str], None],
) -> list[Result]:
    """Run ``write(conn, items)`` in one write transaction; split it when a row is refused.

    Returns the results of the committed parts, in order. ``refused(item, reason)`` is
    called for each item that the database refused on its own.

    Raises:
        StoreError: the store itself failed (one sentence, no SQL).
    """
    if not items:
        return []
    try:
        with store.write() as conn:
            return [write(conn, items)]
    except _ROW_ERRORS as exc:
        if _store_failure(exc):
            raise StoreError(f"the store failed: {refusal_reason(exc)}") from None
        if len(items) == 1:
            refused(items[0], refusal_reason(exc))
            return []
    middle = len(items) // 2
    first = write_bisecting(store, items[:middle], write, refused)
    return first + write_bisecting(store, items[middle:], write, refused)


def execute_many(conn: Connection, statement: Insert, rows: Sequence[dict[str, Any]]) -> None:
    """Run the INSERT ``statement`` (an upsert too) once per row, in one driver call.

    The same as ``conn.execute(statement, rows)``, minus SQLAlchemy's per-row parameter
    processing, which costs more than the database at 10,000 rows/s: the statement is
    compiled once, and only typed values (times) go through their bind processors, once
    per distinct value (a batch's rows share their "now"). Every row has the same keys.
    """
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = statement.inline().compile(dialect=dialect, column_keys=keys)
    processors: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        process = bind_processor(bind.type, dialect)
        if process is not None:
            processors[name] = process
    order = list(compiled.positiontup or []) if compiled.positional else keys
    typed: list[tuple[int, Any, dict[Any, Any]]] = [
        (i, processors[n], {}) for i, n in enumerate(order) if n in processors
    ]
    pick = itemgetter(*order)
    params: list[Any] = []
    for row in rows:
        values = list(pick(row)) if len(order) > 1 else [pick(row)]
        for i, process, memo in typed:
            value = values[i]
            if value is not None:
                if value not in memo:
                    memo[value] = process(value)
                values[i] = memo[value]
        params.append(
            tuple(values) if compiled.positional else dict(zip(order, values, strict=True))
        )
    conn.exec_driver_sql(compiled.string, params)


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``: ``COPY`` on PostgreSQL, :func:`execute_many` elsewhere.

    psycopg runs an ``executemany`` as one statement per row; ``COPY`` streams the batch in
    one command. Every row has the same keys; values are what psycopg adapts itself
    (text, numbers, aware datetimes, None).
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        execute_many(conn, table.insert(), rows)
        return
    keys = list(rows[0])
    columns = ", ".join(f'"{key}"' for key in keys)
    pick = itemgetter(*keys)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(pick(row) if len(keys) > 1 else (pick(row),))
    finally:
        cursor.close()


def bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How ``execute_many`` binds a value of ``type_``: SQLAlchemy's own processor, except
    for times on SQLite, written here as the same text at a fifth of the cost."""
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return _sqlite_utc_text
    return type_.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _sqlite_utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("a naive datetime reached the store")
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]  # drop "+00:00"


def _store_failure(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return state[:2] in _STORE_FAILURES
    # SQLite raises OperationalError for a locked, read-only, full or corrupt database.
    return isinstance(exc, OperationalError)


def refusal_reason(exc: BaseException) -> str:
    """The database's own first line about ``exc``, without the SQL or the parameters."""
    cause: object = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        cause = exc.orig
    diag = getattr(cause, "diag", None)
    text = getattr(diag, "message_primary", None) or str(cause)
    lines = text.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if not first or "[SQL" in first or "[parameters" in first:
        first = type(cause).__name__
    return first if len(first) <= _REASON_CHARS else first[: _REASON_CHARS - 3] + "..."


class LineIndex:
    """The last line of one file that held each key, on disk (deleted when closed)."""

    def __init__(self) -> None:
        # "" opens a private temporary database; it spills to disk beyond its cache.
        self._db = sqlite3.connect("")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute(f"PRAGMA cache_size=-{_INDEX_CACHE_KB}")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key INTEGER PRIMARY KEY, line INTEGER NOT NULL)")

    def earlier(self, keyed: Sequence[tuple[str, int]]) -> dict[int, int]:
        """Record ``(key, line)`` pairs in file order; return ``{line: earlier line}``.

        The earlier line is the last one before ``line`` that held the same key (in an
        earlier call or earlier in this one). Keys are compared by a 64-bit hash: a
        collision (odds ~1e-8 in a file of a million rows) reports a duplicate that is
        not one, and loses nothing.
        """
        hashed = [(hash(key), line) for key, line in keyed]
        last: dict[int, int] = {}
        distinct = sorted({h for h, _ in hashed})  # in key order: B-tree pages in sequence
        for start in range(0, len(distinct), 30_000):
            chunk = distinct[start : start + 30_000]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, line FROM seen WHERE key IN ({marks})"
            last.update(self._db.execute(query, chunk).fetchall())
        found: dict[int, int] = {}
        for h, line in hashed:
            if h in last:
                found[line] = last[h]
            last[h] = line
        with self._db:  # one transaction: autocommit would write the pages per row
            self._db.executemany(
                "INSERT OR REPLACE INTO seen (key, line) VALUES (?, ?)",
                [(h, last[h]) for h in distinct],
            )
        return found

    def close(self) -> None:
        """Delete the index."""
        self._db.close()


class KeySet:
    """A set of text keys on disk (a full sync's URLs): memory stays flat at any size."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # a private temporary database, deleted on close
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute(f"PRAGMA cache_size=-{_INDEX_CACHE_KB}")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, keys: Sequence[str]) -> None:
        """Add ``keys``."""
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?)", [(k,) for k in keys])

    def missing(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` not added, in their order."""
        present: set[str] = set()
        for start in range(0, len(keys), 30_000):
            chunk = keys[start : start + 30_000]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key FROM keys WHERE key IN ({marks})"
            present.update(k for (k,) in self._db.execute(query, chunk))
        return [k for k in keys if k not in present]

    def close(self) -> None:
        """Delete the set."""
        self._db.close()
