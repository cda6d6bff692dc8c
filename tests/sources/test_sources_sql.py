"""``kind = "sql"`` against real databases: a DedeCMS-shaped pair of tables in MariaDB,
a PostgreSQL CMS table with ``timestamptz``, a SQLite one with local text times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from storekit import article_rows
from support import SHANGHAI, FakeClock, utc
from wpkit import mysql_database

from pressroom.config import SqlSourceSettings
from pressroom.errors import SourceError
from pressroom.models import Section
from pressroom.sources.service import SourceSpec, sync_one
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store

SECTIONS = [Section("domestic", "国内", 1.0), Section("world", "国际")]

DEDE_TABLES = """
CREATE TABLE dede_arctype (id smallint unsigned NOT NULL auto_increment, reid smallint
  unsigned NOT NULL default 0, typename char(30) NOT NULL default '', typedir char(60) NOT NULL
  default '', PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE dede_archives (id mediumint unsigned NOT NULL default 0, typeid smallint unsigned
  NOT NULL default 0, flag set('c','h','p','f','s','j','a','b') default NULL, arcrank smallint
  NOT NULL default 0, click mediumint unsigned NOT NULL default 0, title char(60) NOT NULL
  default '', writer char(20) NOT NULL default '', litpic char(100) NOT NULL default '',
  pubdate int unsigned NOT NULL default 0, senddate int unsigned NOT NULL default 0,
  description varchar(255) NOT NULL default '', PRIMARY KEY (id), KEY sortrank (pubdate))
  DEFAULT CHARSET=utf8mb4;
CREATE TABLE dede_addonarticle (aid mediumint unsigned NOT NULL default 0, typeid smallint
  unsigned NOT NULL default 0, body mediumtext, PRIMARY KEY (aid)) DEFAULT CHARSET=utf8mb4
"""

DEDE_QUERY = """
SELECT a.id AS id,
       CONCAT('https://www.example.cn', REPLACE(t.typedir, '{cmspath}', ''), '/', a.id, '.html')
         AS url,
       t.typename AS section, a.title AS title, a.description AS summary,
       b.body AS body_html, a.writer AS authors, a.pubdate AS published_at, a.click AS views,
       CASE WHEN FIND_IN_SET('h', a.flag) THEN 2 WHEN FIND_IN_SET('c', a.flag) THEN 1
            ELSE 0 END AS priority,
       CASE WHEN a.arcrank = -2 THEN 'deleted' WHEN a.arcrank < 0 THEN 'draft'
            ELSE 'published' END AS status
FROM dede_archives a
JOIN dede_addonarticle b ON b.aid = a.id
JOIN dede_arctype t ON t.id = a.typeid
WHERE a.senddate >= :since_epoch OR a.pubdate >= :since_epoch
"""


@pytest.fixture
def sections_store(sqlite_store: Store) -> Store:
    with sqlite_store.write() as conn:
        sync_sections(conn, SECTIONS)
    return sqlite_store


def spec(url: str, query: str, **options: object) -> SourceSpec:
    values = {"kind": "sql", "url": url, "query": query, **options}
    return SourceSpec("cms", SqlSourceSettings.model_validate(values), url, SHANGHAI)


def test_a_dedecms_site_through_kind_sql(sections_store: Store, clock: FakeClock) -> None:
    with mysql_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in DEDE_TABLES.split(";"):
                conn.exec_driver_sql(statement)
            conn.execute(text("INSERT INTO dede_arctype VALUES (1, 0, '国内', '{cmspath}/a/gn')"))
            when = int(utc(2026, 11, 28, 8).timestamp())
            for aid, flag, rank, title in [
                (1, "h", 0, "头条新闻"),
                (2, "c", 0, "推荐新闻"),
                (3, None, -1, "未审核"),
                (4, None, 0, ""),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO dede_archives (id, typeid, flag, arcrank, click, title, "
                        "writer, pubdate, senddate) VALUES (:i, 1, :f, :r, 12, :t, '记者', :p, :p)"
                    ),
                    {"i": aid, "f": flag, "r": rank, "t": title, "p": when},
                )
                conn.execute(
                    text("INSERT INTO dede_addonarticle VALUES (:i, 1, '<p>正文</p>')"), {"i": aid}
                )
        engine.dispose()
        bad: list[str] = []
        report = sync_one(spec(url, DEDE_QUERY), sections_store, clock, report_bad=bad.append)

    rows = {r["url"]: r for r in article_rows(sections_store)}
    assert set(rows) == {"https://www.example.cn/a/gn/1.html", "https://www.example.cn/a/gn/2.html"}
    first = rows["https://www.example.cn/a/gn/1.html"]
    assert (first["priority"], first["views"], first["section"]) == (2, 12, "domestic")
    assert first["published_at"] == utc(2026, 11, 28, 8)
    assert rows["https://www.example.cn/a/gn/2.html"]["priority"] == 1
    assert bad == ["source cms: row id=4: title is empty"]
    assert report.skipped == {"not published": 1}


@pytest.mark.postgres
def test_a_postgresql_source(pg_url: str, sections_store: Store, clock: FakeClock) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE cms_posts (link text, channel text, headline text, body text, "
            "created timestamptz, changed timestamptz)"
        )
        conn.exec_driver_sql(
            "INSERT INTO cms_posts VALUES ('https://pg.example.cn/1', 'world', '世界新闻', "
            "'<p>x</p>', '2026-11-28 16:00+08', '2026-11-28 16:30+08')"
        )
    query = (
        "SELECT link AS url, channel AS section, headline AS title, body AS body_html, "
        "created AS published_at, changed AS updated_at FROM cms_posts WHERE changed >= :since"
    )
    source = spec(pg_url, query)

    first = sync_one(source, sections_store, clock, report_bad=print)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cms_posts SET headline = '改了', changed = changed + '1 min'")
    second = sync_one(source, sections_store, clock, report_bad=print)
    engine.dispose()

    assert first.counts.inserted == 1 and second.counts.updated == 1 and not second.full
    (row,) = article_rows(sections_store)
    assert row["title"] == "改了"
    assert row["published_at"] == utc(2026, 11, 28, 8)
    assert row["updated_at"] == utc(2026, 11, 28, 8, 31)


@pytest.fixture
def sqlite_cms(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cms.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, url TEXT, section TEXT, title TEXT, "
            "published TEXT, modified TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO items VALUES (1, 'https://lite.example.cn/1', '国内', '本地时间', "
            "'2026-11-28 16:00:00', '2026-11-28 16:00:00')"
        )
    engine.dispose()
    yield url


def test_a_sqlite_source_with_local_times(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    query = (
        "SELECT id, url, section, title, published AS published_at, modified AS updated_at "
        "FROM items WHERE modified >= :since"
    )
    source = spec(sqlite_cms, query)

    report = sync_one(source, sections_store, clock, report_bad=print)
    again = sync_one(source, sections_store, clock, report_bad=print)

    (row,) = article_rows(sections_store)
    assert row["published_at"] == utc(2026, 11, 28, 8)  # 16:00 in Shanghai
    assert report.counts.inserted == 1
    assert again.rows == 1 and again.unchanged == 1  # inside the overlap, same hash


def test_a_column_that_is_no_article_field_stops_the_sync(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    query = "SELECT url, section, title, published AS publish_at FROM items WHERE :since <> ''"

    with pytest.raises(SourceError) as caught:
        sync_one(spec(sqlite_cms, query), sections_store, clock, report_bad=print)

    assert str(caught.value).startswith(
        "source cms: the query returns column 'publish_at', which is not an article field"
    )


def test_a_query_the_database_refuses_is_one_sentence(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    with pytest.raises(SourceError) as caught:
        source = spec(sqlite_cms, "SELECT * FROM nowhere WHERE x > :since")
        sync_one(source, sections_store, clock, report_bad=print)

    assert "nowhere" in str(caught.value) and "\n" not in str(caught.value)


def test_the_worker_keeps_a_reader_and_starts_afresh_after_a_failure(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    from pressroom.sources.service import SourceSyncs

    query = "SELECT url, section, title, published AS published_at FROM items WHERE :since <> ''"
    syncs = SourceSyncs([spec(sqlite_cms, query)])
    cms = create_engine(sqlite_cms)
    try:
        assert syncs.sync("cms", sections_store, clock, report_bad=print).counts.inserted == 1
        with cms.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE items RENAME TO items_away")
        with pytest.raises(SourceError):
            syncs.sync("cms", sections_store, clock, report_bad=print)
        with cms.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE items_away RENAME TO items")
        again = syncs.sync("cms", sections_store, clock, full=True, report_bad=print)
        assert again.rows == 1 and again.unchanged == 1
    finally:
        syncs.close()
        cms.dispose()


def test_the_worker_reports_a_bad_row_once_while_it_stays_bad(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    from pressroom.sources.service import SourceSyncs

    cms = create_engine(sqlite_cms)
    with cms.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO items VALUES (2, 'https://lite.example.cn/2', '国内', '', "
            "'2026-11-28 16:00:00', '2026-11-28 16:00:00')"
        )
    cms.dispose()
    query = (
        "SELECT id, url, section, title, published AS published_at, modified AS updated_at "
        "FROM items WHERE modified >= :since"
    )
    syncs = SourceSyncs([spec(sqlite_cms, query)])
    reported: list[str] = []
    try:
        for _ in range(3):  # the row stays inside the overlap: read by every sync
            report = syncs.sync("cms", sections_store, clock, report_bad=reported.append)
            assert report.bad == 1
    finally:
        syncs.close()

    assert reported == ["source cms: row id=2: title is empty"]


def _more_items(url: str, count: int) -> None:
    cms = create_engine(url)
    with cms.begin() as conn:
        for n in range(2, count + 2):
            conn.execute(
                text(
                    "INSERT INTO items VALUES (:n, :u, '国内', :t, '2026-11-28 16:00:00', "
                    "'2026-11-28 16:00:00')"
                ),
                {"n": n, "u": f"https://lite.example.cn/{n}", "t": f"第{n}条"},
            )
    cms.dispose()


ITEMS = (
    "SELECT id, url, section, title, published AS published_at, modified AS updated_at "
    "FROM items WHERE modified >= :since ORDER BY id"
)


def test_a_row_the_store_refuses_in_a_later_batch_is_reported_and_the_rest_kept(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    _more_items(sqlite_cms, 9)  # ids 1-10, in batches of 3 written while the next is read
    with sections_store.write() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER no_eight BEFORE INSERT ON articles WHEN NEW.title = '第8条' "
            "BEGIN SELECT RAISE(ABORT, 'no eighth item'); END"
        )
    bad: list[str] = []

    report = sync_one(
        spec(sqlite_cms, ITEMS, batch=3), sections_store, clock, report_bad=bad.append
    )

    assert bad == ["source cms: row id=8: the store refused the row (no eighth item)"]
    assert report.bad == 1 and report.counts.inserted == 9
    assert len(article_rows(sections_store)) == 9


def test_a_store_that_fails_mid_sync_stops_it_and_the_watermark_stays(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    from pressroom.errors import StoreError
    from pressroom.store.sources import read_state

    _more_items(sqlite_cms, 9)
    with sections_store.write() as conn:  # the store itself failing, not a row refused
        conn.exec_driver_sql(
            "CREATE TRIGGER broken BEFORE INSERT ON articles WHEN NEW.title = '第5条' "
            "BEGIN SELECT abs(-9223372036854775800 - length(NEW.title) - 5); END"
        )

    with pytest.raises(StoreError) as caught:
        sync_one(spec(sqlite_cms, ITEMS, batch=3), sections_store, clock, report_bad=print)

    message = str(caught.value)
    assert message.endswith("integer overflow") and "\n" not in message
    urls = {row["url"] for row in article_rows(sections_store)}
    assert urls == {f"https://lite.example.cn/{n}" for n in (1, 2, 3)}  # the batch before
    with sections_store.read() as conn:
        assert read_state(conn, "cms").watermark is None


def test_a_source_that_fails_mid_sync_keeps_the_batches_read_before(
    sqlite_cms: str, sections_store: Store, clock: FakeClock
) -> None:
    _more_items(sqlite_cms, 9)
    # the 8th row's integer overflow fails on the SQLite source as it is read
    overflow = "COALESCE(CASE WHEN id = 8 THEN abs(-9223372036854775800 - id) END, title) AS title,"
    query = ITEMS.replace("title,", overflow)

    with pytest.raises(SourceError):
        sync_one(spec(sqlite_cms, query, batch=3), sections_store, clock, report_bad=print)

    urls = {row["url"] for row in article_rows(sections_store)}
    assert urls == {f"https://lite.example.cn/{n}" for n in range(1, 7)}
