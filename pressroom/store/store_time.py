"""The store's clock, for everything two processes judge together.

Leases, delivery claims, worker and run heartbeats are stamped and compared in SQL with
the database's own time (PostgreSQL ``now()``; SQLite's ``'now'``, the time of the one
machine that holds the file), never with each process's clock: a machine whose clock is
off cannot take a lease that is still held, nor declare a live worker dead.

SQLite stores datetimes as text (``YYYY-MM-DD HH:MM:SS.ffffff``); the expressions here
produce the same shape, so comparisons with stored values stay correct.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, literal, select, type_coerce

from pressroom.store.schema import UTCDateTime

__all__ = ["db_now", "now_expr"]


def now_expr(conn: Connection, plus: timedelta = timedelta(0)) -> Any:
    """A SQL expression: the store's current time plus ``plus`` (may be negative)."""
    if conn.dialect.name == "postgresql":
        expr = func.now() if not plus else func.now() + literal(plus)
        return type_coerce(expr, UTCDateTime())
    modifier = f"{plus.total_seconds():+.6f} seconds"
    # strftime's %f has milliseconds; pad to the microseconds SQLAlchemy writes.
    text = func.strftime("%Y-%m-%d %H:%M:%f", "now", modifier).op("||")("000")
    return type_coerce(text, UTCDateTime())


def db_now(conn: Connection) -> datetime:
    """The store's current time (aware, UTC)."""
    value: datetime = conn.execute(select(now_expr(conn))).scalar_one()
    return value
