"""The ``digests`` table: one row per digest run, unique per (schedule, period).

A run covers the articles published in ``(window_start, window_end]``; its window and
the articles it selected (``article_ids``, best first) are fixed when it is created, so a
resumed run sends what it started with. ``status`` is ``open`` while deliveries remain,
``completed`` once every delivery is recorded (this moves the schedule's watermark: the
next run starts at this run's ``window_end``), ``failed`` when given up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.models import DigestStatus, Frequency
from pressroom.store.schema import digests

__all__ = [
    "Digest",
    "complete_digest",
    "completed_digests",
    "earliest_start",
    "find_digest",
    "last_completed",
    "latest_digest",
    "open_digest",
    "supersede_open",
]


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest run."""

    id: int
    schedule: str
    period: str
    frequency: Frequency
    window_start: datetime
    window_end: datetime
    status: DigestStatus
    created_at: datetime
    completed_at: datetime | None
    summary: str
    article_ids: tuple[int, ...]

    @property
    def key(self) -> str:
        """``schedule:period``, e.g. ``daily:2026-11-29``."""
        return f"{self.schedule}:{self.period}"


def _row_to_digest(row: Row[Any]) -> Digest:
    m = row._mapping
    return Digest(
        id=m["id"],
        schedule=m["schedule"],
        period=m["period"],
        frequency=Frequency(m["frequency"]),
        window_start=m["window_start"],
        window_end=m["window_end"],
        status=DigestStatus(m["status"]),
        created_at=m["created_at"],
        completed_at=m["completed_at"],
        summary=m["summary"],
        article_ids=tuple(int(part) for part in m["article_ids"].split(",") if part),
    )


def find_digest(conn: Connection, schedule: str, period: str) -> Digest | None:
    """The run of ``schedule`` for ``period``, or None."""
    query = select(digests).where(digests.c.schedule == schedule, digests.c.period == period)
    row = conn.execute(query).first()
    return None if row is None else _row_to_digest(row)


def last_completed(conn: Connection, schedule: str) -> Digest | None:
    """The completed run of ``schedule`` with the latest window end (the watermark)."""
    query = (
        select(digests)
        .where(digests.c.schedule == schedule, digests.c.status == DigestStatus.COMPLETED.value)
        .order_by(digests.c.window_end.desc(), digests.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _row_to_digest(row)


def earliest_start(conn: Connection, schedule: str) -> datetime | None:
    """The earliest window start of any run of ``schedule`` (None before its first run)."""
    query = (
        select(digests)
        .where(digests.c.schedule == schedule)
        .order_by(digests.c.window_start, digests.c.id)
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _row_to_digest(row).window_start


def open_digest(
    conn: Connection,
    *,
    schedule: str,
    period: str,
    frequency: Frequency,
    window_start: datetime,
    window_end: datetime,
    article_ids: Sequence[int],
    now: datetime,
) -> tuple[Digest, bool]:
    """Create the run of ``schedule`` for ``period``, unless it exists.

    Returns the run and whether this call created it. Safe against a concurrent creator:
    the unique (schedule, period) constraint decides, and the loser gets the winner's row.
    """
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(digests)
    statement = insert.values(
        schedule=schedule,
        period=period,
        frequency=Frequency(frequency).value,
        window_start=window_start,
        window_end=window_end,
        status=DigestStatus.OPEN.value,
        created_at=now,
        article_ids=",".join(str(i) for i in article_ids),
    ).on_conflict_do_nothing(index_elements=[digests.c.schedule, digests.c.period])
    created = conn.execute(statement.returning(digests.c.id)).first() is not None
    digest = find_digest(conn, schedule, period)
    assert digest is not None  # inserted above or by a concurrent creator
    return digest, created


def complete_digest(conn: Connection, digest_id: int, now: datetime, summary: str) -> None:
    """Mark a run completed (every delivery recorded): the watermark moves to its end."""
    conn.execute(
        digests.update()
        .where(digests.c.id == digest_id)
        .values(status=DigestStatus.COMPLETED.value, completed_at=now, summary=summary)
    )


def supersede_open(conn: Connection, schedule: str, keep_id: int, now: datetime) -> int:
    """Mark every other still-open run of ``schedule`` failed; return how many.

    Called when a new period's run is created: that run's window already starts at the
    watermark and so carries the older open runs' articles.
    """
    result = conn.execute(
        digests.update()
        .where(
            digests.c.schedule == schedule,
            digests.c.status == DigestStatus.OPEN.value,
            digests.c.id != keep_id,
        )
        .values(
            status=DigestStatus.FAILED.value,
            completed_at=now,
            summary="superseded by a later run before it finished",
        )
    )
    return int(result.rowcount)


def latest_digest(conn: Connection, schedule: str) -> Digest | None:
    """The newest run of ``schedule`` (by creation), whatever its status, or None."""
    query = (
        select(digests)
        .where(digests.c.schedule == schedule)
        .order_by(digests.c.created_at.desc(), digests.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _row_to_digest(row)


def completed_digests(conn: Connection, schedule: str) -> list[Digest]:
    """Every completed run of ``schedule``, the latest window first (the public archive)."""
    query = (
        select(digests)
        .where(digests.c.schedule == schedule, digests.c.status == DigestStatus.COMPLETED.value)
        .order_by(digests.c.window_end.desc(), digests.c.id.desc())
    )
    return [_row_to_digest(row) for row in conn.execute(query)]
