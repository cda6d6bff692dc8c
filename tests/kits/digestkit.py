"""Helpers for the digest tests: the test site's settings, articles of known importance,
subscribers.

Importance under the default ``[digest]`` rules (threshold 5, headline +4, recommended +2,
views 1000/5000/20000 -> +1/+2/+3) and the sections below: a recommended ``news`` article
scores 5 (important), a plain ``news`` one 3 (not), a ``china`` headline 5 (important).
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import storekit
import support
from smtpkit import SmtpServer
from sqlalchemy import func, select

from pressroom.cli import main
from pressroom.config import Settings
from pressroom.demo.site_config import render_demo_config
from pressroom.digest.config import DigestConfig
from pressroom.models import Frequency, Priority, Section, Subscriber, SubscriberStatus
from pressroom.store.articles import published_between, sync_sections, upsert_articles
from pressroom.store.engine import Store
from pressroom.store.schema import deliveries, digests
from pressroom.wiring import digest_config

__all__ = [
    "SECTIONS",
    "SITE",
    "add_articles",
    "add_subscriber",
    "article",
    "config_for",
    "count_runs",
    "init_site",
    "make_settings",
    "parse_message",
]

SECTIONS = [
    Section("news", "要闻", 3.0, 0),
    Section("china", "国内", 1.0, 1),
    Section("world", "国际", 1.0, 2),
    Section("tech", "科技", 0.0, 3),
]
SITE: dict[str, dict[str, object]] = {
    "site": {
        "name": "测试新闻网",
        "base_url": "https://www.example.cn/",
        "postal_address": "北京市东城区测试路1号",
    },
    "web": {"public_url": "https://news.example.cn/"},
    "mail": {
        "from_address": "digest@news.example.cn",
        "unsubscribe_mailto": "unsubscribe@news.example.cn",
    },
}
"""The digest tests' site: :func:`support.make_settings` tables."""

_ALL_TIME = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def make_settings(folder: Path, extra: str = "") -> Settings:
    """Settings for the test site in ``folder`` (store and outbox there), plus ``extra`` TOML."""
    return support.make_settings(folder, extra, **SITE)


def config_for(folder: Path, extra: str = "") -> DigestConfig:
    """The digest's part of :func:`make_settings`."""
    return digest_config(make_settings(folder, extra))


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
    """Write the test sections and ``rows``; return url -> article id of every article."""
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
        upsert_articles(conn, rows, support.NOW)
        return {a.url: a.id for a in published_between(conn, *_ALL_TIME)}


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
        return storekit.add_subscriber(
            conn, email_address, name=name, sections=sections, frequency=frequency, status=status
        )


def parse_message(data: bytes) -> EmailMessage:
    """Parse raw message bytes with the modern policy."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def outbox_mails(settings: Settings) -> list[Path]:
    """The file outbox's ``.eml`` files in the order they were sent (by ``Date``, then by
    when the file was written): their names are Message-IDs, which say nothing of order."""

    def sent(path: Path) -> tuple[datetime, int]:
        date = parse_message(path.read_bytes())["Date"].datetime
        return date, path.stat().st_mtime_ns

    return sorted(settings.path(settings.mail.outbox).glob("*.eml"), key=sent)


def count_runs(store: Store) -> tuple[int, int]:
    """How many ``digests`` and ``deliveries`` rows the store holds (for assertions)."""
    with store.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (digests, deliveries)
        )


def init_site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: SmtpServer,
    articles: Sequence[Mapping[str, object]],
    **smtp: str,
) -> Path:
    """A site made by ``pressroom init`` in ``tmp_path/site`` with the demo's settings,
    sending through ``server`` (``PRESSROOM_MAIL__*``; ``smtp``: more ``[mail.smtp]``
    values, ``SMTPUTF8="true"``), with ``articles`` imported; its ``pressroom.toml``."""
    mail = {"TRANSPORT": "smtp", "SMTP__HOST": server.host, "SMTP__PORT": str(server.port),
            "SMTP__TLS": "none", "SMTP__TIMEOUT": "5"}  # fmt: skip
    mail.update({f"SMTP__{key}": value for key, value in smtp.items()})
    for name, value in mail.items():
        monkeypatch.setenv(f"PRESSROOM_MAIL__{name}", value)
    monkeypatch.setenv("PRESSROOM_WEB__PUBLIC_URL", "https://news.example.cn/")
    folder = tmp_path / "site"
    assert main(["init", str(folder)]) == 0
    config = folder / "pressroom.toml"
    config.write_text(render_demo_config(), encoding="utf-8")
    lines = tmp_path / "articles.jsonl"
    lines.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in articles), "utf-8")
    assert main(["--config", str(config), "import", str(lines)]) == 0
    return config
