"""Apply one classified message to the store: record it, and change a status if it must.

Runs in the caller's transaction. A message whose key is already recorded changes
nothing (processing is idempotent). Only :func:`pressroom.subscribers.lifecycle.suppress`
changes a status, so every change has its consent event:

- hard bounce: ``bounced`` (source ``bounce``);
- soft bounce: counted only when the MTA gave up (``Action: failed`` with 4.x.x), at most
  once per subscriber a day; ``bounced`` once ``soft_limit`` counted ones arrived within
  ``soft_window``. ``Action: delayed`` and non-standard temporary failures never count;
- complaint: ``complained`` (source ``complaint``), only with a token (found in the
  returned original by :mod:`pressroom.bounces.parse`);
- (a bounce without a token names its subscriber by the reported address only with
  ``[bounces] address_fallback = true``: anyone can write such a message);
- unsubscribe request: ``unsubscribed`` (source ``mailto``), only with a valid token;
  without any token, when its ``From:`` is an active subscriber's address, ``link mailed``: that
  address is sent one mail with a signed unsubscribe link (by the caller, after the
  commit), at most once a day; nothing changes unless the owner uses it;
- auto-reply, unknown: recorded and counted, never acted on.

Times are the store's clock at arrival (:func:`pressroom.store.store_time.db_now`), never
the message's ``Date:``, which its sender chooses: a backdated forgery neither hides from
``bounces list --since`` nor falls outside the soft window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pressroom.bounces.parse import Inbound
from pressroom.models import BounceKind, ConsentSource, Subscriber, SubscriberStatus
from pressroom.store.bounces import BounceEvent, count_since, record_event, seen
from pressroom.store.store_time import db_now
from pressroom.store.subscribers import find_subscriber, get_subscriber
from pressroom.subscribers.lifecycle import suppress

__all__ = ["COUNTED", "LINK_MAILED", "Applied", "Policy", "apply_inbound"]

COUNTED = "counted"
"""The action of a soft bounce that counts towards ``soft_limit``."""
LINK_MAILED = "link mailed"
"""The action of a token-less mailto unsubscribe whose sender's address gets the link."""
_LINK_SPACING = timedelta(days=1)
"""At most one unsubscribe-link mail per address in this time: a forger cannot flood it."""

_BY_ADDRESS = (BounceKind.HARD, BounceKind.SOFT)
"""Kinds that may fall back to the address the report names when there is no token
(complaints never do: a feedback loop report proves something only through our token)."""

_SOFT_SPACING = timedelta(days=1)
"""At most one soft bounce per subscriber counts in this time (GNU Mailman 3's rule)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """``[bounces] soft_limit`` soft bounces within ``soft_window`` mark an address bounced;
    ``address_fallback``: a report without a token may name its subscriber by address."""

    limit: int
    window: timedelta
    address_fallback: bool = False
    mail_links: bool = False
    """Whether a token-less mailto unsubscribe may get the link mail (a transport is set)."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What one message did: its kind, the subscriber concerned, the action taken."""

    kind: BounceKind
    subscriber: Subscriber | None
    action: str  # "bounced", "complained", "unsubscribed", "counted" or "" (nothing)
    duplicate: bool = False


def apply_inbound(conn: Connection, inbound: Inbound, policy: Policy, now: datetime) -> Applied:
    """Record ``inbound`` and apply it (nothing at all if it was recorded before).

    ``now`` dates the processing; the event's arrival is the store's clock.
    """
    if seen(conn, inbound.message_key):
        return Applied(inbound.kind, None, "", duplicate=True)
    received = db_now(conn)
    action = ""
    if inbound.kind is BounceKind.UNSUBSCRIBE and inbound.token is None and policy.mail_links:
        subscriber, action, note = _tokenless_unsubscribe(conn, inbound, received)
    else:
        subscriber, note = _subscriber(conn, inbound, policy.address_fallback)
    if subscriber is not None and not action:
        action, why = _act(conn, inbound, subscriber, policy, received, now)
        note = _join(note, why)
    record_event(
        conn,
        BounceEvent(
            message_key=inbound.message_key,
            message_id=inbound.message_id[:998],
            received_at=received,
            processed_at=now,
            kind=inbound.kind,
            status_code=inbound.status_code,
            diagnostic=inbound.diagnostic,
            recipient=None if inbound.recipient is None else inbound.recipient[:320],
            subscriber_id=None if subscriber is None else subscriber.id,
            digest_id=None if inbound.ref is None else inbound.ref.digest_id,
            action=action,
            note=note,
        ),
    )
    return Applied(inbound.kind, subscriber, action)


def _subscriber(
    conn: Connection, inbound: Inbound, address_fallback: bool
) -> tuple[Subscriber | None, str]:
    if inbound.ref is not None:
        found = get_subscriber(conn, inbound.ref.subscriber_id)
        return found, _join(inbound.note, "" if found else "the token names no subscriber")
    if inbound.token is not None:  # a token that did not verify: never fall back
        return None, inbound.note
    if inbound.kind in _BY_ADDRESS and inbound.recipient and not address_fallback:
        return None, _join(inbound.note, "no token, and [bounces] address_fallback is off")
    if inbound.kind in _BY_ADDRESS and inbound.recipient:
        found = find_subscriber(conn, inbound.recipient)
        how = "no token: found by the reported address" if found else "no token, unknown address"
        return found, _join(inbound.note, how)
    if inbound.kind is BounceKind.UNSUBSCRIBE:
        return None, "no valid token: not applied (the sender's address proves nothing)"
    return None, inbound.note


def _tokenless_unsubscribe(
    conn: Connection, inbound: Inbound, received: datetime
) -> tuple[Subscriber | None, str, str]:
    """The active subscriber whose address the request's ``From:`` names, to be mailed the
    link (``LINK_MAILED``), unless one was mailed to it in the last day."""
    refused = _join(inbound.note, "no valid token: not applied (the sender's address proves "
                    "nothing)")  # fmt: skip
    owner = find_subscriber(conn, inbound.recipient) if inbound.recipient else None
    if owner is None or owner.status is not SubscriberStatus.ACTIVE:
        return None, "", refused
    if count_since(conn, owner.id, LINK_MAILED, received - _LINK_SPACING):
        return None, "", _join(refused, "an unsubscribe link was mailed to it in the last day")
    return owner, LINK_MAILED, _join(refused, "an unsubscribe link is mailed to that address")


def _join(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def _act(
    conn: Connection,
    inbound: Inbound,
    subscriber: Subscriber,
    policy: Policy,
    received: datetime,
    now: datetime,
) -> tuple[str, str]:
    detail = " ".join(p for p in (inbound.status_code or "", inbound.diagnostic) if p)[:300]
    kind = inbound.kind
    if kind is BounceKind.HARD:
        return _suppress(conn, subscriber, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE,
                         now, f"hard bounce: {detail}")  # fmt: skip
    if kind is BounceKind.SOFT:
        if not inbound.final:
            return "", ""  # the MTA is still trying: inbound.note says so
        if count_since(conn, subscriber.id, COUNTED, received - _SOFT_SPACING):
            return "", "a soft bounce was counted for this address in the last day"
        earlier = count_since(conn, subscriber.id, COUNTED, received - policy.window)
        if earlier + 1 < policy.limit:
            return COUNTED, f"soft bounce {earlier + 1} of {policy.limit}"
        note = f"{earlier + 1} soft bounces within {policy.window.days} days: {detail}"
        return _suppress(conn, subscriber, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE,
                         now, note)  # fmt: skip
    if kind is BounceKind.COMPLAINT:
        return _suppress(conn, subscriber, SubscriberStatus.COMPLAINED, ConsentSource.COMPLAINT,
                         now, f"complaint: {detail}")  # fmt: skip
    if kind is BounceKind.UNSUBSCRIBE:
        return _suppress(conn, subscriber, SubscriberStatus.UNSUBSCRIBED, ConsentSource.MAILTO,
                         now, "mail to the List-Unsubscribe address")  # fmt: skip
    return "", ""


def _suppress(
    conn: Connection,
    subscriber: Subscriber,
    status: SubscriberStatus,
    source: ConsentSource,
    now: datetime,
    note: str,
) -> tuple[str, str]:
    after = suppress(conn, subscriber.id, status, source=source, now=now, note=note)
    if after is None or after.status == subscriber.status:
        return "", f"already {subscriber.status}" if subscriber.status.suppressed else ""
    return str(after.status), ""
