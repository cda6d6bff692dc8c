"""The article store's contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, text

from pressroom.models import Article, ArticleStatus, Priority, Section
from pressroom.store.articles import (
    articles_by_ids,
    count_articles,
    list_sections,
    published_between,
    sync_sections,
    upsert_articles,
)
from pressroom.store.engine import Store
from pressroom.store.feed_keys import newest_keys

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def row(n: int, section: str = "a", **changes: Any) -> dict[str, Any]:
    base = {
        "url": f"https://news.example.cn/{section}/{n}.html",
        "section": section,
        "title": f"标题{n}",
        "summary": "摘要",
        "body_html": "<p>正文</p>",
        "authors": "文字:岳小乔",
        "image_url": None,
        "published_at": T0 + timedelta(hours=n),
        "updated_at": None,
        "views": n * 10,
        "priority": 0,
        "status": "published",
    }
    return base | changes


def seed(store: Store, rows: list[dict[str, Any]]) -> None:
    with store.write() as conn:
        sync_sections(conn, [Section("a", "甲", 1.0), Section("b", "乙", 2.0)])
        upsert_articles(conn, rows, T0)


def _newest(
    conn: Connection, now: datetime, limit: int, section: str | None = None
) -> list[Article]:
    """The articles a feed would list, through the feed build's own reads."""
    ids = [key[0] for key in newest_keys(conn, limit, now, section=section)]
    return articles_by_ids(conn, ids, published_only=False)


def test_sections_sync_and_order(store: Store) -> None:
    with store.write() as conn:
        sync_sections(conn, [Section("b", "乙", 2.0), Section("a", "甲", 1.0)])
        sync_sections(conn, [Section("a", "甲甲", 3.0), Section("b", "乙", 2.0)])
    with store.read() as conn:
        assert list_sections(conn) == [Section("a", "甲甲", 3.0, 0), Section("b", "乙", 2.0, 1)]


def test_upsert_inserts_updates_and_leaves_unchanged(store: Store) -> None:
    seed(store, [row(1), row(2)])
    later = T0 + timedelta(days=1)
    with store.write() as conn:
        counts = upsert_articles(conn, [row(1), row(2, title="新标题"), row(3)], later)
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    with store.read() as conn:
        by_url = {a.url: a for a in _newest(conn, later, 10)}
        assert count_articles(conn) == 3
    edited = by_url[row(2)["url"]]
    assert edited.title == "新标题" and edited.updated_at == later
    assert edited.published_at == row(2)["published_at"]
    assert by_url[row(1)["url"]].updated_at == row(1)["published_at"]


def test_edit_keeps_the_article_id(store: Store) -> None:
    seed(store, [row(1)])
    with store.read() as conn:
        (before,) = _newest(conn, T0 + timedelta(days=1), 5, section="a")
    with store.write() as conn:
        upsert_articles(conn, [row(1, title="改过", views=999)], T0)
    with store.read() as conn:
        (after,) = _newest(conn, T0 + timedelta(days=1), 5, section="a")
    assert after.id == before.id and after.title == "改过" and after.views == 999


def test_times_come_back_aware_utc(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    seed(store, [row(1, published_at=datetime(2020, 1, 31, 22, 51, tzinfo=shanghai))])
    with store.read() as conn:
        (article,) = _newest(conn, T0, 5)
    assert article.published_at == datetime(2020, 1, 31, 14, 51, tzinfo=UTC)
    assert article.published_at.utcoffset() == timedelta(0)


def test_newest_excludes_future_drafts_and_deleted(store: Store) -> None:
    now = T0 + timedelta(hours=10)
    rows = [row(n) for n in range(1, 6)]
    rows += [row(6, status="draft"), row(7, status="deleted"), row(30), row(8, section="b")]
    seed(store, rows)
    with store.read() as conn:
        newest = _newest(conn, now, 3, section="a")
        everything = _newest(conn, now, 50)
    assert [a.title for a in newest] == ["标题5", "标题4", "标题3"]
    assert {a.title for a in everything} == {f"标题{n}" for n in (1, 2, 3, 4, 5, 8)}
    assert all(a.status is ArticleStatus.PUBLISHED for a in everything)


def test_published_between_is_half_open(store: Store) -> None:
    seed(store, [row(n, priority=n % 3) for n in range(1, 8)])
    with store.read() as conn:
        window = published_between(conn, T0 + timedelta(hours=2), T0 + timedelta(hours=5))
        important = published_between(conn, T0, T0 + timedelta(hours=8), min_priority=2)
    assert [a.title for a in window] == ["标题5", "标题4", "标题3"]
    assert {a.priority for a in important} == {Priority.HEADLINE}


def _plan(store: Store, sql: str, params: dict[str, Any]) -> str:
    with store.read() as conn:
        if store.is_sqlite:
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql), params).all()
            return "\n".join(str(r[-1]) for r in rows)
        # A tiny test table is cheaper to scan; tell the planner to show the index path.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        conn.execute(text("ANALYZE articles"))
        return "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql), params))


def test_newest_of_a_section_is_an_index_scan(store: Store) -> None:
    # 22 sections, as on the site: one section's rows are a small share of the table.
    seed(store, [row(n, section=f"s{n % 22}") for n in range(2200)])
    plan = _plan(
        store,
        "SELECT * FROM articles WHERE section = :s AND published_at <= :now "
        "AND status = 'published' ORDER BY published_at DESC LIMIT 50",
        {"s": "s3", "now": "2030-01-01"},
    )
    # SQLite picks the section index; PostgreSQL may walk ix_articles_published backwards
    # with a filter (its statistics see the heap ordered by time): both stop after 50 rows.
    expected = "ix_articles_section_published" if store.is_sqlite else "Index Scan Backward"
    assert expected in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_published_window_is_an_index_scan(store: Store) -> None:
    seed(store, [row(n) for n in range(200)])
    plan = _plan(
        store,
        "SELECT * FROM articles WHERE published_at > :a AND published_at <= :b",
        {"a": "2026-11-28", "b": "2026-11-29"},
    )
    assert "ix_articles_published" in plan, plan


def test_newest_overall_is_an_index_scan(store: Store) -> None:
    seed(store, [row(n) for n in range(200)])
    plan = _plan(
        store,
        "SELECT * FROM articles WHERE published_at <= :now ORDER BY published_at DESC LIMIT 50",
        {"now": "2030-01-01"},
    )
    assert "ix_articles_published" in plan, plan
