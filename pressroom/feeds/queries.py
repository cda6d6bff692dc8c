"""The feed builder's own cheap queries: newest keys per feed, the important rule in SQL,
articles by id, the next future article, and the ``feed_state`` table.

"Has this feed changed?" costs one index scan of the newest N ``(id, updated_at)`` rows
per feed (``ix_articles_section_published`` / ``ix_articles_published``), never a scan
of the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    false,
    func,
    not_,
    or_,
    select,
    type_coerce,
)

from pressroom.config import DigestSettings
from pressroom.models import Article, ArticleStatus, Priority
from pressroom.store.articles import row_to_article
from pressroom.store.schema import articles, feed_state

__all__ = [
    "FeedKeys",
    "articles_by_ids",
    "important_clause",
    "key_time",
    "load_fingerprints",
    "newest_keys",
    "next_visible_at",
    "save_fingerprints",
]

FeedKeys = list[tuple[int, str, str]]
"""The newest rows of a feed as ``(id, updated_at, published_at)``, newest first; the
times as text that sorts (the store's own text on SQLite, ISO 8601 UTC on PostgreSQL):
hashing text is all a fingerprint needs, and parsing 1,200 datetimes would cost more
than the queries themselves."""

_ID_CHUNK = 500


def _visible(now: datetime) -> ColumnElement[bool]:
    return and_(articles.c.published_at <= now, articles.c.status == ArticleStatus.PUBLISHED.value)


def newest_keys(
    conn: Connection, where: ColumnElement[bool] | None, limit: int, now: datetime
) -> FeedKeys:
    """``(id, updated_at, published_at)`` of the newest ``limit`` visible articles
    matching ``where`` (all articles when None)."""
    updated, published = (type_coerce(c, String) for c in (_updated, _published))
    query = (
        select(articles.c.id, updated, published)
        .where(_visible(now))
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
    )
    if where is not None:
        query = query.where(where)
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


def _bonus(priority: Priority, rules: DigestSettings) -> float:
    if priority == Priority.HEADLINE:
        return rules.headline_bonus
    if priority == Priority.RECOMMENDED:
        return rules.recommended_bonus
    return 0.0


def _min_views(base: float, rules: DigestSettings) -> int | None:
    """Fewest views that make ``base`` (weight + priority bonus) important; None: never."""
    # The same float arithmetic as pressroom.importance.score, so SQL and Python agree.
    if base + 0.0 >= rules.threshold:
        return 0
    reaching = [t.min_views for t in rules.view_tiers if base + t.bonus >= rules.threshold]
    return min(reaching) if reaching else None


def important_clause(weights: Mapping[str, float], rules: DigestSettings) -> ColumnElement[bool]:
    """A WHERE clause true exactly for the articles :func:`is_important` accepts.

    Sections are grouped by weight (sections not in ``weights`` weigh 0); for each group
    and priority, the rule reduces to "views >= the lowest tier that reaches the
    threshold", or to always / never.
    """
    groups: dict[float, list[str]] = {}
    for slug, weight in weights.items():
        groups.setdefault(weight, []).append(slug)
    terms: list[ColumnElement[bool]] = []
    for weight, slugs in sorted(groups.items()):
        terms += _group_terms(articles.c.section.in_(sorted(slugs)), weight, rules)
    others = not_(articles.c.section.in_(sorted(weights))) if weights else None
    terms += _group_terms(others, 0.0, rules)
    if not terms:
        return false()
    if not any(_min_views(w, rules) is not None for w in [0.0, *weights.values()]):
        # No normal-priority article can be important: let the partial index
        # ix_articles_priority_published (WHERE priority > 0) serve the scan.
        return and_(articles.c.priority > 0, or_(*terms))
    return or_(*terms)


def _group_terms(
    section: ColumnElement[bool] | None, weight: float, rules: DigestSettings
) -> list[ColumnElement[bool]]:
    terms = []
    for priority in Priority:
        views = _min_views(weight + _bonus(priority, rules), rules)
        if views is None:
            continue
        parts = [articles.c.priority == int(priority)]
        if section is not None:
            parts.append(section)
        if views > 0:
            parts.append(articles.c.views >= views)
        terms.append(and_(*parts))
    return terms


def articles_by_ids(conn: Connection, ids: Iterable[int]) -> dict[int, Article]:
    """The articles with these ids (any status), by id; one query per 500 ids."""
    wanted = sorted(set(ids))
    found: dict[int, Article] = {}
    for start in range(0, len(wanted), _ID_CHUNK):
        chunk = wanted[start : start + _ID_CHUNK]
        for row in conn.execute(select(articles).where(articles.c.id.in_(chunk))):
            found[row.id] = row_to_article(row)
    return found


def next_visible_at(conn: Connection, now: datetime) -> datetime | None:
    """When the next future-dated published article becomes visible (None: no such one)."""
    query = select(func.min(articles.c.published_at)).where(
        articles.c.published_at > now, articles.c.status == ArticleStatus.PUBLISHED.value
    )
    value: datetime | None = conn.execute(query).scalar_one_or_none()
    return value


def load_fingerprints(conn: Connection) -> dict[str, str]:
    """Feed name to the fingerprint of its last published build."""
    return {r.name: r.fingerprint for r in conn.execute(select(feed_state))}


def save_fingerprints(
    conn: Connection,
    changed: Mapping[str, tuple[str, datetime | None]],
    removed: Sequence[str],
    now: datetime,
) -> None:
    """Record ``changed`` feeds (name to fingerprint, newest time) and forget ``removed``."""
    names = [*changed, *removed]
    if names:
        conn.execute(feed_state.delete().where(feed_state.c.name.in_(names)))
    rows: list[dict[str, Any]] = [
        {"name": name, "fingerprint": fp, "newest_at": newest, "built_at": now}
        for name, (fp, newest) in changed.items()
    ]
    if rows:
        conn.execute(feed_state.insert(), rows)
