"""Bulk writes that never lose a good row: a batch the database refuses is split in halves,
recursively, until the refused rows are found; they are reported, the others committed.

Like :mod:`pressroom.store.migrate`, this module opens its own transactions (one per
attempt): a refused statement spoils the transaction it ran in, on PostgreSQL at once.

Only row-level refusals are split (a constraint, a value the column cannot hold). A
failure of the store itself (locked, unreachable, full) ends the import with a
:class:`~pressroom.errors.StoreError`: splitting would only report every row as bad.
Messages never carry SQL or parameters (SQLAlchemy puts both into ``str(exc)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    "bind_processor",
    "execute_many",
    "insert_many",
    "refusal_reason",
    "rows_in",
    "write_bisecting",
]

Item = TypeVar("Item")
Result = TypeVar("Result")

# SQLSTATE classes that mean the store, not the row, failed: connection, resources,
# operator intervention, system errors, transaction rollbacks (deadlock, serialisation).
_STORE_FAILURES = ("08", "40", "53", "57", "58", "XX", "HV")
_ROW_ERRORS = (SQLAlchemyError, ValueError, OverflowError, TypeError, UnicodeError)
_REASON_CHARS = 120
_IN_CHUNK = 1000  # values per IN list: far below SQLite's 32,766 variables


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


def rows_in(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    key: str,
    values: Sequence[str],
    equal: Mapping[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """``columns`` of the rows of ``table`` whose ``key`` is one of ``values`` (and each
    column of ``equal`` holds its value), as the driver returns them: for text columns.

    What ``select(...).where(column.in_(values))`` gives, at a fraction of its cost for
    thousands of values (SQLAlchemy coerces and names each one): one statement per 1,000
    values, written with the driver's own placeholders.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    quote = conn.dialect.identifier_preparer.quote
    head = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} WHERE "
    for column in equal or {}:
        head += f"{quote(column)} = {mark} AND "
    fixed = tuple((equal or {}).values())
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(values), _IN_CHUNK):
        part = tuple(values[start : start + _IN_CHUNK])
        marks = ", ".join([mark] * len(part))
        sql = f"{head}{quote(key)} IN ({marks})"
        found.extend(tuple(row) for row in conn.exec_driver_sql(sql, fixed + part))
    return found


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
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # drop "+00:00"


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
