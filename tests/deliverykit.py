"""Helpers for the delivery tests: a ledger with subscribers, a simple composer, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import formatdate

from smtpkit import SmtpServer
from sqlalchemy import insert

from pressroom.config import SmtpSettings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.models import Subscriber
from pressroom.store.engine import Store
from pressroom.store.schema import digests, subscribers

__all__ = [
    "NOW",
    "SENDER",
    "add_digest",
    "add_subscribers",
    "simple_compose",
    "smtp_settings",
    "smtp_settings_for",
]

SENDER = "newsletter@example.com"
NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


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
    """Insert a digest run row and return its id."""
    with store.write() as conn:
        result = conn.execute(
            insert(digests).values(
                schedule=schedule,
                period="2026-11-29",
                frequency="daily",
                window_start=NOW,
                window_end=NOW,
                created_at=NOW,
            )
        )
        return int(result.inserted_primary_key[0])


def add_subscribers(
    store: Store, count: int, *, status: str = "active", start: int = 0
) -> list[int]:
    """Insert ``count`` subscribers (user<i>@example.org) and return their ids."""
    rows = [
        {
            "email": f"user{i}@example.org",
            "name": f"读者{i}",
            "status": status,
            "frequency": "daily",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(start, start + count)
    ]
    with store.write() as conn:
        conn.execute(insert(subscribers), rows)
        found = conn.execute(
            subscribers.select()
            .with_only_columns(subscribers.c.id)
            .where(subscribers.c.email.in_([r["email"] for r in rows]))
            .order_by(subscribers.c.id)
        )
        return [int(r[0]) for r in found]
