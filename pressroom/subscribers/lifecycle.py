"""Every change of a subscriber's status: the one state machine of consent.

The web pages, the CLI, CSV import, the bounce mailbox and the sender's 5xx bounces all
change a status through this module, and each change is recorded in ``consent_events``
in the same transaction (who, when, from and to, the client's IP for web changes, a
note), so the history never disagrees with the status. The store's writers of
subscribers (:mod:`pressroom.store.subscriber_writes`) may be imported only from
:mod:`pressroom.subscribers`.

Statuses: ``pending`` (asked, not confirmed), ``active`` (gets digests), and the three
*suppressed* ones, ``unsubscribed``, ``bounced`` and ``complained``, which get no mail
but the confirmation of a new request they make themselves. The rules, as
:func:`next_status` applies them (``S`` is the status the operator gives: ``active``
for ``subscribers add``, the row's status for ``subscribers import``; *unchanged* keeps
the status held):

| From | Event | To | Caused by (consent source) |
|---|---|---|---|
| (new) | `subscribe` | pending | the subscribe form (`web`) |
| any | `subscribe` | unchanged | the form: a new confirm request (active: a notice mail) |
| pending, suppressed | `confirm` | active | the newest confirm link, request open (`web`) |
| active | `confirm` | unchanged | (no request is open: the link is void) |
| pending, active | `unsubscribe` | unsubscribed | page (`web`), `one-click`, `cli`, `mailto` |
| suppressed | `unsubscribe` | unchanged | as above |
| pending, active | `bounce` | bounced | bounce mailbox; `bounce_after` 5xx in a send (`bounce`) |
| suppressed | `bounce` | unchanged | as above |
| pending, active, unsubscribed, bounced | `complaint` | complained | abuse report (`complaint`) |
| complained | `complaint` | unchanged | as above |
| (new), pending, active | `operator` | S | `subscribers add` (`cli`), `import` (`csv`) |
| suppressed | `operator` | unchanged | as above: left as it is, and reported unless S is held |
| (new), any | `resubscribe` | S | `add`/`import --resubscribe` (`cli`, `csv`), a warning |

*any* is every status; *suppressed* is ``unsubscribed``, ``bounced`` and ``complained``.
In words: a suppressed address comes back only through its owner's confirmation of a new
request, or an operator's explicit ``--resubscribe``; once suppressed, only a complaint
changes it further. Every change closes the open subscribe request (older confirm links
die), and so does any operator change or suppression of an address that asked to come
back. Becoming ``active`` stamps ``confirmed_at`` once and resets the bounce count.
Preferences never change the status. One subscriber per mailbox: every lookup goes by
``email_key`` (the address with its local part lower-cased).

- **Subscribe** (:func:`request_subscription`): an unknown address is saved as
  ``pending`` with a random ``confirm_nonce`` and gets a confirm mail. A request belongs
  to its owner: while one is open, a new submission re-sends the same link and changes
  no stored choice. An unsubscribed or bounced address without an open request gets a
  new nonce, its form's choices wait beside the stored ones until that request is
  confirmed, and a confirm mail (a bounced address at most one a day); a complained
  address gets no mail at all; an active one gets a notice mail. The page and the time
  it takes are the same in every case (see :mod:`pressroom.web.routes_subscribe`).
- **Confirm** (:func:`confirm`): a confirm token carries the subscriber's public key and
  the nonce of the request it was made for; it works only while that nonce is stored.
- **Unsubscribe, bounce, complaint** (:func:`suppress`, :func:`unsubscribe`,
  :func:`count_send_bounce`): idempotent. A send-time 5xx adds to the subscriber's bounce
  count, and the ``bounce_after``-th is the ``bounce`` event; the ledger applies it, in the
  transaction that marks the delivery, through the callable :func:`send_bounce_rule` makes.
- **Operator** (:func:`operator_step`, applied per row to a batch by
  :class:`pressroom.subscribers.bulk_import.OperatorRules`): the note of a resubscribe is
  :data:`RESUBSCRIBE_NOTE`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from pressroom.models import ConsentEvent, ConsentSource, Frequency, Subscriber, SubscriberStatus
from pressroom.store.consent import consent_history
from pressroom.store.subscriber_writes import (
    activate_request,
    count_bounce,
    insert_subscriber,
    open_subscribe_request,
    record_consent_event,
    set_confirm_nonce,
    set_preferences,
    set_request_mailed,
    set_status,
)
from pressroom.store.subscribers import (
    RequestState,
    find_by_public_key,
    find_subscriber,
    get_subscriber,
    new_confirm_nonce,
    pending_nonce,
    request_state,
)

__all__ = [
    "BOUNCED_MAIL_SPACING",
    "RESUBSCRIBE_NOTE",
    "Event",
    "MailKind",
    "OperatorStep",
    "SubscribeForm",
    "SubscriptionRequest",
    "change_preferences",
    "confirm",
    "count_send_bounce",
    "next_status",
    "open_request",
    "operator_step",
    "request_subscription",
    "send_bounce_rule",
    "subscriber_history",
    "suppress",
    "unsubscribe",
    "unsubscribe_address",
    "unsubscribe_key",
]

RESUBSCRIBE_NOTE = "resubscribed by the operator (--resubscribe)"
"""The consent event note when an operator re-activates a suppressed address."""

_ACTIVE, _PENDING = SubscriberStatus.ACTIVE, SubscriberStatus.PENDING


class Event(StrEnum):
    """What can happen to a subscriber: the Event column of the module's table."""

    SUBSCRIBE = "subscribe"
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    OPERATOR = "operator"
    RESUBSCRIBE = "resubscribe"


class OperatorStep(StrEnum):
    """What an operator's row does to one mailbox (:func:`operator_step`)."""

    ADD = "add"  # a new address: it takes the given status
    APPLY = "apply"  # the row's fields and status are written
    KEEP = "keep"  # a suppressed address is left as it is, and the operator told so
    AGREE = "agree"  # a suppressed address whose status the row repeats: nothing to do


def operator_step(
    held: SubscriberStatus | None, given: SubscriberStatus, *, resubscribe: bool
) -> OperatorStep:
    """The rule for one operator row (``subscribers add``, a row of ``subscribers import``)
    giving ``given`` to an address that holds ``held`` (None: a new address)."""
    if held is None:
        return OperatorStep.ADD
    if held.suppressed and not resubscribe:
        return OperatorStep.AGREE if held is given else OperatorStep.KEEP
    return OperatorStep.APPLY


_SUPPRESSING = {
    Event.UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED,
    Event.BOUNCE: SubscriberStatus.BOUNCED,
    Event.COMPLAINT: SubscriberStatus.COMPLAINED,
}
_SUPPRESSED_BY = {status: event for event, status in _SUPPRESSING.items()}


def next_status(
    held: SubscriberStatus | None, event: Event, given: SubscriberStatus = _ACTIVE
) -> SubscriberStatus | None:
    """The status after ``event`` for an address holding ``held`` (None: unknown), as the
    module's table says; ``given`` is the operator's status. None: the event needs a
    subscriber and there is none."""
    if event in (Event.OPERATOR, Event.RESUBSCRIBE):
        step = operator_step(held, given, resubscribe=event is Event.RESUBSCRIBE)
        return given if step in (OperatorStep.ADD, OperatorStep.APPLY) else held
    if held is None:
        return _PENDING if event is Event.SUBSCRIBE else None
    if event is Event.SUBSCRIBE:
        return held
    if event is Event.CONFIRM:
        return _ACTIVE
    wanted = _SUPPRESSING[event]
    if held.suppressed and wanted is not SubscriberStatus.COMPLAINED:
        return held  # once suppressed, only a complaint changes it further
    return wanted


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
    """What a subscribe request did: the subscriber, which mail to send, for a confirm
    mail the nonce its link must carry, and whether it may be sent at all (``send`` false:
    a complained address, or a bounced one mailed within the day)."""

    subscriber: Subscriber
    mail: MailKind
    nonce: str | None
    send: bool = True


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

    A request belongs to its owner: while one is open, a new submission changes neither
    its nonce nor any stored choice, and is answered with the same link. The choices of a
    request on a known address wait beside the subscriber's own until it is confirmed. A
    complained address gets no mail, a bounced one at most one a day. Every case runs the
    same lookups and one write of the subscriber row, so the request takes the same time
    whatever the address's state.
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
    held = request_state(conn, existing.id)
    if existing.status in (SubscriberStatus.ACTIVE, SubscriberStatus.COMPLAINED):
        set_request_mailed(conn, existing.id, None)  # changes nothing: the same write
        if existing.status == SubscriberStatus.ACTIVE:
            return SubscriptionRequest(existing, MailKind.NOTICE, None)
        return SubscriptionRequest(existing, MailKind.CONFIRM, None, send=False)
    send = _may_mail(existing.status, held, now)
    mailed_at = now if send else None
    if held.nonce is not None:  # the owner's open request: the same link again
        set_request_mailed(conn, existing.id, mailed_at)
        return SubscriptionRequest(existing, MailKind.CONFIRM, held.nonce, send=send)
    nonce = new_confirm_nonce()
    open_subscribe_request(
        conn,
        existing.id,
        nonce=nonce,
        name=form.name,
        sections=form.sections,
        frequency=form.frequency,
        mailed_at=mailed_at or held.mailed_at,
    )
    return SubscriptionRequest(existing, MailKind.CONFIRM, nonce, send=send)


BOUNCED_MAIL_SPACING = timedelta(days=1)
"""A bounced address gets at most one confirmation mail in this time: each one is sent
to a mailbox that failed before, and the sender's reputation pays for it."""


def _may_mail(status: SubscriberStatus, held: RequestState, now: datetime) -> bool:
    if status != SubscriberStatus.BOUNCED or held.mailed_at is None:
        return True
    return now - held.mailed_at >= BOUNCED_MAIL_SPACING


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

    Idempotent; an address already suppressed keeps its status unless a complaint comes
    (:func:`next_status`: a complaint is never turned into a mere unsubscribe). A change
    is recorded in ``consent_events`` and closes an open subscribe request (its confirm
    link is void); so does suppressing an address that holds its status already but
    asked to come back. None if unknown.
    """
    event = _SUPPRESSED_BY.get(status)
    if event is None:
        raise ValueError(f"{status} is not a suppressing status")
    subscriber = get_subscriber(conn, subscriber_id)
    if subscriber is None:
        return None
    held = subscriber.status
    after = next_status(held, event)
    assert after is not None  # the subscriber exists
    if after is held:
        set_confirm_nonce(conn, subscriber_id, None)
        return subscriber
    set_status(conn, subscriber_id, after, now)
    _event(conn, subscriber_id, held, after, now, source, ip=ip, note=note)
    return get_subscriber(conn, subscriber_id)


def count_send_bounce(
    conn: Connection, subscriber_id: int, now: datetime, *, bounce_after: int
) -> Subscriber | None:
    """Count one 5xx refusal of the subscriber's address during a send; at the
    ``bounce_after``-th (``[mail] bounce_after``) it is a ``bounce`` (:func:`suppress`,
    source ``bounce``). Returns the subscriber, None if gone."""
    counted = count_bounce(conn, subscriber_id, now)
    if counted is None:
        return None
    _, bounces = counted
    if bounces < bounce_after:
        return get_subscriber(conn, subscriber_id)
    note = f"{bounces} permanent delivery failures"
    return suppress(
        conn, subscriber_id, SubscriberStatus.BOUNCED, source=ConsentSource.BOUNCE, now=now,
        note=note,
    )  # fmt: skip


def send_bounce_rule(bounce_after: int) -> Callable[[Connection, int, datetime], object]:
    """:func:`count_send_bounce` with ``bounce_after`` bound: what the owner of a send
    passes to :func:`pressroom.delivery.send.deliver` as ``on_bounce``."""

    def on_bounce(conn: Connection, subscriber_id: int, now: datetime) -> object:
        return count_send_bounce(conn, subscriber_id, now, bounce_after=bounce_after)

    return on_bounce
