"""Rows for tests, made through the store's own functions with test defaults, and the
reads tests make to check what the store holds (the package itself needs none of them).

The row helpers take a connection, so they join the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from support import NOW

from pressroom.models import Article, ArticleStatus, Frequency, Subscriber, SubscriberStatus
from pressroom.store.articles import row_to_article
from pressroom.store.digests import Digest, open_digest
from pressroom.store.engine import Store
from pressroom.store.schema import articles, subscribers
from pressroom.store.subscriber_writes import save_subscriber

__all__ = ["add_subscriber", "article_rows", "count_by_status", "newest_articles", "open_run"]


def add_subscriber(
    conn: Connection,
    email: str,
    *,
    name: str = "",
    sections: Sequence[str] = (),
    frequency: Frequency = Frequency.DAILY,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    now: datetime = NOW,
) -> Subscriber:
    """Save one subscriber (active, daily, every section unless told otherwise)."""
    return save_subscriber(
        conn,
        email=email,
        name=name,
        sections=sections,
        frequency=frequency,
        status=status,
        now=now,
    )


def open_run(
    conn: Connection,
    schedule: str = "daily",
    *,
    period: str = "2026-11-29",
    window_start: datetime = NOW,
    window_end: datetime = NOW,
    now: datetime = NOW,
) -> Digest:
    """Open a daily digest run with no articles (the ledger tests need only its id)."""
    digest, _ = open_digest(
        conn,
        schedule=schedule,
        period=period,
        frequency=Frequency.DAILY,
        window_start=window_start,
        window_end=window_end,
        article_ids=[],
        now=now,
    )
    return digest


def newest_articles(
    conn: Connection, section: str | None, limit: int, now: datetime
) -> list[Article]:
    """The newest ``limit`` published articles (of one section, or all), newest first."""
    query = (
        select(articles)
        .where(articles.c.published_at <= now, articles.c.status == ArticleStatus.PUBLISHED.value)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
    )
    if section is not None:
        query = query.where(articles.c.section == section)
    return [row_to_article(r) for r in conn.execute(query)]


def count_by_status(conn: Connection) -> dict[str, int]:
    """How many subscribers have each status (statuses with none are left out)."""
    query = select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
    return {str(status): int(count) for status, count in conn.execute(query)}


def article_rows(store: Store) -> list[dict[str, Any]]:
    """Every article row (any status) as a dict, in id order."""
    with store.read() as conn:
        found = conn.execute(select(articles).order_by(articles.c.id))
        return [dict(r._mapping) for r in found]
