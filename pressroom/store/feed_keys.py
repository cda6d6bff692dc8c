"""The feed builder's cheap reads: the newest keys of a feed and the next future article.

"Has this feed changed?" costs one index scan of the newest N ``(id, updated_at)`` rows
per feed (``ix_articles_section_published`` / ``ix_articles_published``), never a scan
of the whole table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, String, and_, func, select, type_coerce

from pressroom.models import ArticleStatus
from pressroom.store.important import Important, important_clause
from pressroom.store.schema import articles

__all__ = ["FeedKeys", "key_time", "newest_keys", "next_visible_at"]

FeedKeys = list[tuple[int, str, str]]
"""The newest rows of a feed as ``(id, updated_at, published_at)``, newest first; the
times as text that sorts (the store's own text on SQLite, ISO 8601 UTC on PostgreSQL):
hashing text is all a fingerprint needs, and parsing 1,200 datetimes would cost more
than the queries themselves."""


def _visible(now: datetime) -> ColumnElement[bool]:
    return and_(articles.c.published_at <= now, articles.c.status == ArticleStatus.PUBLISHED.value)


def newest_keys(
    conn: Connection,
    limit: int,
    now: datetime,
    *,
    section: str | None = None,
    important: Important | None = None,
) -> FeedKeys:
    """``(id, updated_at, published_at)`` of the newest ``limit`` visible articles.

    Args:
        conn: a connection inside a transaction.
        limit: how many rows at most.
        now: articles published later are not visible yet.
        section: only this section's articles (None: every section).
        important: only the articles this rule finds important (None: all).
    """
    updated, published = (type_coerce(c, String) for c in (_updated, _published))
    query = (
        select(articles.c.id, updated, published)
        .where(_visible(now))
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
    )
    if important is not None:
        query = query.where(important_clause(important))
    if section is not None:
        query = query.where(articles.c.section == section)
    return [(i, _text(u), _text(p)) for i, u, p in conn.execute(query)]


_updated, _published = articles.c.updated_at, articles.c.published_at


def _text(value: object) -> str:
    if isinstance(value, datetime):  # PostgreSQL: psycopg parses timestamptz itself
        return value.astimezone(UTC).isoformat()
    return str(value)


def key_time(text: str) -> datetime:
    """A time from :data:`FeedKeys` as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def next_visible_at(conn: Connection, now: datetime) -> datetime | None:
    """When the next future-dated published article becomes visible (None: no such one)."""
    query = select(func.min(articles.c.published_at)).where(
        articles.c.published_at > now, articles.c.status == ArticleStatus.PUBLISHED.value
    )
    value: datetime | None = conn.execute(query).scalar_one_or_none()
    return value
