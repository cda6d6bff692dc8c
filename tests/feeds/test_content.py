"""Cleaning articles: text, summaries, sanitised bodies, repairs and skips."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from feedkit import BASE_URL, active_content, make_config
from support import NOW

from pressroom.feeds import FeedConfig
from pressroom.feeds.prepare import (
    absolute_url,
    clean_text,
    cut_summary,
    plain_text,
    prepare_item,
    sanitize_html,
)
from pressroom.models import Article


def _article(**fields: object) -> Article:
    base = Article(
        id=1,
        url=f"{BASE_URL}shehui/1.html",
        section="shehui",
        title="标题",
        summary="摘要。",
        body_html="<p>正文</p>",
        authors="文字:岳小乔;视频:王靖远",
        image_url="/img/1.jpg?x-oss-process=style/w10",
        published_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(hours=1),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
def config(tmp_path: Path) -> FeedConfig:
    return make_config(tmp_path)


def test_clean_text_removes_what_xml_cannot_carry() -> None:
    assert clean_text("a\x00b\x08c\x0bd\x1fe\x7ff\x85g\ud800h\ufffei\uffffj") == "abcdefghij"
    assert clean_text("tab\tnew\nline\r中文😀") == "tab\tnew\nline\r中文😀"


def test_summaries_are_cut_on_characters_with_an_ellipsis() -> None:
    text = "新型冠状病毒感染的肺炎疫情牵动着14亿国人的心。" * 10
    cut = cut_summary(text, 120)
    assert len(cut) == 120 and cut.endswith("…") and text.startswith(cut[:-1])
    assert cut_summary("短文", 120) == "短文"


def test_summaries_keep_combining_marks_emoji_sequences_and_latin_words() -> None:
    assert cut_summary("abcde\u0301fgh", 6) == "abcde\u0301…"  # é is one character, whole
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert "\u200d" not in cut_summary("一二三" + family + "四五六七", 6)[-2:]
    assert cut_summary("breaking news about something", 20) == "breaking news about…"


def test_plain_text_drops_tags_scripts_and_decodes_entities() -> None:
    assert plain_text("<p>A &amp; B</p>\n<script>x()</script><p>C</p>") == "A & B C"


def test_sanitize_removes_active_content_and_repairs_markup() -> None:
    hostile = (
        '<p onclick="x()">hi<script>alert(1)</script><iframe src="//evil"></iframe>'
        '<a href="javascript:alert(1)">j</a><a href=" JaVaScRiPt:alert(1)">k</a>'
        '<img src="x.jpg" onerror="y()"><style>p{}</style><form><input></form>'
        "<b>unclosed"
    )
    clean = sanitize_html(hostile, BASE_URL)
    assert active_content(clean) == []
    assert "alert" not in clean and "<script" not in clean and "onerror" not in clean
    assert '<img src="https://news.example.cn/x.jpg">' in clean
    assert clean.endswith("<b>unclosed</b>")


def test_sanitize_makes_every_url_absolute() -> None:
    body = '<a href="/a">a</a><a href="b.html">b</a><img src="1.jpg?x-oss-process=style/w10">'
    clean = sanitize_html(body, BASE_URL)
    assert 'href="https://news.example.cn/a"' in clean
    assert 'href="https://news.example.cn/b.html"' in clean
    assert 'src="https://news.example.cn/1.jpg?x-oss-process=style/w10"' in clean


def test_absolute_url_refuses_non_http() -> None:
    assert absolute_url("x/y.html", BASE_URL) == "https://news.example.cn/x/y.html"
    assert absolute_url("javascript:alert(1)", BASE_URL) is None
    assert absolute_url("mailto:a@b.c", BASE_URL) is None
    assert absolute_url("新闻/a b\u3000c.html", BASE_URL) == (
        "https://news.example.cn/新闻/a%20b%E3%80%80c.html"
    )


def test_prepare_item_carries_every_field(config: FeedConfig) -> None:
    item = prepare_item(_article(), config, "社会")
    assert item is not None
    assert item.id == item.link == f"{BASE_URL}shehui/1.html"
    assert item.authors == ("岳小乔", "王靖远")  # the roles kept apart
    assert item.category == "社会"
    assert item.image_url == "https://news.example.cn/img/1.jpg?x-oss-process=style/w10"
    assert item.image_type == "image/jpeg"
    assert item.summary == "摘要。" and item.content_html == "<p>正文</p>"


def test_a_missing_title_is_taken_from_the_summary_and_logged(
    config: FeedConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pressroom.feeds"):
        item = prepare_item(
            _article(title=" \x00 ", summary="这是一段很长的摘要" * 10), config, "社会"
        )
    assert (
        item is not None
        and item.title.startswith("这是一段很长的摘要")
        and item.title.endswith("…")
    )
    assert f"{BASE_URL}shehui/1.html: the title was empty" in caplog.text


def test_an_article_with_nothing_to_show_is_skipped_and_logged(
    config: FeedConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pressroom.feeds"):
        assert (
            prepare_item(
                _article(title="", summary="", body_html="<script>x</script>"), config, "社会"
            )
            is None
        )
    assert "skipped: no title" in caplog.text


def test_an_article_whose_url_is_not_http_is_skipped(
    config: FeedConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pressroom.feeds"):
        assert prepare_item(_article(url="javascript:alert(1)"), config, "社会") is None
    assert "javascript:alert(1): skipped" in caplog.text


def test_summary_mode_leaves_out_the_body(tmp_path: Path) -> None:
    config = make_config(tmp_path, content="summary", summary_chars=20)
    item = prepare_item(_article(summary="一" * 50), config, "社会")
    assert item is not None and item.content_html is None and len(item.summary) == 20


def test_no_credits_means_the_site_is_the_author(config: FeedConfig) -> None:
    item = prepare_item(_article(authors=""), config, "社会")
    assert item is not None and item.authors == ("测试新闻网",)


def test_control_characters_in_a_title_are_removed_and_logged(
    config: FeedConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pressroom.feeds"):
        item = prepare_item(_article(title="习近平\x08:坚决\x00打赢\ud800"), config, "社会")
    assert item is not None and item.title == "习近平:坚决打赢"
    assert "shehui/1.html: removed characters XML cannot carry from the title" in caplog.text
