"""Helpers for the delivery tests: a ledger with subscribers, a simple composer, settings."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from smtpkit import SmtpServer
from sqlalchemy import select
from storekit import add_subscriber, open_run

from pressroom.config import SmtpSettings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.models import Subscriber, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.schema import deliveries, subscribers

__all__ = [
    "SENDER",
    "add_digest",
    "add_subscribers",
    "delivery_rows",
    "simple_compose",
    "smtp_settings",
    "smtp_settings_for",
]

SENDER = "newsletter@example.com"


def smtp_settings(server: SmtpServer, **overrides: object) -> SmtpSettings:
    """SMTP settings pointing at ``server``: plain, fast timeouts, 4 connections."""
    return smtp_settings_for(server.host, server.port, **overrides)


def smtp_settings_for(host: str, port: int, **overrides: object) -> SmtpSettings:
    """SMTP settings for ``host:port``: plain, fast timeouts, 4 connections."""
    values: dict[str, object] = {
        "host": host,
        "port": port,
        "tls": "none",
        "connections": 4,
        "timeout": 5.0,
        "retries": 3,
    }
    values.update(overrides)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def simple_compose(subscriber: Subscriber, digest_id: int = 1) -> OutgoingMessage:
    """A small Chinese message for ``subscriber`` (stands in for the digest composer)."""
    message_id = f"<digest-{digest_id}.sub-{subscriber.id}@example.com>"
    body = f"{subscriber.name}，您好！\r\n.今日要闻一则。\r\n"
    data = (
        f"From: newsletter@example.com\r\nTo: {subscriber.email}\r\n"
        f"Subject: =?utf-8?b?5LuK5pel6KaB6Ze7?=\r\nDate: {formatdate(usegmt=True)}\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}"
    ).encode()
    return OutgoingMessage(SENDER, subscriber.email, data, message_id)


def add_digest(store: Store, schedule: str = "daily") -> int:
    """Open a digest run (an empty window, no articles) and return its id."""
    with store.write() as conn:
        return open_run(conn, schedule).id


def add_subscribers(
    store: Store,
    count: int,
    *,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    start: int = 0,
) -> list[int]:
    """Save ``count`` subscribers (user<i>@example.org, 读者<i>) and return their ids."""
    with store.write() as conn:
        return [
            add_subscriber(conn, f"user{i}@example.org", name=f"读者{i}", status=status).id
            for i in range(start, start + count)
        ]


def delivery_rows(store: Store, digest_id: int) -> dict[int, dict[str, Any]]:
    """Every ``deliveries`` row of ``digest_id`` by subscriber id, with the subscriber's
    ``email`` (for assertions; the store has no reader for whole ledger rows)."""
    query = (
        select(deliveries, subscribers.c.email)
        .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        .where(deliveries.c.digest_id == digest_id)
    )
    with store.read() as conn:
        return {r.subscriber_id: dict(r._mapping) for r in conn.execute(query)}
