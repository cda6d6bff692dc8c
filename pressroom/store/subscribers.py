"""The ``subscribers`` table: who gets digests, of which sections, how often.

Functions take a :class:`~sqlalchemy.Connection` so the caller owns the transaction.
Addresses reaching these functions are already normalised
(:func:`pressroom.subscribers.addresses.normalise_email`). ``sections`` is stored as slugs joined by
``","``; empty means every section.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.models import ConsentEvent, ConsentSource, Frequency, Subscriber, SubscriberStatus
from pressroom.store.consent import record_consent_event
from pressroom.store.schema import subscribers

__all__ = [
    "activate_request",
    "active_by_sections",
    "active_subscribers",
    "address_key",
    "existing_addresses",
    "find_by_public_key",
    "find_subscriber",
    "get_subscriber",
    "insert_subscriber",
    "join_sections",
    "list_subscribers",
    "new_confirm_nonce",
    "new_public_key",
    "pending_nonce",
    "record_bounce",
    "row_to_subscriber",
    "save_subscriber",
    "set_confirm_nonce",
    "set_preferences",
    "set_status",
    "split_sections",
    "update_subscriber",
]


def address_key(email: str) -> str:
    """The mailbox key of a normalised address: its local part lower-cased.

    ``X@y.org`` and ``x@y.org`` reach one mailbox at every provider in practice, so they
    are one subscriber; the address is still sent as first written.
    """
    local, _, domain = email.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


def new_public_key() -> str:
    """A fresh random key for a subscriber's links (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def new_confirm_nonce() -> str:
    """A fresh random nonce for one pending subscribe request (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def join_sections(sections: Sequence[str]) -> str:
    """The column value for ``sections``: unique slugs in order, joined by ``","``."""
    seen: dict[str, None] = {}
    for slug in sections:
        if slug.strip():
            seen.setdefault(slug.strip(), None)
    return ",".join(seen)


def split_sections(value: str) -> tuple[str, ...]:
    """The slugs held in a ``sections`` column value (empty tuple = every section)."""
    return tuple(part for part in value.split(",") if part)


def row_to_subscriber(row: Row[Any]) -> Subscriber:
    """Build a :class:`Subscriber` from a row of ``subscribers``."""
    m = row._mapping
    return Subscriber(
        id=m["id"],
        email=m["email"],
        name=m["name"],
        status=SubscriberStatus(m["status"]),
        frequency=Frequency(m["frequency"]),
        sections=split_sections(m["sections"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        bounces=m["bounces"],
        public_key=m["public_key"],
    )


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    """The subscriber with ``subscriber_id``, or None."""
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return None if row is None else row_to_subscriber(row)


def find_subscriber(conn: Connection, email: str) -> Subscriber | None:
    """The subscriber with the (normalised) address ``email``, or None."""
    query = select(subscribers).where(subscribers.c.email_key == address_key(email))
    row = conn.execute(query).first()
    return None if row is None else row_to_subscriber(row)


def find_by_public_key(conn: Connection, public_key: str) -> Subscriber | None:
    """The subscriber whose links carry ``public_key``, or None."""
    query = select(subscribers).where(subscribers.c.public_key == public_key)
    row = conn.execute(query).first()
    return None if row is None else row_to_subscriber(row)


def pending_nonce(conn: Connection, subscriber_id: int) -> str | None:
    """The nonce of the subscriber's open subscribe request (None: no request open)."""
    query = select(subscribers.c.confirm_nonce).where(subscribers.c.id == subscriber_id)
    return conn.execute(query).scalar()


def existing_addresses(conn: Connection, emails: Sequence[str]) -> set[str]:
    """Which of ``emails`` (normalised) already have a subscriber row: one query.

    The answer holds the given spellings whose mailbox (:func:`address_key`) is known.
    """
    if not emails:
        return set()
    keys = {address_key(email) for email in emails}
    query = select(subscribers.c.email_key).where(subscribers.c.email_key.in_(keys))
    known = set(conn.execute(query).scalars())
    return {email for email in emails if address_key(email) in known}


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
    applies no consent rule and records no consent event: the rules are
    :mod:`pressroom.subscribers.lifecycle`'s (tests and bulk loaders use this directly).
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


def activate_request(conn: Connection, subscriber_id: int, nonce: str, now: datetime) -> bool:
    """Make the subscriber active if ``nonce`` is still their open request, and close it.

    One conditional UPDATE: of two confirmations racing, exactly one wins (True).
    """
    values = _status_values(SubscriberStatus.ACTIVE, now)
    values["confirm_nonce"] = None
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


def active_subscribers(conn: Connection, frequency: Frequency) -> list[Subscriber]:
    """Every active subscriber who wants digests at ``frequency``, by id."""
    query = (
        select(subscribers)
        .where(
            subscribers.c.status == SubscriberStatus.ACTIVE.value,
            subscribers.c.frequency == Frequency(frequency).value,
        )
        .order_by(subscribers.c.id)
    )
    return [row_to_subscriber(r) for r in conn.execute(query)]


def active_by_sections(conn: Connection, frequency: Frequency) -> dict[tuple[str, ...], list[int]]:
    """The ids of active subscribers at ``frequency``, grouped by their section choice.

    Only two columns are read, so a run over 100,000 subscribers stays light.
    """
    query = select(subscribers.c.id, subscribers.c.sections).where(
        subscribers.c.status == SubscriberStatus.ACTIVE.value,
        subscribers.c.frequency == Frequency(frequency).value,
    )
    by_value: dict[str, list[int]] = {}
    for ident, value in conn.execute(query):
        by_value.setdefault(value, []).append(ident)
    return {split_sections(value): ids for value, ids in by_value.items()}


def list_subscribers(conn: Connection, status: SubscriberStatus | None = None) -> list[Subscriber]:
    """Every subscriber (or those with ``status``), ordered by address."""
    query = select(subscribers).order_by(subscribers.c.email)
    if status is not None:
        query = query.where(subscribers.c.status == SubscriberStatus(status).value)
    return [row_to_subscriber(r) for r in conn.execute(query)]


def record_bounce(conn: Connection, subscriber_id: int, bounce_after: int, now: datetime) -> None:
    """Count one permanent failure; mark the subscriber bounced at ``bounce_after`` of them.

    The increment happens in SQL, so concurrent senders never lose a count. Becoming
    ``bounced`` is recorded in ``consent_events`` (source ``bounce``) and voids an open
    confirm link; an unsubscribed, bounced or complained subscriber keeps their status.
    """
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id)
        .values(bounces=subscribers.c.bounces + 1, updated_at=now)
    )
    row = conn.execute(
        select(subscribers.c.status, subscribers.c.bounces).where(subscribers.c.id == subscriber_id)
    ).first()
    if row is None or row.bounces < bounce_after:
        return
    held = SubscriberStatus(row.status)
    if held.suppressed:
        return
    set_status(conn, subscriber_id, SubscriberStatus.BOUNCED, now)
    note = f"{row.bounces} permanent delivery failures"
    record_consent_event(
        conn,
        ConsentEvent(
            subscriber_id, held, SubscriberStatus.BOUNCED, now, ConsentSource.BOUNCE, note=note
        ),
    )
