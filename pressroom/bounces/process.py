"""``pressroom bounces process``: read the bounce mailbox, record and apply each message.

Each message is handled in its own short write transaction, then moved out of the way:
into ``processed``, or into ``failed`` when it cannot be parsed. If the process dies
between the commit and the move, the next pass finds the message recorded and only moves
it (a duplicate changes nothing), so every message is accounted for exactly once.
"""

from __future__ import annotations

import logging

from pressroom.bounces.apply import Policy, apply_inbound
from pressroom.bounces.config import BounceConfig
from pressroom.bounces.inbox import FAILED, PROCESSED
from pressroom.bounces.mailbox import open_mailbox
from pressroom.bounces.parse import Unparseable, read_message
from pressroom.bounces.report import BounceReport
from pressroom.clock import Clock
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
    policy = Policy(config.soft_limit, config.soft_window, config.address_fallback)
    with open_mailbox(config) as inbox:
        for item in inbox.messages():
            try:
                inbound = read_message(item.data, config.addresses)
            except Exception as exc:  # per message: what cannot be read goes to 'failed'
                if not isinstance(exc, Unparseable):
                    log.debug("bounce mailbox: %s", item.key, exc_info=True)
                log.warning("bounce mailbox: message %s moved to %r: %s", item.key, FAILED, exc)
                inbox.move(item.key, FAILED, flag=False)
                report.failed.append(f"{item.key}: {exc}")
                continue
            with store.write() as conn:
                applied = apply_inbound(conn, inbound, policy, clock())
            inbox.move(item.key, PROCESSED, flag=True)
            if applied.duplicate:
                report.duplicates += 1
                continue
            report.kinds[applied.kind] += 1
            if applied.action:
                report.actions[applied.action] += 1
                who = applied.subscriber.email if applied.subscriber else "?"
                log.info("bounce mailbox: %s %s -> %s", applied.kind, who, applied.action)
    return report
