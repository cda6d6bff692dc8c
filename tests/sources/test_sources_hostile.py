"""Hostile and broken rows and queries at the SQL door, against real MariaDB, PostgreSQL and
SQLite sources, into SQLite and PostgreSQL stores.

The rule every test holds the door to: a bad value costs its row alone (reported by its
key, the rest stored); a bad query, an unreachable or hanging source costs the sync (one
sentence, no SQL, no password) and nothing of the source or the watermark is changed
beyond what was stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from stallkit import StallingProxy
from storekit import article_rows
from support import SHANGHAI, FakeClock, make_settings, utc
from wpkit import WordPress, mysql_database

from pressroom.config import SqlSourceSettings, WordPressSourceSettings
from pressroom.errors import SourceError, SourceUnavailable
from pressroom.incoming import MAX_TIME, MIN_TIME
from pressroom.models import Section
from pressroom.sources.candidate import Candidate, Reader
from pressroom.sources.service import SourceSpec, SourceSyncs, sync_one
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store
from pressroom.store.sources import read_state
from pressroom.wiring import source_specs

SECTIONS = [Section("domestic", "国内", 1.0), Section("world", "国际")]
COLUMNS = "id, url, section, title, summary, authors, published_at"


def spec(url: str, query: str, **options: object) -> SourceSpec:
    values = {"kind": "sql", "url": url, "query": query, **options}
    return SourceSpec("cms", SqlSourceSettings.model_validate(values), url, SHANGHAI)


@pytest.fixture
def sections(store: Store) -> Store:
    """The store on each backend (SQLite, PostgreSQL), with its sections."""
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
    return store


@pytest.fixture
def lite(sqlite_store: Store) -> Store:
    with sqlite_store.write() as conn:
        sync_sections(conn, SECTIONS)
    return sqlite_store


def stored(store: Store) -> dict[str, dict[str, object]]:
    return {str(r["url"]): r for r in article_rows(store)}


MARIADB_ROWS = """
CREATE TABLE posts (id int PRIMARY KEY, url varchar(300), section varchar(30),
  title mediumtext, summary varchar(200) CHARACTER SET latin1, authors varbinary(200),
  published_at datetime, changed datetime) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4;
SET SESSION sql_mode = '';
INSERT INTO posts VALUES
  (1, 'https://m.example.cn/1', '国内', '好的', 'café', '记者', '2026-11-28 16:00:00', NOW()),
  (2, 'https://m.example.cn/2', '国内', CONCAT('空', CHAR(0), '字'), '', '',
   '2026-11-28 16:00:00', NOW()),
  (3, 'https://m.example.cn/3', '国内', '坏作者', '', x'ff41', '2026-11-28 16:00:00', NOW()),
  (4, 'https://m.example.cn/4', '国内', '零日期', '', '', '0000-00-00 00:00:00', NOW()),
  (5, 'https://m.example.cn/5', '国内', '万年', '', '', '9999-12-31 23:59:59', NOW()),
  (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (7, 'https://m.example.cn/7', '国内', REPEAT('长', 1000000), '', '',
   '2026-11-28 16:00:00', NOW()),
  (8, 'https://m.example.cn/dup', '国内', '先', '', '', '2026-11-28 16:00:00', NOW()),
  (9, 'https://m.example.cn/dup', '国内', '后', '', '', '2026-11-28 16:00:00', NOW()),
  (10, 'https://m.example.cn/10', '国内', '旧闻', '', '', '1965-03-01 08:00:00',
   '1965-03-01 08:00:00')
"""


def test_bad_mariadb_values_cost_their_row_alone(sections: Store, clock: FakeClock) -> None:
    with mysql_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in MARIADB_ROWS.split(";"):
                conn.exec_driver_sql(statement)
        engine.dispose()
        bad: list[str] = []
        query = f"SELECT {COLUMNS} FROM posts WHERE changed >= :since OR id = 6 ORDER BY id"
        report = sync_one(spec(url, query), sections, clock, report_bad=bad.append)

    rows = stored(sections)
    assert set(rows) == {
        "https://m.example.cn/1",
        "https://m.example.cn/dup",
        "https://m.example.cn/10",
    }
    assert rows["https://m.example.cn/1"]["summary"] == "café"  # latin1, read as text
    assert rows["https://m.example.cn/dup"]["title"] == "后"  # the later row of the batch
    assert rows["https://m.example.cn/10"]["published_at"] == utc(1965, 3, 1)  # before 1970
    assert bad == [
        "source cms: row id=2: title contains a NUL character",
        "source cms: row id=3: authors must be a string, got b'\\xffA'",
        "source cms: row id=4: missing published_at",
        "source cms: row id=5: published_at is out of range (9999-12-31 UTC; from "
        f"{MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d})",
        "source cms: row id=6: missing published_at",
        "source cms: row id=7: title is longer than 1,000 characters (1,000,000)",
    ]
    assert (report.rows, report.bad, report.counts.inserted) == (10, 6, 3)


@pytest.mark.postgres
def test_postgresql_values_python_cannot_hold_cost_their_row(
    pg_url: str, lite: Store, clock: FakeClock
) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE posts (id int, url text, title text, published_at timestamptz, "
            "updated_at timestamp, views numeric)"
        )
        conn.exec_driver_sql(
            "INSERT INTO posts VALUES "
            "(1, 'https://p.example.cn/1', '好', '2026-11-28 16:00+08', NULL, 7), "
            "(2, 'https://p.example.cn/2', '无穷', 'infinity', NULL, 0), "
            "(3, 'https://p.example.cn/3', '两万年', '2026-11-28 16:00+08', '20000-01-01', 0), "
            "(4, 'https://p.example.cn/4', '非数', '2026-11-28 16:00+08', NULL, 'NaN'), "
            "(5, 'https://p.example.cn/5', '无穷大', '2026-11-28 16:00+08', NULL, 'Infinity'), "
            "(6, 'https://p.example.cn/6', '负无穷', '-infinity', NULL, 0)"
        )
    engine.dispose()
    bad: list[str] = []
    query = (
        "SELECT id, url, '国内' AS section, title, published_at, updated_at, views FROM posts "
        "WHERE :since IS NOT NULL ORDER BY id"
    )

    report = sync_one(spec(pg_url, query), lite, clock, report_bad=bad.append)

    assert set(stored(lite)) == {"https://p.example.cn/1"}
    assert bad == [
        "source cms: row id=2: published_at is not an ISO 8601 date: 'infinity'",
        "source cms: row id=3: updated_at is not an ISO 8601 date: '20000-01-01 00:00:00'",
        "source cms: row id=4: views must be a whole number, got 'NaN'",
        "source cms: row id=5: views must be a whole number, got 'Infinity'",
        "source cms: row id=6: published_at is not an ISO 8601 date: '-infinity'",
    ]
    assert report.counts.inserted == 1


@pytest.mark.postgres
def test_a_nul_in_a_sqlite_source_is_a_row_error_in_a_postgresql_store(
    tmp_path: Path, sections: Store, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'cms.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id int, url text, title text, body text)")
        conn.exec_driver_sql(
            "INSERT INTO posts VALUES (1, 'https://s.example.cn/1', '好', 'x'), "
            "(2, 'https://s.example.cn/2', '坏', 'a' || char(0) || 'b'), "
            "(3, 'https://s.example.cn/3', CAST(x'e5a5bdff' AS TEXT), 'x'), "
            "(4, 'https://s.example.cn/4', '也好', 'x')"
        )
    engine.dispose()
    bad: list[str] = []
    query = (
        "SELECT id, url, '国内' AS section, title, body AS body_html, "
        "'2026-11-28 16:00:00' AS published_at FROM posts WHERE :since <> '' ORDER BY id"
    )

    sync_one(spec(url, query), sections, clock, report_bad=bad.append)

    assert set(stored(sections)) == {"https://s.example.cn/1", "https://s.example.cn/4"}
    assert bad == [
        "source cms: row id=2: body_html contains a NUL character",
        "source cms: row id=3: title must be a string, got b'\\xe5\\xa5\\xbd\\xff'",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM posts WHERE changed >= :since",
        "  -- a comment first\n  UPDATE posts SET title = '' WHERE changed >= :since",
        "/* x */ INSERT INTO posts SELECT * FROM posts WHERE changed >= :since",
        "DROP TABLE posts; SELECT :since",
        "(((  \n",
        "",
        "SELECT url, title FROM posts",
    ],
)
def test_a_query_that_is_no_select_or_has_no_since_is_refused_by_the_config(query: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SqlSourceSettings.model_validate({"kind": "sql", "url": "sqlite:///x.db", "query": query})

    reasons = ("must be a SELECT", "at least 1 character", "must use the :since parameter")
    assert any(reason in str(caught.value) for reason in reasons)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT url FROM t WHERE t >= :since",
        "  -- comment\n/* another */ (SELECT url FROM t WHERE t >= :since)",
        "with recent AS (SELECT * FROM t WHERE t >= :since) SELECT url FROM recent",
    ],
)
def test_a_select_in_any_spelling_is_accepted_by_the_config(query: str) -> None:
    values = {"kind": "sql", "url": "sqlite:///x.db", "query": query}

    assert SqlSourceSettings.model_validate(values).query == query


def test_a_select_whose_function_writes_is_refused_by_a_mariadb_myisam_source(
    lite: Store, clock: FakeClock
) -> None:
    with mysql_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE posts (id int, url text, title text, changed datetime) ENGINE=MyISAM"
            )
            conn.exec_driver_sql(
                "INSERT INTO posts VALUES (1, 'https://m.example.cn/1', '好', NOW())"
            )
            conn.exec_driver_sql(
                "CREATE FUNCTION zap() RETURNS int MODIFIES SQL DATA "
                "BEGIN DELETE FROM posts; RETURN 1; END"
            )
        query = (
            "SELECT url, '国内' AS section, title, changed AS published_at FROM posts "
            "WHERE changed >= :since AND zap() = 1"
        )
        with pytest.raises(SourceError) as caught:
            sync_one(spec(url, query), lite, clock, report_bad=print)
        with engine.begin() as conn:
            left = conn.exec_driver_sql("SELECT COUNT(*) FROM posts").scalar()
        engine.dispose()

    assert left == 1  # MyISAM cannot roll back: the read-only session refused the DELETE
    assert "READ ONLY" in str(caught.value) and "\n" not in str(caught.value)
    assert stored(lite) == {}


@pytest.mark.postgres
def test_a_select_whose_function_writes_is_refused_by_a_postgresql_source(
    pg_url: str, lite: Store, clock: FakeClock
) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (url text, title text, changed timestamptz)")
        conn.exec_driver_sql("INSERT INTO posts VALUES ('https://p.example.cn/1', '好', now())")
        conn.exec_driver_sql(
            "CREATE FUNCTION zap() RETURNS int LANGUAGE sql AS 'DELETE FROM posts; SELECT 1'"
        )
    query = (
        "SELECT url, '国内' AS section, title, changed AS published_at FROM posts "
        "WHERE changed >= :since AND zap() = 1"
    )

    with pytest.raises(SourceError) as caught:
        sync_one(spec(pg_url, query), lite, clock, report_bad=print)
    with engine.begin() as conn:
        left = conn.exec_driver_sql("SELECT COUNT(*) FROM posts").scalar()
    engine.dispose()

    assert left == 1
    assert "read-only transaction" in str(caught.value)


@pytest.fixture
def sqlite_cms(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cms.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id int, url text, title text, t text)")
        conn.exec_driver_sql(
            "INSERT INTO items VALUES (1, 'https://s.example.cn/1', '好', '2026-11-28 16:00:00')"
        )
    engine.dispose()
    return url


@pytest.mark.parametrize(
    ("columns", "sentence"),
    [
        (
            "url, '国内' AS section, t AS published_at",
            "source cms: the query returns no title column, which every article needs",
        ),
        (
            "url, '国内' AS section, title, title AS title, t AS published_at",
            "source cms: the query returns column 'title' twice",
        ),
        (
            "url, '国内' AS section, title, t AS published_at, t AS extra",
            "source cms: the query returns column 'extra', which is not an article field",
        ),
    ],
)
def test_a_query_with_a_missing_doubled_or_extra_column_stops_in_one_sentence(
    sqlite_cms: str, lite: Store, clock: FakeClock, columns: str, sentence: str
) -> None:
    query = f"SELECT {columns} FROM items WHERE t >= :since"

    with pytest.raises(SourceError) as caught:
        sync_one(spec(sqlite_cms, query), lite, clock, report_bad=print)

    assert str(caught.value).startswith(sentence)
    assert stored(lite) == {} and read_state_of(lite).watermark is None


def read_state_of(store: Store) -> object:
    with store.read() as conn:
        return read_state(conn, "cms")


def test_a_column_of_the_wrong_type_is_a_row_error(
    sqlite_cms: str, lite: Store, clock: FakeClock
) -> None:
    query = (
        "SELECT id, url, '国内' AS section, title, 1.5e9 AS published_at, 'many' AS views, "
        "x'01' AS summary FROM items WHERE t >= :since"
    )
    bad: list[str] = []

    sync_one(spec(sqlite_cms, query), lite, clock, report_bad=bad.append)

    assert bad == [
        "source cms: row id=1: published_at must be an ISO 8601 string, got 1500000000.0"
    ]


def test_the_password_comes_from_the_environment_with_special_characters(
    tmp_path: Path, lite: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "p@ss:w/rd%#?&'\" 中"
    with mysql_database() as url:
        database = make_url(url).database
        user = f"ro_{database}"[:32]
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (url text, title text, t datetime)")
            conn.exec_driver_sql("INSERT INTO items VALUES ('https://m.example.cn/1', '好', NOW())")
            conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :p"), {"p": password})
            conn.exec_driver_sql(f"GRANT SELECT ON {database}.* TO '{user}'@'%%'")
        base = make_url(url).set(username=user, password=None)
        source = base.render_as_string(hide_password=False)
        query = (
            "SELECT url, '国内' AS section, title, t AS published_at FROM items WHERE t >= :since"
        )
        try:
            monkeypatch.setenv("PRESSROOM_SOURCES__CMS__PASSWORD", password)
            settings = make_settings(
                tmp_path, sources={"cms": {"kind": "sql", "url": source, "query": query}}
            )
            (good,) = source_specs(settings)
            report = sync_one(good, lite, clock, report_bad=print)
            monkeypatch.setenv("PRESSROOM_SOURCES__CMS__PASSWORD", password + "x")
            (tmp_path / "wrong").mkdir()
            (wrong,) = source_specs(make_settings(tmp_path / "wrong", sources={
                "cms": {"kind": "sql", "url": source, "query": query}}))  # fmt: skip
            with pytest.raises(SourceUnavailable) as caught:
                sync_one(wrong, lite, clock, report_bad=print)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")
            admin.dispose()

    assert report.counts.inserted == 1
    message = str(caught.value)
    assert message.startswith(f"source cms: cannot read mysql+pymysql://{user}:***@")
    assert "p@ss" not in message and "Access denied" in message


class Stopping:
    """A reader that runs ``after_first`` once its first batch has been handed over."""

    def __init__(self, reader: Reader, after_first: object) -> None:
        self.reader, self.after_first = reader, after_first

    def batches(self, since: object) -> Iterator[list[Candidate]]:
        for n, batch in enumerate(self.reader.batches(since)):  # type: ignore[arg-type]
            yield batch
            if n == 0:
                self.after_first()  # type: ignore[operator]

    def close(self) -> None:
        self.reader.close()


HEAVY_ROWS = (
    "INSERT INTO items SELECT seq, CONCAT('https://m.example.cn/', seq), REPEAT('字', 3000), "
    "NOW() - INTERVAL 1 HOUR + INTERVAL seq SECOND FROM seq_{first}_to_{last}"
)


def test_a_server_that_kills_the_sync_mid_stream_leaves_the_watermark_at_what_was_stored(
    lite: Store, clock: FakeClock
) -> None:
    with mysql_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id int, url text, body text, t datetime)")
            conn.exec_driver_sql(HEAVY_ROWS.format(first=1, last=5))
        query = (
            "SELECT id, url, '国内' AS section, url AS title, body AS body_html, "
            "t AS published_at FROM items WHERE t >= :since ORDER BY t"
        )
        source = spec(url, query, batch=50, overlap=0)
        sync_one(source, lite, clock, report_bad=print)
        with lite.read() as conn:
            before = read_state(conn, "cms")
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE items SET t = t - INTERVAL 1 DAY")  # all older now
            conn.exec_driver_sql(HEAVY_ROWS.format(first=6, last=2000))

        def kill() -> None:  # the server ends the sync's session, as a restart would
            with engine.begin() as conn:
                ids = conn.execute(
                    text(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE info LIKE :q AND id <> CONNECTION_ID()"
                    ),
                    {"q": "SELECT id, url, '国内'%"},
                ).scalars()
                for session in ids:
                    conn.exec_driver_sql(f"KILL {session}")

        reader = Stopping(source.open(SECTIONS), kill)
        with pytest.raises(SourceError) as caught:
            sync_one(source, lite, clock, reader=reader, report_bad=print)
        reader.close()
        with lite.read() as conn:
            after_kill = read_state(conn, "cms")
        written = len(stored(lite))
        again = sync_one(source, lite, clock, report_bad=print)
        engine.dispose()

    assert "\n" not in str(caught.value)
    assert after_kill == before  # the watermark did not move past what was stored
    assert 5 < written < 2000  # the batches before the kill were stored
    assert len(stored(lite)) == 2000 and again.counts.inserted == 2000 - written


@pytest.mark.slow
def test_a_source_that_hangs_mid_stream_stops_the_sync_and_the_next_one_goes_on(
    lite: Store, clock: FakeClock
) -> None:
    with mysql_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id int, url text, t datetime)")
            conn.exec_driver_sql(
                "INSERT INTO items SELECT seq, CONCAT('https://m.example.cn/', seq), NOW() "
                "FROM seq_1_to_3"
            )
        hang = (
            "SELECT id, url, '国内' AS section, url AS title, t AS published_at FROM items "
            "WHERE t >= :since AND IF(id = 2, SLEEP(4), 0) = 0"
        )
        syncs = SourceSyncs([spec(url, hang, batch=1, timeout=1)])
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            syncs.sync("cms", lite, clock, report_bad=print)
        waited = time.monotonic() - started
        syncs.close()
        with engine.begin() as conn:  # the server still sleeps for the lost session
            for session in conn.exec_driver_sql(
                "SELECT id FROM information_schema.processlist WHERE info LIKE '%%SLEEP(4)%%' "
                "AND id <> CONNECTION_ID()"
            ).scalars():
                conn.exec_driver_sql(f"KILL {session}")
        engine.dispose()
        query = hang.replace("SLEEP(4)", "0")
        again = SourceSyncs([spec(url, query, timeout=1)])
        report = again.sync("cms", lite, clock, report_bad=print)
        again.close()

    assert waited < 4  # the timeout, not the sleep, ended it
    assert str(caught.value).startswith("source cms: cannot read mysql+pymysql://")
    assert "\n" not in str(caught.value)
    assert report.counts.inserted + report.unchanged == 3


@pytest.mark.slow
@pytest.mark.postgres
def test_a_postgresql_source_that_hangs_is_stopped_by_the_timeout(
    pg_url: str, lite: Store, clock: FakeClock
) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id int, url text, changed timestamptz)")
        conn.exec_driver_sql(
            "INSERT INTO posts SELECT i, 'https://p.example.cn/' || i, now() "
            "FROM generate_series(1, 3) i"
        )
    engine.dispose()
    query = (
        "SELECT id, url, '国内' AS section, url AS title, changed AS published_at FROM posts "
        "WHERE changed >= :since AND (id <> 2 OR pg_sleep(5) IS NOT NULL) ORDER BY id"
    )

    with pytest.raises(SourceError) as caught:
        sync_one(spec(pg_url, query, batch=1, timeout=1), lite, clock, report_bad=print)

    assert "statement timeout" in str(caught.value) and "\n" not in str(caught.value)


def _through(url: str, proxy: StallingProxy) -> str:
    return (
        make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mariadb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_source_that_falls_silent_mid_stream_is_cut_off_by_the_timeout(
    kind: str, request: pytest.FixtureRequest, lite: Store, clock: FakeClock
) -> None:
    with contextlib.ExitStack() as stack:
        if kind == "mariadb":
            url = stack.enter_context(mysql_database())
            make = (
                "INSERT INTO items SELECT seq, CONCAT('https://x.example.cn/', seq) "
                "FROM seq_1_to_50"
            )
        else:
            url = str(request.getfixturevalue("pg_url"))
            make = (
                "INSERT INTO items SELECT i, 'https://x.example.cn/' || i "
                "FROM generate_series(1, 50) i"
            )
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id int, url varchar(100))")
            conn.exec_driver_sql(make)
        engine.dispose()
        target = make_url(url)
        proxy = stack.enter_context(StallingProxy(str(target.host), int(target.port or 0)))
        query = (
            "SELECT id, url, '国内' AS section, url AS title, '2026-11-28 16:00:00' AS "
            "published_at FROM items WHERE :since IS NOT NULL ORDER BY id"
        )
        source = spec(_through(url, proxy), query, batch=1, timeout=1)
        reader = Stopping(source.open(SECTIONS), proxy.stall)
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            sync_one(source, lite, clock, reader=reader, report_bad=print)
        waited = time.monotonic() - started
        proxy.close()
        reader.close()

    assert waited < 20  # not for ever
    assert "\n" not in str(caught.value) and str(caught.value).startswith("source cms: ")
    assert read_state_of(lite).watermark is None  # nothing recorded as read


def test_hostile_wordpress_posts_cost_their_row_alone(lite: Store, clock: FakeClock) -> None:
    with mysql_database() as url:
        wp = WordPress(url)
        try:
            wp.category("guonei", "国内")
            good = wp.post("好新闻", categories=("guonei",), slug="hao")
            nul = wp.post("空\x00字", categories=("guonei",), slug="nul")
            wp.post("坏链接", categories=("guonei",), slug="%00%ff%0a")
            zero = wp.post("零日期", categories=("guonei",), slug="zero")
            wp.run(
                "UPDATE {p}posts SET post_date = '0000-00-00 00:00:00', "
                "post_date_gmt = '0000-00-00 00:00:00' WHERE ID = :i",
                i=zero,
            )
            wp.run("UPDATE {p}options SET option_value = 'a:1:{i:0;s:3:\"abc\";' "
                   "WHERE option_name = 'sticky_posts'")  # fmt: skip
            wp.meta(good, "views", "9" * 40)
            settings = WordPressSourceSettings.model_validate(
                {"kind": "wordpress", "url": url, "home": "https://wp.example.cn",
                 "permalink": "{home}/{slug}.html", "views_meta_key": "views"}
            )  # fmt: skip
            bad: list[str] = []
            sync_one(
                SourceSpec("blog", settings, url, SHANGHAI), lite, clock, report_bad=bad.append
            )
        finally:
            wp.close()

    rows = stored(lite)
    # a slug is kept percent-encoded, as WordPress's get_permalink() gives it: `%00` in a URL
    # is three characters of text, never a NUL byte in the store or the feeds
    assert set(rows) == {"https://wp.example.cn/hao.html", "https://wp.example.cn/%00%ff%0a.html"}
    assert "\x00" not in "".join(rows)
    assert rows["https://wp.example.cn/hao.html"]["views"] == 0  # a count past any integer
    assert bad == [
        f"source blog: row id={nul}: title contains a NUL character",
        f"source blog: row id={zero}: missing published_at",
    ]
