"""The ``consent_events`` table: every change of a subscriber's status, and who made it.

Written (:mod:`pressroom.store.subscriber_writes`) by :mod:`pressroom.subscribers.lifecycle`
in the same transaction as the change itself, so the history can never disagree with the
status; read here.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from pressroom.models import ConsentEvent, ConsentSource, SubscriberStatus
from pressroom.store.schema import consent_events

__all__ = ["consent_history"]


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
