"""Web test helpers: settings, tiny feed files, an outbox, a live server.

The time, the secret and the clock are :mod:`support`'s (re-exported for the web tests).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import support
from livekit import LiveServer
from support import NOW, SECRET, FakeClock

from pressroom.config import Settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.models import Section

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "NOW",
    "RSS",
    "SECRET",
    "SECTIONS",
    "FakeClock",
    "LiveServer",
    "Outbox",
    "mail_link",
    "make_settings",
    "shoot",
    "wait_for_mail",
    "write_feeds",
]

SECTIONS = [
    Section("shizheng", "时政"),
    Section("guoji", "国际"),
    Section("keji", "科技"),
]

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>测试 · 全部文章</title><link>https://www.example.com/</link>
<description>全部文章</description><language>zh-CN</language>
<item><title>第一条新闻:坚决打赢疫情防控阻击战</title><link>https://www.example.com/a/1.html</link>
<guid isPermaLink="false">tag:example.com,2020:1</guid>
<pubDate>Fri, 31 Jan 2020 14:51:00 +0000</pubDate>
<description>摘要一</description></item>
<item><title>第二条新闻</title><link>https://www.example.com/a/2.html</link>
<guid isPermaLink="false">tag:example.com,2020:2</guid>
<pubDate>Fri, 31 Jan 2020 12:00:00 +0000</pubDate>
<description>摘要二</description></item>
</channel></rss>
"""
INDEX = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>订阅源</title></head>
<body><h1>订阅源</h1><ul><li><a href="all/rss.xml">全部文章 RSS</a></li></ul></body></html>
"""


@dataclass
class Outbox:
    """Captures the mails the app sends (in-process tests)."""

    messages: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, msg: OutgoingMessage) -> None:
        self.messages.append(msg)

    def parsed(self, index: int = -1) -> EmailMessage:
        parsed = message_from_bytes(self.messages[index].data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def link(self, index: int = -1) -> str:
        return mail_link(self.messages[index].data)


def mail_link(data: bytes) -> str:
    """The first confirm/preferences link in a mail's plain-text part."""
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(("plain",))
    assert text_part is not None
    match = re.search(r"https?://\S+/(?:confirm|preferences)/[\w.-]+", text_part.get_content())
    assert match, "no link in the mail"
    return match.group(0)


def write_feeds(root: Path, *, index: str = INDEX) -> None:
    """A tiny output directory: one RSS feed, an OPML file, an index page."""
    (root / "all").mkdir(parents=True, exist_ok=True)
    (root / "all" / "rss.xml").write_text(RSS, encoding="utf-8")
    (root / "all" / "atom.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"/>\n',
        encoding="utf-8",
    )
    (root / "all" / "feed.json").write_text('{"version": "https://jsonfeed.org/version/1.1"}\n')
    (root / "feeds.opml").write_text('<?xml version="1.0"?><opml version="2.0"/>\n')
    (root / "index.html").write_text(index, encoding="utf-8")


def make_settings(
    tmp_path: Path, public_url: str = "http://testserver/", **web: object
) -> Settings:
    """:func:`support.make_settings` for the web site 测试新闻 at ``public_url``; ``web``
    sets more ``[web]`` keys."""
    return support.make_settings(
        tmp_path,
        site={"name": "测试新闻"},
        store={"url": "sqlite:///store.db"},
        feeds={"output_dir": "public"},
        mail={"outbox": "outbox", "from_address": "news@example.com", "from_name": "测试新闻"},
        web={"public_url": public_url, **web},
    )


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def wait_for_mail(outbox: Path, count: int) -> list[Path]:
    """The outbox's .eml files once there are ``count`` (the mail goes after the page)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        files = sorted(outbox.glob("*.eml")) if outbox.exists() else []
        if len(files) >= count:
            return files
        time.sleep(0.05)
    raise AssertionError(f"expected {count} mails in {outbox}")


def shoot(page: Any, name: str) -> None:
    """Screenshots at phone and desktop widths; the phone view must not scroll sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        if width == 375:
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 375, f"{name} is {overflow}px wide at 375px"
    page.set_viewport_size({"width": 375, "height": 900})
