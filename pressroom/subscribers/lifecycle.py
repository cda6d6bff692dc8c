"""The subscription state changes behind the pages (one transaction each).

pending --confirm--> active --unsubscribe--> unsubscribed --subscribe--> pending ...
An active address that subscribes again is left as it is; an unsubscribed or bounced one
goes back to pending and must confirm again. Old confirm links never revive an address
that has since unsubscribed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection

from pressroom.models import Frequency, Subscriber, SubscriberStatus
from pressroom.store.subscribers import (
    find_subscriber,
    get_subscriber,
    save_subscriber,
    set_preferences,
    set_status,
)

__all__ = [
    "MailKind",
    "SubscribeForm",
    "change_preferences",
    "confirm",
    "request_subscription",
    "unsubscribe",
]

MailKind = Literal["confirm", "notice"]
"""Which mail a subscribe request earns: a confirmation link, or a notice (already active)."""


@dataclass(frozen=True, slots=True)
class SubscribeForm:
    """A validated subscribe form: a normalised address and known section slugs."""

    email: str
    name: str
    sections: tuple[str, ...]
    frequency: Frequency


def request_subscription(
    conn: Connection, form: SubscribeForm, now: datetime
) -> tuple[Subscriber, MailKind]:
    """Record the request; return the subscriber and which mail to send them.

    An active subscriber is not changed (``notice``); anyone else is saved as pending with
    the form's choices (``confirm``).
    """
    existing = find_subscriber(conn, form.email)
    if existing is not None and existing.status == SubscriberStatus.ACTIVE:
        return existing, "notice"
    saved = save_subscriber(
        conn,
        email=form.email,
        name=form.name,
        sections=form.sections,
        frequency=form.frequency,
        status=SubscriberStatus.PENDING,
        now=now,
    )
    return saved, "confirm"


def confirm(conn: Connection, subscriber_id: int, now: datetime) -> Subscriber | None:
    """Activate a pending subscriber; None when the link no longer applies.

    Already active: unchanged (a second click is harmless). Unsubscribed or bounced: None,
    because that address must subscribe and confirm anew.
    """
    subscriber = get_subscriber(conn, subscriber_id)
    if subscriber is None or subscriber.status not in (
        SubscriberStatus.PENDING,
        SubscriberStatus.ACTIVE,
    ):
        return None
    if subscriber.status == SubscriberStatus.PENDING:
        set_status(conn, subscriber_id, SubscriberStatus.ACTIVE, now)
        subscriber = get_subscriber(conn, subscriber_id)
    return subscriber


def unsubscribe(conn: Connection, subscriber_id: int, now: datetime) -> Subscriber | None:
    """Unsubscribe (idempotent; a bounced address stays bounced); None if unknown."""
    subscriber = get_subscriber(conn, subscriber_id)
    if subscriber is None:
        return None
    if subscriber.status in (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE):
        set_status(conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED, now)
    return get_subscriber(conn, subscriber_id)


def change_preferences(
    conn: Connection,
    subscriber_id: int,
    *,
    sections: Sequence[str],
    frequency: Frequency,
    now: datetime,
) -> Subscriber | None:
    """Store new choices (never changes the status); None if the subscriber is unknown."""
    if get_subscriber(conn, subscriber_id) is None:
        return None
    set_preferences(conn, subscriber_id, sections=sections, frequency=frequency, now=now)
    return get_subscriber(conn, subscriber_id)
