"""``rate_limits``: the web's shared rate-limit counters (sliding windows over slots).

Every web process on every machine counts in the same rows, so N processes allow the limit
once, not N times. A hit is one atomic upsert-increment (``INSERT .. ON CONFLICT DO UPDATE
SET hits = hits + 1 RETURNING hits``) plus a primary-key read of the previous slot; expired
rows go with an indexed ``DELETE`` that callers run now and then (:func:`prune`).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.store.schema import rate_limits

__all__ = ["hit", "prune", "relax_durability"]


def hit(conn: Connection, bucket: str, slot: int, expires_at: int) -> tuple[int, int]:
    """Count one event in ``(bucket, slot)``; return ``(hits in slot, hits in slot - 1)``.

    On PostgreSQL this is one statement (the upsert in a CTE beside the read of the
    previous slot): one round trip.

    Args:
        bucket: the limit's hashed key (at most 64 characters).
        slot: the window's number (Unix time divided by the window's length).
        expires_at: Unix seconds after which the row is no longer read.
    """
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    upsert = (
        dialect.insert(rate_limits)
        .values(bucket=bucket, slot=slot, hits=1, expires_at=expires_at)
        .on_conflict_do_update(
            index_elements=[rate_limits.c.bucket, rate_limits.c.slot],
            set_={"hits": rate_limits.c.hits + 1},
        )
        .returning(rate_limits.c.hits)
    )
    previous = (
        select(rate_limits.c.hits)
        .where(rate_limits.c.bucket == bucket, rate_limits.c.slot == slot - 1)
        .scalar_subquery()
    )
    if dialect is sqlite:  # SQLite has no INSERT inside a WITH: two statements
        current = int(conn.execute(upsert).scalar_one())
        return current, int(conn.execute(select(previous)).scalar() or 0)
    counted = upsert.cte("counted")
    row = conn.execute(select(counted.c.hits, previous)).one()
    return int(row[0]), int(row[1] or 0)


def relax_durability(conn: Connection) -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL).

    A counter lost in a crash costs nothing but a few allowed requests, and the flush is
    most of a hit's time on a busy disk. SQLite in WAL mode with ``synchronous=NORMAL``
    does not flush at commit already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


def prune(conn: Connection, now: int) -> int:
    """Delete the rows that expired before ``now`` (Unix seconds); return how many."""
    result = conn.execute(delete(rate_limits).where(rate_limits.c.expires_at < now))
    return int(result.rowcount or 0)
