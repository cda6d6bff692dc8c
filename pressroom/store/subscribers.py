"""The ``subscribers`` table, read: who gets digests, of which sections, how often.

Every write of this table (and of ``consent_events``) is in
:mod:`pressroom.store.subscriber_writes`, which only :mod:`pressroom.subscribers` may
import; this module reads, and holds the column helpers both share.

Functions take a :class:`~sqlalchemy.Connection` so the caller owns the transaction.
Addresses reaching these functions are already normalised
(:func:`pressroom.subscribers.addresses.normalise_email`). ``sections`` is stored as slugs joined by
``","``; empty means every section.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from pressroom.models import Frequency, Subscriber, SubscriberStatus
from pressroom.store.schema import subscribers

__all__ = [
    "RequestState",
    "active_by_sections",
    "active_subscribers",
    "address_key",
    "existing_addresses",
    "find_by_public_key",
    "find_subscriber",
    "get_subscriber",
    "join_sections",
    "list_subscribers",
    "new_confirm_nonce",
    "new_public_key",
    "pending_nonce",
    "request_state",
    "row_to_subscriber",
    "split_sections",
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


@dataclass(frozen=True, slots=True)
class RequestState:
    """A subscriber's open subscribe request: its nonce (None: none open) and when a
    confirmation mail was last sent for a request of theirs."""

    nonce: str | None
    mailed_at: datetime | None


def request_state(conn: Connection, subscriber_id: int) -> RequestState:
    """The subscriber's :class:`RequestState` (one query)."""
    query = select(subscribers.c.confirm_nonce, subscribers.c.request_mailed_at).where(
        subscribers.c.id == subscriber_id
    )
    row = conn.execute(query).first()
    return RequestState(None, None) if row is None else RequestState(row[0], row[1])


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
