"""Every subscriber state change, for the pages, the CLI and CSV import.

Each function runs inside the caller's transaction.

pending --confirm--> active --unsubscribe--> unsubscribed --subscribe--> pending ...
An active address that subscribes again is left as it is; an unsubscribed or bounced one
goes back to pending and must confirm again. Old confirm links never revive an address
that has since unsubscribed. Unsubscribing is idempotent and leaves a bounced address
bounced.

The operator (``pressroom subscribers add`` and CSV import) vouches for consent: an
address they add is active at once, and an imported row takes the status it gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from pressroom.models import ConsentEvent, ConsentSource, Frequency, Subscriber, SubscriberStatus
from pressroom.store.consent import record_consent_event
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
    "add_by_operator",
    "change_preferences",
    "confirm",
    "import_subscriber",
    "request_subscription",
    "suppress",
    "unsubscribe",
    "unsubscribe_address",
]


class MailKind(StrEnum):
    """Which mail a subscribe request earns: a confirmation link, or a notice (already active)."""

    CONFIRM = "confirm"
    NOTICE = "notice"

    @property
    def link_purpose(self) -> str:
        """The token purpose of the mail's link: confirm, or the preferences page."""
        return "confirm" if self is MailKind.CONFIRM else "preferences"


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
        return existing, MailKind.NOTICE
    saved = save_subscriber(
        conn,
        email=form.email,
        name=form.name,
        sections=form.sections,
        frequency=form.frequency,
        status=SubscriberStatus.PENDING,
        now=now,
    )
    return saved, MailKind.CONFIRM


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


def unsubscribe_address(conn: Connection, email: str, now: datetime) -> Subscriber | None:
    """:func:`unsubscribe` the normalised address ``email``; None if it is unknown."""
    found = find_subscriber(conn, email)
    return None if found is None else unsubscribe(conn, found.id, now)


def add_by_operator(
    conn: Connection,
    email: str,
    *,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    now: datetime,
) -> tuple[Subscriber, bool]:
    """Make ``email`` active with these choices, whatever it was; return it and if it is new."""
    existed = find_subscriber(conn, email) is not None
    saved = save_subscriber(
        conn,
        email=email,
        name=name,
        sections=sections,
        frequency=frequency,
        status=SubscriberStatus.ACTIVE,
        now=now,
    )
    return saved, not existed


def import_subscriber(
    conn: Connection,
    email: str,
    *,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    status: SubscriberStatus,
    now: datetime,
) -> Subscriber:
    """Save one imported row as it is given, status included (the operator's word)."""
    return save_subscriber(
        conn,
        email=email,
        name=name,
        sections=sections,
        frequency=frequency,
        status=status,
        now=now,
    )


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


# Strictest first: suppressing never trades a stricter status for a milder one.
_SUPPRESSION_ORDER = (
    SubscriberStatus.COMPLAINED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.UNSUBSCRIBED,
)


def suppress(
    conn: Connection,
    subscriber_id: int,
    status: SubscriberStatus,
    *,
    source: ConsentSource,
    now: datetime,
    note: str = "",
    ip: str | None = None,
) -> Subscriber | None:
    """Stop all mail to a subscriber: ``unsubscribed``, ``bounced`` or ``complained``.

    Idempotent; a stricter status already held is kept (a complaint is never turned into
    a mere unsubscribe). A change is recorded in ``consent_events``. None if unknown.
    """
    if not status.suppressed:
        raise ValueError(f"{status} is not a suppressing status")
    subscriber = get_subscriber(conn, subscriber_id)
    if subscriber is None:
        return None
    held = subscriber.status
    if held.suppressed and _SUPPRESSION_ORDER.index(held) <= _SUPPRESSION_ORDER.index(status):
        return subscriber
    set_status(conn, subscriber_id, status, now)
    record_consent_event(
        conn,
        ConsentEvent(subscriber_id, held, status, now, source, ip=ip, note=note),
    )
    return get_subscriber(conn, subscriber_id)
