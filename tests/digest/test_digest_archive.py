"""The public digest archive: pages without anything personal, the view-in-browser link in
both parts of every mail, byte-stable files, valid Atom and JSON Feed, ``archive = false``."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from digestkit import SITE, add_articles, add_subscriber, article, parse_message
from support import NOW, FakeClock
from support import make_settings as settings_with

from pressroom.config import Settings
from pressroom.digest.archive import publish_archive
from pressroom.digest.service import send_digest
from pressroom.feeds.jsonfeed import check_json
from pressroom.feeds.rss_atom import check_atom
from pressroom.models import Priority
from pressroom.store.engine import Store
from pressroom.wiring import digest_config

PAGE_URL = "https://news.example.cn/digests/daily/2026-11-28.html"
CHROMIUM = "/usr/bin/chromium"


def _send(settings: Settings, store: Store) -> None:
    add_articles(store, [
        article(1, "news", NOW.replace(hour=0), priority=Priority.RECOMMENDED, title="头条 & 要闻"),
        article(2, "china", NOW.replace(hour=0), priority=Priority.HEADLINE),
    ])  # fmt: skip
    add_subscriber(store, "wang@example.com", name="王读者")
    add_subscriber(store, "china@example.com", sections=["china"])
    report = asyncio.run(
        send_digest(digest_config(settings), store, FakeClock(), show_progress=False)
    )
    assert report.completed and report.sent == 2


def _archive(settings: Settings) -> Path:
    return settings.path(settings.feeds.output_dir) / "digests"


def test_a_completed_run_is_published_without_anything_personal(
    tmp_path: Path, store: Store
) -> None:
    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    folder = _archive(settings)
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == ["daily/2026-11-28.html", "daily/feed.json", "daily/feed.xml", "index.html"]
    # the page is named by the day it holds (28 November), not by the run that sent it (the 29th)
    page = (folder / "daily/2026-11-28.html").read_text("utf-8")
    assert "头条 &amp; 要闻" in page and "国内" in page  # every section, not one reader's
    assert "11月28日" in page and "以下是11月28日测试新闻网的重要文章。" in page
    for personal in ("王读者", "wang@example.com", "/unsubscribe/", "/preferences/", "PRM", "PRS"):
        assert personal not in page
    index = (folder / "index.html").read_text("utf-8")
    assert 'href="daily/2026-11-28.html">11月28日</a>' in index
    assert 'href="daily/feed.xml"' in index and 'href="daily/feed.json"' in index


def test_a_run_with_nothing_selected_is_not_published(tmp_path: Path, store: Store) -> None:
    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    quiet = FakeClock(NOW + timedelta(days=1))  # no article published since
    report = asyncio.run(send_digest(digest_config(settings), store, quiet, show_progress=False))
    assert report.completed and report.articles == 0
    folder = _archive(settings)
    assert sorted(p.name for p in (folder / "daily").glob("*.html")) == ["2026-11-28.html"]
    assert (folder / "index.html").read_text("utf-8").count('class="issue"') == 1


def test_every_mail_links_its_page_in_both_parts(tmp_path: Path, store: Store) -> None:
    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    for path in settings.path(settings.mail.outbox).glob("*.eml"):
        parsed = parse_message(path.read_bytes())
        html = parsed.get_body(("html",)).get_content()
        text = parsed.get_body(("plain",)).get_content()
        assert re.search(f'<a href="{re.escape(PAGE_URL)}"[^>]*>在浏览器中查看</a>', html)
        assert f"在浏览器中查看：{PAGE_URL}" in text.splitlines()


def test_the_archive_is_byte_stable(tmp_path: Path, store: Store) -> None:
    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    folder = _archive(settings)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}
    assert publish_archive(digest_config(settings), store) == []
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}
    assert after == before
    (folder / "index.html").unlink()  # a lost file comes back as it was
    assert publish_archive(digest_config(settings), store) == [folder / "index.html"]
    assert (folder / "index.html").read_bytes() == before[folder / "index.html"][0]


def test_the_feeds_are_valid_atom_and_json_feed(tmp_path: Path, store: Store) -> None:
    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    folder = _archive(settings) / "daily"
    atom = (folder / "feed.xml").read_bytes()
    assert check_atom(atom) == [PAGE_URL]
    parsed = feedparser.parse(atom)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "测试新闻网 · 每日要闻"
    [entry] = parsed.entries
    assert entry.title == "测试新闻网 · 11月28日 要闻 2 篇" and entry.link == PAGE_URL
    assert "头条 &amp; 要闻" in entry.content[0].value
    document = (folder / "feed.json").read_bytes()
    assert check_json(document) == [PAGE_URL]
    feed = json.loads(document)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "https://news.example.cn/digests/daily/feed.json"
    assert feed["items"][0]["date_published"].endswith("Z")


def test_the_feed_passes_the_w3c_validator(tmp_path: Path, store: Store) -> None:
    from w3ckit import w3c_problems

    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    path = _archive(settings) / "daily" / "feed.xml"
    url = "https://news.example.cn/digests/daily/feed.xml"
    assert w3c_problems(path, url, "application/atom+xml") == []


def test_archive_false_writes_nothing_public_and_links_nothing(
    tmp_path: Path, store: Store
) -> None:
    settings = settings_with(tmp_path, "[digest]\narchive = false\n", **SITE)
    _send(settings, store)
    assert not _archive(settings).exists()
    for path in settings.path(settings.mail.outbox).glob("*.eml"):
        assert b"digests/" not in path.read_bytes()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_archive_pages_fit_375_px_in_chromium(tmp_path: Path, store: Store, scheme: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    settings = settings_with(tmp_path, **SITE)
    _send(settings, store)
    folder = _archive(settings)
    artifacts = Path("test-artifacts")
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800}, color_scheme=scheme)
            page.route("http*://**/*", lambda route: route.abort())
            seen = {}
            for name in ("index.html", "daily/2026-11-28.html"):
                page.goto((folder / name).as_uri())
                background = "getComputedStyle(document.body).backgroundColor"
                seen[name] = (
                    page.evaluate("document.documentElement.scrollWidth"),
                    page.evaluate(background),
                )
                shot = artifacts / f"archive-{name.replace('/', '-')}-{scheme}.png"
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    dark = {"rgb(28, 28, 30)", "rgb(17, 17, 17)"}
    for width, background in seen.values():
        assert width <= 375
        assert (background in dark) == (scheme == "dark")
