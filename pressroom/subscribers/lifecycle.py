"""Every subscriber state change, for the pages, the CLI and CSV import: the consent rules.

Each function runs inside the caller's transaction, and every change of status is
recorded in ``consent_events`` in that same transaction (who: ``web``, ``one-click``,
``cli``, ``csv``, ``bounce``, ``complaint``; when; from and to; the client's IP for web
changes), so the history never disagrees with the status.

Statuses: ``pending`` (asked, not confirmed), ``active`` (gets digests), and the three
*suppressed* ones, ``unsubscribed``, ``bounced`` and ``complained``. The rules:

1. **Subscribe (web).** An unknown address is saved as ``pending`` with a new random
   ``confirm_nonce`` and gets a confirm mail. A pending or suppressed address gets a *new*
   nonce (older confirm links die) and a confirm mail; its status does not move: a
   suppressed address stays suppressed until its owner confirms this new request. The
   form's sections, frequency and name are stored with the request. An active address is
   not changed and gets a notice mail (its preferences link). The page and the time it
   takes are the same in every case (see :mod:`pressroom.web.routes_subscribe`).
2. **Confirm (web).** A confirm token carries the subscriber's public key and the nonce
   of the request it was made for. It confirms only while that request is still open
   (the stored nonce matches): the status becomes ``active`` and the nonce is cleared.
   Any later change (a confirmation, an unsubscribe, a bounce, a newer request, an
   operator's change) replaces or clears the nonce, so older confirm links are void.
3. **Unsubscribe** (page, one-click, ``subscribers remove``): :func:`suppress` with
   ``unsubscribed``. Idempotent; a bounced or complained address keeps its stricter status.
4. **Operator** (``subscribers add``, CSV import, one row at a time here; the importer
   applies the same rules in bulk). A new address gets the given status (``add``:
   ``active``). An existing pending or active address is updated (choices, status). An
   existing suppressed address is left exactly as it is, and the result says so
   (``x@y unsubscribed on 2026-11-30; left as it is``), unless the operator passes
   ``resubscribe=True`` (``--resubscribe``): then it takes the given status, the event's
   note says ``resubscribed by the operator (--resubscribe)`` and a warning is logged.
   Any operator change of an existing address closes its open subscribe request.
5. **Bounces and complaints** use :func:`suppress` (``bounced``, ``complained``), which
   never trades a stricter status for a milder one.

Preferences never change the status. One subscriber per mailbox: every lookup goes by
``email_key`` (the address with its local part lower-cased).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from pressroom.models import ConsentEvent, ConsentSource, Frequency, Subscriber, SubscriberStatus
from pressroom.store.consent import consent_history, record_consent_event
from pressroom.store.subscribers import (
    activate_request,
    find_by_public_key,
    find_subscriber,
    get_subscriber,
    insert_subscriber,
    new_confirm_nonce,
    pending_nonce,
    set_confirm_nonce,
    set_preferences,
    set_status,
    update_subscriber,
)

__all__ = [
    "RESUBSCRIBE_NOTE",
    "MailKind",
    "OperatorResult",
    "SubscribeForm",
    "SubscriptionRequest",
    "add_by_operator",
    "change_preferences",
    "confirm",
    "import_subscriber",
    "open_request",
    "request_subscription",
    "subscriber_history",
    "suppress",
    "unsubscribe",
    "unsubscribe_address",
    "unsubscribe_key",
]

log = logging.getLogger("pressroom.subscribers")

RESUBSCRIBE_NOTE = "resubscribed by the operator (--resubscribe)"
"""The consent event note when an operator re-activates a suppressed address."""


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


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a subscribe request did: the subscriber, which mail to send, and for a confirm
    mail the nonce its link must carry."""

    subscriber: Subscriber
    mail: MailKind
    nonce: str | None


@dataclass(frozen=True, slots=True)
class OperatorResult:
    """What an operator's add or import of one address did.

    ``left_as_is`` is true when the address is suppressed and was not changed (no
    ``resubscribe``); :meth:`note` then gives the line to show the operator.
    """

    subscriber: Subscriber
    new: bool
    left_as_is: bool = False
    since: datetime | None = None  # when the held suppressed status began

    def note(self) -> str:
        """``x@y unsubscribed on 2026-11-30; left as it is`` (empty when not left as is)."""
        if not self.left_as_is:
            return ""
        when = f" on {self.since:%Y-%m-%d}" if self.since is not None else ""
        return f"{self.subscriber.email} {self.subscriber.status}{when}; left as it is"


def _event(
    conn: Connection,
    subscriber_id: int,
    held: SubscriberStatus | None,
    status: SubscriberStatus,
    now: datetime,
    source: ConsentSource,
    *,
    ip: str | None = None,
    note: str = "",
) -> None:
    record_consent_event(conn, ConsentEvent(subscriber_id, held, status, now, source, ip, note))


def _found(conn: Connection, email: str) -> Subscriber:
    found = find_subscriber(conn, email)
    assert found is not None  # the insert just met its row
    return found


def _reload(conn: Connection, subscriber_id: int) -> Subscriber:
    found = get_subscriber(conn, subscriber_id)
    assert found is not None  # written in this transaction
    return found


def request_subscription(
    conn: Connection, form: SubscribeForm, now: datetime, *, ip: str | None = None
) -> SubscriptionRequest:
    """Record a web subscribe request (rule 1); return what to mail.

    Every case runs one lookup and one write of the subscriber row, so the request takes
    the same time whatever the address's state.
    """
    existing = find_subscriber(conn, form.email)
    if existing is None:
        nonce = new_confirm_nonce()
        saved = insert_subscriber(
            conn,
            email=form.email,
            name=form.name,
            sections=form.sections,
            frequency=form.frequency,
            status=SubscriberStatus.PENDING,
            now=now,
            confirm_nonce=nonce,
        )
        if saved is not None:
            _event(conn, saved.id, None, SubscriberStatus.PENDING, now, ConsentSource.WEB, ip=ip)
            return SubscriptionRequest(saved, MailKind.CONFIRM, nonce)
        existing = _found(conn, form.email)  # a concurrent request added the mailbox
    if existing.status == SubscriberStatus.ACTIVE:
        set_confirm_nonce(conn, existing.id, None)  # already None: the same write as below
        return SubscriptionRequest(existing, MailKind.NOTICE, None)
    nonce = new_confirm_nonce()
    update_subscriber(
        conn,
        existing.id,
        name=form.name,
        sections=form.sections,
        frequency=form.frequency,
        status=existing.status,
        now=now,
        confirm_nonce=nonce,
    )
    return SubscriptionRequest(_reload(conn, existing.id), MailKind.CONFIRM, nonce)


def open_request(conn: Connection, public_key: str, nonce: str) -> Subscriber | None:
    """The subscriber whose open subscribe request ``nonce`` is (read only), or None.

    None when the key is unknown, or the request was confirmed, replaced or closed since.
    """
    subscriber = find_by_public_key(conn, public_key)
    if subscriber is None or subscriber.status == SubscriberStatus.ACTIVE:
        return None
    return subscriber if pending_nonce(conn, subscriber.id) == nonce else None


def confirm(
    conn: Connection,
    public_key: str,
    nonce: str,
    now: datetime,
    *,
    ip: str | None = None,
) -> Subscriber | None:
    """Confirm the open request ``nonce`` (rule 2): the subscriber becomes active.

    Returns None when the link no longer applies (see :func:`open_request`).
    """
    subscriber = open_request(conn, public_key, nonce)
    if subscriber is None or not activate_request(conn, subscriber.id, nonce, now):
        return None
    _event(
        conn,
        subscriber.id,
        subscriber.status,
        SubscriberStatus.ACTIVE,
        now,
        ConsentSource.WEB,
        ip=ip,
        note="confirmed by the subscriber",
    )
    return get_subscriber(conn, subscriber.id)


def unsubscribe(
    conn: Connection,
    subscriber_id: int,
    now: datetime,
    *,
    source: ConsentSource = ConsentSource.WEB,
    ip: str | None = None,
) -> Subscriber | None:
    """Unsubscribe (rule 3; idempotent, a stricter status is kept); None if unknown."""
    return suppress(
        conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED, source=source, now=now, ip=ip
    )


def unsubscribe_key(
    conn: Connection,
    public_key: str,
    now: datetime,
    *,
    source: ConsentSource = ConsentSource.WEB,
    ip: str | None = None,
) -> Subscriber | None:
    """:func:`unsubscribe` the subscriber whose links carry ``public_key``; None if unknown."""
    found = find_by_public_key(conn, public_key)
    return None if found is None else unsubscribe(conn, found.id, now, source=source, ip=ip)


def unsubscribe_address(
    conn: Connection, email: str, now: datetime, *, source: ConsentSource = ConsentSource.CLI
) -> Subscriber | None:
    """:func:`unsubscribe` the mailbox of ``email``; None if it is unknown."""
    found = find_subscriber(conn, email)
    return None if found is None else unsubscribe(conn, found.id, now, source=source)


def _suppressed_since(conn: Connection, subscriber: Subscriber) -> datetime | None:
    for event in reversed(consent_history(conn, subscriber.id)):
        if event.to_status == subscriber.status:
            return event.at
    return subscriber.updated_at


def _operator_save(
    conn: Connection,
    email: str,
    *,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    status: SubscriberStatus,
    now: datetime,
    resubscribe: bool,
    source: ConsentSource,
) -> OperatorResult:
    existing = find_subscriber(conn, email)
    if existing is None:
        saved = insert_subscriber(
            conn,
            email=email,
            name=name,
            sections=sections,
            frequency=frequency,
            status=status,
            now=now,
        )
        if saved is not None:
            _event(conn, saved.id, None, status, now, source)
            return OperatorResult(saved, True)
        existing = _found(conn, email)  # a concurrent change added the mailbox
    held = existing.status
    if held.suppressed and not resubscribe:
        changed = held != status
        since = _suppressed_since(conn, existing) if changed else None
        return OperatorResult(existing, False, left_as_is=changed, since=since)
    update_subscriber(
        conn,
        existing.id,
        name=name,
        sections=sections,
        frequency=frequency,
        status=status,
        now=now,
    )
    if held != status:
        note = RESUBSCRIBE_NOTE if held.suppressed else ""
        if note:
            log.warning("%s: %s was %s, now %s", email, note, held, status)
        _event(conn, existing.id, held, status, now, source, note=note)
    return OperatorResult(_reload(conn, existing.id), False)


def add_by_operator(
    conn: Connection,
    email: str,
    *,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    now: datetime,
    resubscribe: bool = False,
    source: ConsentSource = ConsentSource.CLI,
) -> OperatorResult:
    """``subscribers add`` (rule 4): make ``email`` active with these choices.

    A suppressed address is left as it is unless ``resubscribe`` (``--resubscribe``).
    """
    return _operator_save(
        conn,
        email,
        name=name,
        sections=sections,
        frequency=frequency,
        status=SubscriberStatus.ACTIVE,
        now=now,
        resubscribe=resubscribe,
        source=source,
    )


def import_subscriber(
    conn: Connection,
    email: str,
    *,
    name: str,
    sections: Sequence[str],
    frequency: Frequency,
    status: SubscriberStatus,
    now: datetime,
    resubscribe: bool = False,
    source: ConsentSource = ConsentSource.CSV,
) -> OperatorResult:
    """One imported row (rule 4): a new address takes ``status``, so does a pending or
    active one; a suppressed one is left as it is unless ``resubscribe``."""
    return _operator_save(
        conn,
        email,
        name=name,
        sections=sections,
        frequency=frequency,
        status=status,
        now=now,
        resubscribe=resubscribe,
        source=source,
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


def subscriber_history(
    conn: Connection, email: str
) -> tuple[Subscriber, list[ConsentEvent]] | None:
    """The subscriber of ``email``'s mailbox and their consent events, oldest first.

    What ``pressroom subscribers show EMAIL`` prints; None when the mailbox is unknown.
    ``email`` must be normalised (:func:`pressroom.subscribers.addresses.normalise_email`).
    """
    subscriber = find_subscriber(conn, email)
    if subscriber is None:
        return None
    return subscriber, consent_history(conn, subscriber.id)


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
    a mere unsubscribe). A change is recorded in ``consent_events`` and closes an open
    subscribe request (its confirm link is void); so does suppressing an address that
    holds its status already but asked to come back. None if unknown.
    """
    if not status.suppressed:
        raise ValueError(f"{status} is not a suppressing status")
    subscriber = get_subscriber(conn, subscriber_id)
    if subscriber is None:
        return None
    held = subscriber.status
    if held.suppressed and _SUPPRESSION_ORDER.index(held) <= _SUPPRESSION_ORDER.index(status):
        set_confirm_nonce(conn, subscriber_id, None)
        return subscriber
    set_status(conn, subscriber_id, status, now)
    record_consent_event(
        conn,
        ConsentEvent(subscriber_id, held, status, now, source, ip=ip, note=note),
    )
    return get_subscriber(conn, subscriber_id)
