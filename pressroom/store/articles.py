"""Reading and writing the article store (``sections`` and ``articles``).

Functions take a :class:`~sqlalchemy.Connection` so the caller owns the transaction
(see :meth:`pressroom.store.engine.Store.read` / ``write``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.models import Article, ArticleStatus, Priority, Section
from pressroom.store.bulk import execute_many, rows_in
from pressroom.store.schema import articles, sections

__all__ = [
    "ARTICLE_FIELDS",
    "UpsertCounts",
    "articles_by_ids",
    "count_articles",
    "list_sections",
    "published_between",
    "row_to_article",
    "sync_sections",
    "upsert_articles",
    "withdraw_articles",
]

ARTICLE_FIELDS = (
    "url",
    "section",
    "title",
    "summary",
    "body_html",
    "authors",
    "image_url",
    "published_at",
    "updated_at",
    "views",
    "priority",
    "status",
)
_COMPARED = tuple(f for f in ARTICLE_FIELDS if f != "updated_at")
_ID_CHUNK = 500


def row_to_article(row: Row[Any]) -> Article:
    """Build an :class:`Article` from a row of ``articles``."""
    m = row._mapping
    return Article(
        id=m["id"],
        url=m["url"],
        section=m["section"],
        title=m["title"],
        summary=m["summary"],
        body_html=m["body_html"],
        authors=m["authors"],
        image_url=m["image_url"],
        published_at=m["published_at"],
        updated_at=m["updated_at"],
        views=m["views"],
        priority=Priority(m["priority"]),
        status=ArticleStatus(m["status"]),
    )


def list_sections(conn: Connection) -> list[Section]:
    """Every section, in site order."""
    rows = conn.execute(select(sections).order_by(sections.c.position, sections.c.slug))
    return [Section(r.slug, r.name, r.weight, r.position) for r in rows]


def sync_sections(conn: Connection, wanted: Sequence[Section]) -> None:
    """Make ``sections`` hold ``wanted`` (insert or update; sections not listed are kept)."""
    existing = {s.slug: s for s in list_sections(conn)}
    for position, section in enumerate(wanted):
        values = {"name": section.name, "weight": section.weight, "position": position}
        current = existing.get(section.slug)
        if current is None:
            conn.execute(sections.insert().values(slug=section.slug, **values))
        elif (current.name, current.weight, current.position) != tuple(values.values()):
            conn.execute(sections.update().where(sections.c.slug == section.slug).values(values))


def articles_by_ids(
    conn: Connection, ids: Sequence[int], *, published_only: bool = True
) -> list[Article]:
    """The articles with ``ids``, in the order of ``ids`` (missing ones left out).

    Args:
        conn: a connection inside a transaction.
        ids: article ids; one query per 500 distinct ids.
        published_only: leave out drafts and deleted articles (False: any status).
    """
    wanted = sorted(set(ids))
    found: dict[int, Article] = {}
    for start in range(0, len(wanted), _ID_CHUNK):
        query = select(articles).where(articles.c.id.in_(wanted[start : start + _ID_CHUNK]))
        if published_only:
            query = query.where(articles.c.status == ArticleStatus.PUBLISHED.value)
        found.update((r.id, row_to_article(r)) for r in conn.execute(query))
    return [found[i] for i in ids if i in found]


def published_between(
    conn: Connection, start: datetime, end: datetime, *, min_priority: int = 0
) -> list[Article]:
    """Published articles with ``start < published_at <= end``, newest first."""
    query = (
        select(articles)
        .where(
            articles.c.published_at > start,
            articles.c.published_at <= end,
            articles.c.status == ArticleStatus.PUBLISHED.value,
        )
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )
    if min_priority:
        query = query.where(articles.c.priority >= min_priority)
    return [row_to_article(r) for r in conn.execute(query)]


def count_articles(conn: Connection) -> int:
    """How many rows ``articles`` holds (any status)."""
    return int(conn.execute(select(func.count()).select_from(articles)).scalar_one())


@dataclass(slots=True)
class UpsertCounts:
    """What an upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        """Add ``other``'s counts into these."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


def upsert_articles(
    conn: Connection, rows: Iterable[dict[str, Any]], now: datetime
) -> UpsertCounts:
    """Insert new articles and update changed ones, matched by ``url``.

    Each row has :data:`ARTICLE_FIELDS`; ``updated_at`` may be None, meaning "now if the
    article changed, else keep it" (so re-importing the same file changes nothing).
    A later row with the same url in one batch wins.
    """
    by_url = {row["url"]: row for row in rows}
    counts = UpsertCounts()
    if not by_url:
        return counts
    # which URLs exist, cheaply; then those rows, typed (none on a first import or sync)
    present = [url for (url,) in rows_in(conn, articles, ("url",), "url", list(by_url))]
    existing: dict[str, Any] = {}
    for start in range(0, len(present), _ID_CHUNK):
        found = conn.execute(
            select(articles.c.id, *[articles.c[f] for f in ARTICLE_FIELDS]).where(
                articles.c.url.in_(present[start : start + _ID_CHUNK])
            )
        )
        existing.update((r.url, r._mapping) for r in found)
    changed: list[dict[str, Any]] = []
    for url, row in by_url.items():
        old = existing.get(url)
        if old is None:
            counts.inserted += 1
            changed.append({**row, "updated_at": row["updated_at"] or row["published_at"]})
        elif _differs(old, row):
            counts.updated += 1
            changed.append({**row, "updated_at": row["updated_at"] or now})
        else:
            counts.unchanged += 1
    execute_many(conn, _upsert_statement(conn), changed)
    return counts


def _differs(old: Any, new: dict[str, Any]) -> bool:
    if any(old[f] != new[f] for f in _COMPARED):
        return True
    return new["updated_at"] is not None and new["updated_at"] != old["updated_at"]


def _upsert_statement(conn: Connection) -> Any:
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(articles)
    return insert.on_conflict_do_update(
        index_elements=[articles.c.url],
        set_={f: insert.excluded[f] for f in ARTICLE_FIELDS if f != "url"},
    )


def withdraw_articles(conn: Connection, urls: Sequence[str], now: datetime) -> int:
    """Mark the articles at ``urls`` deleted (they leave every feed); return how many were not.

    ``updated_at`` becomes ``now``, so the feeds' fingerprints move. Unknown URLs and
    articles already deleted are left as they are.
    """
    withdrawn = 0
    for start in range(0, len(urls), _ID_CHUNK):
        done = conn.execute(
            update(articles)
            .where(
                articles.c.url.in_(urls[start : start + _ID_CHUNK]),
                articles.c.status != ArticleStatus.DELETED.value,
            )
            .values(status=ArticleStatus.DELETED.value, updated_at=now)
        )
        withdrawn += done.rowcount
    return withdrawn
