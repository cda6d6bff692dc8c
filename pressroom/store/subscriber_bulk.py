"""Subscribers in bulk: the reads of CSV import and export, a batch per statement.

Import looks a batch's mailboxes up with one ``IN`` query (its inserts and updates, one
statement each, are :mod:`pressroom.store.subscriber_writes`'s); export reads in keyset
pages so memory stays flat at any list size. The rules deciding what to write are
:mod:`pressroom.subscribers.lifecycle`'s; functions here take a connection inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, tuple_

from pressroom.models import ConsentEvent, ConsentSource, Frequency, Subscriber, SubscriberStatus
from pressroom.store.schema import consent_events, subscribers
from pressroom.store.subscribers import row_to_subscriber

__all__ = [
    "HeldSubscriber",
    "consent_events_of",
    "held_by_keys",
    "last_status_changes",
    "subscriber_pages",
]

_CHUNK = 1000
_HELD_COLUMNS = (
    subscribers.c.id,
    subscribers.c.email,
    subscribers.c.email_key,
    subscribers.c.name,
    subscribers.c.status,
    subscribers.c.sections,
    subscribers.c.frequency,
    subscribers.c.bounces,
    subscribers.c.confirmed_at,
    subscribers.c.updated_at,
)


@dataclass(slots=True)
class HeldSubscriber:
    """What import compares and writes of one subscriber (``id`` None: not stored yet)."""

    id: int | None
    email: str
    email_key: str
    name: str
    status: SubscriberStatus
    sections: str  # the column value: slugs joined by ","
    frequency: Frequency
    bounces: int
    confirmed_at: datetime | None
    updated_at: datetime | None


def held_by_keys(conn: Connection, keys: Iterable[str]) -> dict[str, HeldSubscriber]:
    """The stored subscribers of these mailbox keys, by key: one query per 1,000 keys.

    On PostgreSQL the rows are locked until the transaction ends, so a concurrent bounce
    count is not overwritten (SQLite's write transaction already excludes other writers).
    """
    wanted = list(keys)
    held: dict[str, HeldSubscriber] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(*_HELD_COLUMNS).where(
            subscribers.c.email_key.in_(wanted[start : start + _CHUNK])
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for r in conn.execute(query):
            held[r.email_key] = HeldSubscriber(
                r.id,
                r.email,
                r.email_key,
                r.name,
                SubscriberStatus(r.status),
                r.sections,
                Frequency(r.frequency),
                r.bounces,
                r.confirmed_at,
                r.updated_at,
            )
    return held


def last_status_changes(conn: Connection, ids: Sequence[int]) -> dict[int, datetime]:
    """When each subscriber got its current status (its newest consent event to it)."""
    found: dict[int, datetime] = {}
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(consent_events.c.subscriber_id, func.max(consent_events.c.at))
            .join(subscribers, subscribers.c.id == consent_events.c.subscriber_id)
            .where(
                consent_events.c.subscriber_id.in_(ids[start : start + _CHUNK]),
                consent_events.c.to_status == subscribers.c.status,
            )
            .group_by(consent_events.c.subscriber_id)
        )
        for ident, at in conn.execute(query):
            found[ident] = at  # max() keeps the column's type: an aware UTC datetime
    return found


def subscriber_pages(
    conn: Connection, status: SubscriberStatus | None = None, page: int = _CHUNK
) -> Iterator[list[Subscriber]]:
    """Every subscriber (or those with ``status``) by address, ``page`` rows at a time."""
    after: tuple[str, int] | None = None
    while True:
        query = select(subscribers).order_by(subscribers.c.email, subscribers.c.id).limit(page)
        if status is not None:
            query = query.where(subscribers.c.status == SubscriberStatus(status).value)
        if after is not None:
            query = query.where(tuple_(subscribers.c.email, subscribers.c.id) > after)
        found = [row_to_subscriber(r) for r in conn.execute(query)]
        if not found:
            return
        yield found
        after = (found[-1].email, found[-1].id)


def consent_events_of(conn: Connection, ids: Sequence[int]) -> dict[int, list[ConsentEvent]]:
    """The consent events of these subscribers, oldest first, by subscriber id."""
    events: dict[int, list[ConsentEvent]] = {ident: [] for ident in ids}
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(consent_events)
            .where(consent_events.c.subscriber_id.in_(ids[start : start + _CHUNK]))
            .order_by(consent_events.c.subscriber_id, consent_events.c.at, consent_events.c.id)
        )
        for row in conn.execute(query):
            before = row.from_status
            events[row.subscriber_id].append(
                ConsentEvent(
                    subscriber_id=row.subscriber_id,
                    from_status=None if before is None else SubscriberStatus(before),
                    to_status=SubscriberStatus(row.to_status),
                    at=row.at,
                    source=ConsentSource(row.source),
                    ip=row.ip,
                    note=row.note,
                )
            )
    return events
