"""Helpers for the digest tests: settings, articles of known importance, subscribers, a clock.

Importance under the default ``[digest]`` rules (threshold 5, headline +4, recommended +2,
views 1000/5000/20000 -> +1/+2/+3) and the sections below: a recommended ``news`` article
scores 5 (important), a plain ``news`` one 3 (not), a ``china`` headline 5 (important).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pressroom.config import Settings, load_settings
from pressroom.models import Frequency, Priority, Section, Subscriber, SubscriberStatus
from pressroom.store.articles import sync_sections, upsert_articles
from pressroom.store.engine import Store
from pressroom.store.subscribers import save_subscriber

__all__ = [
    "NOW",
    "SECRET",
    "SECTIONS",
    "Clock",
    "add_articles",
    "add_subscriber",
    "article",
    "make_settings",
    "parse_message",
]

SECRET = "test-secret-0123456789"
NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)  # 09:00 on 29 November in Shanghai
SECTIONS = [
    Section("news", "要闻", 3.0, 0),
    Section("china", "国内", 1.0, 1),
    Section("world", "国际", 1.0, 2),
    Section("tech", "科技", 0.0, 3),
]

_CONFIG = """
[site]
name = "测试新闻网"
base_url = "https://www.example.cn/"
postal_address = "北京市东城区测试路1号"

[web]
secret = "{secret}"
public_url = "https://news.example.cn/"

[mail]
from_address = "digest@news.example.cn"
unsubscribe_mailto = "unsubscribe@news.example.cn"
"""


def make_settings(folder: Path, extra: str = "") -> Settings:
    """Settings for a test site in ``folder`` (store and outbox there), plus ``extra`` TOML."""
    path = folder / "pressroom.toml"
    path.write_text(_CONFIG.format(secret=SECRET) + extra, encoding="utf-8")
    return load_settings(path)


def article(
    number: int,
    section: str,
    published_at: datetime,
    *,
    priority: Priority = Priority.NORMAL,
    views: int = 0,
    title: str | None = None,
    summary: str | None = None,
) -> dict[str, Any]:
    """An import row for ``articles``."""
    return {
        "url": f"https://www.example.cn/{section}/{number}.html",
        "section": section,
        "title": title or f"{section} 新闻 {number}",
        "summary": summary if summary is not None else f"第 {number} 篇的摘要。",
        "body_html": f"<p>正文 {number}</p>",
        "authors": "文字:记者",
        "image_url": None,
        "published_at": published_at,
        "updated_at": None,
        "views": views,
        "priority": int(priority),
        "status": "published",
    }


def add_articles(store: Store, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Write the test sections and ``rows``; return url -> article id."""
    from sqlalchemy import select

    from pressroom.store.schema import articles

    with store.write() as conn:
        sync_sections(conn, SECTIONS)
        upsert_articles(conn, rows, NOW)
        found = conn.execute(select(articles.c.url, articles.c.id))
        return {url: ident for url, ident in found}


def add_subscriber(
    store: Store,
    email_address: str,
    *,
    name: str = "",
    sections: Sequence[str] = (),
    frequency: Frequency = Frequency.DAILY,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
) -> Subscriber:
    """Save one subscriber."""
    with store.write() as conn:
        return save_subscriber(
            conn,
            email=email_address,
            name=name,
            sections=sections,
            frequency=frequency,
            status=status,
            now=NOW,
        )


@dataclass
class Clock:
    """A clock that stands still until moved."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; return the new time."""
        self.now += timedelta(**delta)
        return self.now


def parse_message(data: bytes) -> EmailMessage:
    """Parse raw message bytes with the modern policy."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def utc(*parts: int) -> datetime:
    """A UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]
