"""Every write of a subscriber: its row in ``subscribers`` and its ``consent_events``.

Only :mod:`pressroom.subscribers` may import this module (an import-linter contract, and
``tests/subscribers/test_status_writers.py``): its functions apply no consent rule, so a
status changed anywhere else would bypass :mod:`pressroom.subscribers.lifecycle`, which
decides every change and records its event in the same transaction. Reads are
:mod:`pressroom.store.subscribers`'s.

Functions take a :class:`~sqlalchemy.Connection`; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.models import ConsentEvent, Frequency, Subscriber, SubscriberStatus
from pressroom.store.bulk import insert_many
from pressroom.store.schema import consent_events, subscribers
from pressroom.store.subscriber_bulk import HeldSubscriber
from pressroom.store.subscribers import (
    address_key,
    find_subscriber,
    get_subscriber,
    join_sections,
    new_public_key,
)

__all__ = [
    "activate_request",
    "count_bounce",
    "insert_subscriber",
    "insert_subscribers",
    "open_subscribe_request",
    "record_consent_event",
    "record_consent_events",
    "save_subscriber",
    "set_confirm_nonce",
    "set_preferences",
    "set_request_mailed",
    "set_status",
    "update_subscriber",
    "update_subscribers",
]

_CHUNK = 1000


def _status_values(status: SubscriberStatus, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"status": SubscriberStatus(status).value, "updated_at": now}
    if status == SubscriberStatus.ACTIVE:
        values["confirmed_at"] = func.coalesce(subscribers.c.confirmed_at, now)
        values["bounces"] = 0
    return values


def insert_subscriber(
    conn: Connection,
    *,
    email: str,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    status: SubscriberStatus,
    now: datetime,
    confirm_nonce: str | None = None,
) -> Subscriber | None:
    """Insert a new subscriber with a fresh public key; None if the mailbox exists already
    (another transaction may have added it since the caller looked)."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(subscribers)
    statement = insert.values(
        email=email,
        email_key=address_key(email),
        public_key=new_public_key(),
        confirm_nonce=confirm_nonce,
        name=name,
        sections=join_sections(sections),
        frequency=Frequency(frequency).value,
        status=SubscriberStatus(status).value,
        created_at=now,
        updated_at=now,
        confirmed_at=now if status == SubscriberStatus.ACTIVE else None,
    ).on_conflict_do_nothing(index_elements=[subscribers.c.email_key])
    inserted = conn.execute(statement.returning(subscribers.c.id)).scalar()
    return None if inserted is None else get_subscriber(conn, inserted)


def update_subscriber(
    conn: Connection,
    subscriber_id: int,
    *,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    status: SubscriberStatus,
    now: datetime,
    confirm_nonce: str | None = None,
) -> None:
    """Overwrite a subscriber's choices, status and open request (``confirm_nonce``).

    Becoming ``active`` stamps ``confirmed_at`` (once) and resets the bounce count; the
    address as first written, the id, the public key and ``created_at`` are kept.
    """
    values = _status_values(status, now)
    values.update(
        name=name,
        sections=join_sections(sections),
        frequency=Frequency(frequency).value,
        confirm_nonce=confirm_nonce,
    )
    conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id).values(values))


def save_subscriber(
    conn: Connection,
    *,
    email: str,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    status: SubscriberStatus,
    now: datetime,
) -> Subscriber:
    """Insert the subscriber ``email``, or update it when the address exists (upsert).

    Becoming ``active`` stamps ``confirmed_at`` (once); a changed address row keeps its id,
    ``created_at`` and bounce count, except that re-activating resets the bounces. It
    applies no consent rule and records no consent event (the rules are
    :mod:`pressroom.subscribers.lifecycle`'s): it sets a store up in a given state, for
    tests and benchmarks.
    """
    choices: dict[str, Any] = {
        "name": name, "sections": sections, "frequency": frequency, "status": status, "now": now
    }  # fmt: skip
    saved = insert_subscriber(conn, email=email, **choices)
    if saved is not None:
        return saved
    existing = find_subscriber(conn, email)
    assert existing is not None  # the insert met this mailbox in this transaction
    update_subscriber(conn, existing.id, **choices)  # closes any open confirm request
    updated = get_subscriber(conn, existing.id)
    assert updated is not None
    return updated


def open_subscribe_request(
    conn: Connection,
    subscriber_id: int,
    *,
    nonce: str,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    mailed_at: datetime | None,
) -> None:
    """Open a subscribe request (``nonce``) on a known subscriber; its choices are kept
    beside the subscriber's own and applied only by :func:`activate_request`."""
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id)
        .values(
            confirm_nonce=nonce,
            request_name=name,
            request_sections=join_sections(sections),
            request_frequency=Frequency(frequency).value,
            request_mailed_at=mailed_at,
        )
    )


def set_request_mailed(conn: Connection, subscriber_id: int, mailed_at: datetime | None) -> None:
    """Stamp when a confirmation mail was last sent (None: keep the stamp as it is)."""
    stamp = subscribers.c.request_mailed_at if mailed_at is None else mailed_at
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id)
        .values(request_mailed_at=stamp)
    )


def activate_request(conn: Connection, subscriber_id: int, nonce: str, now: datetime) -> bool:
    """Make the subscriber active if ``nonce`` is still their open request, and close it;
    the request's own choices (:func:`open_subscribe_request`), if any, become theirs.

    One conditional UPDATE: of two confirmations racing, exactly one wins (True).
    """
    values = _status_values(SubscriberStatus.ACTIVE, now)
    values["confirm_nonce"] = None
    values.update(
        name=func.coalesce(subscribers.c.request_name, subscribers.c.name),
        sections=func.coalesce(subscribers.c.request_sections, subscribers.c.sections),
        frequency=func.coalesce(subscribers.c.request_frequency, subscribers.c.frequency),
        request_name=None,
        request_sections=None,
        request_frequency=None,
    )
    statement = (
        subscribers.update()
        .where(subscribers.c.id == subscriber_id, subscribers.c.confirm_nonce == nonce)
        .values(values)
        .returning(subscribers.c.id)
    )
    return conn.execute(statement).scalar() is not None


def set_confirm_nonce(conn: Connection, subscriber_id: int, nonce: str | None) -> None:
    """Open a subscribe request (``nonce``) or close it (None), voiding older confirm links."""
    conn.execute(
        subscribers.update().where(subscribers.c.id == subscriber_id).values(confirm_nonce=nonce)
    )


def set_status(
    conn: Connection, subscriber_id: int, status: SubscriberStatus, now: datetime
) -> None:
    """Change a subscriber's status (``active`` also stamps ``confirmed_at`` once).

    Any change of status closes the open subscribe request: older confirm links are void.
    """
    values = _status_values(status, now)
    values["confirm_nonce"] = None
    conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id).values(values))


def set_preferences(
    conn: Connection,
    subscriber_id: int,
    *,
    sections: Sequence[str],
    frequency: Frequency,
    now: datetime,
) -> None:
    """Change which sections (empty = all) and how often a subscriber gets digests."""
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id)
        .values(
            sections=join_sections(sections),
            frequency=Frequency(frequency).value,
            updated_at=now,
        )
    )


def count_bounce(
    conn: Connection, subscriber_id: int, now: datetime
) -> tuple[SubscriberStatus, int] | None:
    """Add one permanent delivery failure to the subscriber's count; return their status and
    the new count (None if the subscriber is gone).

    The increment happens in SQL, so concurrent senders never lose a count. Whether the
    count changes the status is :func:`pressroom.subscribers.lifecycle.count_send_bounce`'s
    rule.
    """
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id)
        .values(bounces=subscribers.c.bounces + 1, updated_at=now)
    )
    row = conn.execute(
        select(subscribers.c.status, subscribers.c.bounces).where(subscribers.c.id == subscriber_id)
    ).first()
    return None if row is None else (SubscriberStatus(row.status), int(row.bounces))


def insert_subscribers(
    conn: Connection, rows: Sequence[HeldSubscriber], public_keys: Sequence[str], now: datetime
) -> dict[str, int]:
    """Insert new subscribers (one statement); return their ids by mailbox key."""
    if not rows:
        return {}
    values = [
        {
            "email": row.email,
            "email_key": row.email_key,
            "public_key": key,
            "name": row.name,
            "status": row.status.value,
            "sections": row.sections,
            "frequency": row.frequency.value,
            "bounces": row.bounces,
            "created_at": now,
            "updated_at": now,
            "confirmed_at": row.confirmed_at,
        }
        for row, key in zip(rows, public_keys, strict=True)
    ]
    insert_many(conn, subscribers, values)
    ids: dict[str, int] = {}
    keys = [row.email_key for row in rows]
    for start in range(0, len(keys), _CHUNK):
        query = select(subscribers.c.email_key, subscribers.c.id).where(
            subscribers.c.email_key.in_(keys[start : start + _CHUNK])
        )
        ids.update((k, i) for k, i in conn.execute(query))
    return ids


_UPDATE = (
    subscribers.update()
    .where(subscribers.c.id == bindparam("b_id"))
    .values(
        name=bindparam("b_name"),
        status=bindparam("b_status"),
        sections=bindparam("b_sections"),
        frequency=bindparam("b_frequency"),
        bounces=bindparam("b_bounces"),
        confirmed_at=bindparam("b_confirmed_at", type_=subscribers.c.confirmed_at.type),
        updated_at=bindparam("b_updated_at", type_=subscribers.c.updated_at.type),
        confirm_nonce=None,
    )
)


def update_subscribers(conn: Connection, rows: Sequence[HeldSubscriber], now: datetime) -> None:
    """Write subscribers the operator changed, in one statement.

    Their open subscribe request is closed (``confirm_nonce`` cleared): confirm links sent
    before an operator's change are void.
    """
    if rows:
        conn.execute(_UPDATE, [_update_values(row, now) for row in rows])


def _update_values(row: HeldSubscriber, now: datetime) -> dict[str, Any]:
    return {
        "b_id": row.id,
        "b_name": row.name,
        "b_status": row.status.value,
        "b_sections": row.sections,
        "b_frequency": row.frequency.value,
        "b_bounces": row.bounces,
        "b_confirmed_at": row.confirmed_at,
        "b_updated_at": now,
    }


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
