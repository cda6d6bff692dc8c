"""The ``consent_events`` table: every change of a subscriber's status, and who made it.

Written by :mod:`pressroom.subscribers.lifecycle` (and bounce processing) in the same
transaction as the change itself, so the history can never disagree with the status.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from pressroom.models import ConsentEvent, ConsentSource, SubscriberStatus
from pressroom.store.schema import consent_events

__all__ = ["consent_history", "record_consent_event", "record_consent_events"]


def record_consent_event(conn: Connection, event: ConsentEvent) -> None:
    """Append one event."""
    record_consent_events(conn, [event])


def record_consent_events(conn: Connection, events: Iterable[ConsentEvent]) -> None:
    """Append many events in one statement (bulk import)."""
    rows = [
        {
            "subscriber_id": event.subscriber_id,
            "from_status": None if event.from_status is None else event.from_status.value,
            "to_status": event.to_status.value,
            "at": event.at,
            "source": event.source.value,
            "ip": event.ip,
            "note": event.note,
        }
        for event in events
    ]
    if rows:
        conn.execute(consent_events.insert(), rows)


def consent_history(conn: Connection, subscriber_id: int) -> list[ConsentEvent]:
    """A subscriber's events, oldest first."""
    query = (
        select(consent_events)
        .where(consent_events.c.subscriber_id == subscriber_id)
        .order_by(consent_events.c.at, consent_events.c.id)
    )
    return [
        ConsentEvent(
            subscriber_id=row.subscriber_id,
            from_status=None if row.from_status is None else SubscriberStatus(row.from_status),
            to_status=SubscriberStatus(row.to_status),
            at=row.at,
            source=ConsentSource(row.source),
            ip=row.ip,
            note=row.note,
        )
        for row in conn.execute(query)
    ]
