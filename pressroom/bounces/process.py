"""``pressroom bounces process``: read the bounce mailbox, record and apply each message.

Each message is handled in its own short write transaction, then moved out of the way:
into ``processed``, or into ``failed`` when it cannot be processed (too big, not a mail
message, a value the store cannot hold: see :func:`pressroom.bounces.parse.checked`).
A message set aside is named (file or IMAP UID) with its reason in one sentence, and the
run goes on: nothing a stranger mails can stop the queue. If the process dies between
the commit and the move, the next pass finds the message recorded and only moves it (a
duplicate changes nothing), so every message is accounted for exactly once.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DataError, IntegrityError

from pressroom.bounces.apply import LINK_MAILED, Applied, Policy, apply_inbound
from pressroom.bounces.config import BounceConfig
from pressroom.bounces.inbox import FAILED, PROCESSED, Inbox, Item
from pressroom.bounces.link_mail import send_link_mail
from pressroom.bounces.mailbox import open_mailbox
from pressroom.bounces.parse import Unparseable, read_message
from pressroom.bounces.report import BounceReport
from pressroom.clock import Clock
from pressroom.errors import DeliveryError
from pressroom.store.engine import Store

__all__ = ["process_bounces"]

log = logging.getLogger("pressroom.bounces")


def process_bounces(config: BounceConfig, store: Store, clock: Clock) -> BounceReport:
    """Process every message waiting in ``config.source``.

    Raises:
        ConfigError: an IMAP source without a password.
        JobFailed: the mailbox cannot be opened or read.
    """
    report = BounceReport()
    policy = Policy(
        config.soft_limit,
        config.soft_window,
        config.address_fallback,
        mail_links=config.link_mail is not None,
    )
    with open_mailbox(config) as inbox:
        for item in inbox.messages(config.max_message_bytes):
            try:
                applied = _apply(item, config, store, policy, clock)
            except _SetAside as exc:
                _set_aside(inbox, item, str(exc), report)
                continue
            if applied.action == LINK_MAILED:
                _mail_link(config, applied, clock)
            inbox.move(item.key, PROCESSED, flag=True)
            _count(applied, report)
    return report


def _mail_link(config: BounceConfig, applied: Applied, clock: Clock) -> None:
    """Send the unsubscribe-link mail the committed event promised (once: a retry of the
    message is a duplicate); a transport failure is one logged sentence, not the run's end."""
    assert config.link_mail is not None and applied.subscriber is not None
    try:
        send_link_mail(config.link_mail, config.addresses.secret, applied.subscriber, clock())
    except DeliveryError as exc:
        who = applied.subscriber.email
        log.warning("bounce mailbox: the unsubscribe link to %s was not sent: %s", who, exc)


class _SetAside(Exception):
    """Why a message cannot be processed (one clause)."""


def _apply(item: Item, config: BounceConfig, store: Store, policy: Policy, clock: Clock) -> Applied:
    if item.size > config.max_message_bytes:
        raise _SetAside(
            f"it has {item.size} bytes, more than [bounces] max_message_bytes "
            f"({config.max_message_bytes})"
        )
    try:
        inbound = read_message(item.data, config.addresses)
    except Unparseable as exc:
        raise _SetAside(str(exc)) from exc
    except Exception as exc:  # per message: whatever the parser trips on sets it aside
        log.debug("bounce mailbox: %s", item.where, exc_info=True)
        raise _SetAside(f"it cannot be parsed ({type(exc).__name__})") from exc
    try:
        with store.write() as conn:
            return apply_inbound(conn, inbound, policy, clock())
    except (DataError, IntegrityError) as exc:  # a value the checks missed: never loop on it
        log.debug("bounce mailbox: %s", item.where, exc_info=True)
        raise _SetAside(f"the store refused a value of it ({type(exc.orig).__name__})") from exc


def _set_aside(inbox: Inbox, item: Item, reason: str, report: BounceReport) -> None:
    sentence = f"bounce mailbox: {item.where} set aside in {FAILED!r}: {reason}"
    log.warning("%s", sentence)
    inbox.move(item.key, FAILED, flag=False)
    report.failed.append(sentence)


def _count(applied: Applied, report: BounceReport) -> None:
    if applied.duplicate:
        report.duplicates += 1
        return
    report.kinds[applied.kind] += 1
    if applied.action:
        report.actions[applied.action] += 1
        who = applied.subscriber.email if applied.subscriber else "?"
        log.info("bounce mailbox: %s %s -> %s", applied.kind, who, applied.action)
