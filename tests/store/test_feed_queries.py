"""The feeds' reads and ``feed_state``, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from storekit import newest_articles
from support import NOW

from pressroom.config import DigestSettings, ViewTier
from pressroom.importance import is_important
from pressroom.models import Section
from pressroom.store.articles import (
    articles_by_ids,
    sync_sections,
    upsert_articles,
)
from pressroom.store.engine import Store
from pressroom.store.feed_keys import key_time, newest_keys, next_visible_at
from pressroom.store.feed_state import load_fingerprints, save_fingerprints
from pressroom.store.important import Important

SECTIONS = [Section("a", "甲", 3.0), Section("b", "乙", 1.0), Section("c", "丙", 0.0)]


def row(n: int, section: str = "a", **changes: Any) -> dict[str, Any]:
    published = NOW - timedelta(minutes=n)
    base = {
        "url": f"https://news.example.cn/{section}/{n}.html",
        "section": section,
        "title": f"标题{n}",
        "summary": "摘要",
        "body_html": "<p>正文</p>",
        "authors": "",
        "image_url": None,
        "published_at": published,
        "updated_at": published,
        "views": 0,
        "priority": 0,
        "status": "published",
    }
    return base | changes


def seed(store: Store, rows: list[dict[str, Any]]) -> None:
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
        upsert_articles(conn, rows, NOW)


def test_articles_by_ids_keeps_the_order_asked_and_leaves_out_the_missing(store: Store) -> None:
    seed(store, [row(1), row(2), row(3, status="draft")])
    with store.read() as conn:
        newest = newest_articles(conn, None, 10, NOW)
        first, second = (a.id for a in newest)
        assert [a.id for a in articles_by_ids(conn, [second, 999_999, first])] == [second, first]
        assert articles_by_ids(conn, []) == []
        everything = articles_by_ids(conn, range(1, 10), published_only=False)
    assert len(everything) == 3 and {a.status.value for a in everything} == {
        "published",
        "draft",
    }


def test_articles_by_ids_reads_more_ids_than_one_query_holds(store: Store) -> None:
    seed(store, [row(n) for n in range(1, 1201)])
    with store.read() as conn:
        ids = [a.id for a in newest_articles(conn, None, 2000, NOW)]
        found = articles_by_ids(conn, list(reversed(ids)))
    assert [a.id for a in found] == list(reversed(ids))


def _mixed_rows() -> list[dict[str, Any]]:
    rows = []
    n = 0
    for section in ("a", "b", "c", "unknown"):
        for priority in (0, 1, 2):
            for views in (0, 999, 1000, 5000, 20_000):
                n += 1
                rows.append(row(n, section, priority=priority, views=views))
    return rows


@pytest.mark.parametrize(
    "rules",
    [
        DigestSettings(),
        DigestSettings(threshold=9.0, view_tiers=[ViewTier(min_views=10, bonus=0.5)]),
        DigestSettings(threshold=100.0),
    ],
    ids=["default", "only-headlines-and-recommended", "nothing"],
)
def test_the_important_clause_agrees_with_is_important(store: Store, rules: DigestSettings) -> None:
    seed(store, _mixed_rows())
    weights = {"a": 3.0, "b": 1.0, "c": 0.0}
    with store.read() as conn:
        every = newest_articles(conn, None, 1000, NOW)
        rule = rules.importance
        keys = newest_keys(conn, 1000, NOW, important=Important(weights, rule))
    expected = [a.id for a in every if is_important(a, weights, rule)]
    assert [k[0] for k in keys] == expected


def test_newest_keys_of_one_section_newest_first_with_times(store: Store) -> None:
    seed(store, [row(1, "a"), row(2, "b"), row(3, "a"), row(-5, "a"), row(4, "a", status="draft")])
    with store.read() as conn:
        keys = newest_keys(conn, 10, NOW, section="a")
        upcoming = next_visible_at(conn, NOW)
    assert len(keys) == 2
    assert [key_time(p) for _i, _u, p in keys] == [
        NOW - timedelta(minutes=1),
        NOW - timedelta(minutes=3),
    ]
    assert upcoming == NOW + timedelta(minutes=5)


def test_fingerprints_are_saved_replaced_and_forgotten(store: Store) -> None:
    with store.write() as conn:
        save_fingerprints(conn, {"all": ("f1", NOW), "a": ("f2", None)}, [], NOW)
    with store.write() as conn:
        save_fingerprints(conn, {"all": ("f3", NOW)}, ["a"], NOW)
    with store.read() as conn:
        assert load_fingerprints(conn) == {"all": "f3"}
