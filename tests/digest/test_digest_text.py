"""The plain-text part reads well: at most 78 display columns (CJK counts two), wrapped at
sensible points and never inside a URL, item numbers aligned past 9, the ``-- `` signature."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from digestkit import SITE, add_articles, add_subscriber, article, parse_message
from support import NOW, FakeClock
from support import make_settings as settings_with

from pressroom.digest.service import send_digest
from pressroom.digest.text_wrap import display_width, wrap_line
from pressroom.models import Priority
from pressroom.store.engine import Store
from pressroom.wiring import digest_config

LONG_URL = "https://www.example.cn/news/2026/12/07/" + "a-very-long-slug-" * 6 + "x.html"
URL_LINE = re.compile(r"\s*https?://\S+")


def test_widths_follow_east_asian_width() -> None:
    assert display_width("abc") == 3
    assert display_width("新闻") == 4
    assert display_width("，。（）") == 8  # fullwidth punctuation
    assert display_width("e\u0301") == 1  # a combining accent takes no column
    assert display_width("ＡＢ") == 4


def test_cjk_breaks_between_characters_but_not_before_closing_punctuation() -> None:
    line = "   " + "这是一段很长的中文摘要，" * 8
    lines = wrap_line(line)
    assert len(lines) > 1 and all(display_width(x) <= 78 for x in lines)
    assert all(x.startswith("   ") and not x[3:].startswith(("，", " ")) for x in lines)
    assert "".join(x.strip() for x in lines) == line.strip()


def test_a_url_is_never_broken_and_a_long_one_stands_alone() -> None:
    lines = wrap_line(f"阅读全文请打开 {LONG_URL} 谢谢")
    assert lines == ["阅读全文请打开", LONG_URL, "谢谢"]
    words = wrap_line("word " * 30)
    assert all(display_width(x) <= 78 for x in words) and all("wor d" not in x for x in words)


def test_numbered_items_continue_under_their_title() -> None:
    lines = wrap_line("10. " + "标题很长" * 20)
    assert lines[0].startswith("10. 标题") and all(re.match(r"    \S", x) for x in lines[1:])


@pytest.fixture
def sent_text(tmp_path: Path, store: Store) -> str:
    """The text part of a 12-item digest with long titles, summaries, a long URL and name."""
    rows = [
        article(n, "news", NOW - timedelta(minutes=n), priority=Priority.HEADLINE,
                title=f"第{n}条：" + "国务院常务会议研究部署进一步优化营商环境" * 2,
                summary="会议指出，" + "要坚持以人民为中心的发展思想（全文见链接）。" * 6)
        for n in range(1, 13)
    ]  # fmt: skip
    rows[0]["url"] = LONG_URL
    add_articles(store, rows)
    add_subscriber(store, "reader@example.com", name="欧阳" * 40)
    settings = settings_with(tmp_path, **SITE)
    report = asyncio.run(
        send_digest(digest_config(settings), store, FakeClock(), show_progress=False)
    )
    assert report.sent == 1
    [path] = settings.path(settings.mail.outbox).glob("*.eml")
    return str(parse_message(path.read_bytes()).get_body(("plain",)).get_content())


def test_every_line_fits_78_columns_but_a_lone_url(sent_text: str) -> None:
    lines = sent_text.replace("\r\n", "\n").split("\n")
    too_wide = [x for x in lines if display_width(x) > 78 and not URL_LINE.fullmatch(x)]
    assert too_wide == []
    assert f"    {LONG_URL}" in lines  # whole, on its own line
    assert lines.count("-- ") == 1  # the signature separator keeps its space


def test_item_numbers_line_up_past_nine(sent_text: str) -> None:
    markers = re.findall(r"^( ?\d+)\. ", sent_text, re.MULTILINE)
    assert markers[:1] == [" 1"] and markers[8:10] == [" 9", "10"] and len(markers) == 12
    dates = [x for x in sent_text.splitlines() if "2026年11月" in x]
    assert dates and all(x.startswith("    2026年") for x in dates)


def test_the_greeting_uses_fullwidth_punctuation_and_fits(sent_text: str) -> None:
    [greeting] = [x for x in sent_text.splitlines() if x.endswith("，您好：")]
    assert display_width(greeting) <= 78
