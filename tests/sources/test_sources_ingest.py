"""What the ingest API does once a body is decoded, on both store backends: items checked by
index, good ones upserted by URL (a later one with the same URL wins), withdrawals."""

from __future__ import annotations

from storekit import article_rows
from support import SHANGHAI, FakeClock

from pressroom.importer import RowParser
from pressroom.models import Section
from pressroom.sources.ingest import ingest_articles, withdraw_article
from pressroom.sources.service import section_keys
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store


def item(n: int, **fields: object) -> dict[str, object]:
    return {
        "url": f"https://news.example.cn/{n}.html",
        "section": "domestic",
        "title": f"第 {n} 篇",
        "published_at": "2026-11-28 16:00",
        **fields,
    }


def test_items_are_checked_by_index_and_stored(store: Store, clock: FakeClock) -> None:
    sections = [Section("domestic", "国内")]
    with store.write() as conn:
        sync_sections(conn, sections)
    parser = RowParser(section_keys(sections), SHANGHAI)
    items = [item(1), item(2, views=-1), [1], item(1, title="后来的标题"), item(3, title="\x00")]

    report = ingest_articles(store, parser, list(enumerate(items)), clock)

    assert report.as_json() == {
        "stored": 1,
        "unchanged": 0,
        "errors": [
            {"index": 1, "error": "views must not be negative, got -1"},
            {"index": 2, "error": "not a JSON object"},
            {"index": 4, "error": "title contains a NUL character"},
        ],
    }
    (row,) = article_rows(store)
    assert row["title"] == "后来的标题" and row["status"] == "published"

    assert withdraw_article(store, "https://news.example.cn/1.html", clock) == 1
    assert withdraw_article(store, "https://news.example.cn/9.html", clock) == 0
    assert article_rows(store)[0]["status"] == "deleted"
