"""Helpers for the feed tests: article rows, settings, and checks on what was written."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import support
from lxml import etree
from support import NOW

from pressroom.config import Settings
from pressroom.feeds import FeedBuildReport, FeedConfig
from pressroom.feeds.prepare import ALLOWED_TAGS
from pressroom.models import Section
from pressroom.store.articles import sync_sections, upsert_articles
from pressroom.store.engine import Store
from pressroom.wiring import feed_config

BASE_URL = "https://news.example.cn/"
PUBLIC_URL = "https://feeds.example.cn/"
SECTIONS = [
    Section("yaowen", "要闻", 3.0, 0),
    Section("shehui", "社会", 0.0, 1),
    Section("tiyu", "体育", 0.0, 2),
]
FORMATS = ("rss.xml", "atom.xml", "feed.json")


class DemoSite:
    """The demo corpus built into ``out`` (shared by read-only tests)."""

    def __init__(self, settings: Settings, store: Store, report: FeedBuildReport) -> None:
        self.settings, self.store, self.report = settings, store, report
        self.out = settings.path(settings.feeds.output_dir)


BELONGS_SITE = {
    "logo_url": "https://news.example.cn/static/logo.png",
    "icon_url": "https://news.example.cn/favicon.ico",
    "copyright": "© 2026 测试新闻网 版权所有",
}
"""``[site]`` keys that say where the feeds belong (logo, icon, copyright)."""
SECTION_PAGES = "".join(
    f'[[sections]]\nslug = "{s.slug}"\nname = "{s.name}"\nweight = {s.weight}\n'
    f'url = "{BASE_URL}{s.slug}/"\n\n'
    for s in SECTIONS
)
"""``[[sections]]`` of :data:`SECTIONS`, each with its page on the site (``url``)."""


def make_settings(
    root: Path, *, site: dict[str, object] | None = None, extra: str = "", **feeds: object
) -> Settings:
    """Settings rooted in ``root`` with a small site; ``feeds`` are more ``[feeds]`` keys,
    ``site`` more ``[site]`` keys, ``extra`` raw TOML (``[[sections]]``)."""
    return support.make_settings(
        root,
        extra,
        site={"name": "测试新闻网", "base_url": BASE_URL, **(site or {})},
        store={"url": f"sqlite:///{root / 'store.db'}"},
        feeds={"public_url": PUBLIC_URL, **feeds},
    )


def make_config(
    root: Path, *, site: dict[str, object] | None = None, extra: str = "", **feeds: object
) -> FeedConfig:
    """The feeds' part of :func:`make_settings`."""
    return feed_config(make_settings(root, site=site, extra=extra, **feeds))


def row(n: int, section: str = "shehui", **fields: Any) -> dict[str, Any]:
    """An import row for article ``n``, published ``n`` hours before :data:`NOW`."""
    published = NOW - timedelta(hours=n)
    base: dict[str, Any] = {
        "url": f"{BASE_URL}{section}/{n}.html",
        "section": section,
        "title": f"第{n}条新闻标题",
        "summary": f"这是第{n}条新闻的摘要。",
        "body_html": f'<p>第{n}条新闻的正文。</p><p><img src="img/{n}.jpg" alt="图{n}"></p>',
        "authors": f"文字:记者{n};图片:摄影{n}",
        "image_url": f"/img/{n}.jpg",
        "published_at": published,
        "updated_at": published,
        "views": 100,
        "priority": 0,
        "status": "published",
    }
    base.update(fields)
    return base


def load_rows(store: Store, rows: list[dict[str, Any]], now: datetime = NOW) -> None:
    """Sync :data:`SECTIONS` and upsert ``rows``."""
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
        upsert_articles(conn, rows, now)


def feed_files(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``out``: relative path to (bytes, mtime in ns)."""
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def parse_feed(path: Path) -> Any:
    """feedparser's result for ``path``; fails the test when the feed is bozo."""
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')!r}"
    return parsed


def strict_xml(path: Path) -> Any:
    """``path`` parsed by lxml without recovery (a well-formedness check)."""
    return etree.fromstring(path.read_bytes(), etree.XMLParser(recover=False))


def active_content(fragment: str) -> list[str]:
    """Whatever in an HTML fragment could run or load unsafely: bad tags, on* attributes,
    non-http(s) URLs, relative URLs."""
    problems = []
    if not fragment.strip():
        return problems
    for element in lxml.html.fragments_fromstring(f"<div>{fragment}</div>")[0].iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag not in ALLOWED_TAGS | {"div"}:
            problems.append(f"tag {element.tag}")
        for name, value in element.attrib.items():
            if name.lower().startswith("on") or name.lower() in ("style", "srcdoc"):
                problems.append(f"attribute {name}")
            if name in ("href", "src", "cite") and not value.startswith(
                ("http://", "https://", "mailto:")
            ):
                problems.append(f"{name}={value!r}")
    return problems


def json_feed(path: Path) -> dict[str, Any]:
    """A JSON Feed file, parsed."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
