"""The ``bounce_events`` table: every inbound message of the bounce mailbox, and what it did.

Written by :mod:`pressroom.bounces` in the same transaction as the status change it
causes; ``message_key`` is unique, so a message processed twice is recorded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from pressroom.models import BounceKind
from pressroom.store.schema import bounce_events, subscribers

__all__ = [
    "BounceEvent",
    "BounceRow",
    "count_by_kind",
    "count_since",
    "list_events",
    "record_event",
    "seen",
]


@dataclass(frozen=True, slots=True)
class BounceEvent:
    """One processed inbound message, as it is recorded."""

    message_key: str
    message_id: str
    received_at: datetime
    processed_at: datetime
    kind: BounceKind
    status_code: str | None = None
    diagnostic: str = ""
    recipient: str | None = None
    subscriber_id: int | None = None
    digest_id: int | None = None
    action: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class BounceRow:
    """A recorded event with its id and the subscriber's address (for ``bounces list``)."""

    id: int
    event: BounceEvent
    subscriber_email: str | None


def seen(conn: Connection, message_key: str) -> bool:
    """True when a message with this key is already recorded."""
    query = select(bounce_events.c.id).where(bounce_events.c.message_key == message_key)
    return conn.execute(query).first() is not None


def record_event(conn: Connection, event: BounceEvent) -> int:
    """Append ``event``; return its id."""
    values = {
        "message_key": event.message_key,
        "message_id": event.message_id,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
        "kind": event.kind.value,
        "status_code": event.status_code,
        "diagnostic": event.diagnostic,
        "recipient": event.recipient,
        "subscriber_id": event.subscriber_id,
        "digest_id": event.digest_id,
        "action": event.action,
        "note": event.note,
    }
    result = conn.execute(bounce_events.insert().values(**values).returning(bounce_events.c.id))
    return int(result.scalar_one())


def count_since(conn: Connection, subscriber_id: int, action: str, since: datetime) -> int:
    """How many events of ``subscriber_id`` that took ``action`` were received after ``since``."""
    query = select(func.count()).where(
        bounce_events.c.subscriber_id == subscriber_id,
        bounce_events.c.action == action,
        bounce_events.c.received_at > since,
    )
    return int(conn.execute(query).scalar_one())


def count_by_kind(conn: Connection, since: datetime | None = None) -> dict[BounceKind, int]:
    """Events per kind (received after ``since`` when given); kinds without any are left out."""
    query = select(bounce_events.c.kind, func.count()).group_by(bounce_events.c.kind)
    if since is not None:
        query = query.where(bounce_events.c.received_at > since)
    return {BounceKind(kind): int(n) for kind, n in conn.execute(query)}


def list_events(
    conn: Connection,
    *,
    kinds: tuple[BounceKind, ...] = (),
    since: datetime | None = None,
    limit: int | None = None,
) -> list[BounceRow]:
    """Recorded events, newest first, optionally of some kinds and after ``since``."""
    query = (
        select(bounce_events, subscribers.c.email.label("subscriber_email"))
        .select_from(
            bounce_events.outerjoin(subscribers, subscribers.c.id == bounce_events.c.subscriber_id)
        )
        .order_by(bounce_events.c.received_at.desc(), bounce_events.c.id.desc())
    )
    if kinds:
        query = query.where(bounce_events.c.kind.in_([k.value for k in kinds]))
    if since is not None:
        query = query.where(bounce_events.c.received_at > since)
    if limit is not None:
        query = query.limit(limit)
    return [
        BounceRow(
            id=row.id,
            event=BounceEvent(
                message_key=row.message_key,
                message_id=row.message_id,
                received_at=row.received_at,
                processed_at=row.processed_at,
                kind=BounceKind(row.kind),
                status_code=row.status_code,
                diagnostic=row.diagnostic,
                recipient=row.recipient,
                subscriber_id=row.subscriber_id,
                digest_id=row.digest_id,
                action=row.action,
                note=row.note,
            ),
            subscriber_email=row.subscriber_email,
        )
        for row in conn.execute(query)
    ]
