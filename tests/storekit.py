"""Reads the tests make to check what the store holds; the package itself never needs them.

Rows are *created* through the store's own functions; these only look.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from pressroom.models import Article, ArticleStatus
from pressroom.store.articles import row_to_article
from pressroom.store.schema import articles, subscribers

__all__ = ["count_by_status", "newest_articles"]


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
