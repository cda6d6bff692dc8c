"""The WordPress source against a real WordPress: rows nobody on this project wrote.

Debian's WordPress package is installed into a MariaDB database of the test's own by
WordPress's own PHP (``wp_install()``, then ``wp_insert_post()``, ``wp_insert_term()``,
``stick_post()``, ``wp_update_post()``, ``wp_trash_post()``, ``wp_delete_post()``... through
``tests/kits/wordpress_driver.php``); then the real CLI syncs and builds the feeds, and
feedparser reads them. Links are compared with WordPress's own ``get_permalink()``, times
with its ``get_post_time()``. With pretty permalinks (``/%year%/%monthnum%/%postname%/``,
Chinese slugs that WordPress percent-encodes), with ``/%category%/%postname%/`` (nested
categories) and with the default ``?p=``; and a post scheduled in the editor that WordPress's
cron publishes (about 70 s: WordPress schedules only what is a minute ahead).

Times come from the real clock (``datetime.now()``), not a ``FakeClock``: WordPress and the
CLI run as processes and read the machine's clock, as they do on a site.

Skipped, with the reason, where php or /usr/share/wordpress is missing (``.ci/run``
installs them: ``wordpress php-cli php-mysql``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest
from realwpkit import RealWordPress, missing
from storekit import article_rows
from wpkit import mysql_database

from pressroom.store.engine import open_store

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing()), reason=missing() or "")]

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOME = "https://blog.example.cn"
PRETTY = "/%year%/%monthnum%/%postname%/"


@pytest.fixture
def wordpress(tmp_path: Path) -> Iterator[tuple[RealWordPress, str]]:
    with mysql_database() as url:
        wp = RealWordPress(url, HOME, tmp_path / "wp-content")
        wp.install("新闻测试站")
        yield wp, url


def config(tmp_path: Path, url: str, permalink: str, overlap: int = 300) -> Path:
    path = tmp_path / "pressroom.toml"
    source_url = url.replace("mysql+pymysql://root:@", "mysql+pymysql://root@")
    path.write_text(
        f"""
[site]
base_url = "https://news.example.cn/"
timezone = "Asia/Shanghai"
[web]
secret = "test-secret-0123456789-0123456789"
[digest]
threshold = 4.0   # a headline (sticky post) alone is important
[[sections]]
slug = "domestic"
name = "国内"
[[sections]]
slug = "world"
name = "国际"
[[sections]]
slug = "tech"
name = "科技"
[sources.blog]
kind = "wordpress"
url = "{source_url}"
home = "{HOME}"
permalink = "{permalink}"
section_map = {{ guoji = "world" }}
views_meta_key = "post_views_count"
overlap = {overlap}
""",
        encoding="utf-8",
    )
    return path


def pressroom(config_path: Path, *args: str) -> str:
    command = [sys.executable, "-m", "pressroom", "--config", str(config_path), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def feed(tmp_path: Path, name: str) -> dict[str, Any]:
    """A feed's entries by title: link, id, published (aware)."""
    path = tmp_path / "public" / name / "atom.xml"
    if not path.exists():  # a section with no articles has no feed folder
        return {}
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    return {
        e.title: {"link": e.link, "id": e.id, "published": datetime.fromisoformat(e.published)}
        for e in parsed.entries
    }


def local(moment: datetime) -> str:
    """WordPress's ``post_date`` text: the site's wall clock."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def post(title: str, categories: list[int], when: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "post_title": title,
        "post_content": f"{title}。\n\n第二段正文。",
        "post_status": "publish",
        "post_author": 1,
        "post_date": local(when),
        "post_category": categories,
    } | fields


@pytest.mark.parametrize(
    ("structure", "permalink"),
    [
        (PRETTY, "{home}/{year}/{month}/{slug}/"),
        ("/%category%/%postname%/", "{home}/{category}/{slug}/"),
        ("", "{home}/?p={id}"),
    ],
    ids=["pretty", "category", "default"],
)
def test_a_real_wordpress_reaches_the_right_feeds(
    wordpress: tuple[RealWordPress, str], tmp_path: Path, structure: str, permalink: str
) -> None:
    wp, url = wordpress
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    # 06:00 on the first of last month in Shanghai is still last month's last day in UTC:
    # the permalink's month and the feed's date must both be Shanghai's.
    month_start = (now.replace(day=1) - timedelta(days=1)).replace(
        day=1, hour=6, minute=0, second=0
    )
    wp.calls(
        [
            ("update_option", ["timezone_string", "Asia/Shanghai"]),
            ("update_option", ["permalink_structure", structure]),
            ("wp_update_user", [{"ID": 1, "display_name": "王芳"}]),
        ]
    )
    domestic, world, tech = (
        term["term_id"]
        for term in wp.calls(
            [
                ("wp_insert_term", ["国内", "category"]),  # slug: WordPress percent-encodes it
                ("wp_insert_term", ["国际新闻", "category", {"slug": "guoji"}]),
                ("wp_insert_term", ["科技", "category"]),
            ]
        )
    )
    politics = wp.call("wp_insert_term", "时政", "category", {"parent": domestic})["term_id"]
    ids = wp.calls(
        [
            (
                "wp_insert_post",
                [post("国务院常务会议部署冬季能源保供", [domestic], month_start), True],
            ),
            (
                "wp_insert_post",
                [post("全国人大常委会会议闭幕", [politics], now - timedelta(hours=5)), True],
            ),
            (
                "wp_insert_post",
                [post("联合国气候大会闭幕", [world, tech], now - timedelta(hours=4)), True],
            ),
            (
                "wp_insert_post",
                [
                    post(
                        "国产大模型发布新版本",
                        [tech],
                        now - timedelta(hours=3),
                        post_excerpt="摘要：新版本发布。",
                    ),
                    True,
                ],
            ),
            (
                "wp_insert_post",
                [post("关于我们", [], now - timedelta(hours=3), post_type="page"), True],
            ),
            (
                "wp_insert_post",
                [post("还没写完的草稿", [domestic], now, post_status="draft", post_date=""), True],
            ),
            ("wp_insert_post", [post("明年的预告", [domestic], now + timedelta(days=365)), True]),
            (
                "wp_insert_post",
                [
                    post("内部通知", [domestic], now - timedelta(hours=2), post_status="private"),
                    True,
                ],
            ),
            ("pressroom_auto_draft", []),
        ]
    )
    energy, congress, climate, model, page, draft, next_year, private, auto = ids
    image = wp.calls(
        [
            ("stick_post", [model]),
            ("wp_update_post", [{"ID": model, "post_content": "改过一次的正文。\n\n第二段。"}]),
            ("pressroom_sideload_image", [model, "model.jpg"]),
            ("update_post_meta", [congress, "post_views_count", "12345"]),  # a counter plugin's
        ]
    )[2]
    kinds = (draft, next_year, private, auto, page)
    statuses = dict(zip(kinds, wp.calls([("get_post_status", [p]) for p in kinds]), strict=True))
    assert statuses == {
        draft: "draft",
        next_year: "future",
        private: "private",
        auto: "auto-draft",
        page: "publish",
    }
    links = dict(zip(ids, wp.calls([("get_permalink", [pid]) for pid in ids]), strict=True))
    times = dict(zip(ids, wp.calls([("pressroom_times", [pid]) for pid in ids]), strict=True))
    image_url = wp.call("wp_get_attachment_url", image)
    if structure == PRETTY:  # WordPress's own URL: its month in Shanghai, slugs percent-encoded
        assert links[energy].startswith(f"{HOME}/{month_start:%Y/%m}/%e5%9b%bd%e5%8a%a1")
    elif structure:  # the child category's path under its parent's: 国内/时政
        assert links[congress].startswith(f"{HOME}/%e5%9b%bd%e5%86%85/%e6%97%b6%e6%94%bf/")
    else:
        assert links[energy] == f"{HOME}/?p={energy}"
    path = config(tmp_path, url, permalink)

    synced = pressroom(path, "sources", "sync", "blog")
    pressroom(path, "feeds", "build")

    # Hello world! (WordPress's sample post, in Uncategorized) has no section: skipped.
    assert synced.startswith("source blog (full): "), synced
    assert (
        "4 new" in synced and "1 skipped (no section for its categories (Uncategorized))" in synced
    )
    want = {
        "domestic": {"国务院常务会议部署冬季能源保供": energy, "全国人大常委会会议闭幕": congress},
        "world": {"联合国气候大会闭幕": climate},  # its first category; not in tech as well
        "tech": {"国产大模型发布新版本": model},
        "important": {"国产大模型发布新版本": model},  # sticky: a headline
    }
    for name, posts in want.items():
        entries = feed(tmp_path, name)
        assert set(entries) == set(posts), name
        for title, pid in posts.items():
            assert entries[title]["link"] == links[pid], title
            assert entries[title]["id"] == links[pid], title
            assert entries[title]["published"] == datetime.fromisoformat(times[pid]["local"])
    everything = feed(tmp_path, "all")
    assert set(everything) == {
        "国务院常务会议部署冬季能源保供",
        "全国人大常委会会议闭幕",
        "联合国气候大会闭幕",
        "国产大模型发布新版本",
    }  # no page, draft, future, private, auto-draft, revision or attachment
    energy_time = everything["国务院常务会议部署冬季能源保供"]["published"]  # Atom: UTC
    assert energy_time.astimezone(SHANGHAI) == month_start  # 06:00 on the 1st in Shanghai
    assert energy_time.astimezone(SHANGHAI).day != energy_time.day  # the day before in UTC
    store = open_store(f"sqlite:///{tmp_path / 'pressroom.db'}")
    views = {row["title"]: row["views"] for row in article_rows(store)}
    store.dispose()
    assert views["全国人大常委会会议闭幕"] == 12345 and views["联合国气候大会闭幕"] == 0
    model_entry = feedparser.parse(str(tmp_path / "public" / "tech" / "atom.xml")).entries[0]
    assert model_entry.summary == "摘要：新版本发布。"
    assert image_url in str(model_entry)
    assert "改过一次的正文。" in model_entry.content[0].value
    assert model_entry.author == "王芳"

    # An edit and a trash.
    wp.calls(
        [
            (
                "wp_update_post",
                [{"ID": energy, "post_title": "国务院常务会议部署今冬明春能源保供"}],
            ),
            ("wp_trash_post", [climate]),
        ]
    )

    synced = pressroom(path, "sources", "sync", "blog")
    pressroom(path, "feeds", "build")

    assert synced.startswith("source blog (incremental): "), synced
    domestic_feed = feed(tmp_path, "domestic")
    assert set(domestic_feed) == {
        "国务院常务会议部署今冬明春能源保供",
        "全国人大常委会会议闭幕",
    }
    assert domestic_feed["国务院常务会议部署今冬明春能源保供"]["link"] == links[energy]
    assert feed(tmp_path, "world") == {}

    # A hard delete: gone from the table, found by the full pass (reconcile).
    wp.call("wp_delete_post", model, True)
    synced = pressroom(path, "sources", "sync", "blog", "--full")
    pressroom(path, "feeds", "build")

    assert synced.startswith("source blog (full): ") and "1 withdrawn" in synced, synced
    assert feed(tmp_path, "tech") == {}
    assert feed(tmp_path, "important") == {}
    assert set(feed(tmp_path, "all")) == set(domestic_feed)

    # WordPress tried the network twice while installing (its pretty-permalink probe of the
    # site itself) and one mail (the new-site notice): all refused or caught.
    assert all(u.startswith(HOME) for u in wp.http), wp.http
    assert [m["subject"] for m in wp.mails] == ["New WordPress Site"]


def test_a_post_scheduled_in_the_editor_reaches_the_feeds_when_cron_publishes_it(
    wordpress: tuple[RealWordPress, str], tmp_path: Path
) -> None:
    """WordPress's cron publishes a scheduled post by changing its status alone: its
    modification time stays at the moment it was scheduled, before the watermark."""
    wp, url = wordpress
    wp.calls(
        [
            ("update_option", ["timezone_string", "Asia/Shanghai"]),
            ("update_option", ["permalink_structure", PRETTY]),
        ]
    )
    domestic = wp.call("wp_insert_term", "国内", "category")["term_id"]
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    other = wp.call(
        "wp_insert_post", post("早先的稿件", [domestic], now - timedelta(hours=1)), True
    )
    # The editor: "Add New" makes an auto-draft, "Schedule" updates it (WordPress schedules
    # only what is at least a minute ahead).
    scheduled = wp.call("pressroom_auto_draft")
    due = datetime.now(SHANGHAI).replace(microsecond=0) + timedelta(seconds=62)
    schedule = post("定时发布的稿件", [domestic], due, ID=scheduled, edit_date=True)
    wp.call("wp_update_post", schedule, True)
    assert wp.call("get_post_status", scheduled) == "future"
    time.sleep(1.5)  # a later edit moves the watermark past the scheduling
    wp.call("wp_update_post", {"ID": other, "post_content": "改过的正文。"}, True)
    path = config(tmp_path, url, "{home}/{year}/{month}/{slug}/", overlap=0)
    pressroom(path, "sources", "sync", "blog")
    pressroom(path, "feeds", "build")
    assert set(feed(tmp_path, "domestic")) == {"早先的稿件"}

    time.sleep(max(0.0, (due - datetime.now(SHANGHAI)).total_seconds() + 1))
    wp.call("check_and_publish_future_post", scheduled)  # what the cron event runs
    row = wp.call("pressroom_row", "posts", scheduled)
    assert row["post_status"] == "publish"
    assert row["post_modified_gmt"] < row["post_date_gmt"]  # cron did not touch it
    synced = pressroom(path, "sources", "sync", "blog")
    pressroom(path, "feeds", "build")

    assert synced.startswith("source blog (incremental): ") and "1 new" in synced, synced
    entries = feed(tmp_path, "domestic")
    assert set(entries) == {"早先的稿件", "定时发布的稿件"}
    assert entries["定时发布的稿件"]["link"] == wp.call("get_permalink", scheduled)
    assert entries["定时发布的稿件"]["published"] == due
