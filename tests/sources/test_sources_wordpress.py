"""The WordPress preset against a real MariaDB holding WordPress's own tables.

Chinese posts in several categories; an edit, an edit without a new modification time,
a trash, a hard delete found by the full pass, a row committed inside the overlap, a bad
row among good ones, sticky posts, views from post meta, an unreachable server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from storekit import article_rows
from support import NOW, SHANGHAI, FakeClock, utc
from wpkit import WordPress, later, wordpress_with

from pressroom.config import WordPressSourceSettings
from pressroom.errors import SourceUnavailable
from pressroom.models import Section
from pressroom.sources.candidate import EPOCH
from pressroom.sources.service import SourceSpec, sync_one
from pressroom.sources.sync import SyncReport
from pressroom.sources.wordpress import WordPressReader, _has_json_array
from pressroom.store.articles import sync_sections
from pressroom.store.data_version import data_version
from pressroom.store.engine import Store

SECTIONS = [
    Section("domestic", "国内", 1.0),
    Section("world", "国际", 1.0),
    Section("tech", "科技"),
]
HOME = "https://blog.example.cn"


@pytest.fixture
def wp() -> Iterator[WordPress]:
    categories = {
        "guonei": "国内",
        "%e5%9b%bd%e9%99%85": "国际新闻",  # WordPress keeps 国际 percent-encoded
        "keji": "科技频道",
        "weifenlei": "未分类",
    }
    with wordpress_with(categories) as site:
        yield site


@pytest.fixture
def sections_store(store: Store) -> Store:
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
    return store


def spec_for(wp: WordPress, **options: object) -> SourceSpec:
    values: dict[str, object] = {
        "kind": "wordpress",
        "url": wp.engine.url.render_as_string(hide_password=False),
        "home": HOME,
        "section_map": {"keji": "tech"},
        "views_meta_key": "views",
    }
    values.update(options)
    return SourceSpec("blog", WordPressSourceSettings.model_validate(values), "", SHANGHAI)


def sync(spec: SourceSpec, store: Store, clock: FakeClock, *, full: bool = False) -> SyncReport:
    bad: list[str] = []
    spec = SourceSpec(spec.name, spec.settings, spec.settings.url, spec.zone)
    report = sync_one(spec, store, clock, full=full, report_bad=bad.append)
    report.bad_lines = bad  # type: ignore[attr-defined]
    return report


def by_url(store: Store) -> dict[str, dict[str, object]]:
    return {row["url"]: row for row in article_rows(store)}


def test_posts_land_in_their_sections_with_sticky_views_and_authors(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    first = wp.post("国务院常务会议部署冬季能源保供", categories=("guonei",), slug="energy")
    second = wp.post("联合国气候大会闭幕", categories=("weifenlei", "%e5%9b%bd%e9%99%85"))
    third = wp.post("国产大模型发布新版本", categories=("keji",))
    wp.post("只在未分类里的文章", categories=("weifenlei",))
    wp.post("还没写完的草稿", categories=("guonei",), status="draft")
    wp.sticky(third)
    wp.meta(first, "views", "12345")

    report = sync(spec_for(wp), sections_store, clock)

    rows = by_url(sections_store)
    assert set(rows) == {f"{HOME}/?p={first}", f"{HOME}/?p={second}", f"{HOME}/?p={third}"}
    one = rows[f"{HOME}/?p={first}"]
    assert (one["section"], one["title"], one["views"]) == (
        "domestic",
        "国务院常务会议部署冬季能源保供",
        12345,
    )
    assert one["authors"] == "本报记者 王芳"
    assert one["body_html"] == "<p>正文第一段。</p><p>正文第二段。</p>"
    assert one["published_at"] == utc(2026, 11, 28, 8)
    assert rows[f"{HOME}/?p={second}"]["section"] == "world"  # the first category with a section
    assert rows[f"{HOME}/?p={third}"]["section"] == "tech"  # through section_map
    assert rows[f"{HOME}/?p={third}"]["priority"] == 2  # sticky: a headline
    assert report.full and report.counts.inserted == 3
    assert report.skipped == {"no section for its categories (未分类)": 1, "not published": 1}


def test_a_second_sync_of_unchanged_rows_writes_nothing(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    wp.post("第一篇", categories=("guonei",))
    spec = spec_for(wp)
    sync(spec, sections_store, clock)
    before = data_version(sections_store)
    clock.advance(seconds=5)

    again = sync(spec, sections_store, clock)

    assert again.rows == 1 and again.unchanged == 1 and again.changed == 0
    assert not again.full
    if sections_store.engine.dialect.name == "sqlite":  # PostgreSQL's WAL moves cluster-wide
        assert data_version(sections_store) == before  # no commit: the watch stays quiet


def test_an_edit_a_trash_and_a_permalink_template(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    kept = wp.post("原标题", categories=("guonei",), slug="%e5%8e%9f")
    trashed = wp.post("将被删除", categories=("guonei",))
    spec = spec_for(wp, permalink="{home}/{year}/{month}/{slug}/")
    sync(spec, sections_store, clock)

    wp.edit(kept, later(NOW, minutes=1), post_title="新标题")
    wp.edit(trashed, later(NOW, minutes=1), post_status="trash")
    clock.advance(minutes=2)
    report = sync(spec, sections_store, clock)

    rows = by_url(sections_store)
    assert rows[f"{HOME}/2026/11/%e5%8e%9f/"]["title"] == "新标题"  # as WordPress links it
    assert rows[f"{HOME}/2026/11/{trashed}/"]["status"] == "deleted"
    assert report.counts.updated == 2 and not report.full
    assert kept


def test_an_edit_without_a_new_time_is_seen_by_the_full_pass(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    post = wp.post("标题", categories=("guonei",), date=later(NOW, hours=-3))
    wp.post("更新的文章", categories=("guonei",), date=later(NOW, hours=-1))
    spec = spec_for(wp)
    sync(spec, sections_store, clock)
    wp.edit(post, None, post_content="改过的正文，修改时间没变。")  # e.g. a plugin's direct UPDATE
    clock.advance(seconds=10)

    incremental = sync(spec, sections_store, clock)
    assert incremental.changed == 0  # older than the watermark and its overlap: not read

    full = sync(spec, sections_store, clock, full=True)
    assert full.counts.updated == 1
    assert (
        by_url(sections_store)[f"{HOME}/?p={post}"]["body_html"]
        == "<p>改过的正文，修改时间没变。</p>"
    )


def test_a_hard_delete_is_found_by_the_reconcile_pass(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    gone = wp.post("会被彻底删除", categories=("guonei",))
    wp.post("留下", categories=("guonei",))
    spec = spec_for(wp, reconcile=3600)
    sync(spec, sections_store, clock)
    wp.delete(gone)

    clock.advance(minutes=30)
    assert sync(spec, sections_store, clock).withdrawn == 0  # incremental: cannot see it
    clock.advance(minutes=31)
    report = sync(spec, sections_store, clock)  # reconcile is due

    assert report.full and report.withdrawn == 1
    assert by_url(sections_store)[f"{HOME}/?p={gone}"]["status"] == "deleted"


def test_a_row_committed_late_inside_the_overlap_is_read(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    wp.post("先提交", categories=("guonei",), date=later(NOW, minutes=-1))
    spec = spec_for(wp, overlap=300)
    sync(spec, sections_store, clock)
    # a transaction that began two minutes before the watermark commits only now
    late = wp.post("晚提交", categories=("guonei",), date=later(NOW, minutes=-3))
    clock.advance(seconds=5)

    report = sync(spec, sections_store, clock)

    assert report.counts.inserted == 1
    assert f"{HOME}/?p={late}" in by_url(sections_store)


def test_a_bad_row_is_reported_and_the_good_ones_kept(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    good = wp.post("好文章", categories=("guonei",))
    bad = wp.post("   ", categories=("guonei",))
    nul = wp.post("带\x00空字符", categories=("guonei",))

    report = sync(spec_for(wp), sections_store, clock)

    assert set(by_url(sections_store)) == {f"{HOME}/?p={good}"}
    assert report.bad == 2
    assert report.bad_lines == [  # type: ignore[attr-defined]
        f"source blog: row id={bad}: title is empty",
        f"source blog: row id={nul}: title contains a NUL character",
    ]


def test_the_json_rows_and_the_columns_of_older_servers_give_the_same_posts(
    wp: WordPress,
) -> None:
    first = wp.post("普通文章 😀", categories=("weifenlei", "keji"), excerpt="摘要\t“引号”\\")
    wp.meta(first, "views", "12345")
    image = wp.post("附件", status="inherit")
    wp.run("UPDATE {p}posts SET guid = 'https://blog.example.cn/a.jpg' WHERE ID = :i", i=image)
    wp.meta(first, "_thumbnail_id", str(image))
    wp.sticky(first)
    wp.post("草稿 <b>", categories=("guonei",), status="draft", slug="%e8%8d%89")
    wp.post("带\x00空字符", categories=("guonei",), content="<p>块</p>\n\n段")
    wp.post("没有分类")
    # kept percent-encoded in the URL, as get_permalink() gives it: text, no NUL byte
    wp.post("网址里的百分号", categories=("guonei",), slug="a%00b")
    url = wp.engine.url.render_as_string(hide_password=False)
    spec = SourceSpec(
        "blog",
        spec_for(wp, permalink="{home}/{year}/{month}/{day}/{slug}/").settings,
        url,
        SHANGHAI,
    )
    reader = spec.open(SECTIONS)
    assert isinstance(reader, WordPressReader)
    try:
        with reader.db.connect() as conn:
            assert _has_json_array(conn)  # MariaDB 10.11: the JSON rows are what is read
        as_json = [c for batch in reader.batches(EPOCH) for c in batch]
        reader.json_rows = False
        as_columns = [c for batch in reader.batches(EPOCH) for c in batch]
    finally:
        reader.close()

    assert [(c.key, c.values, c.skip) for c in as_json] == [
        (c.key, c.values, c.skip) for c in as_columns
    ]
    # the JSON rows without an escape skip the parser's scan for NUL: not the one with it
    assert [c.clean for c in as_json] == [True, True, False, False, True]
    assert not any(c.clean for c in as_columns)
    assert len(as_json) == 5
    one = as_json[0].values
    assert one is not None
    assert (one["title"], one["summary"], one["views"], one["priority"]) == (
        "普通文章 😀",
        "摘要\t“引号”\\",
        12345,
        2,
    )
    assert one["image_url"] == "https://blog.example.cn/a.jpg"
    assert one["section"] == "tech" and one["updated_at"] == utc(2026, 11, 28, 8)
    draft = as_json[1].values
    assert draft is not None and draft["status"] == "draft"
    assert draft["published_at"] == utc(2026, 11, 28, 8)  # post_date in the blog's zone
    assert draft["url"] == f"{HOME}/2026/11/28/%e8%8d%89/"  # the slug as stored
    assert as_json[3].skip == "no section for its categories (none)"
    percent = as_json[4].values
    assert percent is not None and percent["url"] == f"{HOME}/2026/11/28/a%00b/"


def test_a_json_row_the_server_could_not_make_is_skipped_by_its_id() -> None:
    from pressroom.sources.wordpress import WordPressSite, _Posts

    site = WordPressSite("wp_", HOME, "{home}/?p={id}", {"domestic": "domestic"})
    posts = _Posts(site, {}, frozenset(), SHANGHAI)

    too_large = posts.from_json(7, None)  # JSON_ARRAY beyond max_allowed_packet is NULL
    broken = posts.from_json(8, '[8, "unterminated')

    assert (too_large.key, too_large.values) == ("id=7", None)
    assert too_large.skip == "too large for the server to send whole"
    assert (broken.key, broken.skip) == ("id=8", "not readable as JSON from the server")


def test_an_unreachable_server_is_one_sentence(sections_store: Store, clock: FakeClock) -> None:
    settings = WordPressSourceSettings.model_validate(
        {"kind": "wordpress", "url": "mysql+pymysql://reader:hunter2@127.0.0.1:1/wp", "home": HOME}
    )
    spec = SourceSpec("blog", settings, settings.url, SHANGHAI)

    with pytest.raises(SourceUnavailable) as caught:
        sync_one(spec, sections_store, clock, report_bad=print)

    message = str(caught.value)
    assert message.startswith("source blog: cannot read mysql+pymysql://reader:***@127.0.0.1:1/wp:")
    assert "hunter2" not in message and "\n" not in message and "SELECT" not in message


@pytest.mark.slow
def test_the_cli_syncs_and_the_feeds_show_the_posts(wp: WordPress, tmp_path: Path) -> None:
    import subprocess
    import sys

    import feedparser

    wp.post("新闻发布会在京举行", categories=("guonei",))
    wp.post("Apple 发布新芯片", categories=("keji",))
    url = wp.engine.url.set(password=None).render_as_string(hide_password=False)
    config = tmp_path / "pressroom.toml"
    config.write_text(
        f"""
[site]
base_url = "https://news.example.cn/"
[web]
secret = "test-secret-0123456789-0123456789"
[[sections]]
slug = "domestic"
name = "国内"
[[sections]]
slug = "tech"
name = "科技"
[sources.blog]
kind = "wordpress"
url = "{url}"
home = "{HOME}"
section_map = {{ keji = "tech" }}
""",
        encoding="utf-8",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pressroom", "--config", str(config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    synced = run("sources", "sync", "blog")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("source blog (full): 2 rows: 2 new")
    built = run("feeds", "build")
    assert built.returncode == 0, built.stderr
    domestic = feedparser.parse(str(tmp_path / "public" / "domestic" / "atom.xml"))
    tech = feedparser.parse(str(tmp_path / "public" / "tech" / "atom.xml"))
    assert [e.title for e in domestic.entries] == ["新闻发布会在京举行"]
    assert [e.title for e in tech.entries] == ["Apple 发布新芯片"]

    unknown = run("sources", "sync", "nope")
    assert unknown.returncode == 2
    assert (
        unknown.stderr.strip()
        == "pressroom: error: no source called 'nope' in [sources] (configured: blog)"
    )


# What a real WordPress writes (tests/sources/test_real_wordpress.py found each of these).


def test_a_post_in_a_child_category_takes_the_section_of_its_parent(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    wp.category("shizheng", "时政", parent="guonei")
    wp.category("difang", "地方", parent="shizheng")
    child = wp.post("时政要闻", categories=("shizheng",))
    grandchild = wp.post("地方新闻", categories=("weifenlei", "difang"))
    own_first = wp.post("科技时政", categories=("shizheng", "keji"))  # keji has its own section

    report = sync(spec_for(wp), sections_store, clock)

    rows = by_url(sections_store)
    assert rows[f"{HOME}/?p={child}"]["section"] == "domestic"
    assert rows[f"{HOME}/?p={grandchild}"]["section"] == "domestic"
    assert rows[f"{HOME}/?p={own_first}"]["section"] == "tech"
    assert report.counts.inserted == 3


def test_a_category_loop_in_the_data_ends(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    wp.category("a", "甲")
    wp.category("b", "乙", parent="a")
    wp.run("UPDATE {p}term_taxonomy SET parent = :b WHERE term_id = :a",
           a=wp.term_ids["a"], b=wp.term_ids["b"])  # fmt: skip
    wp.post("循环分类", categories=("b",))

    report = sync(spec_for(wp), sections_store, clock)

    assert report.skipped == {"no section for its categories (乙)": 1}


def test_urls_are_wordpress_permalinks_with_the_slug_as_stored(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    wp.category("shizheng", "时政", parent="guonei")
    encoded = wp.post("原", categories=("shizheng",), slug="%e5%8e%9f")
    two = wp.post("两个分类", categories=("keji", "shizheng"), slug="two")
    spec = spec_for(wp, permalink="{home}/{category}/{slug}/")

    sync(spec, sections_store, clock)

    # get_permalink(): the stored (percent-encoded) slug; %category% is the path of the
    # post's category with the lowest term id, under its parents
    assert set(by_url(sections_store)) == {
        f"{HOME}/guonei/shizheng/%e5%8e%9f/",
        f"{HOME}/keji/two/",
    }
    assert encoded and two


def test_permalink_dates_are_wordpress_wall_clock(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    # 06:00 on 1 December in Shanghai (WordPress's post_date) is 30 November in UTC
    post = wp.post("月初的文章", categories=("guonei",), slug="early",
                   date=utc(2026, 11, 30, 22))  # fmt: skip
    shanghai_spec = spec_for(wp, permalink="{home}/{year}/{month}/{day}/{slug}/")
    spec = SourceSpec("blog", shanghai_spec.settings, "", ZoneInfo("UTC"))  # the zone set wrong

    sync(spec, sections_store, clock)

    row = by_url(sections_store)[f"{HOME}/2026/12/01/early/"]
    assert row["published_at"] == utc(2026, 11, 30, 22) and post


def test_a_trashed_post_leaves_the_url_it_was_published_under(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    kept = wp.post("会进回收站", categories=("guonei",), slug="%e5%9b%9e")
    old = wp.post("旧版本删除的", categories=("guonei",), slug="old")
    spec = spec_for(wp, permalink="{home}/{year}/{month}/{slug}/")
    sync(spec, sections_store, clock)

    # wp_trash_post(): the slug gets __trashed, the old one goes to _wp_desired_post_slug
    wp.edit(kept, later(NOW, minutes=1), post_status="trash", post_name="%e5%9b%9e__trashed")
    wp.meta(kept, "_wp_desired_post_slug", "%e5%9b%9e")
    wp.edit(old, later(NOW, minutes=1), post_status="trash", post_name="old__trashed")  # no meta
    clock.advance(minutes=2)
    report = sync(spec, sections_store, clock)

    rows = by_url(sections_store)
    assert set(rows) == {f"{HOME}/2026/11/%e5%9b%9e/", f"{HOME}/2026/11/old/"}
    assert {row["status"] for row in rows.values()} == {"deleted"}
    assert report.counts.updated == 2 and report.counts.inserted == 0


def test_a_scheduled_post_published_by_cron_is_read_by_an_incremental_sync(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    wp.post("旧文章", categories=("guonei",), date=later(NOW, days=-3))
    wp.post("刚改过", categories=("guonei",), date=later(NOW, minutes=-1))
    due = later(NOW, minutes=30)
    # scheduled two hours ago in the editor: post_modified is when it was scheduled
    scheduled = wp.post("定时发布", categories=("guonei",), status="future", date=due,
                        modified=later(NOW, hours=-2))  # fmt: skip
    spec = spec_for(wp)
    assert sync(spec, sections_store, clock).skipped == {"not published": 1}

    clock.advance(minutes=40)
    wp.edit(scheduled, None, post_status="publish")  # wp_publish_post(): the status alone
    report = sync(spec, sections_store, clock)

    assert not report.full and report.counts.inserted == 1
    assert report.rows == 2  # with the one inside the overlap; the old post is not read
    assert by_url(sections_store)[f"{HOME}/?p={scheduled}"]["published_at"] == due


def test_sticky_ids_kept_as_strings_are_read(
    wp: WordPress, sections_store: Store, clock: FakeClock
) -> None:
    first = wp.post("置顶一", categories=("guonei",))
    second = wp.post("置顶二", categories=("guonei",))
    plain = wp.post("普通", categories=("guonei",))
    wp.run("UPDATE {p}options SET option_value = :v WHERE option_name = 'sticky_posts'",
           v=f'a:2:{{i:0;s:{len(str(first))}:"{first}";i:1;i:{second};}}')  # fmt: skip

    sync(spec_for(wp), sections_store, clock)

    rows = by_url(sections_store)
    assert [rows[f"{HOME}/?p={i}"]["priority"] for i in (first, second, plain)] == [2, 2, 0]
