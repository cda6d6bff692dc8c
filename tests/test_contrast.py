"""WCAG 2.1 AA contrast of every text colour in every page, mail and archive template, in
light and dark mode (issue 22).

Each template is rendered (every optional block switched on), loaded in Chromium with the
colour scheme emulated, and every element holding text is measured: its computed colour
against the background it is painted on (the nearest opaque background up its ancestors,
translucent ones blended). The CSS is the templates' own, so a colour changed in any of
them is measured here. AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
from digestkit import SITE, add_articles, add_subscriber, article
from support import NOW, SHANGHAI, FakeClock
from support import make_settings as settings_with

from pressroom.demo.corpus import load_demo
from pressroom.digest.preview import preview_digest
from pressroom.digest.service import send_digest
from pressroom.feeds.index_page import IndexRow, render_index
from pressroom.feeds.items import FeedItem, FeedMeta
from pressroom.models import Priority
from pressroom.store.engine import Store
from pressroom.wiring import digest_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
WEB_PAGES = ("subscribe", "subscribe_sent", "confirm", "confirmed", "unsubscribe",
             "unsubscribed", "preferences", "message")  # fmt: skip

MEASURE = """() => {
  const rgba = (value) => {
    const parts = value.match(/[\\d.]+/g).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, below) => [0, 1, 2].map(
    (i) => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const dark = matchMedia("(prefers-color-scheme: dark)").matches
    && (document.querySelector('meta[name="color-scheme"]')?.content || "").includes("dark");
  const canvas = dark ? [18, 18, 18, 1] : [255, 255, 255, 1];
  const background = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    return layers.reverse().reduce((below, top) => over(top, below), canvas);
  };
  const failures = [];
  for (const element of document.body.querySelectorAll("*")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.data.trim());
    const shown = element.checkVisibility({ opacityProperty: true, visibilityProperty: true });
    if (!own || !shown) continue;
    const rect = element.getBoundingClientRect();
    if (rect.right <= 0 || rect.width <= 1 || rect.height <= 1) continue;  // moved off-screen
    const style = getComputedStyle(element);
    const bg = background(element);
    const fg = over(rgba(style.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${element.tagName.toLowerCase()}.${element.className} `
        + `"${element.textContent.trim().slice(0, 20)}" ${style.color} on rgb(${bg.slice(0, 3)}) `
        + `= ${ratio.toFixed(2)}`);
    }
  }
  return failures;
}"""


def _lenient() -> jinja2.Environment:
    """The package templates with every missing value empty (pages rendered for their CSS)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pressroom", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )


def _web_pages() -> dict[str, str]:
    env = _lenient()
    context: dict[str, Any] = {
        "site_name": "测试新闻网", "site_url": "https://www.example.cn/", "language": "zh-CN",
        "title": "标题", "email": "reader@example.com", "error": "出错了。", "saved": True,
        "active": False, "notice": "已完成。", "message": "说明文字。",
        "frequencies": {"daily": "每日一封", "weekly": "每周一封"}, "frequency": "daily",
        "sections": [{"slug": "news", "name": "要闻"}], "chosen": ["news"],
    }  # fmt: skip
    pages = {f"web-{name}": env.get_template(f"web/{name}.html").render(context)
             for name in WEB_PAGES}  # fmt: skip
    mail = env.get_template("email/confirm.html")
    link = "https://news.example.cn/confirm/x"
    for kind in ("confirm", "notice"):
        pages[f"mail-confirm-{kind}"] = mail.render(context, kind=kind, name="王", link_url=link)
    inject = env.get_template("web/_subscribe_inject.html").render(context)
    pages["feeds-index"] = _feeds_index().replace("<!-- pressroom:subscribe -->", inject)
    return pages


def _feeds_index() -> str:
    when = datetime(2026, 11, 29, 1, tzinfo=UTC)
    home = "https://www.example.cn/"
    meta = FeedMeta("all", "测试新闻网", "全部", "", home, home, {}, "zh-CN", "pressroom", "1",
                    home, "测试新闻网", 60, (), when)  # fmt: skip
    item = FeedItem("1", home + "1", "头条", when, when, (), "要闻", "", None, None, None)
    page = render_index("测试新闻网", "zh-CN", SHANGHAI, [IndexRow(meta, item)], ["rss", "atom"],
                        archive_href="digests/index.html")  # fmt: skip
    return page.decode("utf-8")


def _digest_pages(tmp_path: Path, store: Store) -> dict[str, str]:
    settings = settings_with(tmp_path, **SITE)
    load_demo(store, NOW)
    pages = {"mail-digest": preview_digest(digest_config(settings), store, FakeClock()).html}
    add_articles(store, [article(90, "news", NOW, priority=Priority.HEADLINE)])
    add_subscriber(store, "reader@example.com")
    asyncio.run(send_digest(digest_config(settings), store, FakeClock(), show_progress=False))
    archive = settings.path(settings.feeds.output_dir) / "digests"
    pages["archive-index"] = (archive / "index.html").read_text("utf-8")
    [page] = (archive / "daily").glob("*.html")
    pages["archive-page"] = page.read_text("utf-8")
    return pages


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_colour_meets_wcag_aa(tmp_path: Path, sqlite_store: Store, scheme: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    pages = {**_web_pages(), **_digest_pages(tmp_path, sqlite_store)}
    failures: dict[str, list[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            tab = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
            tab.route("http*://**/*", lambda route: route.abort())
            for name, html in pages.items():
                path = tmp_path / f"{name}.html"
                path.write_text(html, encoding="utf-8")
                tab.goto(path.as_uri())
                found = tab.evaluate(MEASURE)
                if found:
                    failures[name] = found
        finally:
            browser.close()
    assert failures == {}
